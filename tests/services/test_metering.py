"""Metering applies each usage event exactly once and snapshots the stored bytes per region."""

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from shared.domain.messages import ReplicationMessage, UsageEvent
from shared.services.metering import record_usage
from shared.services.replication import replicate

pytestmark = pytest.mark.stack

A, B = "a" * 32, "b" * 32


def _event(vault, kind: str, n: int, at: str, size: int = 0, transactions: int = 0, instance=A) -> UsageEvent:
    return UsageEvent(
        event_id=f"{kind}:{n:032x}", vault_id=vault.vault_id, instance_id=instance, kind=kind,
        occurred_at=datetime.fromisoformat(at), bytes=size, transactions=transactions,
    )


def _events(vault) -> list[UsageEvent]:
    return [
        _event(vault, "backup", 1, "2026-03-09T23:00:00+00:00", 700, 5),
        _event(vault, "backup", 2, "2026-03-09T08:00:00+00:00", 900, 3),  # earlier, though bigger
        _event(vault, "backup", 3, "2026-03-10T00:30:00+01:00", 100, 1),  # 23:30 UTC the day before
        _event(vault, "restore", 4, "2026-03-09T10:00:00+00:00", 250, instance=B),
        _event(vault, "restore", 5, "2026-03-10T10:00:00+00:00", 50, instance=B),
        _event(vault, "replicated", 6, "2026-03-09T23:10:00+00:00", 4000, 7),
        _event(vault, "purged", 7, "2026-03-10T01:00:00+00:00"),
    ]


def _usage_documents(vault) -> dict[str, dict]:
    return {
        doc["id"]: {k: v for k, v in doc.items() if not k.startswith("_") and k != "vault_id"}
        for doc in vault.rt.catalog.usage.query(vault.vault_id)
    }


def test_counters_of_a_day(lrs_vault):
    for event in _events(lrs_vault):
        record_usage(lrs_vault.rt, event)
    docs = _usage_documents(lrs_vault)
    assert set(docs) == {f"day:{A}:2026-03-09", f"day:{B}:2026-03-09", f"day:{B}:2026-03-10", "stored:2026-03-10"}
    machine = docs[f"day:{A}:2026-03-09"]
    assert machine["backups"] == 3
    # The protected size is that of the day's latest backup by time, not the largest nor a sum.
    assert (machine["backup_bytes"], machine["backup_bytes_max"]) == (100, 900)
    assert machine["latest_backup_at"] == "2026-03-09T23:30:00+00:00"
    assert machine["fee_tier"] == "<=50 GB"  # of the protected size, 100 bytes
    assert (machine["replicated_bytes"], machine["transactions"]) == (4000, 16)
    restorer = docs[f"day:{B}:2026-03-09"]
    assert (restorer["restores"], restorer["restore_bytes"], restorer["egress_bytes"]) == (1, 250, 250)
    assert restorer["applied_events"] == [f"restore:{4:032x}"]
    assert restorer["fee_tier"] is None  # it protected nothing that day


def test_the_fee_tier_follows_the_days_latest_protected_size(lrs_vault):
    gb = 2**30
    record_usage(lrs_vault.rt, _event(lrs_vault, "backup", 1, "2026-03-09T08:00:00+00:00", 1200 * gb))
    assert _usage_documents(lrs_vault)[f"day:{A}:2026-03-09"]["fee_tier"] == ">500 GB (3 x 500 GB)"
    record_usage(lrs_vault.rt, _event(lrs_vault, "backup", 2, "2026-03-09T09:00:00+00:00", 60 * gb))
    assert _usage_documents(lrs_vault)[f"day:{A}:2026-03-09"]["fee_tier"] == "50-500 GB"
    # An earlier backup arriving late changes neither the protected size nor the tier.
    record_usage(lrs_vault.rt, _event(lrs_vault, "backup", 3, "2026-03-09T07:00:00+00:00", 10 * gb))
    day = _usage_documents(lrs_vault)[f"day:{A}:2026-03-09"]
    assert (day["backup_bytes"], day["fee_tier"]) == (60 * gb, "50-500 GB")


@pytest.mark.parametrize("deliveries", [2, 5])
def test_duplicate_shuffled_deliveries_give_identical_documents(make_vault, deliveries):
    once, repeated = make_vault(), make_vault()
    for vault in (once, repeated):
        vault.committed_point([(A, bytes(1000))], snapshot_size=24)
    for event in _events(once):
        record_usage(once.rt, event)
    replays = [event for event in _events(repeated) for _ in range(deliveries)]
    random.Random(deliveries).shuffle(replays)
    for event in replays:
        record_usage(repeated.rt, event)
    assert _usage_documents(repeated) == _usage_documents(once)


def test_concurrent_deliveries_apply_an_event_once(lrs_vault):
    event = _event(lrs_vault, "restore", 9, "2026-03-10T09:00:00+00:00", 10)
    with ThreadPoolExecutor(max_workers=5) as pool:
        list(pool.map(lambda _: record_usage(lrs_vault.rt, event), range(5)))
    day = _usage_documents(lrs_vault)[f"day:{A}:2026-03-10"]
    assert (day["restores"], day["restore_bytes"], day["applied_events"]) == (1, 10, [event.event_id])


def test_purged_event_only_refreshes_stored_bytes(lrs_vault):
    point = lrs_vault.committed_point([lrs_vault.pack(1000), lrs_vault.pack(500)], snapshot_size=300)
    record_usage(lrs_vault.rt, _event(lrs_vault, "purged", 1, "2026-03-10T01:00:00+00:00"))
    assert _usage_documents(lrs_vault) == {"stored:2026-03-10": {
        "id": "stored:2026-03-10", "type": "stored", "instance_id": "vault", "date": "2026-03-10",
        "stored_bytes_primary": 1800, "stored_bytes_secondary": 0,
    }}
    # Purging the point leaves its packs stored (condemned) until they are swept.
    rp = lrs_vault.recovery_point(point.id)
    lrs_vault.rt.catalog.recovery_points.replace({**rp, "state": "purged"}, rp["_etag"])
    record_usage(lrs_vault.rt, _event(lrs_vault, "purged", 2, "2026-03-10T02:00:00+00:00"))
    assert _usage_documents(lrs_vault)["stored:2026-03-10"]["stored_bytes_primary"] == 1500


def test_stored_bytes_count_kept_points_and_what_the_paired_region_holds(grs_vault, clock, cut_off_runtime):
    rt = grs_vault.rt
    shared = grs_vault.pack(2000)
    replicated = grs_vault.committed_point([shared, grs_vault.pack(1000)], snapshot_size=100)
    grs_vault.committed_point([shared, grs_vault.pack(400)], snapshot_size=50, state="deleted")
    grs_vault.committed_point([grs_vault.pack(10)], snapshot_size=7, state="purged")  # its pack: condemned, kept
    replicate(rt, ReplicationMessage(vault_id=grs_vault.vault_id, recovery_point_id=replicated.id, op="copy"))

    record_usage(rt, _event(grs_vault, "backup", 1, clock().isoformat(), 10))
    stored = _usage_documents(grs_vault)["stored:2026-03-10"]
    assert stored["stored_bytes_primary"] == 2000 + 1000 + 400 + 10 + 100 + 50
    # Every blob the paired region holds: the point's packs, snapshot and manifest, and the key.
    small = [f"commits/{replicated.id}", f"keys/{grs_vault.key_id}"]
    held = 2000 + 1000 + 100 + sum(rt.primary_blobs.blob_size(grs_vault.container, name) for name in small)
    assert stored["stored_bytes_secondary"] == held

    # The paired region unreachable the next day: metering goes on, carrying the last figure.
    clock.advance(days=1)
    cut_off_runtime.clock = clock
    record_usage(cut_off_runtime, _event(grs_vault, "restore", 2, clock().isoformat(), 10))
    stored = _usage_documents(grs_vault)["stored:2026-03-11"]
    assert stored["stored_bytes_secondary"] == held


def test_event_of_an_unknown_vault_is_dropped(runtime):
    event = UsageEvent(event_id=f"backup:{1:032x}", vault_id="f" * 32, kind="backup",
                       occurred_at=datetime(2026, 3, 1, tzinfo=timezone.utc), bytes=1)
    record_usage(runtime, event)
    assert list(runtime.catalog.usage.query("f" * 32)) == []
