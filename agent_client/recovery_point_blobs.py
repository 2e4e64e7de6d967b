"""Reads a recovery point's snapshot and manifest under the names and digests the catalog recorded.

Machines of a vault share its key, so a vault-mate could seal a snapshot that authenticates; what
it cannot do is match the digest the catalog checked at commit time. Points made before digests
were recorded are read by name only.
"""

from __future__ import annotations

import hashlib

from agent_client.errors import BlobNotFoundError, IntegrityError
from agent_client.keys import MasterKeys
from agent_client.ports import VaultBlobs
from agent_client.snapshot_doc import SnapshotDocument, open_snapshot
from shared.formats import blob_names
from shared.formats.commit_manifest import CommitManifest


def read_snapshot(vault_blobs: VaultBlobs, recovery_point: dict, master_keys: MasterKeys) -> SnapshotDocument:
    """The point's snapshot, authenticated; IntegrityError naming the blob if it is missing or damaged."""
    recovery_point_id = recovery_point["id"]
    recorded = recovery_point.get("snapshot") or {}
    name = recorded.get("name") or blob_names.snapshot_name(recovery_point_id)
    if blob_names.parse_snapshot(name) != recovery_point_id:
        raise IntegrityError(f"the catalog names {name!r} as the snapshot of recovery point {recovery_point_id}", [name])
    try:
        blob = vault_blobs.get(name)
    except BlobNotFoundError:
        raise IntegrityError(f"the snapshot of recovery point {recovery_point_id} is missing from the vault", [name]) from None
    if recorded.get("sha256") and hashlib.sha256(blob).hexdigest() != recorded["sha256"]:
        raise IntegrityError(f"the snapshot {name} is damaged (it is not the one the catalog recorded); no file of "
                             "this recovery point can be trusted", [name])
    return open_snapshot(blob, master_keys, recovery_point_id)


def read_manifest(vault_blobs: VaultBlobs, recovery_point: dict) -> CommitManifest | None:
    """The point's commit manifest if it is there and matches its digest; None otherwise."""
    name = recovery_point.get("commit_blob") or blob_names.legacy_commit_name(recovery_point["id"])
    parsed = blob_names.parse_commit(name)
    if parsed is None or parsed.recovery_point_id != recovery_point["id"]:
        return None
    try:
        raw = vault_blobs.get(name)
    except BlobNotFoundError:
        return None
    if parsed.sha256 and hashlib.sha256(raw).hexdigest() != parsed.sha256:
        return None
    try:
        return CommitManifest.from_json_bytes(raw)
    except ValueError:
        return None
