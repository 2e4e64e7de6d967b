"""One storage account's queue service: send base64 JSON messages, inspect and replay poison queues."""

from __future__ import annotations

import base64
import binascii
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError, ServiceRequestError, ServiceResponseError
from azure.storage.queue import ExponentialRetry, QueueServiceClient

from shared.adapters.identity import managed_identity_credential
from shared.adapters.storage_retry import SHORT_RETRY
from shared.errors import NotFound, StorageUnavailable
from shared.settings import StorageConnection


@dataclass(frozen=True)
class QueuedMessage:
    queue: str
    message_id: str
    dequeue_count: int
    inserted_at: datetime | None
    body: bytes


def _decoded(wire_text: str) -> bytes:
    """The message body; a poison message that was never valid base64 is returned as sent."""
    try:
        return base64.b64decode(wire_text, validate=True)
    except (binascii.Error, ValueError):
        return wire_text.encode("utf-8", "replace")


class QueueAccount:
    """Queues of one account. Bodies are base64-encoded here, explicitly, as the Functions host
    expects; raw wire text is kept when moving messages so nothing is re-encoded or lost."""

    def __init__(self, connection: StorageConnection) -> None:
        if connection.connection_string:
            self._service = QueueServiceClient.from_connection_string(
                connection.connection_string, retry_policy=ExponentialRetry(**SHORT_RETRY)
            )
        else:
            self._service = QueueServiceClient(
                connection.queue_service_uri,
                credential=managed_identity_credential(connection.managed_identity_client_id),
                retry_policy=ExponentialRetry(**SHORT_RETRY),
            )

    def _queue(self, name: str):
        return self._service.get_queue_client(name)

    def ensure_queue(self, name: str) -> None:
        try:
            self._queue(name).create_queue()
        except ResourceExistsError:
            return

    def send(self, queue: str, body: bytes) -> None:
        self._send_wire(queue, base64.b64encode(body).decode("ascii"))

    def _send_wire(self, queue: str, wire_text: str) -> None:
        try:
            self._queue(queue).send_message(wire_text)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise StorageUnavailable(f"queue {queue} is unreachable") from exc

    def peek(self, queue: str, limit: int = 32) -> list[QueuedMessage]:
        """Up to 32 messages at the head of the queue, without hiding them."""
        try:
            messages = self._queue(queue).peek_messages(max_messages=min(limit, 32))
        except ResourceNotFoundError:
            return []
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise StorageUnavailable(f"queue {queue} is unreachable") from exc
        return [
            QueuedMessage(queue, m.id, m.dequeue_count or 0, m.inserted_on, _decoded(m.content))
            for m in messages
        ]

    def browse(self, queue: str, limit: int = 1000) -> list[QueuedMessage]:
        """Every message of the queue (up to `limit`), not only the 32 a peek can return.

        Messages are received page by page and kept hidden until the browse ends (so each page
        brings new ones), then shown again at once. Only for queues no function consumes (poison
        queues): it counts as a dequeue of each message.
        """
        found: list[QueuedMessage] = []
        with self._hidden_while(queue) as receive:
            for message in receive():
                found.append(QueuedMessage(
                    queue, message.id, message.dequeue_count or 0, message.inserted_on, _decoded(message.content)
                ))
                if len(found) >= limit:
                    break
        return found

    def move(self, source: str, message_id: str, target: str) -> None:
        """Moves one message from `source` to `target`: sent first, then deleted, so never lost."""
        with self._hidden_while(source) as receive:
            for message in receive():
                if message.id == message_id:
                    self._send_wire(target, message.content)
                    self._queue(source).delete_message(message)
                    return
        raise NotFound(f"message {message_id} not found in {source}")

    @contextmanager
    def _hidden_while(self, queue: str):
        """Yields a receiver of the queue's messages that keeps each one hidden until the block
        ends (made visible at once, they would come back in the next page and the search would
        circle the first page), then shows every message it passed over again."""
        client = self._queue(queue)
        received = []

        def receive():
            try:
                for page in client.receive_messages(messages_per_page=32, visibility_timeout=60).by_page():
                    messages = list(page)  # the whole page is hidden now, whatever the caller reads
                    received.extend(messages)
                    yield from messages
            except ResourceNotFoundError:
                return

        try:
            yield receive
        finally:
            for message in received:
                try:
                    client.update_message(message, visibility_timeout=0)
                except ResourceNotFoundError:
                    pass  # deleted (moved) or taken by someone else meanwhile
