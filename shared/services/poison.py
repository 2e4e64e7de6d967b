"""Keeps why each queue message last failed, lists the poison queues with it, and replays one."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from shared.errors import NotFound
from shared.services.auth import Principal

log = logging.getLogger(__name__)

PREVIEW_BYTES = 512
REASON_CHARS = 300
# Failure records live in this partition of the `sessions` container (no vault id is of this
# form, and a malformed message names no vault); its 7-day TTL is a queue message's lifetime.
FAILURES_PARTITION = "poison"
# What could betray a credential in an error text: our bearer credentials, SAS and account
# keys, bearer headers. The rest of a reason is ours (ids, blob names, one-line validations).
_SECRET = re.compile(
    r"\bbk[ovri]_[A-Za-z0-9_-]+"
    r"|(?i:\b(?:sig|accountkey|sharedaccesskey|sharedaccesssignature|key|token|password|secret)=)[^&;\s\"']+"
    r"|(?i:\bbearer\s+)\S+"
)


def _queues(rt) -> list[str]:
    s = rt.settings
    return [s.commit_queue, s.replication_queue, s.metering_queue]


def failure_id(queue: str, body: bytes) -> str:
    """The record of a message's failures: by body, as the poison copy gets a new message id."""
    return f"failure:{queue}:{hashlib.sha256(body).hexdigest()}"


def one_line_reason(exc: BaseException) -> str:
    """The exception as one short line with anything credential-like redacted."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    redacted = _SECRET.sub(lambda found: found.group(0).split("=")[0] + "=[redacted]" if "=" in found.group(0)
                           else "[redacted]", text)
    return redacted[:REASON_CHARS]


@contextmanager
def failures_recorded(rt, queue: str, body: bytes, dequeue_count: int) -> Iterator[None]:
    """Runs a queue handler; if it raises, records the one-line reason before the host retries.

    Every attempt overwrites the record, so the one a poisoned message shows is its last. A
    record that cannot be written is logged and never hides the handler's own error.
    """
    try:
        yield
    except Exception as exc:
        try:
            rt.catalog.sessions.upsert({
                "id": failure_id(queue, body), "vault_id": FAILURES_PARTITION, "type": "queue_failure",
                "queue": queue, "attempts": dequeue_count, "reason": one_line_reason(exc),
                "failed_at": rt.clock().isoformat(),
            })
        except Exception:  # noqa: BLE001 - the handler's error is the one that matters
            log.warning("could not record why a %s message failed", queue, exc_info=True)
        raise


def list_poison(rt, principal: Principal) -> list[dict]:
    principal.require("operator")
    failures = {doc["id"]: doc for doc in rt.catalog.sessions.query(FAILURES_PARTITION, "c.type = 'queue_failure'")}
    items = []
    for queue in _queues(rt):
        for message in rt.queues.browse(f"{queue}-poison"):
            failure = failures.get(failure_id(queue, message.body), {})
            items.append({
                "queue": queue, "message_id": message.message_id, "dequeue_count": message.dequeue_count,
                "inserted_at": message.inserted_at.isoformat() if message.inserted_at else None,
                "body_preview": message.body[:PREVIEW_BYTES].decode("utf-8", "replace"),
                "reason": failure.get("reason"), "failed_at": failure.get("failed_at"),
                "attempts": failure.get("attempts"),
            })
    return items


def replay(rt, principal: Principal, queue: str, message_id: str) -> dict:
    """Moves the message back to its queue; its failure record goes first, so that what the
    record holds afterwards is only ever a failure of the replay."""
    principal.require("operator")
    if queue not in _queues(rt):
        raise NotFound("queue not found")
    poisoned = next((m for m in rt.queues.browse(f"{queue}-poison") if m.message_id == message_id), None)
    if poisoned is None:
        raise NotFound(f"message {message_id} not found in {queue}-poison")
    rt.catalog.sessions.delete(FAILURES_PARTITION, failure_id(queue, poisoned.body))
    rt.queues.move(f"{queue}-poison", message_id, queue)
    return {"queue": queue, "message_id": message_id, "replayed": True}
