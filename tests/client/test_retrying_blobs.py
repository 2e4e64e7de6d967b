"""Transient storage failures are retried with backoff; other errors are not."""

from __future__ import annotations

import pytest

from agent_client.errors import BlobNotFoundError, StorageBusyError
from agent_client.retrying_blobs import RetryingBlobs

from .fakes import MemoryBlobs


class Flaky(MemoryBlobs):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.calls = 0

    def put_new(self, name, data):
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise StorageBusyError("HTTP 503")
        return super().put_new(name, data)


def test_transient_failures_are_retried_with_growing_delays():
    delays: list[float] = []
    blobs = RetryingBlobs(Flaky(3), sleep=delays.append)
    assert blobs.put_new("packs/x", b"data") is True
    assert len(delays) == 3 and delays[0] < delays[2]


def test_retries_give_up_after_the_attempt_budget():
    inner = Flaky(100)
    with pytest.raises(StorageBusyError):
        RetryingBlobs(inner, attempts=4, sleep=lambda _: None).put_new("packs/x", b"data")
    assert inner.calls == 4


def test_a_put_that_already_happened_counts_as_done():
    inner = MemoryBlobs()
    inner.put_new("packs/x", b"data")
    assert RetryingBlobs(inner).put_new("packs/x", b"data") is False


def test_not_found_is_not_retried():
    delays: list[float] = []
    with pytest.raises(BlobNotFoundError):
        RetryingBlobs(MemoryBlobs(), sleep=delays.append).get("packs/missing")
    assert delays == []
