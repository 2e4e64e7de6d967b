"""Deletions reach the paired region even after a switch to LRS, and a switch to GRS back-fills older points."""

import dataclasses
import secrets

import pytest

from shared.domain.messages import ReplicationMessage, decode
from shared.services import recovery_points, vault_keys, vaults
from shared.services.garbage_collection import collect_garbage
from shared.services.purge import purge_expired
from shared.services.replication import replicate

from shared.services.auth import Principal

OPERATOR = Principal("operator")

pytestmark = pytest.mark.stack


@pytest.fixture
def make_replicating_vault(make_vault):
    """A vault whose replication messages go to a queue of its own, applied by the test (not the host)."""

    def make(redundancy: str):
        vault = make_vault(redundancy)
        queue = f"t-replication-{secrets.token_hex(4)}"
        vault.rt.settings = dataclasses.replace(vault.rt.settings, replication_queue=queue)
        vault.rt.queues.ensure_queue(queue)
        return vault

    return make


def _apply_replication(vault) -> list[ReplicationMessage]:
    """Applies every message queued so far, earlier ones again too: each must be safe to repeat."""
    rt = vault.rt
    messages = [decode(ReplicationMessage, m.body) for m in rt.queues.peek(rt.settings.replication_queue)]
    for message in messages:
        replicate(rt, message)
    return messages


def _secondary_names(vault) -> set[str]:
    return {blob.name for blob in vault.rt.secondary_blobs.list_blobs(vault.container)}


def _switch(vault, redundancy: str) -> None:
    vaults.update_vault(vault.rt, OPERATOR, vault.vault_id, vaults.VaultUpdate(redundancy=redundancy))


def _vault_doc(vault) -> dict:
    return vault.rt.catalog.vaults.get(vault.vault_id, vault.vault_id)


@pytest.mark.parametrize("redundancy_at_deletion", ["GRS", "LRS"])
def test_purge_and_sweep_delete_the_paired_region_copies(make_replicating_vault, clock, redundancy_at_deletion):
    vault = make_replicating_vault("GRS")
    pack = vault.pack()
    point = vault.committed_point([pack])
    kept = vault.committed_point([vault.pack()])
    _apply_replication(vault)  # nothing queued: the points were written directly
    replicate(vault.rt, ReplicationMessage(vault_id=vault.vault_id, recovery_point_id=point.id, op="copy"))
    replicate(vault.rt, ReplicationMessage(vault_id=vault.vault_id, recovery_point_id=kept.id, op="copy"))
    assert set(point.blobs) <= _secondary_names(vault)
    if redundancy_at_deletion == "LRS":
        _switch(vault, "LRS")  # the copies made while GRS must not linger

    recovery_points.soft_delete(vault.rt, OPERATOR, point.id, vault.vault_id)
    clock.advance(days=15)
    assert purge_expired(vault.rt, _vault_doc(vault)) == 1
    _apply_replication(vault)
    left = _secondary_names(vault)
    assert not {f"snapshots/{point.id}", f"commits/{point.id}"} & left
    assert f"packs/{pack[0]}" in left, "the pack goes only when the collector sweeps it"

    clock.advance(hours=vault.rt.settings.gc_grace_hours + 1)
    assert collect_garbage(vault.rt, _vault_doc(vault))["swept"] == 1
    _apply_replication(vault)
    left = _secondary_names(vault)
    assert f"packs/{pack[0]}" not in left
    assert set(kept.blobs) <= left, "the other point's copies are untouched"


def test_switch_to_grs_backfills_the_points_made_while_lrs(make_replicating_vault):
    vault = make_replicating_vault("LRS")
    shared_pack = vault.pack()
    committed = vault.committed_point([shared_pack, vault.pack()])
    deleted = vault.committed_point([shared_pack], state="deleted")  # can still be undeleted
    purged = vault.committed_point([vault.pack()], state="purged")

    _switch(vault, "GRS")
    first = _apply_replication(vault)

    for point in (committed, deleted):
        assert vault.recovery_point(point.id).get("replicated_at"), point.id
        assert set(point.blobs) <= _secondary_names(vault)
    assert vault.recovery_point(purged.id).get("replicated_at") is None
    assert f"keys/{vault.key_id}" in _secondary_names(vault)
    assert {m.recovery_point_id for m in first} == {None, committed.id, deleted.id}

    # Asking again (say, after a back-fill that failed halfway) enqueues only the key: every point is there.
    _switch(vault, "GRS")
    again = _apply_replication(vault)[len(first):]
    assert [(m.recovery_point_id, m.blobs) for m in again] == [(None, [f"keys/{vault.key_id}"])]


def test_a_key_retired_while_lrs_is_released_from_the_paired_region_too_and_the_new_one_follows_on_grs(
        make_replicating_vault):
    vault = make_replicating_vault("GRS")
    old_key = f"keys/{vault.key_id}"
    replicate(vault.rt, ReplicationMessage(vault_id=vault.vault_id, op="copy", blobs=[old_key]))
    _switch(vault, "LRS")
    new_id = "a" * 32
    vault.put(f"keys/{new_id}", b'{"wrapped": "new"}')
    machine = Principal("instance", vault.vault_id, "b" * 32)

    vault_keys.set_vault_key(vault.rt, machine, vault_keys.VaultKeyRequest(
        key_id=new_id, previous_key_id=vault.key_id, key_proof="c" * 64))
    _apply_replication(vault)
    assert old_key in _secondary_names(vault), "retired, not deleted: points made under it still need it"

    vault.rt.clock.advance(hours=vault.rt.settings.gc_grace_hours + 1)  # no point names it: released
    assert vault_keys.collect_retired_keys(vault.rt, vault.rt.catalog.vaults.get(vault.vault_id, vault.vault_id)) == 1
    _apply_replication(vault)
    assert old_key not in _secondary_names(vault), "a released key leaves the paired region too"

    _switch(vault, "GRS")
    _apply_replication(vault)
    assert f"keys/{new_id}" in _secondary_names(vault)
