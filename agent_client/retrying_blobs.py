"""Wraps a VaultBlobs so transient storage failures are retried with capped, jittered backoff."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from agent_client.errors import StorageBusyError
from agent_client.ports import BlobPage, VaultBlobs

T = TypeVar("T")


class RetryingBlobs:
    """Retries StorageBusyError up to `attempts` times; other errors pass through at once.

    The wait is exponential backoff with jitter, but never shorter than the `retry_after` a
    throttled request carries (the adapter reads Retry-After), and never longer than `max_delay`:
    a server asking for minutes does not stall a backup past the attempt budget's bound.

    A put retried after a lost response may find its own blob: the inner put checks the bytes
    it finds and answers False for ours, BlobConflictError for anyone else's.
    """

    def __init__(self, inner: VaultBlobs, attempts: int = 8, base_delay: float = 0.5, max_delay: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._inner = inner
        self._attempts = attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep

    def put_new(self, name: str, data: bytes | list[bytes]) -> bool:
        return self._retry(lambda: self._inner.put_new(name, data))

    def get(self, name: str) -> bytes:
        return self._retry(lambda: self._inner.get(name))

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        return self._retry(lambda: self._inner.get_range(name, offset, length))

    def list_page(self, prefix: str, marker: str | None) -> BlobPage:
        return self._retry(lambda: self._inner.list_page(prefix, marker))

    def _retry(self, call: Callable[[], T]) -> T:
        for attempt in range(self._attempts):
            try:
                return call()
            except StorageBusyError as busy:
                if attempt == self._attempts - 1:
                    raise
                backoff = min(self._max_delay, self._base_delay * 2**attempt) * random.uniform(0.5, 1.0)
                asked = busy.retry_after or 0.0
                self._sleep(max(backoff, min(asked, self._max_delay)))
        raise AssertionError("unreachable")
