"""Validates a commit manifest against the blobs it names: digests, blob types, sizes and the pack indexes' chunk counts."""

from __future__ import annotations

import hashlib

from pydantic import ValidationError

from shared.errors import CommitRejected, NotFound
from shared.formats import blob_names, pack_index
from shared.formats.commit_manifest import CommitManifest, PackRef

MAX_MANIFEST_BYTES = 64 << 20
# One ranged read of this much of a pack's end holds the whole trailer of any usual pack.
TAIL_GUESS = 64 << 10


def load_manifest(rt, container: str, commit_blob: str) -> CommitManifest:
    """The manifest the commit names, checked against the digest in its name.

    The digest is what the committing machine computed from the manifest it wrote, so a blob
    planted under the name by anyone else cannot be cataloged as this machine's point.
    """
    name = blob_names.parse_commit(commit_blob)
    if name is None or name.sha256 is None:
        raise CommitRejected("the commit names no manifest digest; update backup-agent and run the backup again")
    properties = _block_blob(rt, container, commit_blob)
    if properties is None:
        raise CommitRejected(f"{commit_blob} does not exist")
    if properties.size > MAX_MANIFEST_BYTES:
        raise CommitRejected(f"{commit_blob} is larger than {MAX_MANIFEST_BYTES} bytes")
    raw = _read(rt, container, commit_blob)
    if hashlib.sha256(raw).hexdigest() != name.sha256:
        raise CommitRejected(f"{commit_blob} does not match the digest the commit names")
    try:
        manifest = CommitManifest.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CommitRejected(f"invalid commit manifest: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    if manifest.version < 2:
        raise CommitRejected("the commit manifest is of version 1, which names no snapshot digest; update backup-agent")
    return manifest


def check_snapshot(rt, container: str, manifest: CommitManifest) -> None:
    """The snapshot blob is a block blob of the declared size and SHA-256."""
    snapshot = manifest.snapshot
    properties = _block_blob(rt, container, snapshot.name)
    if properties is None or properties.size != snapshot.size:
        raise CommitRejected(f"{snapshot.name} is missing or not {snapshot.size} bytes")
    if hashlib.sha256(_read(rt, container, snapshot.name)).hexdigest() != snapshot.sha256:
        raise CommitRejected(f"{snapshot.name} does not match the digest its manifest names")


def _block_blob(rt, container: str, name: str):
    """The blob's properties; None if it is missing; CommitRejected if it is not a block blob."""
    properties = rt.primary_blobs.blob_properties(container, name)
    if properties is not None and properties.blob_type != blob_names.BLOCK_BLOB:
        raise CommitRejected(f"{name} is a {properties.blob_type}, not a block blob")
    return properties


def _read(rt, container: str, name: str) -> bytes:
    try:
        return rt.primary_blobs.read(container, name)
    except NotFound as exc:
        raise CommitRejected(f"{name} disappeared during validation") from exc


def check_pack_size(rt, container: str, pack: PackRef):
    """The pack's blob exists with the declared size; returns its properties (`size`, `etag`)."""
    properties = _block_blob(rt, container, pack.name)
    if properties is None or properties.size != pack.size:
        raise CommitRejected(f"{pack.name} is missing or not {pack.size} bytes")
    return properties


def check_pack(rt, container: str, pack: PackRef, checked: dict | None = None):
    """The pack exists with the declared size, and its index holds the declared number of chunks.

    `checked` is what an earlier commit recorded (`{"etag", "chunks"}`): if the blob still has
    that ETag (unchanged since) and the same chunk count is declared, the index is not read
    again. Returns the blob's properties (`size`, `etag`).
    """
    properties = check_pack_size(rt, container, pack)
    if checked == {"etag": properties.etag, "chunks": pack.chunks}:
        return properties
    entries = read_pack_entries(rt, container, pack.name, properties.size)
    if len(entries) != pack.chunks:
        raise CommitRejected(f"{pack.name} holds {len(entries)} chunks, the commit declares {pack.chunks}")
    return properties


def read_pack_entries(rt, container: str, name: str, size: int) -> list[pack_index.PackEntry]:
    """The pack's index, read without keys: the footer, then exactly the trailer it announces."""
    try:
        if size < pack_index.FOOTER_SIZE:
            raise pack_index.PackFormatError("the pack is shorter than its footer")
        tail = rt.primary_blobs.read(container, name, max(0, size - TAIL_GUESS))
        footer = pack_index.parse_footer(tail[-pack_index.FOOTER_SIZE:])
        if footer.trailer_length > size:
            raise pack_index.PackFormatError("the pack index is longer than the pack")
        if footer.trailer_length > len(tail):
            tail = rt.primary_blobs.read(container, name, size - footer.trailer_length, footer.trailer_length)
        return pack_index.parse_trailer(tail, size)
    except NotFound as exc:
        raise CommitRejected(f"{name} disappeared during validation") from exc
    except pack_index.PackFormatError as exc:
        raise CommitRejected(f"{name} has an unreadable index: {exc}") from exc
