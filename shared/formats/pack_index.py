"""Serializes and parses a pack's trailer index, the part of a pack readable without keys.

A pack is ``blob_0 … blob_{n-1} | index | footer``: the blobs are sealed chunks laid end to end
from offset 0, the index holds one fixed-size entry per blob in the same order, and the footer
(``FOOTER_SIZE`` bytes, at the very end) says how long the index is and carries its SHA-256, so a
reader needs one ranged read of the pack's tail. docs/storage-format.md is the byte-level spec.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

MAGIC = b"BKPACK\x00\x01"
# index sha256, entry count, index length in bytes, magic
_FOOTER = struct.Struct("<32sII8s")
# chunk id, chunk kind, offset of the sealed blob in the pack, length of the sealed blob
_ENTRY = struct.Struct("<32sBQI")
FOOTER_SIZE = _FOOTER.size
ENTRY_SIZE = _ENTRY.size
CHUNK_ID_SIZE = 32
# A sealed blob is at least a nonce, one encrypted header byte and an AEAD tag.
MIN_SEALED_LENGTH = 12 + 1 + 16


class ChunkKind(enum.IntEnum):
    """What a chunk holds: file content or a piece of a snapshot's tree stream."""

    DATA = 1
    TREE = 2


class PackFormatError(ValueError):
    """The bytes are not a well-formed pack trailer."""


@dataclass(frozen=True, slots=True)
class PackEntry:
    """One sealed chunk inside a pack: its id, kind and byte range."""

    chunk_id: bytes
    kind: ChunkKind
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class PackFooter:
    """The fixed-size end of a pack: where the index starts and how to check it."""

    index_sha256: bytes
    entry_count: int
    index_length: int

    @property
    def trailer_length(self) -> int:
        return self.index_length + FOOTER_SIZE


def serialize_trailer(entries: Iterable[PackEntry]) -> bytes:
    """Returns index + footer for entries laid out contiguously from offset 0."""
    index = bytearray()
    expected_offset = 0
    count = 0
    for entry in entries:
        _check_entry(entry, expected_offset)
        index += _ENTRY.pack(entry.chunk_id, entry.kind, entry.offset, entry.length)
        expected_offset += entry.length
        count += 1
    footer = _FOOTER.pack(hashlib.sha256(index).digest(), count, len(index), MAGIC)
    return bytes(index) + footer


def parse_footer(footer: bytes) -> PackFooter:
    """Parses the last FOOTER_SIZE bytes of a pack."""
    if len(footer) != FOOTER_SIZE:
        raise PackFormatError(f"a pack footer is {FOOTER_SIZE} bytes, got {len(footer)}")
    index_sha256, count, index_length, magic = _FOOTER.unpack(footer)
    if magic != MAGIC:
        raise PackFormatError("the pack footer has no pack magic")
    if index_length != count * ENTRY_SIZE:
        raise PackFormatError("the pack footer's index length does not match its entry count")
    return PackFooter(index_sha256, count, index_length)


def parse_index(index: bytes, footer: PackFooter, pack_size: int) -> list[PackEntry]:
    """Parses and checks the index bytes against the footer and the pack's total size."""
    if len(index) != footer.index_length:
        raise PackFormatError("the pack index has the wrong length")
    if hashlib.sha256(index).digest() != footer.index_sha256:
        raise PackFormatError("the pack index does not match its checksum")
    entries: list[PackEntry] = []
    expected_offset = 0
    for chunk_id, kind, offset, length in _ENTRY.iter_unpack(index):
        try:
            entry = PackEntry(chunk_id, ChunkKind(kind), offset, length)
        except ValueError:
            raise PackFormatError(f"unknown chunk kind {kind} in the pack index") from None
        _check_entry(entry, expected_offset)
        entries.append(entry)
        expected_offset += length
    if expected_offset + footer.trailer_length != pack_size:
        raise PackFormatError("the pack index does not cover the pack exactly")
    return entries


def parse_trailer(tail: bytes, pack_size: int) -> list[PackEntry]:
    """Parses the index from the last bytes of a pack (at least the whole trailer)."""
    if len(tail) < FOOTER_SIZE or len(tail) > pack_size:
        raise PackFormatError("the pack tail is shorter than a footer or longer than the pack")
    footer = parse_footer(tail[-FOOTER_SIZE:])
    if footer.trailer_length > len(tail):
        raise PackFormatError("the pack tail does not hold the whole index")
    return parse_index(tail[len(tail) - footer.trailer_length : -FOOTER_SIZE], footer, pack_size)


def _check_entry(entry: PackEntry, expected_offset: int) -> None:
    if len(entry.chunk_id) != CHUNK_ID_SIZE:
        raise PackFormatError("a chunk id is 32 bytes")
    if entry.offset != expected_offset:
        raise PackFormatError("pack entries must be contiguous and in offset order")
    if not MIN_SEALED_LENGTH <= entry.length < 1 << 32:
        raise PackFormatError(f"a sealed chunk of {entry.length} bytes is impossible")
