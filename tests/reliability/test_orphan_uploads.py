"""Orphaned uploads of a backup that never committed are reclaimed after the grace period (row 1's last clause).

A client killed between its uploads and its commit leaves packs, a snapshot blob and a manifest
blob that no recovery point will ever reference.
"""

from __future__ import annotations

import pytest

from shared.errors import CommitRejected
from shared.services.catalog import catalog_commit
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
    assert rt.primary_blobs.blob_size(vault.container, f"commits/{rp_id}") is None


@pytest.mark.stack
@pytest.mark.xfail(strict=True, raises=CommitRejected, reason=(
    "an orphan pack (a blob with no pack document) is not in a session's condemned_packs, so a client "
    "deduplicates against it; if it passes the grace period during that backup, the sweep deletes it and "
    "the commit is rejected (safe, but the backup fails). Sessions could also announce orphans that will "
    "be older than the grace period before the session expires."))
def test_a_backup_reusing_an_orphan_pack_is_not_failed_by_its_sweep(stack):
    clock = Clock()
    rt = service_runtime(stack, clock, **private_queues())
    vault = VaultFixture(rt)
    orphan = vault.upload_pack()  # left by a backup killed before its commit
    clock.advance(hours=rt.settings.gc_grace_hours - rt.settings.backup_session_hours / 2)
    message = vault.backup([orphan])  # the session lists no condemned pack, so the client reuses the orphan
    clock.advance(hours=rt.settings.backup_session_hours / 2 + 0.1)  # the backup is still inside its session
    collect_garbage(rt, vault.vault)
    assert catalog_commit(rt, message) == "committed"
