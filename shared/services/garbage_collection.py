"""Sweeps packs that stayed unreferenced past the grace period, and orphaned uploads, in both regions."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.domain.messages import ReplicationMessage, encode
from shared.errors import Conflict, PreconditionFailed
from shared.services import pack_refs
from shared.services.purge import condemn_if_unreferenced
from shared.services.vaults import container_name

log = logging.getLogger(__name__)


def collect_garbage(rt, vault: dict) -> dict:
    """No lock: every state change is an ETag-conditional write that a concurrent commit's
    pack touch invalidates (docs/design.md, "Concurrency rules")."""
    cutoff = rt.clock() - timedelta(hours=rt.settings.gc_grace_hours)
    counts = {"condemned": 0, "swept": 0, "orphans": 0, "orphan_recovery_blobs": 0, "revived": 0}
    packs = list(rt.catalog.packs.query(vault["id"], "c.type = 'pack'"))
    for doc in packs:
        if doc["state"] == "live" and _older(doc.get("last_ref_at"), cutoff):
            counts["condemned"] += condemn_if_unreferenced(rt, vault["id"], doc["id"])
        elif doc["state"] == "condemned" and _older(doc.get("condemned_at"), cutoff):
            swept = _sweep(rt, vault, doc)
            counts["swept" if swept else "revived"] += 1
        elif doc["state"] == "deleting":
            _delete_pack(rt, vault, doc)
            counts["swept"] += 1
    known = {doc["id"] for doc in packs}
    counts["orphans"] = _sweep_orphans(rt, vault, known, cutoff)
    counts["orphan_recovery_blobs"] = _sweep_orphan_recovery_blobs(rt, vault, cutoff)
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
    blob = f"packs/{doc['id']}"
    rt.primary_blobs.delete_blob(container_name(vault["id"]), blob)
    if rt.secondary_blobs is not None:  # a vault switched to LRS may still have a copy there
        rt.queues.send(rt.settings.replication_queue, encode(ReplicationMessage(vault_id=vault["id"], op="delete", blobs=[blob])))
    rt.catalog.packs.delete(vault["id"], doc["id"])
    log.info("swept pack %s of vault %s", doc["id"], vault["id"])


def _sweep_orphans(rt, vault: dict, known: set[str], cutoff: datetime) -> int:
    """Pack blobs no commit ever referenced (interrupted backups), once older than the grace period."""
    swept = 0
    container = container_name(vault["id"])
    for listing in list(rt.primary_blobs.list_blobs(container, "packs/")):
        pack = listing.name.removeprefix("packs/")
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


def _sweep_orphan_recovery_blobs(rt, vault: dict, cutoff: datetime) -> int:
    """Snapshot and manifest blobs of sessions that never became a recovery point.

    Safe because the catalog refuses a commit whose session is older than the grace period, and
    these blobs are older still. A rejected recovery point's blobs go too: its replay is refused.
    """
    swept = 0
    container = container_name(vault["id"])
    for prefix in ("snapshots/", "commits/"):
        for listing in list(rt.primary_blobs.list_blobs(container, prefix)):
            if listing.last_modified >= cutoff:
                continue
            rp = rt.catalog.recovery_points.find(vault["id"], listing.name.removeprefix(prefix))
            if rp is not None and rp["state"] != "rejected":
                continue
            rt.primary_blobs.delete_blob(container, listing.name)
            swept += 1
    return swept
