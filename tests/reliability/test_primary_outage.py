"""The primary region is down after replication: a GRS vault's point restores bit for bit from the paired region.

Through the real host and the real `backup-agent`: a tree is backed up into a GRS vault and
replicated, then the primary Azurite (blobs and queues) is stopped. Cosmos stays up, so the
catalog answers; the restore session, its completion and its metering must not need the primary.
"""

from __future__ import annotations

import json
import time

import pytest

from agent_client.http_client import JsonHttpClient
from tests.client.e2e_support import Vault, restored
from tests.client.sample_trees import build_sample_tree, describe_tree

REGION = "storage-primary"


def _wait_replicated(api: JsonHttpClient, recovery_point_id: str, seconds: float = 180) -> dict:
    deadline = time.monotonic() + seconds
    while not (rp := api.get(f"/api/recovery-points/{recovery_point_id}")).get("replicated_at"):
        assert time.monotonic() < deadline, "the recovery point was not replicated in time"
        time.sleep(1)
    return rp


def _catalog(stack: dict):
    from shared.runtime import Runtime
    from shared.settings import load_settings

    return Runtime.from_settings(load_settings({
        "PRIMARY_STORAGE": stack["PRIMARY_STORAGE_CONNECTION_STRING"],
        "COSMOS_ENDPOINT": stack["COSMOS_ENDPOINT"], "COSMOS_KEY": stack["COSMOS_KEY"],
    })).catalog


def _wait_metered(catalog, vault_id: str, day_id: str, event_id: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while event_id not in ((usage := catalog.usage.find(vault_id, day_id)) or {}).get("applied_events", []):
        assert time.monotonic() < deadline, f"{event_id} was not metered in time"
        time.sleep(0.5)
    return usage


@pytest.mark.stack
@pytest.mark.timeout(600)
def test_restore_from_the_secondary_while_the_primary_is_down(stack, stack_control, tmp_path):
    vault = Vault(stack, tmp_path / "vault", "GRS")
    alpha = vault.machine()
    api = JsonHttpClient(stack["BACKUP_API_URL"].rstrip("/").removesuffix("/api"),
                         json.loads((alpha.home / "config.json").read_text())["token"])
    source = build_sample_tree(tmp_path / "source", sparse_size=1 << 20)
    recovery_point_id = alpha.backup(source)["recovery_point_id"]
    _wait_replicated(api, recovery_point_id)
    catalog = _catalog(stack)
    pack_count = catalog.recovery_points.get(vault.vault_id, recovery_point_id)["pack_count"]
    day_id = f"day:{alpha.instance_id}:{time.strftime('%Y-%m-%d', time.gmtime())}"
    before = _wait_metered(catalog, vault.vault_id, day_id, f"replicated:{recovery_point_id}")
    target = tmp_path / "target"
    stack_control.stop_service(REGION)
    try:
        started = time.monotonic()
        result = alpha.run("restore", recovery_point_id, "--target", str(target), "--from-secondary", "--json")
        restore_seconds = time.monotonic() - started
        report = result.json()
        assert report["damaged"] == [] and report["bytes_downloaded"] > 0
        assert describe_tree(restored(target, source)) == describe_tree(source)
        listed = alpha.run("list", "--json").json()
        assert [row["id"] for row in listed] == [recovery_point_id]
        # Metered although the metering queue lives in the primary: recorded directly, once.
        usage = catalog.usage.find(vault.vault_id, day_id)
        assert usage["restores"] == 1, usage
        assert usage["restore_bytes"] == report["bytes_downloaded"]
        assert usage["transactions"] - before["transactions"] == pack_count + 3  # each pack, the key, the manifest, the snapshot
        assert restore_seconds < 120, f"the restore took {restore_seconds:.0f} s against a dead primary"
    finally:
        stack_control.start_service(REGION)
        vault.delete_containers()
