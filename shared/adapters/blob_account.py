"""One storage account's blob service: reads, listings, deletes, copies and container SAS."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, ExponentialRetry, generate_container_sas

from shared.adapters.identity import managed_identity_credential
from shared.adapters.storage_retry import SHORT_RETRY
from shared.errors import Conflict, NotFound, StorageUnavailable
from shared.settings import StorageConnection

log = logging.getLogger(__name__)

_COPY_CHUNK = 8 << 20


def _retry_policy() -> ExponentialRetry:
    return ExponentialRetry(**SHORT_RETRY)


@dataclass(frozen=True)
class BlobListing:
    name: str
    size: int
    last_modified: datetime
    blob_type: str = "BlockBlob"


@dataclass(frozen=True)
class BlobProperties:
    size: int
    etag: str
    blob_type: str = "BlockBlob"


def _type_name(blob_type) -> str:
    """The SDK's BlobType enum (or a plain string from older responses) as "BlockBlob" etc."""
    return str(getattr(blob_type, "value", blob_type) or "BlockBlob")


def _translate(exc: Exception, what: str) -> Exception:
    if isinstance(exc, ResourceNotFoundError):
        return NotFound(f"{what} not found")
    if isinstance(exc, ResourceExistsError):
        return Conflict(f"{what} already exists")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return StorageUnavailable(f"storage is unreachable ({what})")
    if isinstance(exc, HttpResponseError) and (exc.status_code or 0) >= 500:
        return StorageUnavailable(f"storage failed ({what}): HTTP {exc.status_code}")
    return exc


class BlobAccount:
    """Blob operations on one account, by container and blob name."""

    def __init__(self, connection: StorageConnection) -> None:
        if connection.connection_string:
            self._service = BlobServiceClient.from_connection_string(
                connection.connection_string, retry_policy=_retry_policy(), connection_timeout=5
            )
        else:
            self._service = BlobServiceClient(
                connection.blob_service_uri,
                credential=managed_identity_credential(connection.managed_identity_client_id),
                retry_policy=_retry_policy(),
            )
        self._uses_account_key = bool(getattr(self._service.credential, "account_key", None))

    @property
    def account_name(self) -> str:
        return self._service.account_name

    def container_url(self, container: str) -> str:
        return f"{self._service.url.rstrip('/')}/{container}"

    def ensure_container(self, container: str) -> None:
        try:
            self._service.create_container(container)
        except ResourceExistsError:
            return
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"container {container}") from exc

    def blob_size(self, container: str, name: str) -> int | None:
        """The blob's size, or None if it does not exist."""
        properties = self.blob_properties(container, name)
        return None if properties is None else properties.size

    def blob_properties(self, container: str, name: str) -> BlobProperties | None:
        """The blob's size and ETag, or None if it does not exist."""
        try:
            properties = self._service.get_blob_client(container, name).get_blob_properties()
        except ResourceNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"blob {name}") from exc
        return BlobProperties(properties.size, properties.etag, _type_name(properties.blob_type))

    def read(self, container: str, name: str, offset: int = 0, length: int | None = None) -> bytes:
        try:
            downloader = self._service.get_blob_client(container, name).download_blob(
                offset=offset, length=length, max_concurrency=1
            )
            return downloader.readall()
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"blob {name}") from exc

    def read_tail(self, container: str, name: str, length: int) -> bytes:
        size = self.blob_size(container, name)
        if size is None:
            raise NotFound(f"blob {name} not found")
        start = max(0, size - length)
        return self.read(container, name, start, size - start)

    def list_blobs(self, container: str, prefix: str = "") -> Iterator[BlobListing]:
        try:
            for item in self._service.get_container_client(container).list_blobs(name_starts_with=prefix):
                yield BlobListing(item.name, item.size, item.last_modified, _type_name(item.blob_type))
        except ResourceNotFoundError:
            return
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"listing of {container}/{prefix}") from exc

    def delete_blob(self, container: str, name: str) -> None:
        """Deletes the blob (and its snapshots); succeeds if it is already gone."""
        try:
            self._service.get_blob_client(container, name).delete_blob(delete_snapshots="include")
        except ResourceNotFoundError:
            return
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"blob {name}") from exc

    def put_blob(self, container: str, name: str, data: bytes, overwrite: bool = False) -> None:
        try:
            self._service.get_blob_client(container, name).upload_blob(data, overwrite=overwrite)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"blob {name}") from exc

    def sha256(self, container: str, name: str) -> str:
        digest = hashlib.sha256()
        for block in self._chunks(container, name):
            digest.update(block)
        return digest.hexdigest()

    def _chunks(self, container: str, name: str) -> Iterator[bytes]:
        try:
            downloader = self._service.get_blob_client(container, name).download_blob(max_concurrency=1)
            yield from downloader.chunks()
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, f"blob {name}") from exc

    def copy_to(self, container: str, name: str, target: "BlobAccount", expected_sha256: str | None = None) -> str:
        """Copies a blob to the same name in `target`, verifying it; returns its SHA-256.

        A copy `target` already holds is kept if it has `expected_sha256` (known from the name of
        a content-addressed blob: the source is not read then, so a damaged source never replaces
        a good copy), or else the source's SHA-256. Server-side copy from a read SAS where storage
        allows it (Azure); otherwise streamed (the local paired region is a separate Azurite that
        cannot fetch from the primary).
        """
        target.ensure_container(container)
        target_client = target._service.get_blob_client(container, name)
        held_sha = target.sha256(container, name) if target.blob_size(container, name) is not None else None
        if held_sha is not None and held_sha == expected_sha256:
            return held_sha
        source_sha = self.sha256(container, name)
        if held_sha == source_sha:
            return source_sha
        try:
            target_client.upload_blob_from_url(self._read_sas_url(container, name), overwrite=True)
        except Exception:  # noqa: BLE001 - fall back to streaming
            log.debug("server-side copy of %s unavailable; streaming", name)
            try:
                target_client.upload_blob(self._chunks(container, name), overwrite=True, max_concurrency=2)
            except Exception as exc:  # noqa: BLE001
                raise _translate(exc, f"copy of blob {name}") from exc
        copied_sha = target.sha256(container, name)
        if copied_sha != source_sha:
            raise StorageUnavailable(f"copy of blob {name} does not match its source")
        return source_sha

    def _read_sas_url(self, container: str, name: str) -> str:
        sas = self.container_sas(container, ContainerSasPermissions(read=True), timedelta(minutes=30))
        return f"{self.container_url(container)}/{name}?{sas}"

    def container_sas(self, container: str, permission: ContainerSasPermissions, lifetime: timedelta) -> str:
        """A container SAS: account-key signed locally, user-delegation signed with an identity."""
        start = datetime.now(timezone.utc) - timedelta(minutes=5)
        expiry = datetime.now(timezone.utc) + lifetime
        if self._uses_account_key:
            return generate_container_sas(
                self.account_name, container, account_key=self._service.credential.account_key,
                permission=permission, expiry=expiry, start=start,
            )
        delegation_key = self._service.get_user_delegation_key(start, expiry)
        return generate_container_sas(
            self.account_name, container, user_delegation_key=delegation_key,
            permission=permission, expiry=expiry, start=start,
        )


def backup_permissions() -> ContainerSasPermissions:
    """Create and read, never write (overwrite) or delete: clients are append-only."""
    return ContainerSasPermissions(read=True, create=True, list=True)


def restore_permissions() -> ContainerSasPermissions:
    return ContainerSasPermissions(read=True, list=True)
