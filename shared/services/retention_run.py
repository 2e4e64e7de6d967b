"""Applies each instance's retention policy to its committed recovery points (soft delete)."""

from __future__ import annotations

import logging
from datetime import datetime

from shared.domain.retention import apply_policy
from shared.errors import PreconditionFailed
from shared.services.policy_documents import effective_policy

log = logging.getLogger(__name__)


def apply_retention(rt, vault: dict) -> dict:
    """Soft-deletes the recovery points the policy no longer keeps; returns the counts.

    Uses `created`, the catalog's clock, never the client's; idempotent under re-runs.
    """
    now = rt.clock()
    kept = expired = 0
    for instance in list(rt.catalog.instances.query(vault["id"], "c.type = 'instance'")):
        policy = effective_policy(rt, vault["id"], instance["id"])
        points = list(rt.catalog.recovery_points.query(
            vault["id"], "c.type = 'recovery_point' AND c.state = 'committed' AND c.instance_id = @i",
            {"i": instance["id"]},
        ))
        by_id = {rp["id"]: rp for rp in points}
        outcome = apply_policy(
            policy, [(rp["id"], datetime.fromisoformat(rp["created"])) for rp in points], vault["time_zone"], now
        )
        kept += len(outcome.keep)
        for rp_id in outcome.expire:
            rp = by_id[rp_id]
            if rp.get("retention_hold"):
                kept += 1
                continue
            rp.update(state="deleted", deleted_at=now.isoformat(), deleted_by="retention")
            try:
                rt.catalog.recovery_points.replace(rp, rp["_etag"])
                expired += 1
            except PreconditionFailed:
                log.info("recovery point %s changed during retention; left for the next run", rp_id)
    return {"kept": kept, "expired": expired}
