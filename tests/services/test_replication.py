"""Replication copies a recovery point's blobs to the paired region once, survives its outage, and deletes."""

import pytest

from shared.domain.messages import ReplicationMessage, UsageEvent, decode
from shared.errors import ServiceError, StorageUnavailable
from shared.services.replication import replicate

pytestmark = pytest.mark.stack


def _copy(vault, rp_id: str | None = None, blobs: tuple[str, ...] = ()) -> ReplicationMessage:
    return ReplicationMessage(vault_id=vault.vault_id, recovery_point_id=rp_id, op="copy", blobs=list(blobs))


def _secondary_blobs(vault) -> dict[str, bytes]:
    secondary = vault.rt.secondary_blobs
    return {b.name: secondary.read(vault.container, b.name) for b in secondary.list_blobs(vault.container)}


def _usage_events(vault) -> list[UsageEvent]:
    sent = [decode(UsageEvent, m.body) for m in vault.rt.queues.peek(vault.rt.settings.metering_queue)]
    return [event for event in sent if event.vault_id == vault.vault_id]


def test_copy_replicates_every_blob_bit_identical_and_records_lag(grs_vault, clock):
    shared_pack = grs_vault.pack(70_000)
    point = grs_vault.committed_point([shared_pack, grs_vault.pack(5000), grs_vault.pack(1)])
    other = grs_vault.committed_point([shared_pack])
    clock.advance(seconds=42.5)

    replicate(grs_vault.rt, _copy(grs_vault, point.id))

    key = f"keys/{grs_vault.key_id}"
    expected = {**point.blobs, key: grs_vault.rt.primary_blobs.read(grs_vault.container, key)}
    assert _secondary_blobs(grs_vault) == expected  # the other point's snapshot is not copied
    rp = grs_vault.recovery_point(point.id)
    assert rp["replicated_at"] == clock().isoformat()
    assert rp["replication_lag_seconds"] == 42.5
    assert grs_vault.recovery_point(other.id).get("replicated_at") is None
    [event] = _usage_events(grs_vault)
    assert (event.event_id, event.kind, event.instance_id) == (f"replicated:{point.id}", "replicated", point.instance_id)
    assert (event.bytes, event.transactions) == (sum(len(d) for d in expected.values()), len(expected))


def test_second_delivery_changes_nothing(grs_vault, clock):
    point = grs_vault.committed_point([grs_vault.pack()])
    replicate(grs_vault.rt, _copy(grs_vault, point.id))
    first = grs_vault.recovery_point(point.id)
    copies = _secondary_blobs(grs_vault)
    clock.advance(hours=1)

    replicate(grs_vault.rt, _copy(grs_vault, point.id))

    again = grs_vault.recovery_point(point.id)
    assert again["_etag"] == first["_etag"]  # not even rewritten
    assert again["replicated_at"] == first["replicated_at"]
    assert _secondary_blobs(grs_vault) == copies
    # The usage event is sent again, identical, so a crash after the catalog write loses nothing.
    first_event, second_event = _usage_events(grs_vault)
    assert first_event == second_event


def test_secondary_down_raises_then_a_replay_completes(grs_vault, cut_off_runtime, clock):
    point = grs_vault.committed_point([grs_vault.pack(), grs_vault.pack()])

    with pytest.raises(StorageUnavailable):
        replicate(cut_off_runtime, _copy(grs_vault, point.id))
    assert grs_vault.recovery_point(point.id).get("replicated_at") is None
    assert _usage_events(grs_vault) == []

    clock.advance(minutes=10)  # the message is replayed from poison once the region is back
    replicate(grs_vault.rt, _copy(grs_vault, point.id))
    rp = grs_vault.recovery_point(point.id)
    assert rp["replicated_at"] == clock().isoformat() and rp["replication_lag_seconds"] == 600
    assert point.blobs.items() <= _secondary_blobs(grs_vault).items()


def test_partial_copy_is_finished_by_the_next_delivery(grs_vault):
    packs = [grs_vault.pack(), grs_vault.pack()]
    point = grs_vault.committed_point(packs)
    # A crash after the first pack: it is already there, and a stale partial blob sits at the second.
    first = f"packs/{packs[0][0]}"
    second = f"packs/{packs[1][0]}"
    grs_vault.rt.secondary_blobs.put_blob(grs_vault.container, first, point.blobs[first])
    grs_vault.rt.secondary_blobs.put_blob(grs_vault.container, second, point.blobs[second][:10])

    replicate(grs_vault.rt, _copy(grs_vault, point.id))

    assert point.blobs.items() <= _secondary_blobs(grs_vault).items()


def test_a_pack_missing_from_the_primary_fails_the_copy_and_marks_nothing(grs_vault):
    lost = grs_vault.pack()
    point = grs_vault.committed_point([grs_vault.pack(), lost])
    grs_vault.rt.primary_blobs.delete_blob(grs_vault.container, f"packs/{lost[0]}")

    with pytest.raises(ServiceError, match="missing from the primary"):
        replicate(grs_vault.rt, _copy(grs_vault, point.id))
    assert grs_vault.recovery_point(point.id).get("replicated_at") is None
    assert _usage_events(grs_vault) == []


def test_purged_missing_and_lrs_points_are_left_alone(grs_vault, lrs_vault):
    purged = grs_vault.committed_point([grs_vault.pack()], state="purged")
    replicate(grs_vault.rt, _copy(grs_vault, purged.id))
    replicate(grs_vault.rt, _copy(grs_vault, "0" * 32))
    lrs_point = lrs_vault.committed_point([lrs_vault.pack()])
    replicate(lrs_vault.rt, _copy(lrs_vault, lrs_point.id))

    assert _secondary_blobs(grs_vault) == {} and _secondary_blobs(lrs_vault) == {}
    assert lrs_vault.recovery_point(lrs_point.id).get("replicated_at") is None
    assert _usage_events(grs_vault) == []


def test_loose_key_blob_is_copied_unless_the_vault_replaced_it(grs_vault):
    key = f"keys/{grs_vault.key_id}"
    replicate(grs_vault.rt, _copy(grs_vault, blobs=(key,)))
    assert _secondary_blobs(grs_vault) == {key: grs_vault.rt.primary_blobs.read(grs_vault.container, key)}

    # A passphrase change raced with the copy of this older key: it must not linger in the pair.
    stale = "keys/" + "e" * 32
    grs_vault.put(stale, b"old wrapped key")
    replicate(grs_vault.rt, _copy(grs_vault, blobs=(stale,)))
    assert stale not in _secondary_blobs(grs_vault)


def test_delete_removes_from_the_secondary_and_repeats_harmlessly(grs_vault):
    point = grs_vault.committed_point([grs_vault.pack(), grs_vault.pack()])
    replicate(grs_vault.rt, _copy(grs_vault, point.id))
    doomed = sorted(name for name in point.blobs if not name.startswith("packs/"))
    delete = ReplicationMessage(vault_id=grs_vault.vault_id, op="delete", blobs=doomed)

    replicate(grs_vault.rt, delete)
    replicate(grs_vault.rt, delete)

    left = _secondary_blobs(grs_vault)
    assert not set(doomed) & set(left)
    assert {name for name in point.blobs if name.startswith("packs/")} <= set(left)


def _damage(vault, name: str, data: bytes) -> None:
    vault.put(name, bytes([data[0] ^ 1]) + data[1:])  # the same size: only the hash tells


def test_a_damaged_pack_in_the_primary_is_not_replicated(grs_vault):
    damaged = grs_vault.pack()
    point = grs_vault.committed_point([grs_vault.pack(), damaged])
    _damage(grs_vault, f"packs/{damaged[0]}", damaged[1])

    with pytest.raises(ServiceError, match=f"packs/{damaged[0]} in the primary is damaged"):
        replicate(grs_vault.rt, _copy(grs_vault, point.id))
    assert f"packs/{damaged[0]}" not in _secondary_blobs(grs_vault)
    assert grs_vault.recovery_point(point.id).get("replicated_at") is None
    assert _usage_events(grs_vault) == []


def test_a_pack_damaged_in_the_primary_after_its_copy_keeps_the_good_copy(grs_vault):
    shared_pack = grs_vault.pack()
    first = grs_vault.committed_point([shared_pack])
    replicate(grs_vault.rt, _copy(grs_vault, first.id))
    second = grs_vault.committed_point([shared_pack])
    _damage(grs_vault, f"packs/{shared_pack[0]}", shared_pack[1])

    replicate(grs_vault.rt, _copy(grs_vault, second.id))

    assert _secondary_blobs(grs_vault)[f"packs/{shared_pack[0]}"] == shared_pack[1]
    assert grs_vault.recovery_point(second.id).get("replicated_at")
