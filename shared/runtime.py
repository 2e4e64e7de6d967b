"""Composition root: builds the adapters the services use from the app settings, once per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from shared.adapters.blob_account import BlobAccount
from shared.adapters.cosmos_documents import CosmosCatalog
from shared.adapters.queue_account import QueueAccount
from shared.settings import Settings, load_settings


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Runtime:
    """Everything a service function needs to reach the outside world."""

    settings: Settings
    catalog: CosmosCatalog
    primary_blobs: BlobAccount
    secondary_blobs: BlobAccount | None
    queues: QueueAccount
    clock: Callable[[], datetime] = field(default=utc_now)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Runtime":
        return cls(
            settings=settings,
            catalog=CosmosCatalog(settings.cosmos, settings.cosmos_database),
            primary_blobs=BlobAccount(settings.primary_storage),
            secondary_blobs=BlobAccount(settings.secondary_storage) if settings.secondary_storage else None,
            queues=QueueAccount(settings.primary_storage),
        )


_lock = threading.Lock()
_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """The process-wide Runtime, built on first use from the environment."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = Runtime.from_settings(load_settings())
        return _runtime
