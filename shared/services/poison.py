"""Lists the poison queues' messages and replays one to its original queue."""

from __future__ import annotations

from shared.errors import NotFound
from shared.services.auth import Principal

PREVIEW_BYTES = 512


def _queues(rt) -> list[str]:
    s = rt.settings
    return [s.commit_queue, s.replication_queue, s.metering_queue]


def list_poison(rt, principal: Principal) -> list[dict]:
    principal.require("operator")
    items = []
    for queue in _queues(rt):
        for message in rt.queues.browse(f"{queue}-poison"):
            items.append({
                "queue": queue, "message_id": message.message_id, "dequeue_count": message.dequeue_count,
                "inserted_at": message.inserted_at.isoformat() if message.inserted_at else None,
                "body_preview": message.body[:PREVIEW_BYTES].decode("utf-8", "replace"),
            })
    return items


def replay(rt, principal: Principal, queue: str, message_id: str) -> dict:
    principal.require("operator")
    if queue not in _queues(rt):
        raise NotFound("queue not found")
    rt.queues.move(f"{queue}-poison", message_id, queue)
    return {"queue": queue, "message_id": message_id, "replayed": True}
