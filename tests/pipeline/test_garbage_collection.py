"""Retention, purge and garbage collection never remove data a recovery point still needs."""

from datetime import timedelta

from shared.services import pack_refs, recovery_points
from shared.services.catalog import catalog_commit
from shared.services.garbage_collection import collect_garbage
from shared.services.purge import purge_expired
from shared.services.auth import Principal
from shared.errors import CommitRejected

import pytest

OPERATOR = Principal("operator")


def _pack_id(pack):
    return pack["name"].removeprefix("packs/")


def _exists(vault, pack):
    return vault.rt.primary_blobs.blob_size(vault.container, pack["name"]) is not None


def _delete_and_purge(vault, clock, rp_id):
    recovery_points.soft_delete(vault.rt, OPERATOR, rp_id, vault.vault_id)
    clock.advance(days=15)
    purge_expired(vault.rt, vault.vault)


def test_pack_of_a_purged_recovery_point_is_swept_only_after_the_grace_period(vault, clock):
    pack = vault.upload_pack()
    message = vault.backup([pack])
    catalog_commit(vault.rt, message)
    _delete_and_purge(vault, clock, message.recovery_point_id)
    assert vault.rt.catalog.packs.get(vault.vault_id, _pack_id(pack))["state"] == "condemned"
    assert vault.rt.primary_blobs.blob_size(vault.container, f"snapshots/{message.recovery_point_id}") is None
    clock.advance(hours=47)
    collect_garbage(vault.rt, vault.vault)
    assert _exists(vault, pack), "swept before the grace period ended"
    clock.advance(hours=2)
    collect_garbage(vault.rt, vault.vault)
    assert not _exists(vault, pack)
    assert vault.rt.catalog.packs.find(vault.vault_id, _pack_id(pack)) is None


def test_a_backup_that_reuses_a_condemned_pack_before_the_sweep_keeps_it(vault, clock):
    pack = vault.upload_pack()
    first = vault.backup([pack])
    catalog_commit(vault.rt, first)
    recovery_points.soft_delete(vault.rt, OPERATOR, first.recovery_point_id, vault.vault_id)
    clock.advance(days=15)
    # A backup session starts and learns of the pack while it is still live...
    second = vault.backup([pack])
    # ...meanwhile the first recovery point is purged and the pack condemned...
    clock.advance(hours=1)
    purge_expired(vault.rt, vault.vault)
    assert vault.rt.catalog.packs.get(vault.vault_id, _pack_id(pack))["state"] == "condemned"
    # ...and the backup commits within its session, before the grace period ends.
    assert catalog_commit(vault.rt, second) == "committed"
    clock.advance(hours=49)
    collect_garbage(vault.rt, vault.vault)
    assert _exists(vault, pack)
    assert vault.rt.catalog.packs.get(vault.vault_id, _pack_id(pack))["state"] == "live"


def test_a_commit_racing_the_sweep_is_rejected_never_cataloged_without_its_data(vault, clock):
    pack = vault.upload_pack()
    first = vault.backup([pack])
    catalog_commit(vault.rt, first)
    late = vault.backup([pack])
    _delete_and_purge(vault, clock, first.recovery_point_id)
    clock.advance(hours=49)
    collect_garbage(vault.rt, vault.vault)  # the pack is gone
    with pytest.raises(CommitRejected):
        catalog_commit(vault.rt, late)
    assert vault.rt.catalog.recovery_points.get(vault.vault_id, late.recovery_point_id)["state"] == "rejected"


def test_condemned_packs_are_announced_to_new_sessions(vault, clock):
    from shared.services import sessions

    pack = vault.upload_pack()
    message = vault.backup([pack])
    catalog_commit(vault.rt, message)
    _delete_and_purge(vault, clock, message.recovery_point_id)
    session = sessions.open_backup_session(vault.rt, vault.machine)
    assert _pack_id(pack) in session["condemned_packs"]


def test_orphaned_uploads_are_reclaimed_after_the_grace_period(vault, clock):
    orphan = vault.upload_pack()  # uploaded by a backup that was killed before its commit
    collect_garbage(vault.rt, vault.vault)
    assert _exists(vault, orphan)
    clock.advance(hours=49)
    report = collect_garbage(vault.rt, vault.vault)
    assert report["orphans"] == 1 and not _exists(vault, orphan)


def test_soft_deleted_recovery_point_keeps_its_packs_and_can_be_undeleted(vault, clock):
    pack = vault.upload_pack()
    message = vault.backup([pack])
    catalog_commit(vault.rt, message)
    recovery_points.soft_delete(vault.rt, OPERATOR, message.recovery_point_id, vault.vault_id)
    clock.advance(days=11)
    purge_expired(vault.rt, vault.vault)
    clock.advance(hours=49)  # still inside the 14 soft-delete days
    collect_garbage(vault.rt, vault.vault)
    assert _exists(vault, pack)
    restored = recovery_points.undelete(vault.rt, OPERATOR, message.recovery_point_id, vault.vault_id)
    assert restored["state"] == "committed"
    assert pack_refs.ref_count(vault.rt, vault.vault_id, _pack_id(pack)) == 1


def test_undelete_after_the_soft_delete_period_is_refused(vault, clock):
    from shared.errors import Conflict, NotFound

    message = vault.backup([vault.upload_pack()])
    catalog_commit(vault.rt, message)
    recovery_points.soft_delete(vault.rt, OPERATOR, message.recovery_point_id, vault.vault_id)
    clock.advance(days=15)
    with pytest.raises(Conflict):
        recovery_points.undelete(vault.rt, OPERATOR, message.recovery_point_id, vault.vault_id)
    purge_expired(vault.rt, vault.vault)
    with pytest.raises(NotFound):
        recovery_points.undelete(vault.rt, OPERATOR, message.recovery_point_id, vault.vault_id)


def test_a_pack_shared_by_two_recovery_points_survives_purging_one(vault, clock):
    shared_pack = vault.upload_pack()
    first, second = vault.backup([shared_pack]), vault.backup([shared_pack])
    catalog_commit(vault.rt, first)
    catalog_commit(vault.rt, second)
    _delete_and_purge(vault, clock, first.recovery_point_id)
    clock.advance(days=30)
    collect_garbage(vault.rt, vault.vault)
    assert _exists(vault, shared_pack)
    assert pack_refs.ref_count(vault.rt, vault.vault_id, _pack_id(shared_pack)) == 1


def test_a_commit_older_than_the_grace_period_is_refused(vault, clock):
    message = vault.backup([vault.upload_pack()])
    clock.advance(hours=49)  # the collector may have reclaimed the session's uploads by now
    with pytest.raises(CommitRejected, match="older than the garbage-collection grace period"):
        catalog_commit(vault.rt, message)


def test_a_committed_recovery_points_blobs_are_never_orphans(vault, clock):
    message = vault.backup([vault.upload_pack()])
    catalog_commit(vault.rt, message)
    clock.advance(days=30)
    collect_garbage(vault.rt, vault.vault)
    assert vault.rt.primary_blobs.blob_size(vault.container, f"snapshots/{message.recovery_point_id}") is not None
    assert vault.rt.primary_blobs.blob_size(vault.container, message.commit_blob) is not None
