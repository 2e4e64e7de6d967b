"""Opens backup and restore sessions (short-lived SAS), accepts commits and records the vault key."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from shared.adapters.blob_account import backup_permissions, restore_permissions
from shared.domain import credentials
from shared.domain.messages import CommitMessage, ReplicationMessage, UsageEvent, encode
from shared.errors import BadRequest, Conflict, NotFound, PreconditionFailed, StorageUnavailable
from shared.services.auth import Principal
from shared.services.metering import record_usage
from shared.services.pack_refs import packs_of
from shared.services.recovery_points import find_recovery_point, public_view
from shared.services.vaults import container_name

RESTORE_SESSION_HOURS = 24
_KEY_ID = r"^[0-9a-f]{32}$"


class CommitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    commit_blob: str = Field(pattern=r"^commits/[0-9a-f]{32}$")


class VaultKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id: str = Field(pattern=_KEY_ID)
    previous_key_id: str | None = Field(default=None, pattern=_KEY_ID)


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recovery_point_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    from_secondary: bool = False


class RestoreComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bytes: int = Field(ge=0, le=1 << 60)


def _open(rt, principal: Principal, kind: str, hours: float, extra: dict) -> dict:
    now = rt.clock()
    session = {
        "id": credentials.new_id(), "vault_id": principal.vault_id, "type": "session", "kind": kind,
        "instance_id": principal.instance_id, "opened_at": now.isoformat(),
        "expires_at": (now + timedelta(hours=hours)).isoformat(), **extra,
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
    for listing in rt.primary_blobs.list_blobs(container_name(vault_id), "packs/"):
        pack = listing.name.removeprefix("packs/")
        if pack not in documented and listing.last_modified < cutoff:
            doomed.add(pack)
    return sorted(doomed)


def open_backup_session(rt, principal: Principal) -> dict:
    principal.require("instance")
    vault = rt.catalog.vaults.get(principal.vault_id, principal.vault_id)
    hours = rt.settings.backup_session_hours
    session = _open(rt, principal, "backup", hours, {})
    container = container_name(vault["id"])
    sas = rt.primary_blobs.container_sas(container, backup_permissions(), timedelta(hours=hours))
    return {
        "session_id": session["id"], "recovery_point_id": session["id"],
        "container_url": rt.primary_blobs.container_url(container), "sas": sas,
        "expires_at": session["expires_at"], "key_id": vault.get("key_id"),
        "condemned_packs": condemned_packs(rt, vault["id"]),
    }


def commit_backup_session(rt, principal: Principal, session_id: str, request: CommitRequest) -> dict:
    principal.require("instance")
    session = _own_session(rt, principal, session_id, "backup")
    if request.commit_blob != f"commits/{session_id}":
        raise BadRequest("commit_blob must be commits/<session_id>")
    if rt.clock() > datetime.fromisoformat(session["expires_at"]):
        raise Conflict("the backup session has expired; run the backup again")
    message = CommitMessage(
        vault_id=principal.vault_id, instance_id=principal.instance_id, recovery_point_id=session_id,
        commit_blob=request.commit_blob, enqueued_at=rt.clock(),
    )
    rt.queues.send(rt.settings.commit_queue, encode(message))
    return {"recovery_point_id": session_id, "state": "pending"}


def set_vault_key(rt, principal: Principal, request: VaultKeyRequest) -> dict:
    """Compare-and-set of the vault's current wrapped-key blob; the old blob is then deleted."""
    principal.require("instance")
    vault = rt.catalog.vaults.get(principal.vault_id, principal.vault_id)
    if vault.get("key_id") != request.previous_key_id:
        raise Conflict("the vault key changed since you read it")
    container = container_name(vault["id"])
    if rt.primary_blobs.blob_size(container, f"keys/{request.key_id}") is None:
        raise BadRequest(f"keys/{request.key_id} has not been uploaded")
    try:
        rt.catalog.vaults.replace({**vault, "key_id": request.key_id}, vault["_etag"])
    except PreconditionFailed as exc:
        raise Conflict("the vault key changed since you read it") from exc
    if request.previous_key_id:
        rt.primary_blobs.delete_blob(container, f"keys/{request.previous_key_id}")
    # The old key goes from the paired region even if the vault is LRS by now (it may have been
    # copied while GRS); switching back to GRS copies the current key.
    replicated = (("copy", request.key_id),) if vault["redundancy"] == "GRS" else ()
    if rt.secondary_blobs is not None:
        replicated += (("delete", request.previous_key_id),)
    for op, blob in replicated:
        if blob:
            message = ReplicationMessage(vault_id=vault["id"], op=op, blobs=[f"keys/{blob}"])
            rt.queues.send(rt.settings.replication_queue, encode(message))
    return {"key_id": request.key_id}


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
