"""Records usage events exactly once in a vault's daily usage documents."""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone

from pydantic import ValidationError

from shared.domain.messages import UsageEvent
from shared.domain.pricing import PriceTable, instance_fee
from shared.errors import Conflict, StorageUnavailable
from shared.services.vaults import container_name

log = logging.getLogger(__name__)

VAULT_WIDE = "vault"  # the instance slot of documents that belong to no single instance
_DAY_FIGURES = (
    "backups", "backup_bytes", "backup_bytes_max", "restores", "restore_bytes", "egress_bytes",
    "replicated_bytes", "transactions",
)
LISTING_ID = "listing:primary"  # the last maintenance run's measure of the primary container


def day_id(instance_id: str | None, day: date) -> str:
    return f"day:{instance_id or VAULT_WIDE}:{day.isoformat()}"


def stored_id(day: date) -> str:
    return f"stored:{day.isoformat()}"


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already (never local time)."""
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def record_usage(rt, event: UsageEvent) -> None:
    """Refreshes today's stored-bytes snapshot, then applies the event to its day document once.

    In that order, so that a delivery that already applied the event has refreshed the snapshot
    too, and a duplicate costs a single read. `occurred_at` must be the same on every delivery
    of an event (producers derive it from the catalog): the event is deduplicated within the day
    document it lands in.
    """
    day = as_utc(event.occurred_at).date()
    doc_id = day_id(event.instance_id, day)
    doc = None if event.kind == "purged" else rt.catalog.usage.find(event.vault_id, doc_id)
    if _applied(doc, event):
        return
    vault = rt.catalog.vaults.find(event.vault_id, event.vault_id)
    if vault is None or vault.get("type") != "vault":
        log.warning("usage event %s names unknown vault %s; dropped", event.event_id, event.vault_id)
        return
    refresh_stored(rt, vault)
    if event.kind == "purged":
        return  # it only changes what is stored
    prices = _price_table(rt)
    while True:
        updated = _with_event(doc or _empty_day(event, doc_id, day), event, prices)
        try:
            if doc is None:
                rt.catalog.usage.create(updated)
            else:
                rt.catalog.usage.replace(updated, doc["_etag"])  # fails if anything wrote since the read
            return
        except Conflict:  # also PreconditionFailed: another delivery wrote first; look again
            doc = rt.catalog.usage.find(event.vault_id, doc_id)
            if _applied(doc, event):
                return


def _applied(doc: dict | None, event: UsageEvent) -> bool:
    return doc is not None and event.event_id in doc["applied_events"]


def _empty_day(event: UsageEvent, doc_id: str, day: date) -> dict:
    return {
        "id": doc_id, "vault_id": event.vault_id, "type": "day",
        "instance_id": event.instance_id or VAULT_WIDE, "date": day.isoformat(),
        **{name: 0 for name in _DAY_FIGURES}, "latest_backup_at": None, "latest_backup_event": None,
        "fee_tier": None, "applied_events": [],
    }


def _with_event(doc: dict, event: UsageEvent, prices: PriceTable | None) -> dict:
    """The day document with the event added; commutative, so delivery order does not matter.

    A backup also sets the instance's fee tier for its protected size (`backup_bytes`), so each
    day shows which tier the machine was in; the monthly bill charges the month's largest.
    """
    doc = {k: v for k, v in doc.items() if not k.startswith("_")}
    if event.kind == "backup":
        doc["backups"] += 1
        doc["backup_bytes_max"] = max(doc["backup_bytes_max"], event.bytes)
        # The protected size is the latest backup's front-end size, "latest" by when it happened
        # (ties broken by event id), not by when its message arrived.
        at = as_utc(event.occurred_at)
        if doc["latest_backup_at"] is None or (at, event.event_id) > (
            datetime.fromisoformat(doc["latest_backup_at"]), doc["latest_backup_event"]
        ):
            doc.update(latest_backup_at=at.isoformat(), latest_backup_event=event.event_id, backup_bytes=event.bytes)
        if prices is not None and doc["instance_id"] != VAULT_WIDE:
            doc["fee_tier"] = instance_fee(doc["instance_id"], doc["backup_bytes"], prices).tier
    elif event.kind == "restore":
        # A restore's download leaves the region: recorded as egress, charged nothing.
        doc["restores"] += 1
        doc["restore_bytes"] += event.bytes
        doc["egress_bytes"] += event.bytes
    elif event.kind == "replicated":
        doc["replicated_bytes"] += event.bytes
    doc["transactions"] += event.transactions
    doc["applied_events"] = sorted([*doc["applied_events"], event.event_id])
    return doc


def _price_table(rt) -> PriceTable | None:
    """The configured prices; an invalid table leaves tiers unset rather than stopping metering."""
    try:
        return PriceTable.model_validate(dict(rt.settings.price_table))
    except ValidationError as exc:
        log.warning("app setting PRICE_TABLE is invalid (%s); fee tiers are not recorded", exc.errors()[0]["msg"])
        return None


def refresh_stored(rt, vault: dict) -> dict:
    """Recomputes today's stored bytes per region from the current state (idempotent by nature)."""
    day = as_utc(rt.clock()).date()
    while True:
        doc = rt.catalog.usage.find(vault["id"], stored_id(day))
        # Computed after the read: if another refresh writes in between, the conditional write
        # below fails and this one recomputes, so the last write is never the older figure.
        figures = {
            "stored_bytes_primary": stored_bytes_primary(rt, vault["id"]),
            "stored_bytes_secondary": _secondary_or_last(rt, vault, day, doc),
        }
        if doc is not None and all(doc.get(k) == v for k, v in figures.items()):
            return doc
        body = {
            "id": stored_id(day), "vault_id": vault["id"], "type": "stored", "instance_id": VAULT_WIDE,
            "date": day.isoformat(), **figures,
        }
        try:
            if doc is None:
                return rt.catalog.usage.create(body)
            return rt.catalog.usage.replace(body, doc["_etag"])
        except Conflict:
            continue


def latest_stored_bytes(rt, vault_id: str) -> int:
    """The primary region's stored bytes as last recorded (0 before the first figure): one query."""
    latest = list(rt.catalog.usage.query(
        vault_id, "c.type = 'stored'", select="TOP 1 c.stored_bytes_primary", order_by="c.date DESC",
    ))
    return int(latest[0].get("stored_bytes_primary") or 0) if latest else 0


def stored_bytes_primary(rt, vault_id: str) -> int:
    """Every blob the container holds: what the catalog accounts for, plus what the last listing
    found beyond that (manifests, keys, uploads no commit claimed, blobs outside the layout)."""
    listing = rt.catalog.usage.find(vault_id, LISTING_ID)
    return catalog_bytes(rt, vault_id) + (listing["unaccounted_bytes"] if listing else 0)


def record_listing(rt, vault: dict, listing) -> None:
    """Records the maintenance run's measure: the listing's bytes the catalog does not account for.

    Taken before the run deletes blobs outside the layout, so those are billed for the day they
    are found; the next run's listing drops them.
    """
    accounted = catalog_bytes(rt, vault["id"])
    rt.catalog.usage.upsert({
        "id": LISTING_ID, "vault_id": vault["id"], "type": "listing", "at": rt.clock().isoformat(),
        "listed_bytes": listing.listed_bytes, "accounted_bytes": accounted,
        "unaccounted_bytes": max(0, listing.listed_bytes - accounted),
        "junk_blobs": listing.junk_blobs, "junk_bytes": listing.junk_bytes,
    })


def catalog_bytes(rt, vault_id: str) -> int:
    """Pack blobs (every pack document: live, condemned or being swept) plus kept snapshots."""
    packs = _sum(rt.catalog.packs.query(vault_id, "c.type = 'pack'", select="VALUE SUM(c.size)"))
    snapshots = _sum(rt.catalog.recovery_points.query(
        vault_id, "c.type = 'recovery_point' AND c.state IN ('committed', 'deleted')",
        select="VALUE SUM(c.snapshot.size)",
    ))
    return packs + snapshots


def stored_bytes_secondary(rt, vault: dict) -> int:
    """What the paired-region container actually holds (a listing is exact); 0 unless GRS."""
    if vault.get("redundancy") != "GRS" or rt.secondary_blobs is None:
        return 0
    return sum(blob.size for blob in rt.secondary_blobs.list_blobs(container_name(vault["id"]), ""))


def _secondary_or_last(rt, vault: dict, day: date, doc: dict | None) -> int:
    """Metering must not fail while the paired region is down: keep the last known figure."""
    try:
        return stored_bytes_secondary(rt, vault)
    except StorageUnavailable:
        log.warning("paired region of vault %s unreachable; stored bytes carried forward", vault["id"])
        if doc is not None:
            return doc["stored_bytes_secondary"]
        previous = list(rt.catalog.usage.query(
            vault["id"], "c.type = 'stored' AND c.date < @day", {"day": day.isoformat()},
            select="TOP 1 c.stored_bytes_secondary", order_by="c.date DESC",
        ))
        return previous[0]["stored_bytes_secondary"] if previous else 0


def _sum(results) -> int:
    # Cosmos answers an aggregate over no documents with [] (the emulator with [0]).
    values = [v for v in results if v is not None]
    return int(values[0]) if values else 0
