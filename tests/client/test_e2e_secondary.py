"""End to end: a GRS vault's recovery point restores bit for bit from the paired region."""

from __future__ import annotations

import json
import time

import pytest

from agent_client.http_client import JsonHttpClient

from .e2e_support import restored
from .sample_trees import build_sample_tree, describe_tree

pytestmark = pytest.mark.stack


def _wait_replicated(machine, recovery_point_id: str, seconds: float = 180) -> None:
    config = json.loads((machine.home / "config.json").read_text())
    api = JsonHttpClient(machine.env["BACKUP_API_URL"].rstrip("/").removesuffix("/api"), config["token"])
    deadline = time.monotonic() + seconds
    while not api.get(f"/api/recovery-points/{recovery_point_id}").get("replicated_at"):
        assert time.monotonic() < deadline, "the recovery point was not replicated in time"
        time.sleep(1)


@pytest.mark.timeout(600)
def test_restore_from_the_secondary_region(make_vault, tmp_path):
    vault = make_vault("GRS")
    alpha = vault.machine()
    source = build_sample_tree(tmp_path / "source", sparse_size=8 << 20)
    recovery_point_id = alpha.backup(source)["recovery_point_id"]
    _wait_replicated(alpha, recovery_point_id)
    target = tmp_path / "target"
    alpha.run("restore", recovery_point_id, "--target", str(target), "--from-secondary", "--json").json()
    assert describe_tree(restored(target, source)) == describe_tree(source)
