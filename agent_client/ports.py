"""The two ports the client's data path depends on: the vault's blobs and the service API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class BlobListing:
    """One listed blob: its name, size in bytes and kind (only block blobs belong to a vault)."""

    name: str
    size: int
    blob_type: str = "BlockBlob"


class VaultBlobs(Protocol):
    """A vault container seen through a create-only, read-and-list credential."""

    def put_new(self, name: str, data: bytes | list[bytes]) -> bool:
        """Creates the blob from its bytes (whole, or as consecutive parts); False if it already
        existed with these bytes (left as is); raises BlobConflictError if it holds others."""

    def get(self, name: str) -> bytes:
        """The whole blob; raises BlobNotFoundError."""

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        """`length` bytes from `offset` (fewer only at the end of the blob); raises BlobNotFoundError."""

    def list_page(self, prefix: str, marker: str | None) -> BlobPage:
        """One page of the blobs whose names start with prefix, in name order, from `marker` on."""


@dataclass(frozen=True)
class BlobPage:
    """A page of a listing and the marker of the next page (None after the last)."""

    blobs: list[BlobListing]
    next_marker: str | None


def iter_blobs(vault_blobs: VaultBlobs, prefix: str) -> Iterator[BlobListing]:
    """Every blob whose name starts with prefix, across pages."""
    marker: str | None = None
    while True:
        page = vault_blobs.list_page(prefix, marker)
        yield from page.blobs
        if not page.next_marker:
            return
        marker = page.next_marker


@dataclass(frozen=True)
class BackupSession:
    """A backup session opened by the service: the recovery point id, a SAS, the key and condemned packs."""

    session_id: str
    recovery_point_id: str
    container_url: str
    sas: str
    expires_at: str
    key_id: str | None
    condemned_packs: frozenset[str]


@dataclass(frozen=True)
class RestoreSession:
    """A read-only session on the primary or the paired region for one recovery point."""

    session_id: str
    container_url: str
    sas: str
    expires_at: str
    key_id: str | None
    recovery_point: dict[str, Any]


@dataclass(frozen=True)
class Registration:
    """What registering a machine returns: who it is and its token."""

    instance_id: str
    vault_id: str
    vault_name: str
    token: str


class ServiceApi(Protocol):
    """The calls of the HTTP API that the machine makes (docs/design.md)."""

    def register(self, registration_key: str, name: str) -> Registration: ...

    def open_backup_session(self) -> BackupSession: ...

    def set_vault_key(self, key_id: str, previous_key_id: str | None, key_proof: str) -> None:
        """Raises ServiceError with status 409 if the vault's key is not previous_key_id any more,
        403 if key_proof (keys.key_proof) is not that of the vault's master keys."""

    def commit(self, session_id: str, commit_blob: str) -> None: ...

    def abandon_backup_session(self, session_id: str) -> None:
        """Ends a session that will not commit, so it stops counting against the machine's limit."""

    def get_recovery_point(self, recovery_point_id: str) -> dict[str, Any]: ...

    def list_recovery_points(self, instance_id: str | None, state: str, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Newest first, across every page."""

    def open_restore_session(self, recovery_point_id: str, from_secondary: bool) -> RestoreSession: ...

    def complete_restore(self, session_id: str, restored_bytes: int) -> None: ...
