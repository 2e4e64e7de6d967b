"""Restores a bounded batch of files: fetch only the needed chunks (coalesced ranged reads), check, write.

Each file is written to a temporary sibling pre-sized with ftruncate (holes stay holes), every
chunk is authenticated and its id recomputed before a byte of it is written, and only a file
whose every chunk checked out is renamed into place; a damaged one is deleted.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from agent_client.chunk_codec import ChunkCodec, ChunkDamagedError
from agent_client.chunk_index import ChunkIndex, ChunkLocation
from agent_client.errors import BlobNotFoundError
from agent_client.file_metadata import apply_metadata
from agent_client.ports import VaultBlobs
from agent_client.restore_target import temporary_sibling
from agent_client.tree_format import HOLE_ID, TreeEntry
from shared.formats.pack_index import ChunkKind

_MAX_GAP = 256 << 10
_MAX_RANGE = 16 << 20
MAX_BATCH_CHUNK_USES = 50_000
MAX_BATCH_FILES = 10_000


@dataclass(eq=False)
class FileJob:
    """One file being restored: where it goes, and why it failed (damaged data, or the local disk)."""

    entry: TreeEntry
    final_path: bytes
    temporary_path: bytes
    damage: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.damage is not None or self.error is not None


@dataclass
class _Range:
    pack_name: str
    start: int
    end: int
    chunks: list[tuple[bytes, ChunkLocation]] = field(default_factory=list)


class RestoreBatch:
    """Collects files, then restores them together so shared chunks are fetched once."""

    def __init__(self, vault_blobs: VaultBlobs, codec: ChunkCodec, index: ChunkIndex,
                 on_finished: Callable[[FileJob], None], on_bytes: Callable[[int, int], None], workers: int = 6) -> None:
        self._blobs = vault_blobs
        self._codec = codec
        self._index = index
        self._on_finished = on_finished
        self._on_bytes = on_bytes
        self._workers = workers
        self._uses: dict[bytes, list[tuple[FileJob, int]]] = defaultdict(list)
        self._jobs: list[FileJob] = []
        self._use_count = 0
        self._lock = threading.Lock()

    @property
    def is_full(self) -> bool:
        return self._use_count >= MAX_BATCH_CHUNK_USES or len(self._jobs) >= MAX_BATCH_FILES

    def add(self, entry: TreeEntry, final_path: bytes) -> None:
        job = FileJob(entry, final_path, temporary_sibling(final_path))
        fd = os.open(job.temporary_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fd, entry.size)
        finally:
            os.close(fd)
        offset = 0
        for chunk_id, length in entry.iter_segments():
            if chunk_id != HOLE_ID:
                self._uses[chunk_id].append((job, offset))
                self._use_count += 1
            offset += length
        self._jobs.append(job)

    def run(self) -> None:
        """Fetches, checks and writes every chunk of the batch, then finishes every file."""
        ranges = self._plan_ranges()
        with ThreadPoolExecutor(self._workers, thread_name_prefix="restore") as pool:
            for _ in pool.map(self._fetch_range, ranges):
                pass
        for job in self._jobs:
            self._finish(job)
        self._uses.clear()
        self._jobs.clear()
        self._use_count = 0

    def discard(self) -> None:
        """Deletes the temporary files of a batch that will not run (the restore is failing)."""
        for job in self._jobs:
            try:
                os.unlink(job.temporary_path)
            except FileNotFoundError:
                pass
        self._uses.clear()
        self._jobs.clear()
        self._use_count = 0

    def _plan_ranges(self) -> list[_Range]:
        by_pack: dict[str, list[tuple[bytes, ChunkLocation]]] = defaultdict(list)
        for chunk_id, uses in self._uses.items():
            location = self._index.locate(chunk_id)
            if location is None:
                self._damage(uses, f"chunk {chunk_id.hex()[:16]} is in no readable pack")
                continue
            by_pack[location.pack_name].append((chunk_id, location))
        ranges: list[_Range] = []
        for pack_name, chunks in by_pack.items():
            chunks.sort(key=lambda item: item[1].offset)
            current: _Range | None = None
            for chunk_id, location in chunks:
                end = location.offset + location.length
                if current is None or location.offset - current.end > _MAX_GAP or end - current.start > _MAX_RANGE:
                    current = _Range(pack_name, location.offset, end)
                    ranges.append(current)
                current.end = max(current.end, end)
                current.chunks.append((chunk_id, location))
        return ranges

    def _fetch_range(self, chunk_range: _Range) -> None:
        try:
            data = memoryview(self._blobs.get_range(chunk_range.pack_name, chunk_range.start,
                                                    chunk_range.end - chunk_range.start))
        except BlobNotFoundError:
            data = memoryview(b"")
        self._on_bytes(len(data), 0)
        for chunk_id, location in chunk_range.chunks:
            uses = self._uses[chunk_id]
            start = location.offset - chunk_range.start
            sealed = data[start : start + location.length]
            try:
                if len(sealed) != location.length:
                    raise ChunkDamagedError(f"{chunk_range.pack_name} is missing or shorter than its index")
                plaintext = self._codec.open(chunk_id, ChunkKind.DATA, sealed)
            except ChunkDamagedError as exc:
                self._damage(uses, f"chunk {chunk_id.hex()[:16]} in {chunk_range.pack_name}: {exc}")
                continue
            for job, offset in uses:
                if not job.failed:
                    self._write(job, offset, plaintext)

    def _write(self, job: FileJob, offset: int, plaintext: bytes) -> None:
        try:
            fd = os.open(job.temporary_path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.pwrite(fd, plaintext, offset)
            finally:
                os.close(fd)
        except OSError as exc:
            job.error = job.error or f"cannot write: {exc.strerror or exc}"
            return
        self._on_bytes(0, len(plaintext))

    def _damage(self, uses: list[tuple[FileJob, int]], reason: str) -> None:
        with self._lock:
            for job, _ in uses:
                job.damage = job.damage or reason

    def _finish(self, job: FileJob) -> None:
        if not job.failed:
            try:
                apply_metadata(job.temporary_path, job.entry)
                os.replace(job.temporary_path, job.final_path)
            except OSError as exc:
                job.error = f"cannot write: {exc.strerror or exc}"
        if job.failed:
            try:
                os.unlink(job.temporary_path)
            except FileNotFoundError:
                pass
        self._on_finished(job)
