"""Builds the commit manifests a client writes, for tests that upload recovery points without the client."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from shared.formats import blob_names
from shared.formats.commit_manifest import CommitManifest

SUMMARY = {"files": 1, "dirs": 0, "bytes": 5, "files_new": 1, "files_changed": 0, "files_unchanged": 0,
           "bytes_read": 5, "bytes_uploaded": 5, "partial": False}


def point_manifest(rp_id: str, instance_id: str, snapshot: bytes, packs: list[dict], key_id: str,
                   client_time: datetime | None = None, summary: dict | None = None) -> CommitManifest:
    """A version 2 manifest naming `snapshot` (its bytes: the digest is taken here) and `packs`
    (`{name, size, chunks}`, in any order)."""
    return CommitManifest(
        recovery_point_id=rp_id, instance_id=instance_id, client_time=client_time or datetime.now(timezone.utc),
        snapshot={"name": blob_names.snapshot_name(rp_id), "size": len(snapshot),
                  "sha256": hashlib.sha256(snapshot).hexdigest()},
        packs=sorted(packs, key=lambda pack: pack["name"]), key_id=key_id, summary=summary or SUMMARY,
    )


def manifest_blob(manifest: CommitManifest) -> tuple[str, bytes]:
    """The manifest's blob name (named by its digest) and bytes."""
    raw = manifest.to_json_bytes()
    return blob_names.commit_name(manifest.recovery_point_id, hashlib.sha256(raw).hexdigest()), raw
