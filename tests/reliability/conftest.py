"""Hooks and fixtures of the reliability suite (shared with the other suite, see tests/support/suite.py)."""

from tests.support.suite import (  # noqa: F401 - pytest finds hooks and fixtures by name here
    api_client,
    host_log,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_terminal_summary,
    rng,
)
