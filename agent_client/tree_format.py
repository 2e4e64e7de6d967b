"""Encodes a recovery point's tree as one stream of entries in path order, and decodes it.

Stream: ``b"BKTREE01"`` then records ``length(u32 LE) | header | path | link_target |
hardlink_to | segments``. Entries are in strictly increasing order of their path split at
``/`` (depth first, names compared as bytes, a directory before its contents), so two trees
can be merged in one pass with bounded memory. A file's content is a list of 36-byte segments
``chunk_id(32) | length(u32 LE)``; an all-zero chunk id is a hole of that many zero bytes.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

STREAM_MAGIC = b"BKTREE01"
_LENGTH = struct.Struct("<I")
# kind, mode, uid, gid, mtime_ns, ctime_ns, inode, device, nlink, size,
# path length, link target length, hardlink_to length, segment count
_HEADER = struct.Struct("<BIIIqqQQIQIIII")
SEGMENT = struct.Struct("<32sI")
HOLE_ID = bytes(32)
MAX_SEGMENT_LENGTH = (1 << 32) - 1
_MAX_RECORD = 1 << 30


class EntryKind(enum.IntEnum):
    FILE = 1
    DIR = 2
    SYMLINK = 3
    FIFO = 4


class TreeFormatError(ValueError):
    """The tree stream is malformed or out of order."""


def path_key(path: bytes) -> tuple[bytes, ...]:
    """The sort key of a tree path: its components, compared as bytes."""
    return tuple(path.split(b"/"))


@dataclass(slots=True)
class TreeEntry:
    """One path of a recovery point with its metadata and, for files, its content segments.

    ctime_ns, inode and device are what the next backup compares to decide that a file is
    unchanged; restore ignores them. hardlink_to names the group's first path; the entry still
    carries the segments so it can be restored alone.
    """

    path: bytes
    kind: EntryKind
    mode: int = 0
    uid: int = 0
    gid: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0
    inode: int = 0
    device: int = 0
    nlink: int = 1
    size: int = 0
    link_target: bytes = b""
    hardlink_to: bytes = b""
    segments: bytes = b""

    @property
    def key(self) -> tuple[bytes, ...]:
        return path_key(self.path)

    def iter_segments(self) -> Iterator[tuple[bytes, int]]:
        return SEGMENT.iter_unpack(self.segments)

    def chunk_ids(self) -> Iterator[bytes]:
        return (chunk_id for chunk_id, _ in self.iter_segments() if chunk_id != HOLE_ID)


def hole_segments(length: int) -> bytes:
    out = bytearray()
    while length > 0:
        piece = min(length, MAX_SEGMENT_LENGTH)
        out += SEGMENT.pack(HOLE_ID, piece)
        length -= piece
    return bytes(out)


def encode_entry(entry: TreeEntry) -> bytes:
    if len(entry.segments) % SEGMENT.size:
        raise TreeFormatError("segments must be whole 36-byte records")
    header = _HEADER.pack(
        entry.kind, entry.mode, entry.uid, entry.gid, entry.mtime_ns, entry.ctime_ns, entry.inode,
        entry.device, entry.nlink, entry.size, len(entry.path), len(entry.link_target),
        len(entry.hardlink_to), len(entry.segments) // SEGMENT.size,
    )
    body = b"".join((header, entry.path, entry.link_target, entry.hardlink_to, entry.segments))
    return _LENGTH.pack(len(body)) + body


def decode_entry(body: memoryview) -> TreeEntry:
    if len(body) < _HEADER.size:
        raise TreeFormatError("a tree record is shorter than its header")
    (kind, mode, uid, gid, mtime_ns, ctime_ns, inode, device, nlink, size,
     path_length, link_length, hardlink_length, segment_count) = _HEADER.unpack_from(body)
    lengths = (path_length, link_length, hardlink_length, segment_count * SEGMENT.size)
    if _HEADER.size + sum(lengths) != len(body):
        raise TreeFormatError("a tree record's lengths do not add up")
    fields, position = [], _HEADER.size
    for length in lengths:
        fields.append(bytes(body[position : position + length]))
        position += length
    path, link_target, hardlink_to, segments = fields
    try:
        entry_kind = EntryKind(kind)
    except ValueError:
        raise TreeFormatError(f"unknown tree entry kind {kind}") from None
    entry = TreeEntry(path, entry_kind, mode, uid, gid, mtime_ns, ctime_ns, inode, device, nlink, size,
                      link_target, hardlink_to, segments)
    if entry_kind == EntryKind.FILE and sum(length for _, length in entry.iter_segments()) != size:
        raise TreeFormatError("a file's segments do not add up to its size")
    return entry


class TreeStreamWriter:
    """Encodes entries in order into a byte stream handed to `sink` piece by piece."""

    def __init__(self, sink) -> None:
        self._sink = sink
        self._last_key: tuple[bytes, ...] | None = None
        self.entry_count = 0
        self.stream_length = len(STREAM_MAGIC)
        sink(STREAM_MAGIC)

    def add(self, entry: TreeEntry) -> None:
        key = entry.key
        if self._last_key is not None and key <= self._last_key:
            raise TreeFormatError(f"tree entries out of order at {entry.path!r}")
        self._last_key = key
        record = encode_entry(entry)
        self.entry_count += 1
        self.stream_length += len(record)
        self._sink(record)


def iter_entries(pieces: Iterable[bytes]) -> Iterator[TreeEntry]:
    """Decodes a tree stream given as consecutive pieces (its chunks), checking the order."""
    pending = bytearray()
    position = 0
    magic_seen = False
    last_key: tuple[bytes, ...] | None = None
    for piece in pieces:
        pending += piece
        if not magic_seen:
            if len(pending) < len(STREAM_MAGIC):
                continue
            if pending[: len(STREAM_MAGIC)] != STREAM_MAGIC:
                raise TreeFormatError("the tree stream does not start with its magic")
            position, magic_seen = len(STREAM_MAGIC), True
        view = memoryview(pending)
        while len(pending) - position >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(view, position)
            if length > _MAX_RECORD:
                raise TreeFormatError("a tree record is impossibly long")
            end = position + _LENGTH.size + length
            if end > len(pending):
                break
            entry = decode_entry(view[position + _LENGTH.size : end])
            key = entry.key
            if last_key is not None and key <= last_key:
                raise TreeFormatError(f"tree entries out of order at {entry.path!r}")
            last_key = key
            position = end
            yield entry
        view.release()
        del pending[:position]
        position = 0
    if not magic_seen or pending:
        raise TreeFormatError("the tree stream ends in the middle of a record")
