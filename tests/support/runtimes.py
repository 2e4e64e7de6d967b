"""Runtimes on the local stack for tests that drive the services in-process, on queues of their own."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

from shared.runtime import Runtime
from shared.settings import load_settings
from tests.pipeline.conftest import Clock

FIXED_START = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def fixed_clock() -> Clock:
    """The pipeline tests' hand-moved clock, started at one fixed moment so that two runs stamp alike."""
    clock = Clock()
    clock.now = FIXED_START
    return clock


def private_queues() -> dict[str, str]:
    """Queue names nobody else consumes (the stack's host listens on commits, replication, metering)."""
    tag = secrets.token_hex(4)
    return {"COMMIT_QUEUE": f"rel-{tag}-commits", "REPLICATION_QUEUE": f"rel-{tag}-replication",
            "METERING_QUEUE": f"rel-{tag}-metering"}


def service_runtime(stack: dict, clock=None, **settings: str) -> Runtime:
    """A Runtime on the stack's accounts; settings override the app settings (queue names, grace hours)."""
    env = {
        "PRIMARY_STORAGE": stack["PRIMARY_STORAGE_CONNECTION_STRING"],
        "SECONDARY_STORAGE": stack["SECONDARY_STORAGE_CONNECTION_STRING"],
        "COSMOS_ENDPOINT": stack["COSMOS_ENDPOINT"], "COSMOS_KEY": stack["COSMOS_KEY"],
        "OPERATOR_KEY_SHA256": stack.get("OPERATOR_KEY_SHA256", ""),
        **settings,
    }
    rt = Runtime.from_settings(load_settings(env))
    if clock is not None:
        rt.clock = clock
    for queue in (rt.settings.commit_queue, rt.settings.replication_queue, rt.settings.metering_queue):
        rt.queues.ensure_queue(queue)
    return rt
