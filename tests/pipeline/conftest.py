"""Fixtures for service tests on the local stack: a Runtime with a controllable clock, vaults, packs."""

from __future__ import annotations

import os
import secrets
from datetime import datetime, timedelta, timezone

import pytest

from shared.domain import credentials
from shared.domain.messages import CommitMessage
from shared.formats import pack_index
from shared.runtime import Runtime
from shared.services import instances, sessions, vaults
from shared.services.auth import Principal
from shared.settings import load_settings
from tests.support.manifests import manifest_blob, point_manifest

OPERATOR = Principal("operator")


class Clock:
    """A clock the test moves by hand, so grace periods and soft-delete days pass instantly."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(stack, clock) -> Runtime:
    env = {
        "PRIMARY_STORAGE": stack["PRIMARY_STORAGE_CONNECTION_STRING"],
        "SECONDARY_STORAGE": stack["SECONDARY_STORAGE_CONNECTION_STRING"],
        "COSMOS_ENDPOINT": stack["COSMOS_ENDPOINT"], "COSMOS_KEY": stack["COSMOS_KEY"],
        "GC_GRACE_HOURS": "48", "BACKUP_SESSION_HOURS": "12",
        # Queues of their own, so the stack's functions host does not consume what the tests inspect.
        "COMMIT_QUEUE": "t-commits", "REPLICATION_QUEUE": "t-replication", "METERING_QUEUE": "t-metering",
    }
    rt = Runtime.from_settings(load_settings(env))
    rt.clock = clock
    for queue in ("t-commits", "t-replication", "t-metering"):
        rt.queues.ensure_queue(queue)
    return rt


class VaultFixture:
    """A vault with one registered machine, and helpers that write what a client would upload."""

    def __init__(self, rt: Runtime, redundancy: str = "LRS") -> None:
        self.rt = rt
        created = vaults.create_vault(rt, OPERATOR, vaults.VaultCreate(name=f"t-{secrets.token_hex(6)}", redundancy=redundancy))
        self.vault_id = created["vault_id"]
        self.container = vaults.container_name(self.vault_id)
        registration = Principal("registration", self.vault_id)
        machine = instances.register_instance(rt, registration, instances.InstanceRegister(name="machine"))
        self.instance_id = machine["instance_id"]
        self.machine = Principal("instance", self.vault_id, self.instance_id)
        self.key_id = credentials.new_id()

    @property
    def vault(self) -> dict:
        return self.rt.catalog.vaults.get(self.vault_id, self.vault_id)

    def upload_pack(self, chunks: int = 3) -> dict:
        """A pack with a valid trailer; the sealed chunks are random bytes (the service never decrypts)."""
        entries, body, offset = [], b"", 0
        for _ in range(chunks):
            sealed = secrets.token_bytes(100)
            entries.append(pack_index.PackEntry(secrets.token_bytes(32), next(iter(pack_index.ChunkKind)), offset, len(sealed)))
            body += sealed
            offset += len(sealed)
        data = body + pack_index.serialize_trailer(entries)
        import hashlib

        name = f"packs/{hashlib.sha256(data).hexdigest()}"
        self.rt.primary_blobs.put_blob(self.container, name, data)
        return {"name": name, "size": len(data), "chunks": chunks}

    def backup(self, packs: list[dict], client_time: datetime | None = None, upload_manifest: bool = True) -> CommitMessage:
        """Opens a session, writes snapshot and manifest, and returns the commit message."""
        session = sessions.open_backup_session(self.rt, self.machine)
        rp_id = session["recovery_point_id"]
        snapshot = secrets.token_bytes(64)
        self.rt.primary_blobs.put_blob(self.container, f"snapshots/{rp_id}", snapshot)
        manifest = point_manifest(
            rp_id, self.instance_id, snapshot, packs, self.key_id, client_time or self.rt.clock(),
            summary={"files": 1, "dirs": 0, "bytes": 10, "files_new": 1, "files_changed": 0,
                     "files_unchanged": 0, "bytes_read": 10, "bytes_uploaded": 10, "partial": False},
        )
        commit_blob, raw = manifest_blob(manifest)
        if upload_manifest:
            self.rt.primary_blobs.put_blob(self.container, commit_blob, raw)
        return CommitMessage(
            vault_id=self.vault_id, instance_id=self.instance_id, recovery_point_id=rp_id,
            commit_blob=commit_blob, enqueued_at=self.rt.clock(),
        )


@pytest.fixture
def vault(runtime) -> VaultFixture:
    return VaultFixture(runtime)


@pytest.fixture
def grs_vault(runtime) -> VaultFixture:
    return VaultFixture(runtime, redundancy="GRS")
