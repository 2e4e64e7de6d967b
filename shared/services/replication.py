"""Copies a GRS vault's blobs to the paired-region account and records each recovery point's replication."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from shared.domain.messages import ReplicationMessage, UsageEvent, encode
from shared.errors import NotFound, PreconditionFailed, ServiceError
from shared.formats import blob_names
from shared.services.pack_refs import packs_of
from shared.services.vault_keys import kept_key_ids
from shared.services.vaults import container_name

log = logging.getLogger(__name__)

# Recovery points in these states still hold their blobs (a soft-deleted one can be undeleted).
_REPLICABLE_STATES = ("committed", "deleted")
# Packs are tens of MiB; a few parallel streams keep the copy bound by bandwidth, not latency.
_COPY_WORKERS = 4


def replicate(rt, message: ReplicationMessage) -> None:
    """Applies one replication message idempotently.

    Raises StorageUnavailable while either region cannot be reached: the host retries, then
    moves the message to poison, and a replay completes it (every step is safe to repeat).
    """
    secondary = rt.secondary_blobs
    vault = rt.catalog.vaults.find(message.vault_id, message.vault_id)
    if secondary is None or vault is None or vault.get("type") != "vault":
        log.info("replication of vault %s skipped: no paired region or no such vault", message.vault_id)
        return
    container = container_name(vault["id"])
    if message.op == "delete":
        # Deletes run even if the vault is LRS by now, so that the copy it had does not linger.
        for name in message.blobs:
            secondary.delete_blob(container, name)
        return
    if vault["redundancy"] != "GRS":
        log.info("vault %s is %s; nothing to replicate", vault["id"], vault["redundancy"])
        return
    if message.recovery_point_id is None:
        for name in message.blobs:  # blobs of no recovery point: wrapped-key blobs
            _copy_one(rt, vault, name)
        return
    _replicate_recovery_point(rt, vault, message.recovery_point_id)


def _drop_released_key(rt, vault_id: str, name: str) -> None:
    """Removes a copied key blob that the vault no longer keeps.

    A retired key is released (deleted in both regions) once no point names it; a copy racing
    with that delete must not leave the key behind in the paired region.
    """
    vault = rt.catalog.vaults.get(vault_id, vault_id)
    if blob_names.parse_key(name) not in kept_key_ids(vault):
        rt.secondary_blobs.delete_blob(container_name(vault_id), name)


def _replicate_recovery_point(rt, vault: dict, rp_id: str) -> None:
    rp = rt.catalog.recovery_points.find(vault["id"], rp_id)
    if rp is None or rp.get("type") != "recovery_point" or rp["state"] not in _REPLICABLE_STATES:
        log.info("recovery point %s of vault %s is %s; nothing to replicate", rp_id, vault["id"],
                 "missing" if rp is None else rp.get("state"))
        return
    if not rp.get("replicated_at"):
        sizes = _copy_blobs(rt, vault, rp)
        rp = _record_replicated(rt, vault["id"], rp_id, sizes)
        if rp is None:
            return
    # Sent on every delivery (also when already replicated): a crash between the catalog write
    # and this send must not lose the event, and metering drops the duplicates by event id.
    _send_usage(rt, rp)


def _blobs_of(rt, vault: dict, rp: dict) -> list[tuple[str, int | None]]:
    """The blobs a recovery point needs in the paired region, with the sizes the catalog records.

    Data first, then the key, then the snapshot and the commit: the write order of the primary.
    """
    blobs: list[tuple[str, int | None]] = []
    for pack in packs_of(rt, vault["id"], rp["id"]):
        pack_doc = rt.catalog.packs.find(vault["id"], pack)
        blobs.append((blob_names.pack_name(pack), pack_doc.get("size") if pack_doc else None))
    # The key the point was made under (kept while it exists) and the current one.
    kept = kept_key_ids(vault)
    for key_id in sorted({rp.get("key_id"), vault.get("key_id")} & kept):
        blobs.append((blob_names.key_name(key_id), None))
    blobs.append((rp["snapshot"]["name"], rp["snapshot"]["size"]))
    blobs.append((rp["commit_blob"], None))
    return blobs


def _copy_blobs(rt, vault: dict, rp: dict) -> dict[str, int]:
    """Copies (or confirms) every blob of the recovery point; returns each blob's size."""
    blobs = _blobs_of(rt, vault, rp)
    # One probe first: with the paired region down, every pack's copy would spend the SDK's
    # retries (about 14 s each) before the attempt fails; the probe fails the attempt after one.
    rt.secondary_blobs.blob_size(container_name(vault["id"]), blobs[-1][0])
    packs = [b for b in blobs if blob_names.parse_pack(b[0])]
    rest = [b for b in blobs if not blob_names.parse_pack(b[0])]
    sizes: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=_COPY_WORKERS) as pool:
        copied = list(pool.map(lambda blob: _copy_one(rt, vault, *blob, rp_id=rp["id"]), packs))
    # The snapshot and the commit land only after every pack is there, as on the primary.
    copied += [_copy_one(rt, vault, *blob, rp_id=rp["id"]) for blob in rest]
    return {name: size for name, size in copied if size is not None}


def _copy_one(rt, vault: dict, name: str, expected_size: int | None = None,
              rp_id: str | None = None) -> tuple[str, int | None]:
    """Copies one blob and checks the copy against the catalog's size; (name, None) if skipped."""
    container = container_name(vault["id"])
    try:
        pack_sha = blob_names.parse_pack(name)
        _check_pack_name(rt, container, name, rt.primary_blobs.copy_to(container, name, rt.secondary_blobs, pack_sha))
    except NotFound:
        if rp_id is not None and blob_names.parse_key(name) is None:
            # The point is not purged (its references hold its packs), so the primary should have
            # it: retried, then poisoned with this reason for an operator, never marked replicated.
            raise ServiceError(f"blob {name} of recovery point {rp_id} is missing from the primary") from None
        # A key released meanwhile (no point names it any more).
        log.info("blob %s of vault %s is gone from the primary; not copied", name, vault["id"])
        return name, None
    copied_size = rt.secondary_blobs.blob_size(container, name)
    if copied_size is None or (expected_size is not None and copied_size != expected_size):
        raise ServiceError(f"the copy of {name} has {copied_size} bytes; the catalog records {expected_size}")
    if blob_names.parse_key(name) is not None:
        _drop_released_key(rt, vault["id"], name)
    return name, copied_size


def _check_pack_name(rt, container: str, name: str, sha256: str) -> None:
    """A pack is named by the SHA-256 of its bytes; a copy of other bytes is removed and fails the message.

    The copy matches its source, so the primary's blob is damaged: the message is retried, then
    poisoned with this reason for an operator, and the point is never marked replicated.
    """
    if blob_names.parse_pack(name) not in (None, sha256):
        rt.secondary_blobs.delete_blob(container, name)
        raise ServiceError(f"pack {name} in the primary is damaged: its SHA-256 is {sha256}; not replicated")


def _record_replicated(rt, vault_id: str, rp_id: str, sizes: dict[str, int]) -> dict | None:
    """Sets replicated_at and the lag once (an earlier value wins); None if the point vanished."""
    while True:
        rp = rt.catalog.recovery_points.find(vault_id, rp_id)
        if rp is None or rp["state"] not in _REPLICABLE_STATES:
            return None
        if rp.get("replicated_at"):
            return rp
        now = rt.clock()
        lag = (now - datetime.fromisoformat(rp["created"])).total_seconds()
        rp.update(
            replicated_at=now.isoformat(), replication_lag_seconds=round(max(lag, 0.0), 3),
            replicated_bytes=sum(sizes.values()), replicated_blobs=len(sizes),
        )
        try:
            return rt.catalog.recovery_points.replace(rp, rp["_etag"])
        except PreconditionFailed:
            continue


def _send_usage(rt, rp: dict) -> None:
    event = UsageEvent(
        event_id=f"replicated:{rp['id']}", vault_id=rp["vault_id"], instance_id=rp["instance_id"],
        kind="replicated", occurred_at=datetime.fromisoformat(rp["replicated_at"]),
        bytes=rp.get("replicated_bytes", 0), transactions=rp.get("replicated_blobs", 0),
    )
    rt.queues.send(rt.settings.metering_queue, encode(event))
