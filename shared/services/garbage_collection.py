"""Sweeps packs that stayed unreferenced past the grace period, orphaned uploads and blobs outside the layout."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.domain.messages import ReplicationMessage, encode
from shared.errors import Conflict, PreconditionFailed
from shared.formats import blob_names
from shared.services import pack_refs
from shared.services.layout_sweep import sweep_container
from shared.services.metering import record_listing
from shared.services.purge import condemn_if_unreferenced
from shared.services.vaults import container_name

log = logging.getLogger(__name__)


def collect_garbage(rt, vault: dict) -> dict:
    """No lock: every state change is an ETag-conditional write that a concurrent commit's
    pack touch invalidates (docs/design.md, "Concurrency rules")."""
    cutoff = rt.clock() - timedelta(hours=rt.settings.gc_grace_hours)
    counts = {"condemned": 0, "swept": 0, "orphans": 0, "orphan_recovery_blobs": 0, "revived": 0,
              "junk": 0, "orphan_keys": 0}
    packs = list(rt.catalog.packs.query(vault["id"], "c.type = 'pack'"))
    known = {doc["id"] for doc in packs}
    # Listed before any pack is swept, so a pack swept below is never taken for an orphan upload.
    listing = sweep_container(rt, vault, known, cutoff)
    counts["junk"], counts["orphan_keys"] = listing.junk_blobs, listing.orphan_keys
    for doc in packs:
        if doc["state"] == "live" and _older(doc.get("last_ref_at"), cutoff):
            counts["condemned"] += condemn_if_unreferenced(rt, vault["id"], doc["id"])
        elif doc["state"] == "condemned" and _older(doc.get("condemned_at"), cutoff):
            swept = _sweep(rt, vault, doc)
            counts["swept" if swept else "revived"] += 1
        elif doc["state"] == "deleting":
            _delete_pack(rt, vault, doc)
            counts["swept"] += 1
    counts["orphans"] = _sweep_orphans(rt, vault, listing.packs, known, cutoff)
    counts["orphan_recovery_blobs"] = _sweep_orphan_recovery_blobs(rt, vault, listing.recovery_blobs, cutoff)
    record_listing(rt, vault, listing)
    return counts


def _older(stamp: str | None, cutoff: datetime) -> bool:
    return stamp is not None and datetime.fromisoformat(stamp) < cutoff


def _sweep(rt, vault: dict, doc: dict) -> bool:
    try:
        deleting = rt.catalog.packs.replace({**doc, "state": "deleting"}, doc["_etag"])
    except PreconditionFailed:
        return False  # a commit touched it: it lives
    if pack_refs.ref_count(rt, vault["id"], doc["id"]) > 0:
        try:
            rt.catalog.packs.replace({**deleting, "state": "live", "condemned_at": None}, deleting["_etag"])
        except PreconditionFailed:
            pass
        return False
    _delete_pack(rt, vault, deleting)
    return True


def _delete_pack(rt, vault: dict, doc: dict) -> None:
    blob = blob_names.pack_name(doc["id"])
    rt.primary_blobs.delete_blob(container_name(vault["id"]), blob)
    if rt.secondary_blobs is not None:  # a vault switched to LRS may still have a copy there
        rt.queues.send(rt.settings.replication_queue, encode(ReplicationMessage(vault_id=vault["id"], op="delete", blobs=[blob])))
    rt.catalog.packs.delete(vault["id"], doc["id"])
    log.info("swept pack %s of vault %s", doc["id"], vault["id"])


def _sweep_orphans(rt, vault: dict, pack_blobs: list, known: set[str], cutoff: datetime) -> int:
    """Pack blobs no commit ever referenced (interrupted backups), once older than the grace period."""
    swept = 0
    for listing in pack_blobs:
        pack = blob_names.parse_pack(listing.name)
        if pack in known or listing.last_modified >= cutoff:
            continue
        try:
            doc = rt.catalog.packs.create({
                "id": pack, "vault_id": vault["id"], "type": "pack", "size": listing.size, "state": "deleting",
                "created": rt.clock().isoformat(), "last_ref_at": None, "condemned_at": None,
            })
        except Conflict:
            continue  # a commit just claimed it
        _delete_pack(rt, vault, doc)
        swept += 1
    return swept


def _sweep_orphan_recovery_blobs(rt, vault: dict, recovery_blobs: list, cutoff: datetime) -> int:
    """Snapshot and manifest blobs that are not those of an existing recovery point.

    Those of sessions that never became a point, of rejected points (a replay is refused), and
    any other blob under such a name (a manifest planted beside a point's own). Safe because the
    catalog refuses a commit whose session is older than the grace period, and these blobs are
    older still.
    """
    swept = 0
    container = container_name(vault["id"])
    for listing in recovery_blobs:
        if listing.last_modified >= cutoff:
            continue
        rp = rt.catalog.recovery_points.find(vault["id"], blob_names.recovery_point_of(listing.name))
        if rp is not None and rp["state"] != "rejected" and listing.name in _blobs_of(rp):
            continue
        rt.primary_blobs.delete_blob(container, listing.name)
        swept += 1
    return swept


def _blobs_of(rp: dict) -> tuple[str | None, str | None]:
    return ((rp.get("snapshot") or {}).get("name"), rp.get("commit_blob"))
