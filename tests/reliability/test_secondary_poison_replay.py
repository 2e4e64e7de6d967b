"""Row 12, bounded: the paired region stays down until a point's replication message is poison, then a replay replicates it.

Through the real host and the real `backup-agent`: storage-secondary is stopped, a tree is backed
up into a GRS vault, and the host's five attempts at the replication message fail and move it to
`replication-poison`. The point stays committed and restores bit for bit from the primary. Once
the region is back, the operator replays the message over the API: the point is replicated, its
`replicated_at` set, and it restores bit for bit from the paired region.

About a minute and a half: each attempt against the stopped region spends the storage SDK's
retries (about 14 s), and host.json fixes the five attempts. The soak version (five points, each replayed)
is in test_secondary_outage.py.
"""

from __future__ import annotations

import json
import time

import pytest

from agent_client.http_client import JsonHttpClient
from tests.client.e2e_support import Vault, restored
from tests.client.sample_trees import build_sample_tree, describe_tree
from tests.support.http_backup import wait_until
from tests.support.queues import poison_mentioning

REGION = "storage-secondary"


@pytest.mark.stack
@pytest.mark.timeout(900)
def test_a_poisoned_replication_replays_once_the_region_is_back(api_client, stack, stack_control, tmp_path):
    vault = Vault(stack, tmp_path / "vault", "GRS")
    alpha = vault.machine()
    machine_api = JsonHttpClient(stack["BACKUP_API_URL"].rstrip("/").removesuffix("/api"),
                                 json.loads((alpha.home / "config.json").read_text())["token"])
    source = build_sample_tree(tmp_path / "source", sparse_size=1 << 20)
    primary = stack["PRIMARY_STORAGE_CONNECTION_STRING"]
    stack_control.stop_service(REGION)
    try:
        recovery_point_id = alpha.backup(source)["recovery_point_id"]
        started = time.monotonic()
        wait_until(lambda: poison_mentioning(primary, recovery_point_id, queues=("replication",)),
                              600, "the replication message in poison")
        print(f"five failed attempts and the move to poison took {time.monotonic() - started:.0f} s")
        rp = machine_api.get(f"/api/recovery-points/{recovery_point_id}")
        assert rp["state"] == "committed" and rp["replicated_at"] is None, rp
        target = tmp_path / "from-primary"
        alpha.run("restore", recovery_point_id, "--target", str(target), "--json").json()
        assert describe_tree(restored(target, source)) == describe_tree(source)
        refused = alpha.run("restore", recovery_point_id, "--target", str(tmp_path / "early"), "--from-secondary")
        assert refused.code != 0 and "not been replicated" in refused.stderr, refused
    finally:
        stack_control.start_service(REGION)
    # Every poison message of the vault (the key's own copy too), replayed as an operator would.
    for message in {m.message_id: m for m in poison_mentioning(primary, vault.vault_id, queues=("replication",))}.values():
        status, replayed = api_client.call("POST", f"/poison/replication/{message.message_id}/replay",
                                           stack["BACKUP_ADMIN_KEY"])
        assert status == 200 and replayed["replayed"], replayed
    rp = wait_until(lambda: (lambda r: r if r.get("replicated_at") else None)(
        machine_api.get(f"/api/recovery-points/{recovery_point_id}")), 180, "replication after the replay")
    assert rp["replication_lag_seconds"] > 0
    target = tmp_path / "from-secondary"
    alpha.run("restore", recovery_point_id, "--target", str(target), "--from-secondary", "--json").json()
    assert describe_tree(restored(target, source)) == describe_tree(source)
    assert poison_mentioning(primary, vault.vault_id, queues=("replication",)) == []
    vault.delete_containers()
