"""Holds each machine to its limits: open backup sessions, commits per hour, and its vault's quota.

Counting and deciding must be one atomic step, or two hundred concurrent requests all see room:
an open session holds one of a fixed number of slot documents (taken with a create, or with an
ETag-conditional replace of a slot whose session ended), and commits are counted in one document
per instance and hour with ETag-conditional increments. A refusal is LimitExceeded (HTTP 429
with Retry-After).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.errors import Conflict, LimitExceeded, NotFound, PreconditionFailed

_ATTEMPTS = 8  # conditional writes lost to concurrent ones before giving up (answered 429)


def vault_limit(rt, vault: dict, name: str) -> int:
    """A vault's own setting (`limits.<name>`), else the service's; 0 means no limit."""
    own = (vault.get("limits") or {}).get(name)
    return int(own) if own is not None else int(getattr(rt.settings, name))


def _slot_id(instance_id: str, number: int) -> str:
    return f"slot:{instance_id}:{number}"


def take_session_slot(rt, vault: dict, instance_id: str, session_id: str, expires_at: datetime) -> str | None:
    """Takes a free slot for the session; returns its id (None when there is no limit).

    A slot is free when it does not exist, or its session has expired or ended (committed or
    abandoned: release_session_slot deletes it then).
    """
    limit = vault_limit(rt, vault, "max_open_sessions")
    if limit <= 0:
        return None
    sessions = rt.catalog.sessions
    now = rt.clock()
    held_until = []
    for number in range(limit):
        slot = {"id": _slot_id(instance_id, number), "vault_id": vault["id"], "type": "slot",
                "instance_id": instance_id, "session_id": session_id, "expires_at": expires_at.isoformat()}
        try:
            sessions.create(slot)
            return slot["id"]
        except Conflict:
            pass
        held = sessions.find(vault["id"], slot["id"])
        if held is None:
            continue  # released meanwhile; another opener may take it, the next slot is as good
        until = datetime.fromisoformat(held["expires_at"])
        if until > now:
            held_until.append(until)
            continue
        try:
            sessions.replace(slot, held["_etag"])
            return slot["id"]
        except (PreconditionFailed, NotFound):
            continue
    wait = (min(held_until) - now).total_seconds() if held_until else 60
    raise LimitExceeded(
        f"this machine already has {limit} backup sessions open, the most it may; let one finish or retry later",
        retry_after=int(wait) + 1,
    )


def release_session_slot(rt, vault_id: str, session: dict) -> None:
    """Frees the session's slot (only if the session still holds it)."""
    slot_id = session.get("slot")
    if not slot_id:
        return
    held = rt.catalog.sessions.find(vault_id, slot_id)
    if held is not None and held.get("session_id") == session["id"]:
        try:
            rt.catalog.sessions.delete(vault_id, slot_id, held["_etag"])
        except PreconditionFailed:
            pass  # taken over by a new session after this one expired


def count_commit(rt, vault: dict, instance_id: str) -> None:
    """Counts one commit of the instance in the current hour, or refuses it past the limit."""
    limit = vault_limit(rt, vault, "max_commits_per_hour")
    if limit <= 0:
        return
    now = rt.clock()
    hour = now.replace(minute=0, second=0, microsecond=0)
    doc_id = f"rate:commits:{instance_id}:{hour.strftime('%Y%m%dT%H')}"
    sessions = rt.catalog.sessions
    for _ in range(_ATTEMPTS):
        counter = sessions.find(vault["id"], doc_id)
        count = counter["count"] if counter else 0
        if count >= limit:
            next_hour = hour + timedelta(hours=1)
            raise LimitExceeded(
                f"this machine has committed {limit} backups this hour, the most it may; retry after {next_hour.isoformat()}",
                retry_after=int((next_hour - now).total_seconds()) + 1,
            )
        body = {"id": doc_id, "vault_id": vault["id"], "type": "rate", "instance_id": instance_id, "count": count + 1}
        try:
            if counter is None:
                sessions.create(body)
            else:
                sessions.replace(body, counter["_etag"])
            return
        except Conflict:  # PreconditionFailed included: a concurrent commit counted first
            continue
    raise LimitExceeded("too many concurrent commits of this machine; retry in a few seconds", retry_after=5)


def check_quota(rt, vault: dict, stored_bytes: int) -> None:
    """Refuses new backups of a vault that stores its quota or more (0: no quota)."""
    quota = vault_limit(rt, vault, "quota_bytes")
    if quota > 0 and stored_bytes >= quota:
        raise LimitExceeded(
            f"the vault stores {stored_bytes} bytes, at or over its quota of {quota} bytes; "
            "ask its operator to raise the quota or expire recovery points",
            retry_after=3600,
        )
