"""A message the handlers cannot process ends in poison with the one-line reason of its last failure.

Through the real host: malformed commit messages are retried, poisoned, and listed by
`GET /api/poison` with why they failed (anything credential-like redacted); a replay forgets the
reason, so a replay that succeeds leaves none behind.
"""

import json
import secrets
from datetime import datetime, timezone

import pytest

from shared.domain.credentials import new_credential
from shared.services.poison import failure_id, failures_recorded, one_line_reason
from tests.support.http_backup import wait_until
from tests.support.runtimes import service_runtime


def _commit_body(**fields) -> bytes:
    body = {"version": 1, "vault_id": secrets.token_hex(16), "instance_id": secrets.token_hex(16),
            "recovery_point_id": secrets.token_hex(16), "commit_blob": "commits/" + "0" * 32,
            "enqueued_at": datetime.now(timezone.utc).isoformat(), **fields}
    return json.dumps(body).encode()


def _poisoned(api, operator_key: str, marker: str):
    status, listing = api.call("GET", "/poison", operator_key)
    assert status == 200, listing
    return next((item for item in listing["items"] if marker in item["body_preview"]), None)


def test_a_reason_is_one_line_and_betrays_no_credential():
    credential = new_credential("instance", "a" * 32, "b" * 32)
    sas = "sv=2023-11-03&sp=c&sig=Zm9vYmFyYmF6cXV4cXV1eA%3D%3D"
    reason = one_line_reason(RuntimeError(f"GET https://acct/c/x?{sas}\nwith Bearer {credential} and {credential}\n"
                                          "AccountKey=c2VjcmV0a2V5;BlobEndpoint=x"))
    assert "\n" not in reason and reason.startswith("RuntimeError: GET https://acct/c/x?")
    for secret in (credential, "Zm9vYmFyYmF6cXV4cXV1eA", "c2VjcmV0a2V5"):
        assert secret not in reason
    assert len(one_line_reason(ValueError("x" * 5000))) <= 300


@pytest.mark.stack
@pytest.mark.timeout(240)
def test_malformed_commit_messages_are_poisoned_with_their_reason(api, stack):
    rt = service_runtime(stack)
    marker = secrets.token_hex(16)
    bad_id = _commit_body(recovery_point_id=f"not-an-id-{marker}")
    secret = new_credential("vault_admin", marker)
    bad_version = _commit_body(version=secret)  # the reason quotes the version: it must be redacted
    for body in (bad_id, bad_version):
        rt.queues.send(rt.settings.commit_queue, body)

    def both_poisoned():
        return _poisoned(api, stack["BACKUP_ADMIN_KEY"], f"not-an-id-{marker}") and _poisoned(
            api, stack["BACKUP_ADMIN_KEY"], secret)

    wait_until(both_poisoned, 150, "poisoning of both malformed commit messages", interval=2)
    invalid = _poisoned(api, stack["BACKUP_ADMIN_KEY"], f"not-an-id-{marker}")
    assert invalid["queue"] == "commits" and invalid["attempts"] == 5, invalid
    assert invalid["reason"].startswith("MessageError: invalid CommitMessage: recovery_point_id:"), invalid
    assert "\n" not in invalid["reason"]
    versioned = _poisoned(api, stack["BACKUP_ADMIN_KEY"], secret)
    assert versioned["reason"] == "MessageError: unknown message version '[redacted]'", versioned
    # The secret part is the last 43 characters (it may itself hold "_", so no split).
    assert secret[-43:] not in json.dumps(list(rt.catalog.sessions.query("poison")))


@pytest.mark.stack
@pytest.mark.timeout(120)
def test_replay_clears_the_reason(api, stack):
    """A usage event of a vault that does not exist is dropped (success): replayed, it leaves no record."""
    rt = service_runtime(stack)
    event = {"version": 1, "event_id": f"backup:{secrets.token_hex(16)}", "vault_id": secrets.token_hex(16),
             "instance_id": None, "kind": "backup", "occurred_at": datetime.now(timezone.utc).isoformat(),
             "bytes": 1, "transactions": 0}
    body = json.dumps(event).encode()
    queue = rt.settings.metering_queue
    with pytest.raises(RuntimeError), failures_recorded(rt, queue, body, dequeue_count=5):
        raise RuntimeError("the metering store was unreachable")
    rt.queues.send(f"{queue}-poison", body)  # as the host poisons: the same body, a new message id
    poisoned = _poisoned(api, stack["BACKUP_ADMIN_KEY"], event["event_id"])
    assert poisoned["reason"] == "RuntimeError: the metering store was unreachable" and poisoned["attempts"] == 5

    status, replayed = api.call("POST", f"/poison/{queue}/{poisoned['message_id']}/replay", stack["BACKUP_ADMIN_KEY"])
    assert status == 200 and replayed["replayed"], replayed
    assert rt.catalog.sessions.find("poison", failure_id(queue, body)) is None
    wait_until(lambda: not any(event["event_id"] in m.body.decode() for m in rt.queues.peek(queue)), 30,
               "the replayed event to be consumed")
    assert rt.catalog.sessions.find("poison", failure_id(queue, body)) is None
    assert _poisoned(api, stack["BACKUP_ADMIN_KEY"], event["event_id"]) is None
