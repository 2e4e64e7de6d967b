"""Two deliveries of one commit, interleaved by hand: a rejection never strips a committed point."""

import pytest

from shared.errors import CommitRejected
from shared.services import pack_refs
from shared.services.catalog import catalog_commit
from shared.services.garbage_collection import collect_garbage
from tests.pipeline.test_catalog import _catalog_state


def _stale_first_read(monkeypatch, vault, rp_id: str) -> None:
    """The next read of the recovery point answers "absent", as one taken before another delivery
    committed it; every later read is live."""
    points = vault.rt.catalog.recovery_points
    live_find = points.find
    stale = [True]

    def find(vault_id, doc_id):
        if doc_id == rp_id and stale:
            stale.clear()
            return None
        return live_find(vault_id, doc_id)

    monkeypatch.setattr(points, "find", find)


def _outcome(rt, message) -> str:
    try:
        return catalog_commit(rt, message)
    except CommitRejected as exc:
        return f"rejected: {exc}"


def _references(vault, message, packs) -> dict[str, int]:
    """Each pack's reference count, for the packs the recovery point references."""
    named = set(pack_refs.packs_of(vault.rt, vault.vault_id, message.recovery_point_id))
    return {p["name"]: pack_refs.ref_count(vault.rt, vault.vault_id, p["name"].removeprefix("packs/"))
            for p in packs if p["name"].removeprefix("packs/") in named}


def _swept_after_two_grace_periods(vault, clock, packs) -> list[str]:
    """Runs the collector past its mark and its sweep; returns the packs whose blob is gone."""
    for _ in range(2):
        clock.advance(hours=vault.rt.settings.gc_grace_hours + 1)
        collect_garbage(vault.rt, vault.vault)
    return [p["name"] for p in packs if vault.rt.primary_blobs.blob_size(vault.container, p["name"]) is None]


def test_a_duplicate_that_read_before_the_commit_leaves_the_committed_point_whole(vault, clock, monkeypatch):
    packs = [vault.upload_pack(), vault.upload_pack()]
    message = vault.backup(packs)
    assert catalog_commit(vault.rt, message) == "committed"  # delivery A
    committed = _catalog_state(vault)

    _stale_first_read(monkeypatch, vault, message.recovery_point_id)
    outcome = _outcome(vault.rt, message)  # delivery B read "no recovery point" before A committed

    assert _swept_after_two_grace_periods(vault, clock, packs) == []
    assert _references(vault, message, packs) == {p["name"]: 1 for p in packs}
    assert _catalog_state(vault) == committed
    assert outcome == "committed"


def test_a_late_rejection_leaves_a_point_another_delivery_committed_untouched(vault, clock, monkeypatch):
    """Delivery B read before A committed, then fails validation (its session aged past the grace
    period meanwhile): the point is A's, committed, and keeps every reference."""
    packs = [vault.upload_pack(), vault.upload_pack()]
    message = vault.backup(packs)
    assert catalog_commit(vault.rt, message) == "committed"
    committed = _catalog_state(vault)

    clock.advance(hours=vault.rt.settings.gc_grace_hours, minutes=1)
    _stale_first_read(monkeypatch, vault, message.recovery_point_id)
    outcome = _outcome(vault.rt, message)

    assert _references(vault, message, packs) == {p["name"]: 1 for p in packs}
    assert _catalog_state(vault) == committed
    assert outcome == "committed"


def test_a_rejection_cleaning_up_never_strips_a_delivery_that_took_the_point_over(vault, monkeypatch):
    """Delivery B is rejected (a pack is missing) and removes its references; while it does, the
    pack arrives and delivery A catalogs the point. A's references must all survive B."""
    present, late = vault.upload_pack(), vault.upload_pack()
    late_data = vault.rt.primary_blobs.read(vault.container, late["name"])
    vault.rt.primary_blobs.delete_blob(vault.container, late["name"])
    message = vault.backup([present, late])

    packs_container = vault.rt.catalog.packs
    live_delete = packs_container.delete
    interleaved = []

    def delete(vault_id, doc_id, *args, **kwargs):
        if doc_id.startswith("ref:") and not interleaved:
            interleaved.append(doc_id)
            vault.rt.primary_blobs.put_blob(vault.container, late["name"], late_data)
            interleaved.append(catalog_commit(vault.rt, message))  # delivery A, start to end
        return live_delete(vault_id, doc_id, *args, **kwargs)

    monkeypatch.setattr(packs_container, "delete", delete)
    with pytest.raises(CommitRejected, match="missing"):
        catalog_commit(vault.rt, message)  # delivery B
    monkeypatch.undo()

    assert interleaved[1:] == ["committed"]
    rp = vault.rt.catalog.recovery_points.get(vault.vault_id, message.recovery_point_id)
    assert rp["state"] == "committed"
    assert pack_refs.packs_of(vault.rt, vault.vault_id, message.recovery_point_id) == sorted(
        p["name"].removeprefix("packs/") for p in (present, late)
    )
    for pack in (present, late):
        doc = vault.rt.catalog.packs.get(vault.vault_id, pack["name"].removeprefix("packs/"))
        assert doc["state"] == "live" and doc["size"] == pack["size"]

