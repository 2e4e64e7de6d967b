"""Reads queues and poison queues on the stack's primary account, and the host's log of failed attempts."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient

SERVICE_QUEUES = ("commits", "replication", "metering")


@dataclass(frozen=True)
class WireMessage:
    queue: str
    message_id: str
    text: str

    @property
    def body(self) -> bytes:
        """The base64-decoded body, or the raw text when it was never valid base64."""
        try:
            return base64.b64decode(self.text, validate=True)
        except (binascii.Error, ValueError):
            return self.text.encode("utf-8", "replace")


def queue_client(connection_string: str, queue: str) -> QueueClient:
    """Sends and receives wire text unchanged (no encode policy): the tests choose what goes on the wire."""
    client = QueueClient.from_connection_string(connection_string, queue, message_encode_policy=None,
                                                message_decode_policy=None)
    try:
        client.create_queue()
    except ResourceExistsError:
        pass
    return client


def send_wire(connection_string: str, queue: str, text: str) -> str:
    """Puts text on the queue exactly as given; returns the message id."""
    return queue_client(connection_string, queue).send_message(text).id


def all_messages(connection_string: str, queue: str) -> list[WireMessage]:
    """Every message of the queue, beyond peek's 32: received for a moment, then made visible again."""
    client = queue_client(connection_string, queue)
    seen: dict[str, WireMessage] = {}
    held = []
    try:
        for message in client.receive_messages(messages_per_page=32, visibility_timeout=30):
            seen[message.id] = WireMessage(queue, message.id, message.content or "")
            held.append(message)
    except ResourceNotFoundError:
        return []
    for message in held:
        try:
            client.update_message(message, visibility_timeout=0)
        except ResourceNotFoundError:
            pass
    return list(seen.values())


def poison_mentioning(connection_string: str, needle: str, queues=SERVICE_QUEUES) -> list[WireMessage]:
    """Poison messages whose decoded body mentions needle (a vault or recovery point id)."""
    found = []
    for queue in queues:
        for message in all_messages(connection_string, f"{queue}-poison"):
            if needle.encode() in message.body or needle in message.text:
                found.append(message)
    return found


def failed_attempts(log_file: Path, function: str, message_id: str) -> list[tuple[int, str]]:
    """(dequeue count, reason) of each failed attempt the host logged for one message."""
    pattern = re.compile(
        rf"function {re.escape(function)} failed on message {re.escape(message_id)} "
        r"\(dequeue count (\d+) of \d+\): (.*)$"
    )
    attempts = []
    for line in log_file.read_text(errors="replace").splitlines():
        match = pattern.search(line)
        if match:
            attempts.append((int(match.group(1)), match.group(2)))
    return attempts


def moved_to_poison(log_file: Path, message_id: str) -> bool:
    return f"message {message_id} has reached maxDequeueCount" in log_file.read_text(errors="replace")


def delete_matching(connection_string: str, queue: str, texts: set[str]) -> int:
    """Deletes the messages whose wire text is in texts (a test's own poison, once checked)."""
    client = queue_client(connection_string, queue)
    deleted, passed_over = 0, []
    for message in client.receive_messages(messages_per_page=32, visibility_timeout=30):
        if (message.content or "") in texts:
            client.delete_message(message)
            deleted += 1
        else:
            passed_over.append(message)
    for message in passed_over:
        try:
            client.update_message(message, visibility_timeout=0)
        except ResourceNotFoundError:
            pass
    return deleted
