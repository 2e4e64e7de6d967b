"""Knows where each chunk of the vault lives, from the pack trailers (cached locally by pack name)."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from agent_client.errors import BlobNotFoundError
from agent_client.ports import BlobListing, VaultBlobs, iter_blobs
from shared.formats import blob_names
from shared.formats.pack_index import FOOTER_SIZE, ChunkKind, PackEntry, PackFormatError, parse_footer, parse_trailer

_TAIL_GUESS = 64 << 10


@dataclass(frozen=True, slots=True)
class ChunkLocation:
    """Where one sealed chunk is: pack blob name, byte range and kind."""

    pack_name: str
    offset: int
    length: int
    kind: ChunkKind


class TrailerCache:
    """Pack trailers on disk under the vault's cache folder; packs never change, so neither do these."""

    def __init__(self, folder: pathlib.Path | None) -> None:
        self._folder = folder

    def get(self, pack_name: str) -> bytes | None:
        if self._folder is None:
            return None
        try:
            return (self._folder / _file_name(pack_name)).read_bytes()
        except OSError:
            return None

    def put(self, pack_name: str, trailer: bytes) -> None:
        if self._folder is None:
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        final = self._folder / _file_name(pack_name)
        temporary = final.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(trailer)
        os.replace(temporary, final)


def _file_name(pack_name: str) -> str:
    return pack_name.rsplit("/", 1)[-1] + ".trailer"  # a pack's SHA-256: no path, no collision


def read_pack_entries(vault_blobs: VaultBlobs, pack: BlobListing, cache: TrailerCache) -> list[PackEntry]:
    """The index of one pack, from the cache or with one (rarely two) ranged reads of its tail."""
    cached = cache.get(pack.name)
    if cached is not None:
        try:
            return parse_trailer(cached, pack.size)
        except PackFormatError:
            pass
    guess = min(pack.size, _TAIL_GUESS)
    tail = vault_blobs.get_range(pack.name, pack.size - guess, guess)
    if len(tail) < FOOTER_SIZE:
        raise PackFormatError(f"{pack.name} is shorter than a pack footer")
    footer = parse_footer(tail[-FOOTER_SIZE:])
    if footer.trailer_length > len(tail) and footer.trailer_length <= pack.size:
        tail = vault_blobs.get_range(pack.name, pack.size - footer.trailer_length, footer.trailer_length)
    entries = parse_trailer(tail, pack.size)
    cache.put(pack.name, tail[len(tail) - footer.trailer_length :])
    return entries


class ChunkIndex:
    """chunk id -> location, over a set of packs; also remembers each pack's size and entry count.

    A chunk may be in several packs (a backup killed after uploading, then run again): the first
    copy is the one read, the others are kept for when it turns out damaged. Only chunks with more
    than one copy cost a second dict entry, so memory stays one location per chunk in the usual case.
    """

    def __init__(self) -> None:
        self._locations: dict[bytes, ChunkLocation] = {}
        self._other_copies: dict[bytes, list[ChunkLocation]] = {}
        self.packs: dict[str, BlobListing] = {}
        self.pack_chunk_counts: dict[str, int] = {}
        self.unreadable_packs: dict[str, str] = {}

    def __contains__(self, chunk_id: bytes) -> bool:
        return chunk_id in self._locations

    def __len__(self) -> int:
        return len(self._locations)

    def locate(self, chunk_id: bytes) -> ChunkLocation | None:
        return self._locations.get(chunk_id)

    def other_copies(self, chunk_id: bytes) -> list[ChunkLocation]:
        """The chunk's copies in other packs than the one locate() gives, in the order their packs were added."""
        return self._other_copies.get(chunk_id, [])

    def add_pack(self, pack: BlobListing, entries: list[PackEntry]) -> None:
        self.packs[pack.name] = pack
        self.pack_chunk_counts[pack.name] = len(entries)
        for entry in entries:
            location = ChunkLocation(pack.name, entry.offset, entry.length, entry.kind)
            first = self._locations.setdefault(entry.chunk_id, location)
            if first is not location and first.pack_name != pack.name:
                self._other_copies.setdefault(entry.chunk_id, []).append(location)


def load_chunk_index(vault_blobs: VaultBlobs, packs: Iterable[BlobListing], cache: TrailerCache, workers: int = 8) -> ChunkIndex:
    """Reads the trailers of `packs` in parallel; a pack whose trailer is damaged is left out and noted."""
    index = ChunkIndex()

    def read(pack: BlobListing) -> tuple[BlobListing, list[PackEntry] | str]:
        try:
            return pack, read_pack_entries(vault_blobs, pack, cache)
        except (PackFormatError, BlobNotFoundError) as exc:
            return pack, str(exc)

    with ThreadPoolExecutor(workers, thread_name_prefix="pack-index") as pool:
        for pack, entries in pool.map(read, packs):
            if isinstance(entries, str):
                index.unreadable_packs[pack.name] = entries
            else:
                index.add_pack(pack, entries)
    return index


def list_vault_packs(vault_blobs: VaultBlobs) -> list[BlobListing]:
    """Every pack blob of the vault: block blobs under a pack's name (anything else is no pack of ours)."""
    return [pack for pack in iter_blobs(vault_blobs, blob_names.PACKS)
            if blob_names.parse_pack(pack.name) and pack.blob_type == blob_names.BLOCK_BLOB]


def list_live_packs(vault_blobs: VaultBlobs, condemned_packs: frozenset[str]) -> list[BlobListing]:
    """Every pack in the vault except those the service condemned (never deduplicated against)."""
    return [pack for pack in list_vault_packs(vault_blobs) if blob_names.parse_pack(pack.name) not in condemned_packs]
