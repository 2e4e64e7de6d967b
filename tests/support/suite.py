"""What the reliability and security suites share: the seed, the soak marker (deselected by default), fixtures.

Both suites' conftests import these hooks and fixtures; the hooks guard themselves so that running
the two suites together reports the seed once.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.api.conftest import Api

SEED_VARIABLE = "RELIABILITY_SEED"
SEED = int(os.environ.get(SEED_VARIABLE) or random.SystemRandom().randrange(1 << 32))
SOAK_MARKER = "soak: the long version of a reliability or security row (run with `make soak`, i.e. -m soak)"
_REPORTED = pytest.StashKey[bool]()


def rng_for(node_id: str) -> random.Random:
    """Each test's own stream, so that one test replays alone with the same seed."""
    return random.Random(f"{SEED}:{node_id}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", SOAK_MARKER)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak tests run only when -m names them; the bounded version of every row runs by default."""
    if "soak" in (config.option.markexpr or ""):
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if config.stash.get(_REPORTED, False):
        return
    config.stash[_REPORTED] = True
    terminalreporter.write_sep("-", f"reliability/security seed {SEED}: replay with {SEED_VARIABLE}={SEED}")


@pytest.fixture
def rng(request) -> random.Random:
    """This test's random stream, derived from RELIABILITY_SEED and the test's id."""
    return rng_for(request.node.nodeid)


@pytest.fixture(scope="session")
def api_client(stack) -> Api:
    return Api(stack["BACKUP_API_URL"])


@pytest.fixture(scope="session")
def host_log(stack) -> Path:
    """The local Functions host's log: every failed attempt and every move to poison is in it."""
    return Path(stack["DEVSTACK_DIR"]) / "functions.log"
