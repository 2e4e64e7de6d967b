"""Polls one queue for a queue-triggered function, with the Functions host's batching, retry and poison rules."""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from azure.core.exceptions import ResourceNotFoundError
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueMessage as StoredMessage

from devstack.funchost.app_loader import FunctionSpec
from devstack.funchost.app_settings import resolve_references
from devstack.funchost.host_config import HostConfig
from devstack.funchost.invoker import ON_DEMAND_REASON, Invoker
from devstack.funchost.queue_clients import connection_string, decode_body, queue_client, send_text

log = logging.getLogger("funchost.queue")

MIN_POLLING_INTERVAL = 0.1
# A stop waits this long for a receive in progress; an abandoned one's messages reappear later.
POLL_JOIN_SECONDS = 5.0


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


class QueueListener:
    """Receives batches from the function's queue and runs the function once per message."""

    def __init__(self, spec: FunctionSpec, config: HostConfig, invoker: Invoker,
                 environ: Mapping[str, str] = os.environ) -> None:
        self.spec = spec
        self.queue_name = resolve_references(spec.trigger["queueName"], environ)
        self.poison_queue_name = f"{self.queue_name}-poison"
        conn_str = connection_string(spec.trigger.get("connection"), environ)
        self._queue = queue_client(conn_str, self.queue_name)
        self._poison = queue_client(conn_str, self.poison_queue_name)
        self._options = config.queues
        self._lease_seconds = int(math.ceil(config.message_lease_seconds))
        self._invoker = invoker
        self._workers = ThreadPoolExecutor(
            max_workers=self._options.batch_size + max(self._options.new_batch_threshold, 1),
            thread_name_prefix=f"queue-{spec.name}",
        )
        self._in_flight = 0
        self._capacity = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._poll, name=f"poll-{spec.name}", daemon=True)
        self._unreachable = False

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Stop polling (returns at once)."""
        self._stopping.set()
        with self._capacity:
            self._capacity.notify_all()

    def wait_stopped(self) -> None:
        """Wait for the poll in progress (a little) and for the messages already received (fully)."""
        self._thread.join(POLL_JOIN_SECONDS)
        self._workers.shutdown(wait=True)

    def run_with_body(self, body: bytes) -> None:
        """Run the function once on body, outside the queue (the admin endpoint's invocation)."""
        message = QueueMessage(id="admin-invocation", body=body, dequeue_count=1)
        self._invoker.invoke(self.spec, message, reason=ON_DEMAND_REASON)

    def _poll(self) -> None:
        interval = MIN_POLLING_INTERVAL
        while not self._stopping.is_set():
            with self._capacity:
                # Like the host, fetch the next batch only once the in-flight count drops to the threshold.
                while self._in_flight > self._options.new_batch_threshold and not self._stopping.is_set():
                    self._capacity.wait()
            if self._stopping.is_set():
                return
            messages = self._receive()
            if messages:
                interval = MIN_POLLING_INTERVAL
                for message in messages:
                    with self._capacity:
                        self._in_flight += 1
                    try:
                        self._workers.submit(self._handle, message)
                    except RuntimeError:
                        return  # stopped meanwhile: the message reappears when its lease ends
                continue
            self._stopping.wait(interval)
            interval = min(interval * 2, self._options.max_polling_interval)

    def _receive(self) -> list[StoredMessage]:
        try:
            pages = self._queue.receive_messages(
                messages_per_page=self._options.batch_size,
                visibility_timeout=self._lease_seconds,
                retry_total=0,  # the poll loop is the retry
                read_timeout=10,
            ).by_page()
            messages = list(next(pages, []))
        except ResourceNotFoundError:
            if not self._unreachable:
                log.warning("queue %s for function %s does not exist; still polling", self.queue_name, self.spec.name)
            self._unreachable = True
            return []
        except Exception as exc:  # noqa: BLE001 - an outage must not stop the listener
            if not self._unreachable:
                log.warning("queue %s for function %s is unavailable, still polling: %s",
                            self.queue_name, self.spec.name, _one_line(exc))
            self._unreachable = True
            return []
        if self._unreachable:
            log.info("queue %s for function %s is available again", self.queue_name, self.spec.name)
            self._unreachable = False
        return messages

    def _handle(self, stored: StoredMessage) -> None:
        try:
            self._process(stored)
        except Exception:  # noqa: BLE001 - a storage failure here leaves the message to reappear
            log.exception("function %s: cannot settle message %s", self.spec.name, stored.id)
        finally:
            with self._capacity:
                self._in_flight -= 1
                self._capacity.notify_all()

    def _process(self, stored: StoredMessage) -> None:
        limit = self._options.max_dequeue_count
        if stored.dequeue_count > limit:
            # Its earlier attempts ended without settling it (a host crash): it is poison already.
            self._move_to_poison(stored)
            return
        try:
            body = decode_body(stored.content, self._options.message_encoding)
            message = QueueMessage(
                id=stored.id, body=body, dequeue_count=stored.dequeue_count,
                insertion_time=stored.inserted_on, expiration_time=stored.expires_on,
                time_next_visible=stored.next_visible_on, pop_receipt=stored.pop_receipt,
            )
            self._invoker.invoke(self.spec, message, reason=f"New queue message detected on '{self.queue_name}'.")
        except Exception as exc:  # noqa: BLE001 - every failure is a failed delivery attempt
            log.error("function %s failed on message %s (dequeue count %d of %d): %s",
                      self.spec.name, stored.id, stored.dequeue_count, limit, _one_line(exc), exc_info=True)
            if stored.dequeue_count >= limit:
                self._move_to_poison(stored)
            else:
                self._queue.update_message(stored.id, stored.pop_receipt,
                                           visibility_timeout=int(math.ceil(self._options.visibility_timeout)))
            return
        self._queue.delete_message(stored.id, stored.pop_receipt)

    def _move_to_poison(self, stored: StoredMessage) -> None:
        log.warning("message %s has reached maxDequeueCount of %d; moving it to queue '%s'",
                    stored.id, self._options.max_dequeue_count, self.poison_queue_name)
        send_text(self._poison, stored.content or "")
        self._queue.delete_message(stored.id, stored.pop_receipt)
