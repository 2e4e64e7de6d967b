"""Orphaned uploads of a backup that never committed are reclaimed after the grace period (row 1's last clause).

A client killed between its uploads and its commit leaves packs, a snapshot blob and a manifest
blob that no recovery point will ever reference.
"""

from __future__ import annotations

import pytest

from shared.services.catalog import catalog_commit
from shared.services import sessions
from shared.services.garbage_collection import collect_garbage
from tests.pipeline.conftest import Clock, VaultFixture
from tests.support.runtimes import private_queues, service_runtime


def _abandoned(stack):
    clock = Clock()  # now: the sweep compares with the blobs' real modification times
    rt = service_runtime(stack, clock, **private_queues())
    vault = VaultFixture(rt)
    message = vault.backup([vault.upload_pack()])  # uploads, then never commits
    clock.advance(hours=rt.settings.gc_grace_hours + 1)
    return rt, vault, message, collect_garbage(rt, vault.vault)


@pytest.mark.stack
def test_orphaned_packs_are_reclaimed(stack):
    rt, vault, _, report = _abandoned(stack)
    assert report["orphans"] == 1 and list(rt.primary_blobs.list_blobs(vault.container, "packs/")) == []


@pytest.mark.stack
def test_orphaned_snapshot_and_manifest_blobs_are_reclaimed(stack):
    rt, vault, message, _ = _abandoned(stack)
    rp_id = message.recovery_point_id
    assert rt.primary_blobs.blob_size(vault.container, f"snapshots/{rp_id}") is None
    assert rt.primary_blobs.blob_size(vault.container, message.commit_blob) is None


@pytest.mark.stack
def test_an_orphan_pack_the_sweep_may_reach_during_a_session_is_announced_as_condemned(stack):
    """A client must not deduplicate against an orphan pack that passes the grace period before
    its session ends (the sweep would delete it mid-backup); a younger orphan is fair game."""
    clock = Clock()
    rt = service_runtime(stack, clock, **private_queues())
    vault = VaultFixture(rt)
    orphan = vault.upload_pack()["name"].removeprefix("packs/")  # left by a backup killed before its commit
    assert orphan not in sessions.open_backup_session(rt, vault.machine)["condemned_packs"]
    clock.advance(hours=rt.settings.gc_grace_hours - rt.settings.backup_session_hours / 2)
    assert orphan in sessions.open_backup_session(rt, vault.machine)["condemned_packs"]
    # A client honouring the announcement re-uploads its chunks in a new pack and commits; the
    # sweep then takes the orphan and leaves the new recovery point whole.
    fresh = vault.upload_pack()
    message = vault.backup([fresh])
    assert catalog_commit(rt, message) == "committed"
    clock.advance(hours=rt.settings.backup_session_hours / 2 + 0.1)
    collect_garbage(rt, vault.vault)
    assert rt.primary_blobs.blob_size(vault.container, f"packs/{orphan}") is None
    assert rt.primary_blobs.blob_size(vault.container, fresh["name"]) == fresh["size"]
    assert rt.primary_blobs.blob_size(vault.container, message.commit_blob) is not None
