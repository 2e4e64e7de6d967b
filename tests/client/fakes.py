"""In-memory fakes of the client's ports: a create-only blob container and a small catalog service."""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import datetime, timezone

from agent_client.errors import BlobConflictError, BlobNotFoundError, NotFoundError, ServiceError
from agent_client.ports import BackupSession, BlobListing, BlobPage, Registration, RestoreSession
from shared.formats import blob_names
from shared.formats.commit_manifest import CommitManifest
from shared.formats.pack_index import parse_trailer


class MemoryBlobs:
    """A vault container in memory with the SAS's rules: create-only, read, list (small pages)."""

    def __init__(self, page_size: int = 3) -> None:
        self.blobs: dict[str, bytes] = {}
        self.blob_types: dict[str, str] = {}  # blobs planted as another kind than BlockBlob
        self.page_size = page_size
        self.put_count = 0
        self.range_reads = 0
        self.bytes_read = 0
        self._lock = threading.Lock()

    def put_new(self, name: str, data: bytes | list[bytes]) -> bool:
        joined = bytes(data) if isinstance(data, bytes) else b"".join(data)
        with self._lock:
            if name in self.blobs:
                if self.blobs[name] != joined or name in self.blob_types:
                    raise BlobConflictError(name)
                return False
            self.blobs[name] = joined
            self.put_count += 1
            return True

    def plant(self, name: str, data: bytes, blob_type: str = "BlockBlob") -> None:
        """A blob another writer created (a hostile vault-mate), of any kind."""
        self.blobs[name] = data
        if blob_type != "BlockBlob":
            self.blob_types[name] = blob_type

    def get(self, name: str) -> bytes:
        with self._lock:
            if name not in self.blobs:
                raise BlobNotFoundError(name)
            self.bytes_read += len(self.blobs[name])
            return self.blobs[name]

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        with self._lock:
            if name not in self.blobs:
                raise BlobNotFoundError(name)
            self.range_reads += 1
            data = self.blobs[name][offset : offset + length]
            self.bytes_read += len(data)
            return data

    def list_page(self, prefix: str, marker: str | None) -> BlobPage:
        with self._lock:
            names = sorted(name for name in self.blobs if name.startswith(prefix) and (marker is None or name >= marker))
            page = names[: self.page_size]
            next_marker = names[self.page_size] if len(names) > self.page_size else None
            return BlobPage([BlobListing(name, len(self.blobs[name]), self.blob_types.get(name, "BlockBlob"))
                             for name in page], next_marker)

    def flip_byte(self, name: str, position: int) -> None:
        data = bytearray(self.blobs[name])
        data[position] ^= 0x55
        self.blobs[name] = bytes(data)


class FakeService:
    """The service API of docs/design.md, enough of it for the client: sessions, keys, a catalog."""

    def __init__(self, vault_blobs: MemoryBlobs | None = None) -> None:
        self.vault_blobs = vault_blobs or MemoryBlobs()
        self.vault_id = uuid.uuid4().hex
        self.key_id: str | None = None
        self.key_proof: str | None = None
        self.abandoned: list[str] = []
        self.condemned_packs: set[str] = set()
        self.recovery_points: dict[str, dict] = {}
        self.sessions: dict[str, str] = {}
        self.restores_completed: list[int] = []
        self.instance_id = uuid.uuid4().hex
        self.reject_reason: str | None = None

    def make_blobs(self, container_url: str, sas: str) -> MemoryBlobs:
        assert container_url.endswith(self.vault_id) and sas == "sig=fake"
        return self.vault_blobs

    def api_for(self, instance_id: str) -> FakeApi:
        return FakeApi(self, instance_id)


class FakeApi:
    """The calls one machine makes, as the instance `instance_id`."""

    def __init__(self, service: FakeService, instance_id: str) -> None:
        self.service = service
        self.instance_id = instance_id

    def register(self, registration_key: str, name: str) -> Registration:
        return Registration(uuid.uuid4().hex, self.service.vault_id, "vault", "bki_token")

    def open_backup_session(self) -> BackupSession:
        session_id = uuid.uuid4().hex
        self.service.sessions[session_id] = self.instance_id
        return BackupSession(session_id, session_id, f"http://fake/vault-{self.service.vault_id}", "sig=fake",
                             "", self.service.key_id, frozenset(self.service.condemned_packs))

    def set_vault_key(self, key_id: str, previous_key_id: str | None, key_proof: str) -> None:
        if self.service.key_id != previous_key_id:
            raise ServiceError("the vault key changed", 409)
        if self.service.key_proof not in (None, key_proof):
            raise ServiceError("the key proof does not match the vault's keys", 403)
        self.service.key_id, self.service.key_proof = key_id, key_proof

    def abandon_backup_session(self, session_id: str) -> None:
        self.service.abandoned.append(session_id)

    def commit(self, session_id: str, commit_blob: str) -> None:
        service = self.service
        raw = service.vault_blobs.get(commit_blob)
        manifest = CommitManifest.from_json_bytes(raw)
        state, reason = "committed", service.reject_reason
        if commit_blob != blob_names.commit_name(session_id, hashlib.sha256(raw).hexdigest()):
            state, reason = "rejected", "the manifest does not match its digest"
        snapshot = service.vault_blobs.blobs.get(manifest.snapshot.name, b"")
        if hashlib.sha256(snapshot).hexdigest() != manifest.snapshot.sha256:
            state, reason = "rejected", "the snapshot does not match its digest"
        for pack in manifest.packs:
            data = service.vault_blobs.blobs.get(pack.name)
            if data is None or len(data) != pack.size or len(parse_trailer(data, len(data))) != pack.chunks:
                state, reason = "rejected", f"pack {pack.name} does not match"
        if len(service.vault_blobs.blobs.get(manifest.snapshot.name, b"")) != manifest.snapshot.size:
            state, reason = "rejected", "snapshot missing"
        if reason:
            state = "rejected"
        service.recovery_points[manifest.recovery_point_id] = {
            "id": manifest.recovery_point_id, "instance_id": manifest.instance_id, "instance_name": "machine",
            "state": state, "created": datetime.now(timezone.utc).isoformat(), "files": manifest.summary.files,
            "bytes": manifest.summary.bytes, "summary": manifest.summary.model_dump(), "key_id": manifest.key_id,
            "packs": [pack.name for pack in manifest.packs], "rejected_reason": reason,
            "snapshot": manifest.snapshot.model_dump(), "commit_blob": commit_blob,
        }

    def get_recovery_point(self, recovery_point_id: str) -> dict:
        if recovery_point_id not in self.service.recovery_points:
            raise NotFoundError(f"recovery point {recovery_point_id} does not exist", 404)
        return dict(self.service.recovery_points[recovery_point_id])

    def list_recovery_points(self, instance_id, state, limit=None):
        items = [rp for rp in reversed(list(self.service.recovery_points.values()))
                 if rp["state"] == state and (instance_id is None or rp["instance_id"] == instance_id)]
        return iter(items[:limit] if limit else items)

    def open_restore_session(self, recovery_point_id: str, from_secondary: bool) -> RestoreSession:
        recovery_point = self.get_recovery_point(recovery_point_id)
        return RestoreSession(uuid.uuid4().hex, f"http://fake/vault-{self.service.vault_id}", "sig=fake", "",
                              self.service.key_id, recovery_point)

    def complete_restore(self, session_id: str, restored_bytes: int) -> None:
        self.service.restores_completed.append(restored_bytes)
