"""Finishes a backup in the contract's write order: snapshot, commit manifest, commit call, then the catalog's verdict.

The manifest is named by its own SHA-256 (`commits/<recovery_point_id>.<sha256>`) and names the
snapshot's: a vault-mate who sees the snapshot appear cannot plant a manifest the commit would
take for ours, and the catalog checks both digests.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from agent_client.errors import BackupError, NotFoundError, ServiceError
from agent_client.keys import MasterKeys
from agent_client.ports import BackupSession, BlobListing, ServiceApi, VaultBlobs
from agent_client.snapshot_doc import SnapshotDocument, seal_snapshot
from shared.formats import blob_names
from shared.formats.commit_manifest import CommitManifest, CommitSummary, PackRef, SnapshotRef

DEFAULT_COMMIT_TIMEOUT = 300.0


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


@dataclass(frozen=True)
class WrittenPoint:
    """The recovery point's blobs as uploaded: the manifest's name (with its digest) and the bytes written."""

    commit_blob: str
    bytes_written: int


def write_recovery_point(vault_blobs: VaultBlobs, master_keys: MasterKeys, key_id: str, session: BackupSession,
                         document: SnapshotDocument, packs: list[tuple[BlobListing, int]],
                         summary: CommitSummary) -> WrittenPoint:
    """Uploads the snapshot, then the manifest naming it and every pack.

    Both uploads are create-only: a name already taken with other bytes raises BlobConflictError.
    """
    snapshot_bytes = seal_snapshot(document, master_keys)
    snapshot_name = blob_names.snapshot_name(session.recovery_point_id)
    vault_blobs.put_new(snapshot_name, snapshot_bytes)
    manifest = CommitManifest(
        recovery_point_id=session.recovery_point_id, instance_id=document.instance_id,
        client_time=datetime.fromisoformat(document.client_time),
        snapshot=SnapshotRef(name=snapshot_name, size=len(snapshot_bytes), sha256=hashlib.sha256(snapshot_bytes).hexdigest()),
        packs=[PackRef(name=pack.name, size=pack.size, chunks=count) for pack, count in sorted(packs, key=lambda p: p[0].name)],
        key_id=key_id, summary=summary,
    )
    manifest_bytes = manifest.to_json_bytes()
    commit_blob = blob_names.commit_name(session.recovery_point_id, hashlib.sha256(manifest_bytes).hexdigest())
    vault_blobs.put_new(commit_blob, manifest_bytes)
    return WrittenPoint(commit_blob, len(snapshot_bytes) + len(manifest_bytes))


def commit_and_wait(api: ServiceApi, session: BackupSession, commit_blob: str, timeout: float = DEFAULT_COMMIT_TIMEOUT,
                    sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> dict:
    """Asks the service to catalog the recovery point and polls until it is committed or rejected."""
    api.commit(session.session_id, commit_blob)
    deadline = clock() + timeout
    delay = 0.1
    while True:
        try:
            recovery_point = api.get_recovery_point(session.recovery_point_id)
        except NotFoundError:
            recovery_point = {"state": "pending"}
        except ServiceError as exc:
            if exc.status < 500:
                raise
            recovery_point = {"state": "pending"}
        state = recovery_point.get("state")
        if state == "committed":
            return recovery_point
        if state == "rejected":
            reason = recovery_point.get("rejected_reason") or "no reason given"
            raise ServiceError(f"the service rejected recovery point {session.recovery_point_id}: {reason}")
        if clock() >= deadline:
            raise BackupError(
                f"recovery point {session.recovery_point_id} was uploaded but not cataloged within {timeout:.0f} s; "
                "check `backup-agent list` later or run the backup again"
            )
        sleep(delay)
        delay = min(delay * 1.5, 0.25)
