"""Lays sealed chunks end to end with their trailer index into one pack blob named by its SHA-256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shared.formats.pack_index import ChunkKind, PackEntry, serialize_trailer

DEFAULT_PACK_SIZE = 16 << 20


def pack_blob_name(pack_sha256_hex: str) -> str:
    return f"packs/{pack_sha256_hex}"


@dataclass(frozen=True)
class FinishedPack:
    """The bytes of a pack ready for upload, its blob name and its index entries."""

    name: str
    pack_bytes: bytes
    entries: list[PackEntry]


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
    """Sealed chunks taken from a builder; finishing them (join, hash) can run on another thread."""

    parts: list[bytes]
    entries: list[PackEntry]

    def finish(self) -> FinishedPack:
        pack_bytes = b"".join([*self.parts, serialize_trailer(self.entries)])
        self.parts.clear()  # the draft outlives this call (the executor holds it): keep one copy only
        return FinishedPack(pack_blob_name(hashlib.sha256(pack_bytes).hexdigest()), pack_bytes, self.entries)
