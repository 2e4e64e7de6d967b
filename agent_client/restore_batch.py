"""Restores a bounded batch of files: fetch only the needed chunks (coalesced ranged reads), check, write.

Each file is written to a temporary sibling (created by its first write, sized with ftruncate
at the end so holes stay holes), every chunk is authenticated and its id recomputed before a
byte of it is written, and a file is finished by the worker that resolves its last chunk: renamed
into place if every chunk checked out, deleted otherwise.
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
    remaining: int = 0
    created: bool = False
    creation: threading.Lock = field(default_factory=threading.Lock, repr=False)

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
        offset = 0
        for chunk_id, length in entry.iter_segments():
            if chunk_id != HOLE_ID:
                self._uses[chunk_id].append((job, offset))
                self._use_count += 1
                job.remaining += 1
            offset += length
        self._jobs.append(job)

    def run(self) -> None:
        """Fetches, checks and writes every chunk of the batch; each file is finished as its last chunk lands."""
        ranges = self._plan_ranges()
        without_chunks = [job for job in self._jobs if job.remaining == 0]
        with ThreadPoolExecutor(self._workers, thread_name_prefix="restore") as pool:
            for _ in pool.map(self._finish, without_chunks):
                pass
            for _ in pool.map(self._fetch_range, ranges):
                pass
        self._uses.clear()
        self._jobs.clear()
        self._use_count = 0

    def discard(self) -> None:
        """Deletes the temporary files of a batch that will not finish (the restore is failing)."""
        for job in self._jobs:
            if job.created:
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
                self._resolve_all(uses, damage=f"chunk {chunk_id.hex()[:16]} is in no readable pack")
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
                self._resolve_all(uses, damage=f"chunk {chunk_id.hex()[:16]} in {chunk_range.pack_name}: {exc}")
                continue
            for job, offset in uses:
                self._resolve(job, error=None if job.failed else self._write(job, offset, plaintext))

    def _write(self, job: FileJob, offset: int, plaintext: bytes) -> str | None:
        """Writes one chunk into the file's temporary; returns why it could not."""
        flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            with job.creation:  # the first write creates the file, exclusively (creating is slow: not under the batch lock)
                if not job.created:
                    os.close(os.open(job.temporary_path, flags | os.O_CREAT | os.O_EXCL, 0o600))
                    job.created = True
            fd = os.open(job.temporary_path, flags)
            try:
                os.pwrite(fd, plaintext, offset)
            finally:
                os.close(fd)
        except OSError as exc:
            return f"cannot write: {exc.strerror or exc}"
        self._on_bytes(0, len(plaintext))
        return None

    def _resolve_all(self, uses: list[tuple[FileJob, int]], damage: str) -> None:
        for job, _ in uses:
            self._resolve(job, damage=damage)

    def _resolve(self, job: FileJob, damage: str | None = None, error: str | None = None) -> None:
        """Counts one chunk of the file as written or failed; the last one finishes the file."""
        with self._lock:
            job.damage = job.damage or damage
            job.error = job.error or error
            job.remaining -= 1
            last = job.remaining == 0
        if last:
            self._finish(job)

    def _finish(self, job: FileJob) -> None:
        if not job.failed:
            try:
                flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (0 if job.created else os.O_CREAT | os.O_EXCL)
                fd = os.open(job.temporary_path, flags, 0o600)
                job.created = True
                try:
                    os.ftruncate(fd, job.entry.size)  # a trailing hole, or a file that is all holes
                finally:
                    os.close(fd)
                apply_metadata(job.temporary_path, job.entry)
                os.replace(job.temporary_path, job.final_path)
                job.created = False
            except OSError as exc:
                job.error = f"cannot write: {exc.strerror or exc}"
        if job.failed and job.created:
            try:
                os.unlink(job.temporary_path)
            except FileNotFoundError:
                pass
            job.created = False
        self._on_finished(job)
