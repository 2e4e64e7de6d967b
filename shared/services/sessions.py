"""Opens backup and restore sessions (short-lived SAS) and ends them: a commit, an abandon, a completed restore."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.blob_account import backup_permissions, restore_permissions
from shared.domain import credentials
from shared.domain.messages import CommitMessage, UsageEvent, encode
from shared.errors import BadRequest, Conflict, NotFound, PreconditionFailed, StorageUnavailable
from shared.formats import blob_names
from shared.services import limits
from shared.services.auth import Principal
from shared.services.metering import latest_stored_bytes, record_usage
from shared.services.pack_refs import packs_of
from shared.services.recovery_points import find_recovery_point, public_view
from shared.services.vaults import container_name

RESTORE_SESSION_HOURS = 24


class CommitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # commits/<session_id>.<sha256 of the manifest>: the digest the catalog checks the blob against.
    commit_blob: str = Field(pattern=blob_names.COMMIT_PATTERN)


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recovery_point_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    from_secondary: bool = False


class RestoreComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bytes: int = Field(ge=0, le=1 << 60)


def _open(rt, principal: Principal, kind: str, hours: float, extra: dict, vault: dict | None = None) -> dict:
    """Creates the session document; a backup session first takes one of the machine's slots."""
    now = rt.clock()
    session_id, expires = credentials.new_id(), now + timedelta(hours=hours)
    slot = limits.take_session_slot(rt, vault, principal.instance_id, session_id, expires) if vault else None
    session = {
        "id": session_id, "vault_id": principal.vault_id, "type": "session", "kind": kind,
        "instance_id": principal.instance_id, "opened_at": now.isoformat(),
        "expires_at": expires.isoformat(), "slot": slot, **extra,
    }
    return rt.catalog.sessions.create(session)


def _own_session(rt, principal: Principal, session_id: str, kind: str) -> dict:
    if not re.match(r"^[0-9a-f]{32}$", session_id):
        raise NotFound("session not found")
    session = rt.catalog.sessions.find(principal.vault_id, session_id)
    if not session or session["kind"] != kind or session["instance_id"] != principal.instance_id:
        raise NotFound("session not found")
    return session


def condemned_packs(rt, vault_id: str) -> list[str]:
    """Packs a new session must not deduplicate against, because the collector may sweep them
    before the session ends: condemned or deleting packs, and orphan pack blobs (no document:
    uploads of sessions that never committed) that pass the grace period within a session."""
    documented = {p["id"]: p["state"] for p in rt.catalog.packs.query(vault_id, "c.type = 'pack'", select="c.id, c.state")}
    doomed = {pack for pack, state in documented.items() if state != "live"}
    horizon = timedelta(hours=rt.settings.gc_grace_hours - rt.settings.backup_session_hours)
    cutoff = rt.clock() - horizon
    for listing in rt.primary_blobs.list_blobs(container_name(vault_id), blob_names.PACKS):
        pack = blob_names.parse_pack(listing.name)
        if pack is not None and pack not in documented and listing.last_modified < cutoff:
            doomed.add(pack)
    return sorted(doomed)


def open_backup_session(rt, principal: Principal) -> dict:
    principal.require("instance")
    vault = rt.catalog.vaults.get(principal.vault_id, principal.vault_id)
    limits.check_quota(rt, vault, latest_stored_bytes(rt, vault["id"]))
    hours = rt.settings.backup_session_hours
    session = _open(rt, principal, "backup", hours, {}, vault)
    container = container_name(vault["id"])
    sas = rt.primary_blobs.container_sas(container, backup_permissions(), timedelta(hours=hours))
    return {
        "session_id": session["id"], "recovery_point_id": session["id"],
        "container_url": rt.primary_blobs.container_url(container), "sas": sas,
        "expires_at": session["expires_at"], "key_id": vault.get("key_id"),
        "condemned_packs": condemned_packs(rt, vault["id"]),
    }


def commit_backup_session(rt, principal: Principal, session_id: str, request: CommitRequest) -> dict:
    """Enqueues the session's one commit; asking again for the same manifest enqueues nothing more."""
    principal.require("instance")
    session = _own_session(rt, principal, session_id, "backup")
    if blob_names.parse_commit(request.commit_blob).recovery_point_id != session_id:
        raise BadRequest("commit_blob must be commits/<session_id>.<sha256 of the manifest>")
    accepted = {"recovery_point_id": session_id, "state": "pending"}
    if session.get("commit_blob") == request.commit_blob:
        return accepted  # a retry of a request whose answer was lost
    if session.get("commit_blob") or session.get("abandoned_at"):
        raise Conflict("this backup session has already ended; run the backup again")
    if rt.clock() > datetime.fromisoformat(session["expires_at"]):
        raise Conflict("the backup session has expired; run the backup again")
    vault = rt.catalog.vaults.get(principal.vault_id, principal.vault_id)
    limits.count_commit(rt, vault, principal.instance_id)
    message = CommitMessage(
        vault_id=principal.vault_id, instance_id=principal.instance_id, recovery_point_id=session_id,
        commit_blob=request.commit_blob, enqueued_at=rt.clock(),
    )
    rt.queues.send(rt.settings.commit_queue, encode(message))
    _end(rt, session, commit_blob=request.commit_blob, commit_requested_at=rt.clock().isoformat())
    return accepted


def abandon_backup_session(rt, principal: Principal, session_id: str) -> dict:
    """Ends a session that will not commit (the client failed or was interrupted), freeing its slot."""
    principal.require("instance")
    session = _own_session(rt, principal, session_id, "backup")
    if session.get("commit_blob"):
        raise Conflict("this backup session has already been committed")
    if not session.get("abandoned_at"):
        _end(rt, session, abandoned_at=rt.clock().isoformat())
    return {"session_id": session_id, "state": "abandoned"}


def _end(rt, session: dict, **fields) -> None:
    """Records how the session ended and frees its slot; a lost race to record it changes nothing."""
    try:
        rt.catalog.sessions.replace({**session, **fields}, session["_etag"])
    except (PreconditionFailed, NotFound):
        pass
    limits.release_session_slot(rt, session["vault_id"], session)


def open_restore_session(rt, principal: Principal, request: RestoreRequest) -> dict:
    principal.require("instance")
    vault = rt.catalog.vaults.get(principal.vault_id, principal.vault_id)
    rp = find_recovery_point(rt, vault["id"], request.recovery_point_id)
    if rp["state"] != "committed":
        raise Conflict(f"recovery point is {rp['state']}; undelete it before restoring")
    blobs = rt.primary_blobs
    if request.from_secondary:
        if vault["redundancy"] != "GRS" or rt.secondary_blobs is None:
            raise Conflict("this vault has no paired-region copy")
        if not rp.get("replicated_at"):
            raise Conflict("this recovery point has not been replicated to the paired region yet")
        blobs = rt.secondary_blobs
    session = _open(rt, principal, "restore", RESTORE_SESSION_HOURS,
                    {"recovery_point_id": rp["id"], "from_secondary": request.from_secondary})
    container = container_name(vault["id"])
    sas = blobs.container_sas(container, restore_permissions(), timedelta(hours=RESTORE_SESSION_HOURS))
    return {
        "session_id": session["id"], "container_url": blobs.container_url(container), "sas": sas,
        "expires_at": session["expires_at"], "key_id": vault.get("key_id"), "recovery_point": public_view(rp),
    }


def complete_restore_session(rt, principal: Principal, session_id: str, request: RestoreComplete) -> dict:
    """Meters the restore once (the event id is the session's), without needing the primary account
    when the restore read the paired region: that is when the primary may be the region that is down."""
    principal.require("instance")
    session = _own_session(rt, principal, session_id, "restore")
    event = UsageEvent(
        event_id=f"restore:{session_id}", vault_id=principal.vault_id, instance_id=principal.instance_id,
        kind="restore", occurred_at=datetime.fromisoformat(session["opened_at"]), bytes=request.bytes,
        transactions=_restore_reads(rt, principal.vault_id, session["recovery_point_id"]),
    )
    if session.get("from_secondary"):
        # The metering queue lives in the primary account; the day document is in Cosmos, and
        # record_usage applies an event id once, so a queued copy of the same event adds nothing.
        record_usage(rt, event)
    else:
        try:
            rt.queues.send(rt.settings.metering_queue, encode(event))
        except StorageUnavailable:
            record_usage(rt, event)
    return {"session_id": session_id, "bytes": request.bytes}


def _restore_reads(rt, vault_id: str, rp_id: str) -> int:
    """The blob reads of a whole restore, one per blob like a backup's writes: each pack, then the
    key, the commit manifest and the snapshot."""
    return len(packs_of(rt, vault_id, rp_id)) + 3
