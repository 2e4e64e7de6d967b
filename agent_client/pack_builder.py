"""Lays sealed chunks end to end with their trailer index into one pack blob named by its SHA-256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shared.formats.blob_names import pack_name
from shared.formats.pack_index import ChunkKind, PackEntry, serialize_trailer

DEFAULT_PACK_SIZE = 16 << 20


@dataclass(frozen=True)
class FinishedPack:
    """A pack ready for upload: its blob name, its bytes as consecutive parts, and its index entries.

    The parts are never joined: the upload sends them one after the other, so a pack costs its
    size in memory once, not twice.
    """

    name: str
    parts: list[bytes]
    size: int
    entries: list[PackEntry]

    @property
    def pack_bytes(self) -> bytes:
        return b"".join(self.parts)


class PackBuilder:
    """Accumulates sealed chunks until the pack reaches its target size."""

    def __init__(self, target_size: int = DEFAULT_PACK_SIZE) -> None:
        self.target_size = target_size
        self._parts: list[bytes] = []
        self._entries: list[PackEntry] = []
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def is_full(self) -> bool:
        return self._size >= self.target_size

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, chunk_id: bytes, kind: ChunkKind, sealed: bytes) -> None:
        self._entries.append(PackEntry(chunk_id, kind, self._size, len(sealed)))
        self._parts.append(sealed)
        self._size += len(sealed)

    def take(self) -> PackDraft:
        """Hands over what was added and leaves the builder empty."""
        draft = PackDraft(self._parts, self._entries)
        self._parts, self._entries, self._size = [], [], 0
        return draft


@dataclass(frozen=True)
class PackDraft:
    """Sealed chunks taken from a builder; finishing them (trailer, hash) can run on another thread."""

    parts: list[bytes]
    entries: list[PackEntry]

    def finish(self) -> FinishedPack:
        parts = [*self.parts, serialize_trailer(self.entries)]
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part)
        return FinishedPack(pack_name(digest.hexdigest()), parts, sum(map(len, parts)), self.entries)
