"""Validates a commit manifest against the blobs it names: sizes, and the pack indexes' chunk counts."""

from __future__ import annotations

from pydantic import ValidationError

from shared.errors import CommitRejected, NotFound
from shared.formats import pack_index
from shared.formats.commit_manifest import CommitManifest, PackRef

MAX_MANIFEST_BYTES = 64 << 20
# One ranged read of this much of a pack's end holds the whole trailer of any usual pack.
TAIL_GUESS = 64 << 10


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


def check_snapshot(rt, container: str, manifest: CommitManifest) -> None:
    snapshot_size = rt.primary_blobs.blob_size(container, manifest.snapshot.name)
    if snapshot_size != manifest.snapshot.size:
        raise CommitRejected(f"{manifest.snapshot.name} is missing or not {manifest.snapshot.size} bytes")


def check_pack_size(rt, container: str, pack: PackRef):
    """The pack's blob exists with the declared size; returns its properties (`size`, `etag`)."""
    properties = rt.primary_blobs.blob_properties(container, pack.name)
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
