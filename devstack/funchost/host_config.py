"""Reads host.json into the options the local Functions host honours."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The Functions host's own defaults (used when host.json leaves a value out).
DEFAULT_FUNCTION_TIMEOUT_SECONDS = 300.0
# A queue message stays invisible for at most 7 days; "-1" (no timeout) is capped there.
MAX_LEASE_SECONDS = 7 * 24 * 3600.0

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$")


class HostConfigError(Exception):
    """host.json is unreadable or holds a value the host cannot use."""


def parse_timespan(text: str) -> float:
    """Seconds in a .NET TimeSpan string such as "00:00:10", "00:00:00.5" or "1.02:00:00"."""
    match = _TIMESPAN.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise HostConfigError(f"not a TimeSpan (hh:mm:ss): {text!r}")
    days, hours, minutes, seconds, fraction = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (float("0." + fraction) if fraction else 0.0)


@dataclass(frozen=True)
class QueueOptions:
    """extensions.queues: how queue triggers poll, lease, retry and give up on messages."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"


@dataclass(frozen=True)
class HostConfig:
    """The parts of host.json the local host applies."""

    route_prefix: str = "api"
    function_timeout: float = DEFAULT_FUNCTION_TIMEOUT_SECONDS
    queues: QueueOptions = QueueOptions()

    @property
    def message_lease_seconds(self) -> float:
        """How long a queue message stays invisible while its function runs."""
        return min(self.function_timeout, MAX_LEASE_SECONDS)


def _queue_options(section: dict[str, Any]) -> QueueOptions:
    batch_size = int(section.get("batchSize", 16))
    if not 1 <= batch_size <= 32:
        raise HostConfigError(f"extensions.queues.batchSize must be 1..32, got {batch_size}")
    encoding = str(section.get("messageEncoding", "base64")).lower()
    if encoding not in ("base64", "none"):
        raise HostConfigError(f"extensions.queues.messageEncoding must be base64 or none, got {encoding!r}")
    max_dequeue = int(section.get("maxDequeueCount", 5))
    if max_dequeue < 1:
        raise HostConfigError("extensions.queues.maxDequeueCount must be at least 1")
    return QueueOptions(
        batch_size=batch_size,
        new_batch_threshold=int(section.get("newBatchThreshold", batch_size // 2)),
        max_polling_interval=parse_timespan(section.get("maxPollingInterval", "00:01:00")),
        visibility_timeout=parse_timespan(section.get("visibilityTimeout", "00:00:00")),
        max_dequeue_count=max_dequeue,
        message_encoding=encoding,
    )


def parse_host_config(document: dict[str, Any]) -> HostConfig:
    """Build a HostConfig from a parsed host.json document."""
    extensions = document.get("extensions") or {}
    timeout_text = document.get("functionTimeout")
    if timeout_text in (None, ""):
        function_timeout = DEFAULT_FUNCTION_TIMEOUT_SECONDS
    elif str(timeout_text).strip() == "-1":
        function_timeout = MAX_LEASE_SECONDS
    else:
        function_timeout = parse_timespan(timeout_text)
    http = extensions.get("http") or {}
    return HostConfig(
        route_prefix=str(http.get("routePrefix", "api")).strip("/"),
        function_timeout=function_timeout,
        queues=_queue_options(extensions.get("queues") or {}),
    )


def load_host_config(path: Path) -> HostConfig:
    """Read host.json at path; a missing file means the host's defaults."""
    if not path.exists():
        return HostConfig()
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HostConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise HostConfigError(f"{path} must hold a JSON object")
    return parse_host_config(document)
