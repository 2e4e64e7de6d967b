"""The local host runs queue triggers with base64 bodies, retries, maxDequeueCount and poison queues."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import pytest
from azure.storage.queue import BinaryBase64EncodePolicy, QueueClient

from devstack.funchost.host_config import load_host_config
from tests.devstack.sample_records import wait_for

pytestmark = pytest.mark.timeout(90)

QUEUE_OPTIONS = load_host_config(Path(__file__).with_name("host.json")).queues
# A retry may wait one polling interval past the visibility timeout; the rest is slack for a busy machine.
RETRY_GAP_SLACK_SECONDS = 3.0


def _queue(stack, name: str, encoded: bool = True) -> QueueClient:
    client = QueueClient.from_connection_string(
        stack.env()["PRIMARY_STORAGE_CONNECTION_STRING"], name,
        message_encode_policy=BinaryBase64EncodePolicy() if encoded else None,
        message_decode_policy=None,
    )
    try:
        client.create_queue()
    except Exception:  # noqa: BLE001 - it exists already
        pass
    return client


def _messages_in(client: QueueClient) -> list[str]:
    return [message.content for message in client.peek_messages(max_messages=32)]


def test_a_message_setting_named_queue_reaches_the_function_decoded_with_its_dequeue_count(sample_stack, records):
    queue_name = sample_stack.settings()["SAMPLE_QUEUE"]  # the function listens on %SAMPLE_QUEUE%
    body = f"hello {uuid.uuid4()}".encode()
    sent = _queue(sample_stack, queue_name).send_message(body)
    received = wait_for(lambda: [r for r in records.of("record_message") if r["id"] == sent.id])
    assert received == [{"id": sent.id, "body": body.decode(), "dequeue_count": 1}]


def test_a_failing_message_is_retried_after_the_visibility_timeout_then_moved_to_poison_once(sample_stack, records):
    body = json.dumps({"marker": str(uuid.uuid4())}).encode()
    source = _queue(sample_stack, "sample-fails")
    poison = _queue(sample_stack, "sample-fails-poison", encoded=False)
    sent = source.send_message(body)
    wire_text = base64.b64encode(body).decode()
    wait_for(lambda: wire_text in _messages_in(poison), timeout=30)
    time.sleep(QUEUE_OPTIONS.visibility_timeout + 1)  # no attempt (nor a second copy) may follow the move
    attempts = [r for r in records.of("always_fails") if r["id"] == sent.id]
    assert [a["dequeue_count"] for a in attempts] == list(range(1, QUEUE_OPTIONS.max_dequeue_count + 1))
    assert all(a["body"] == body.decode() for a in attempts)
    gaps = [later["at"] - earlier["at"] for earlier, later in zip(attempts, attempts[1:])]
    upper = QUEUE_OPTIONS.visibility_timeout + QUEUE_OPTIONS.max_polling_interval + RETRY_GAP_SLACK_SECONDS
    assert all(QUEUE_OPTIONS.visibility_timeout <= gap <= upper for gap in gaps), gaps
    assert _messages_in(poison).count(wire_text) == 1
    assert source.get_queue_properties().approximate_message_count == 0
    log = sample_stack.process("functions").log_file.read_text()
    limit = QUEUE_OPTIONS.max_dequeue_count
    assert f"function always_fails failed on message {sent.id} (dequeue count {limit} of {limit}): ValueError" in log


def test_a_message_that_is_not_base64_ends_in_poison_without_reaching_the_function(sample_stack, records):
    queue_name = sample_stack.settings()["SAMPLE_QUEUE"]
    text = f"not base64 at all {uuid.uuid4()}!"
    _queue(sample_stack, queue_name, encoded=False).send_message(text)
    poison = _queue(sample_stack, f"{queue_name}-poison", encoded=False)
    wait_for(lambda: text in _messages_in(poison), timeout=30)
    assert not [r for r in records.of("record_message") if r["body"] == text]


def test_a_queue_output_binding_sends_base64_messages(sample_stack):
    _queue(sample_stack, "sample-forward").send_message(b"shout")
    forwarded = _queue(sample_stack, "sample-forwarded", encoded=False)
    wait_for(lambda: base64.b64encode(b"SHOUT").decode() in _messages_in(forwarded))


def test_the_admin_endpoint_runs_a_queue_function_with_the_input_as_body(admin, records):
    marker = f"from admin {uuid.uuid4()}"
    response = admin("POST", "/functions/record_message", json={"input": marker})
    assert response.status == 202
    assert [r["body"] for r in records.of("record_message") if r["body"] == marker] == [marker]


def test_the_admin_endpoint_reports_a_failing_function_as_500_with_its_error(admin):
    response = admin("POST", "/functions/always_fails", json={"input": "x"})
    assert response.status == 500
    assert "sample handler always fails" in response.json()["error"]
    assert admin("POST", "/functions/no_such_function", json={}).status == 404
    assert admin("POST", "/functions/item", json={}).status == 400
