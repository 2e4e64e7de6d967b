"""The commit call and the wait for the catalog's verdict."""

from __future__ import annotations

import pytest

from agent_client.commit_flow import commit_and_wait
from agent_client.errors import BackupError, NotFoundError, ServiceError
from agent_client.ports import BackupSession

SESSION = BackupSession("s" * 32, "r" * 32, "http://x", "sig", "", "k" * 32, frozenset())
COMMIT_BLOB = f"commits/{'r' * 32}.{'d' * 64}"


class Catalog:
    def __init__(self, states):
        self.states = list(states)
        self.committed_blob = None

    def commit(self, session_id, commit_blob):
        self.committed_blob = commit_blob

    def get_recovery_point(self, recovery_point_id):
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        if state == "404":
            raise NotFoundError("unknown", 404)
        return {"id": recovery_point_id, "state": state, "rejected_reason": "pack missing"}


class Clock:
    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds):
        self.now += seconds

    def __call__(self):
        return self.now


def test_polls_until_committed():
    catalog, clock = Catalog(["404", "pending", "pending", "committed"]), Clock()
    assert commit_and_wait(catalog, SESSION, COMMIT_BLOB, 60, clock.sleep, clock)["state"] == "committed"
    assert catalog.committed_blob == COMMIT_BLOB


def test_rejection_carries_the_reason():
    with pytest.raises(ServiceError, match="pack missing"):
        commit_and_wait(Catalog(["pending", "rejected"]), SESSION, COMMIT_BLOB, 60, Clock().sleep, Clock())


def test_a_catalog_that_never_answers_times_out_clearly():
    clock = Clock()
    with pytest.raises(BackupError, match="not cataloged within 5 s"):
        commit_and_wait(Catalog(["pending"]), SESSION, COMMIT_BLOB, 5, clock.sleep, clock)
