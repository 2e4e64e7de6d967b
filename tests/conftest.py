"""Session fixtures for tests on the local stack: it starts on first use and stops after the last test run using it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import Stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test marked `stack` gets the stack even if it does not ask for the fixture by name.
    for item in items:
        if item.get_closest_marker("stack") and "stack" not in getattr(item, "fixturenames", ["stack"]):
            item.fixturenames.append("stack")


def _other_live_sessions(users: Path) -> list[Path]:
    """Lease files of other test sessions still running (several engineers share one working tree)."""
    live = []
    for lease in users.glob("*"):
        if lease.name != str(os.getpid()) and lease.name.isdigit() and Path(f"/proc/{lease.name}").exists():
            live.append(lease)
        elif lease.name != str(os.getpid()):
            lease.unlink(missing_ok=True)  # left by a session that died
    return live


@pytest.fixture(scope="session")
def stack_control() -> Iterator[Stack]:
    """The running local stack (.devstack, or $DEVSTACK_DIR), for tests that stop or restart services.

    A stack some test session started is stopped by the last session using it; one started by
    `make stack-up` is left running.
    """
    local_stack = Stack()
    users = local_stack.state_dir / "test-sessions"
    users.mkdir(parents=True, exist_ok=True)
    lease = users / str(os.getpid())
    lease.touch()
    started_by_tests = local_stack.state_dir / "started-by-tests"
    if not _other_live_sessions(users):
        started_by_tests.unlink(missing_ok=True)  # whatever runs now was not started by a live session
    if not any(local_stack.status().values()):
        started_by_tests.touch()
    try:
        local_stack.up()
        yield local_stack
    finally:
        lease.unlink(missing_ok=True)
        if started_by_tests.exists() and not _other_live_sessions(users):
            local_stack.down()
            started_by_tests.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def stack(stack_control: Stack) -> dict[str, str]:
    """The stack's environment: .devstack/env, the app settings, FUNCTIONS_URL, FUNCTIONS_ADMIN_URL, DEVSTACK_DIR."""
    return stack_control.env()
