"""Session fixtures for tests on the local stack: it is started on first use and stopped if this run started it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.stack import Stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test marked `stack` gets the stack even if it does not ask for the fixture by name.
    for item in items:
        if item.get_closest_marker("stack") and "stack" not in getattr(item, "fixturenames", ["stack"]):
            item.fixturenames.append("stack")


@pytest.fixture(scope="session")
def stack_control() -> Iterator[Stack]:
    """The running local stack (.devstack, or $DEVSTACK_DIR), for tests that stop or restart services."""
    local_stack = Stack()
    started_here = not any(local_stack.status().values())
    try:
        local_stack.up()
    except BaseException:
        if started_here:
            local_stack.down()
        raise
    yield local_stack
    if started_here:
        local_stack.down()


@pytest.fixture(scope="session")
def stack(stack_control: Stack) -> dict[str, str]:
    """The stack's environment: .devstack/env, the app settings, FUNCTIONS_URL, FUNCTIONS_ADMIN_URL, DEVSTACK_DIR."""
    return stack_control.env()
