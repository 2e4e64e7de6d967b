"""Orphaned uploads of a backup that never committed are reclaimed after the grace period (row 1's last clause).

A client killed between its uploads and its commit leaves packs, a snapshot blob and a manifest
blob that no recovery point will ever reference.
"""

from __future__ import annotations

import pytest

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
