"""Reads what the sample app's functions recorded, and waits for a condition on it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class Records:
    """The JSON lines each sample function appends per invocation under one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def of(self, function_name: str) -> list[dict]:
        path = self.folder / f"{function_name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Poll condition until it returns something truthy; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
