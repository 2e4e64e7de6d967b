"""Purges recovery points whose soft-delete period has ended, condemning the packs they freed."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.domain.messages import ReplicationMessage, UsageEvent, encode
from shared.errors import PreconditionFailed
from shared.services import pack_refs
from shared.services.vaults import container_name

log = logging.getLogger(__name__)


def purge_expired(rt, vault: dict) -> int:
    """Purges every recovery point deleted more than the vault's soft-delete days ago."""
    deadline = rt.clock() - timedelta(days=vault["soft_delete_days"])
    purged = 0
    candidates = rt.catalog.recovery_points.query(
        vault["id"], "c.type = 'recovery_point' AND (c.state = 'deleted' OR c.state = 'purging')"
    )
    for rp in list(candidates):
        if rp["state"] == "deleted" and datetime.fromisoformat(rp["deleted_at"]) > deadline:
            continue
        purge_recovery_point(rt, vault, rp)
        purged += 1
    return purged


def purge_recovery_point(rt, vault: dict, rp: dict) -> None:
    """Each step is idempotent, so a crash anywhere is finished by the next run.

    `purging` is set first: from then on the recovery point cannot be undeleted, so removing its
    references cannot strand a recovery point that still needs the packs.
    """
    if rp["state"] == "deleted":
        try:
            rp = rt.catalog.recovery_points.replace({**rp, "state": "purging"}, rp["_etag"])
        except PreconditionFailed:
            return  # undeleted or changed meanwhile; the next run decides again
    for pack in pack_refs.remove_refs(rt, vault["id"], rp["id"]):
        condemn_if_unreferenced(rt, vault["id"], pack)
    container = container_name(vault["id"])
    blobs = [b for b in ((rp.get("snapshot") or {}).get("name"), rp.get("commit_blob")) if b]
    for blob in blobs:
        rt.primary_blobs.delete_blob(container, blob)
    if rt.secondary_blobs is not None and blobs:  # a vault switched to LRS may still have copies there
        rt.queues.send(rt.settings.replication_queue, encode(ReplicationMessage(vault_id=vault["id"], op="delete", blobs=blobs)))
    event = UsageEvent(
        event_id=f"purged:{rp['id']}", vault_id=vault["id"], instance_id=rp["instance_id"], kind="purged",
        occurred_at=rt.clock(),
    )
    rt.queues.send(rt.settings.metering_queue, encode(event))
    rt.catalog.recovery_points.replace({**rp, "state": "purged", "purged_at": rt.clock().isoformat()}, rp["_etag"])
    log.info("purged recovery point %s of vault %s", rp["id"], vault["id"])


def condemn_if_unreferenced(rt, vault_id: str, pack: str) -> bool:
    """Mark phase: a live pack with no reference becomes condemned (swept after the grace period)."""
    while True:
        doc = rt.catalog.packs.find(vault_id, pack)
        if doc is None or doc["state"] != "live" or pack_refs.ref_count(rt, vault_id, pack) > 0:
            return False
        try:
            rt.catalog.packs.replace({**doc, "state": "condemned", "condemned_at": rt.clock().isoformat()}, doc["_etag"])
            return True
        except PreconditionFailed:
            continue
