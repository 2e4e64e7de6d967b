"""Validates a commit manifest against the blobs it names: sizes, and the pack indexes' chunk counts."""

from __future__ import annotations

from pydantic import ValidationError

from shared.errors import CommitRejected, NotFound
from shared.formats import pack_index
from shared.formats.commit_manifest import CommitManifest

MAX_MANIFEST_BYTES = 64 << 20


def load_manifest(rt, container: str, commit_blob: str) -> CommitManifest:
    size = rt.primary_blobs.blob_size(container, commit_blob)
    if size is None:
        raise CommitRejected(f"{commit_blob} does not exist")
    if size > MAX_MANIFEST_BYTES:
        raise CommitRejected(f"{commit_blob} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        return CommitManifest.model_validate_json(rt.primary_blobs.read(container, commit_blob))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CommitRejected(f"invalid commit manifest: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


def check_blobs(rt, container: str, manifest: CommitManifest) -> None:
    """Every referenced blob exists with the declared size, and each pack's index agrees."""
    snapshot_size = rt.primary_blobs.blob_size(container, manifest.snapshot.name)
    if snapshot_size != manifest.snapshot.size:
        raise CommitRejected(f"{manifest.snapshot.name} is missing or not {manifest.snapshot.size} bytes")
    for pack in manifest.packs:
        size = rt.primary_blobs.blob_size(container, pack.name)
        if size != pack.size:
            raise CommitRejected(f"{pack.name} is missing or not {pack.size} bytes")
        try:
            entries = pack_index.read_index(
                lambda offset, length, name=pack.name: rt.primary_blobs.read(container, name, offset, length), size
            )
        except NotFound as exc:
            raise CommitRejected(f"{pack.name} disappeared during validation") from exc
        except pack_index.PackIndexError as exc:
            raise CommitRejected(f"{pack.name} has an unreadable index: {exc}") from exc
        if len(entries) != pack.chunks:
            raise CommitRejected(f"{pack.name} holds {len(entries)} chunks, the commit declares {pack.chunks}")
