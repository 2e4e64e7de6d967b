"""Fixtures for the local stack's own tests: a stack of their own that hosts tests/devstack/sample_app.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import urllib3

from devstack.stack import Stack
from tests.devstack.sample_records import Records

HERE = Path(__file__).resolve().parent
SAMPLE_QUEUE = "sample-items"


@pytest.fixture(scope="package")
def sample_stack_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir = tmp_path_factory.mktemp("sample-stack") / "state"  # made by the stack, as .devstack is
    stack = Stack(
        state_dir,
        app="tests.devstack.sample_app:app",
        host_json=HERE / "host.json",
        extra_settings={
            "SAMPLE_QUEUE": SAMPLE_QUEUE,
            "SAMPLE_RECORD_DIR": str(state_dir / "records"),
            "SAMPLE_TICK_SCHEDULE": "* * * * * *",
        },
    )
    try:
        stack.up()
    except BaseException:
        stack.down()
        raise
    yield stack
    stack.down()


@pytest.fixture
def sample_stack(sample_stack_instance: Stack) -> Stack:
    """The sample stack, brought back up if an earlier test stopped a service."""
    sample_stack_instance.up()
    return sample_stack_instance


@pytest.fixture
def records(sample_stack: Stack) -> Records:
    return Records(Path(sample_stack.settings()["SAMPLE_RECORD_DIR"]))


@pytest.fixture
def admin(sample_stack: Stack) -> Callable[..., urllib3.BaseHTTPResponse]:
    """Calls the sample host's admin API with its master key: `admin("POST", "/functions/tick", json={})`."""
    env = sample_stack.env()

    def call(method: str, path: str, **options) -> urllib3.BaseHTTPResponse:
        headers = {"x-functions-key": env["FUNCTIONS_MASTER_KEY"], **options.pop("headers", {})}
        return urllib3.request(method, env["FUNCTIONS_ADMIN_URL"] + path, headers=headers, **options)

    return call
