"""Queue message schemas decode strictly and refuse anything malformed with a one-line reason."""

import json
from datetime import datetime, timezone

import pytest
from hypothesis import given, strategies as st

from shared.domain.messages import (
    MAX_MESSAGE_BYTES, CommitMessage, MessageError, ReplicationMessage, UsageEvent, decode, encode,
)

HEX = "0123456789abcdef" * 2


def _commit(**overrides):
    fields = dict(vault_id=HEX, instance_id=HEX, recovery_point_id=HEX, commit_blob=f"commits/{HEX}",
                  enqueued_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    return CommitMessage(**{**fields, **overrides})


def test_round_trip():
    message = _commit()
    assert decode(CommitMessage, encode(message)) == message


@pytest.mark.parametrize("body, reason", [
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"version": 2}', "unknown message version 2"),
    (b'{"version": 1}', "invalid CommitMessage"),
    (json.dumps({"version": 1, "vault_id": "../x", "instance_id": HEX, "recovery_point_id": HEX,
                 "commit_blob": f"commits/{HEX}", "enqueued_at": "2026-01-01T00:00:00Z"}).encode(), "vault_id"),
])
def test_bad_bodies_are_refused_with_a_reason(body, reason):
    with pytest.raises(MessageError, match=reason):
        decode(CommitMessage, body)


def test_oversized_message_is_refused():
    with pytest.raises(MessageError, match="exceeds"):
        decode(CommitMessage, b" " * (MAX_MESSAGE_BYTES + 1))


def test_unknown_fields_are_refused():
    body = json.loads(encode(_commit()))
    body["extra"] = 1
    with pytest.raises(MessageError):
        decode(CommitMessage, json.dumps(body))


def test_replication_blob_names_are_constrained():
    ReplicationMessage(vault_id=HEX, op="delete", blobs=["packs/" + "a" * 64])
    with pytest.raises(ValueError):
        ReplicationMessage(vault_id=HEX, op="delete", blobs=["../../etc/passwd"])


def test_usage_event_ids_are_deterministic_shapes():
    UsageEvent(event_id=f"backup:{HEX}", vault_id=HEX, kind="backup", occurred_at=datetime.now(timezone.utc))
    with pytest.raises(ValueError):
        UsageEvent(event_id="random", vault_id=HEX, kind="backup", occurred_at=datetime.now(timezone.utc))


@given(st.binary(max_size=2000))
def test_decode_only_raises_message_error(body):
    for model in (CommitMessage, ReplicationMessage, UsageEvent):
        try:
            decode(model, body)
        except MessageError:
            pass
