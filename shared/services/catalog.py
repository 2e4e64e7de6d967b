"""Turns a commit message into a recovery point: validate, reference packs, commit, fan out."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from shared.domain.messages import CommitMessage, ReplicationMessage, UsageEvent, encode
from shared.errors import CommitRejected, Conflict, PreconditionFailed
from shared.formats import blob_names
from shared.services import pack_refs
from shared.services.commit_checks import check_pack, check_pack_size, check_snapshot, load_manifest
from shared.services.vaults import container_name

log = logging.getLogger(__name__)

# States a commit can no longer change: the point was cataloged, and what followed is retention's.
FINAL_STATES = ("committed", "deleted", "purging", "purged")
# Packs of one commit are referenced and checked in parallel: each is a few round trips.
PACK_WORKERS = 8
# Attempts at recording a rejection while other deliveries write the same recovery point.
REJECT_ATTEMPTS = 5


def catalog_commit(rt, message: CommitMessage) -> str:
    """Catalogs one commit idempotently; returns the recovery point's state or raises CommitRejected."""
    vault = rt.catalog.vaults.find(message.vault_id, message.vault_id)
    if vault is None or vault.get("type") != "vault":
        raise CommitRejected(f"vault {message.vault_id} does not exist")
    rp = rt.catalog.recovery_points.find(vault["id"], message.recovery_point_id)
    if rp is not None and rp["state"] in FINAL_STATES:
        return _settled(rt, vault, rp)
    try:
        manifest = _validate_identity(rt, vault, message)
        rp = _pending(rt, vault, message, manifest, rp)
        if rp["state"] in FINAL_STATES:
            return _settled(rt, vault, rp)  # another delivery committed it since the first read
        container = container_name(vault["id"])
        check_snapshot(rt, container, manifest)
        known = pack_refs.pack_documents(rt, vault["id"], [blob_names.parse_pack(p.name) for p in manifest.packs])
        with ThreadPoolExecutor(PACK_WORKERS) as pool:
            created = list(pool.map(lambda pack: _reference_pack(rt, vault["id"], rp["id"], container, pack, known),
                                    manifest.packs))
    except pack_refs.PackDeleting as exc:
        reason = f"pack {exc} was garbage-collected during the backup; run it again"
    except CommitRejected as exc:
        reason = str(exc)
    else:
        rp.update(
            state="committed", created=rt.clock().isoformat(), rejected_reason=None,
            transactions=sum(created) + 2,
        )
        rp = rt.catalog.recovery_points.replace(rp, rp["_etag"])
        _note_last_backup(rt, vault["id"], rp)
        _fan_out(rt, vault, rp)
        return "committed"
    return _settled(rt, vault, _reject(rt, vault, message, reason))


def _settled(rt, vault: dict, rp: dict) -> str:
    """A point no commit can change: a duplicate delivery only re-sends a committed one's fan-out."""
    if rp["state"] == "committed":
        _fan_out(rt, vault, rp)
    return rp["state"]


def _reference_pack(rt, vault_id: str, rp_id: str, container: str, declared, known: dict[str, dict]) -> bool:
    """Reference, then touch, then check one pack; returns True if this commit created its document.

    The order is the safety argument of docs/design.md: existence is checked after the touch, so
    a pack the collector deletes after this point would have had to pass the touch's ETag first.
    A pack without a document is measured before the touch creates one, so that the document
    holds the blob's size and a pack that is missing or of another size gets none.
    """
    name = blob_names.parse_pack(declared.name)
    doc = known.get(name)
    # A known document is only replaced, keeping its size; should it vanish meanwhile, the touch
    # creates it with the declared size, which the check below confirms or the rejection removes.
    size = declared.size if doc is not None else check_pack_size(rt, container, declared).size
    pack_refs.add_refs(rt, vault_id, rp_id, [name])
    created, doc = pack_refs.touch_pack(rt, vault_id, name, size, rp_id, doc)
    blob = check_pack(rt, container, declared, doc.get("checked"))
    pack_refs.record_checked(rt, doc, blob, declared.chunks)
    return created


def _validate_identity(rt, vault: dict, message: CommitMessage):
    instance = rt.catalog.instances.find(vault["id"], message.instance_id)
    if instance is None or instance.get("type") != "instance":
        raise CommitRejected(f"instance {message.instance_id} does not belong to the vault")
    if instance.get("revoked_at"):
        raise CommitRejected(f"instance {message.instance_id} was revoked; its sessions can no longer commit")
    session = rt.catalog.sessions.find(vault["id"], message.recovery_point_id)
    if session is None or session.get("kind") != "backup" or session.get("instance_id") != message.instance_id:
        raise CommitRejected("the commit does not belong to a backup session of this instance")
    opened = datetime.fromisoformat(session["opened_at"])
    if rt.clock() - opened > timedelta(hours=rt.settings.gc_grace_hours):
        # The collector may already have reclaimed this session's uploads as orphans.
        raise CommitRejected("the backup session is older than the garbage-collection grace period; run the backup again")
    manifest = load_manifest(rt, container_name(vault["id"]), message.commit_blob)
    if manifest.recovery_point_id != message.recovery_point_id or manifest.instance_id != message.instance_id:
        raise CommitRejected("the commit manifest names another recovery point or instance")
    return manifest


def _pending(rt, vault: dict, message: CommitMessage, manifest, rp: dict | None) -> dict:
    """The recovery point set `pending` with this manifest; or, left as it is, a final one."""
    body = {
        "id": message.recovery_point_id, "vault_id": vault["id"], "type": "recovery_point",
        "instance_id": message.instance_id, "state": "pending", "received_at": rt.clock().isoformat(),
        "created": None, "client_time": manifest.client_time.isoformat(),
        "summary": manifest.summary.model_dump(), "key_id": manifest.key_id,
        "snapshot": manifest.snapshot.model_dump(),
        "commit_blob": message.commit_blob, "pack_count": len(manifest.packs),
        "stored_bytes": sum(p.size for p in manifest.packs) + manifest.snapshot.size,
    }
    if rp is None:
        try:
            return rt.catalog.recovery_points.create(body)
        except Conflict:
            rp = rt.catalog.recovery_points.get(vault["id"], message.recovery_point_id)
    if rp["state"] in FINAL_STATES:
        return rp
    return rt.catalog.recovery_points.replace({**rp, **body, "received_at": rp["received_at"]}, rp["_etag"])


def _reject(rt, vault: dict, message: CommitMessage, reason: str) -> dict:
    """Records the rejection, then undoes what the commit referenced, and raises CommitRejected.

    The ETag-conditional write to `rejected` comes first: once it lands, no delivery that read
    the point before can commit it, so its references are no longer needed. A point that is
    final already (another delivery committed it since this one read it) is returned untouched.
    """
    body = {
        "id": message.recovery_point_id, "vault_id": vault["id"], "type": "recovery_point",
        "instance_id": message.instance_id, "state": "rejected", "rejected_reason": reason,
        "received_at": rt.clock().isoformat(), "created": None,
    }
    rejected = None
    for _ in range(REJECT_ATTEMPTS):
        current = rt.catalog.recovery_points.find(vault["id"], message.recovery_point_id)
        if current is not None and current["state"] in FINAL_STATES:
            return current
        try:
            if current is None:
                rejected = rt.catalog.recovery_points.create(body)
            else:
                rejected = rt.catalog.recovery_points.replace({**current, "state": "rejected", "rejected_reason": reason}, current["_etag"])
            break
        except Conflict:  # PreconditionFailed included: another delivery wrote it; read it again
            continue
    log.warning("commit %s of vault %s rejected: %s", message.recovery_point_id, vault["id"], reason)
    if rejected is not None:
        _release(rt, vault["id"], rejected)
    raise CommitRejected(reason)


def _release(rt, vault_id: str, rejected: dict) -> None:
    """Removes a rejected point's references, then the pack documents only it had created.

    Unless another delivery has taken the point over since the rejection was written (it no
    longer reads back the same): that delivery needs the references, and releases them itself
    if it is rejected too. One that takes over after this check rewrites each reference it
    needs, and only references unchanged since they were read are deleted.
    """
    refs = pack_refs.refs_of(rt, vault_id, rejected["id"])
    current = rt.catalog.recovery_points.find(vault_id, rejected["id"])
    if current is None or current["_etag"] != rejected["_etag"]:
        return
    pack_refs.remove_unchanged_refs(rt, vault_id, refs)
    pack_refs.remove_unreferenced_packs(rt, vault_id, rejected["id"])


def _note_last_backup(rt, vault_id: str, rp: dict) -> None:
    instance = rt.catalog.instances.find(vault_id, rp["instance_id"])
    if instance and (instance.get("last_backup") or "") < rp["created"]:
        try:
            rt.catalog.instances.replace({**instance, "last_backup": rp["created"]}, instance["_etag"])
        except PreconditionFailed:
            pass  # a concurrent commit of the same instance wrote a value just as good


def protected_bytes(rp: dict) -> int:
    """The size a point is billed on: the client's front-end size, but never less than the stored
    bytes the catalog measured for it (every pack it references, and its snapshot), so that a
    machine cannot declare itself into a cheaper fee tier."""
    return max(int(rp["summary"].get("bytes", 0)), int(rp.get("stored_bytes") or 0))


def _fan_out(rt, vault: dict, rp: dict) -> None:
    """Enqueues metering (and replication for GRS); both consumers are idempotent."""
    event = UsageEvent(
        event_id=f"backup:{rp['id']}", vault_id=vault["id"], instance_id=rp["instance_id"], kind="backup",
        occurred_at=rp["created"], bytes=protected_bytes(rp), transactions=rp.get("transactions", 0),
    )
    rt.queues.send(rt.settings.metering_queue, encode(event))
    if vault["redundancy"] == "GRS" and rt.secondary_blobs is not None and not rp.get("replicated_at"):
        message = ReplicationMessage(vault_id=vault["id"], recovery_point_id=rp["id"], op="copy")
        rt.queues.send(rt.settings.replication_queue, encode(message))
