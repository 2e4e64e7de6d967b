"""Finishes a backup in the contract's write order: snapshot, commit manifest, commit call, then the catalog's verdict."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

from agent_client.errors import BackupError, NotFoundError, ServiceError
from agent_client.keys import MasterKeys
from agent_client.ports import BackupSession, BlobListing, ServiceApi, VaultBlobs
from agent_client.snapshot_doc import SnapshotDocument, seal_snapshot, snapshot_blob_name
from shared.formats.commit_manifest import CommitManifest, CommitSummary, PackRef, SnapshotRef

DEFAULT_COMMIT_TIMEOUT = 300.0


def commit_blob_name(recovery_point_id: str) -> str:
    return f"commits/{recovery_point_id}"


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def write_recovery_point(vault_blobs: VaultBlobs, master_keys: MasterKeys, key_id: str, session: BackupSession,
                         document: SnapshotDocument, packs: list[tuple[BlobListing, int]],
                         summary: CommitSummary) -> int:
    """Uploads the snapshot, then the manifest naming it and every pack; returns the bytes written."""
    snapshot_bytes = seal_snapshot(document, master_keys)
    snapshot_name = snapshot_blob_name(session.recovery_point_id)
    vault_blobs.put_new(snapshot_name, snapshot_bytes)
    manifest = CommitManifest(
        recovery_point_id=session.recovery_point_id, instance_id=document.instance_id,
        client_time=datetime.fromisoformat(document.client_time),
        snapshot=SnapshotRef(name=snapshot_name, size=len(snapshot_bytes)),
        packs=[PackRef(name=pack.name, size=pack.size, chunks=count) for pack, count in sorted(packs, key=lambda p: p[0].name)],
        key_id=key_id, summary=summary,
    )
    manifest_bytes = manifest.to_json_bytes()
    vault_blobs.put_new(commit_blob_name(session.recovery_point_id), manifest_bytes)
    return len(snapshot_bytes) + len(manifest_bytes)


def commit_and_wait(api: ServiceApi, session: BackupSession, timeout: float = DEFAULT_COMMIT_TIMEOUT,
                    sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> dict:
    """Asks the service to catalog the recovery point and polls until it is committed or rejected."""
    api.commit(session.session_id, commit_blob_name(session.recovery_point_id))
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
