"""Delivers a Runtime's queue messages to the service functions the way an at-least-once queue may.

Each message is delivered `copies` times; the copies are shuffled with every other pending delivery,
run by several workers at once (so duplicates also race each other), and a share of them is held
back and delivered only at the very end (a duplicate that shows up late). A failed delivery is
retried like the host does, and after `MAX_DEQUEUE_COUNT` failures it counts as poison.
"""

from __future__ import annotations

import base64
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from shared.domain.messages import CommitMessage, ReplicationMessage, UsageEvent, decode
from shared.services.catalog import catalog_commit
from shared.services.metering import record_usage
from shared.services.replication import replicate
from tests.support.queues import queue_client

MAX_DEQUEUE_COUNT = 5  # host.json


@dataclass
class Delivery:
    queue: str
    body: bytes
    attempts: int = 0


@dataclass
class Deliverer:
    rt: object
    connection_string: str
    rng: random.Random
    copies: int = 1
    workers: int = 1
    late_share: float = 0.0
    delivered: int = 0
    poison: list[tuple[str, bytes, str]] = field(default_factory=list)
    _late: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        s = self.rt.settings
        # The triggers in functions/ are exactly decode + one service call; these are the same calls.
        self._handlers = {
            s.commit_queue: lambda body: catalog_commit(self.rt, decode(CommitMessage, body)),
            s.replication_queue: lambda body: replicate(self.rt, decode(ReplicationMessage, body)),
            s.metering_queue: lambda body: record_usage(self.rt, decode(UsageEvent, body)),
        }
        self._clients = {queue: queue_client(self.connection_string, queue) for queue in self._handlers}

    def drain(self) -> None:
        """Delivers everything queued, and everything that produces, until the queues are empty."""
        pending = self._receive()
        while pending:
            self.rng.shuffle(pending)
            failed = self._run(pending)
            pending = failed + self._receive()

    def finish(self) -> None:
        """Delivers the held-back late copies (and what they produce)."""
        late, self._late = self._late, []
        self.rng.shuffle(late)
        failed = self._run(late)
        while failed:
            failed = self._run(failed)
        self.drain()

    def _receive(self) -> list[Delivery]:
        deliveries = []
        for queue, client in self._clients.items():
            # Receiving pages until one comes back empty: the whole queue, hidden for a minute.
            for message in client.receive_messages(messages_per_page=32, visibility_timeout=60):
                body = base64.b64decode(message.content)
                deliveries.append(Delivery(queue, body))
                for _ in range(self.copies - 1):
                    copy = Delivery(queue, body)
                    (self._late if self.rng.random() < self.late_share else deliveries).append(copy)
                client.delete_message(message)
        return deliveries

    def _run(self, deliveries: list[Delivery]) -> list[Delivery]:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            outcomes = list(pool.map(self._deliver, deliveries))
        failed = []
        for delivery, error in zip(deliveries, outcomes):
            if error is None:
                continue
            if delivery.attempts >= MAX_DEQUEUE_COUNT:
                self.poison.append((delivery.queue, delivery.body, error))
            else:
                failed.append(delivery)
        return failed

    def _deliver(self, delivery: Delivery) -> str | None:
        delivery.attempts += 1
        self.delivered += 1
        try:
            self._handlers[delivery.queue](delivery.body)
            return None
        except Exception as exc:  # noqa: BLE001 - a failed delivery is retried, as by the host
            return f"{type(exc).__name__}: {exc}"
