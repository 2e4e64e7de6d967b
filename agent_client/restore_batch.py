"""Restores a bounded batch of files: fetch only the needed chunks (coalesced ranged reads), check, write.

Each file is written to a temporary sibling (created by its first write, sized with ftruncate
at the end so holes, and chunks that are all zeros, stay holes), every chunk is authenticated and
its id recomputed before a byte of it is written, and a file is finished by the worker that
resolves its last chunk: renamed into place if every chunk checked out, deleted otherwise.
A file keeps one descriptor from its first write to its finish while the batch's budget of open
files allows; past it, each chunk opens and closes the file.
"""

from __future__ import annotations

import errno
import os
import resource
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from agent_client.chunk_codec import ChunkCodec, ChunkDamagedError
from agent_client.chunk_index import ChunkIndex, ChunkLocation
from agent_client.chunking import MAX_CHUNK_SIZE
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
_MAX_HELD_FILES = 256
_WRITE_FLAGS = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_FLAGS = os.O_CREAT | os.O_EXCL
_ZEROS = bytes(MAX_CHUNK_SIZE)  # a chunk is all zeros when it is a prefix of this (one memcmp)


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
    fd: int | None = None  # held from the first write to the finish, if the batch's budget allowed
    writers: int = 0  # writes under way on fd: it is closed only when none is
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # guards created, fd, writers

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
                 on_finished: Callable[[FileJob], None], on_bytes: Callable[[int, int], None], workers: int = 6,
                 held_files: int | None = None) -> None:
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
        self.damaged_packs: dict[str, str] = {}  # pack name -> why, for each pack a chunk failed in
        self._held_files = threading.Semaphore(held_file_budget() if held_files is None else held_files)

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
        without_chunks = [job for job in self._jobs if job.remaining == 0]  # before planning finishes some
        ranges = self._plan_ranges()
        try:
            with ThreadPoolExecutor(self._workers, thread_name_prefix="restore") as pool:
                for _ in pool.map(self._finish, without_chunks):
                    pass
                for _ in pool.map(self._fetch_range, ranges):
                    pass
        except BaseException:
            self._abandon()  # no descriptor outlives a failed run; discard() deletes the temporaries
            raise
        self._uses.clear()
        self._jobs.clear()
        self._use_count = 0

    def discard(self) -> None:
        """Closes and deletes the temporary files of a batch that will not finish (the restore is failing)."""
        self._abandon()
        for job in self._jobs:
            if job.created:
                try:
                    os.unlink(job.temporary_path)
                except FileNotFoundError:
                    pass
        self._uses.clear()
        self._jobs.clear()
        self._use_count = 0

    def _abandon(self) -> None:
        """Fails every unfinished file and closes its descriptor (a write still under way closes it as it ends)."""
        for job in self._jobs:
            with self._lock:
                if job.remaining > 0:
                    job.error = job.error or "the restore stopped"
            with job.lock:
                self._close_held(job, report_errors=False)

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
            try:
                plaintext = self._open_any_copy(chunk_id, location, data[start : start + location.length])
            except ChunkDamagedError as exc:
                self._resolve_all(uses, damage=str(exc))
                continue
            all_zeros = _ZEROS.startswith(plaintext)
            for job, offset in uses:
                self._resolve(job, error=None if job.failed else self._write(job, offset, plaintext, all_zeros))

    def _open_any_copy(self, chunk_id: bytes, location: ChunkLocation, sealed: memoryview) -> bytes:
        """The chunk's plaintext from `sealed`, else from its copies in other packs, one ranged read each.

        Raises ChunkDamagedError naming every pack tried only if no copy authenticates.
        """
        failures = []
        for number, copy in enumerate([location, *self._index.other_copies(chunk_id)]):
            if number:
                try:
                    sealed = memoryview(self._blobs.get_range(copy.pack_name, copy.offset, copy.length))
                except BlobNotFoundError:
                    sealed = memoryview(b"")
                self._on_bytes(len(sealed), 0)
            try:
                if len(sealed) != copy.length:
                    raise ChunkDamagedError("the pack is missing or shorter than its index")
                return self._codec.open(chunk_id, ChunkKind.DATA, sealed)
            except ChunkDamagedError as exc:
                failures.append(f"in {copy.pack_name}: {exc}")
                with self._lock:
                    self.damaged_packs.setdefault(copy.pack_name, f"a chunk fails authentication ({exc})")
        raise ChunkDamagedError(f"chunk {chunk_id.hex()[:16]} " + "; ".join(failures))

    def _write(self, job: FileJob, offset: int, plaintext: bytes, all_zeros: bool) -> str | None:
        """Writes one chunk into the file's temporary; returns why it could not.

        An all-zero chunk is left a hole: the finish's ftruncate gives the file its size.
        """
        if not all_zeros:
            try:
                opened = self._open_for_write(job)
                if opened is None:
                    return None  # the file failed meanwhile: nothing more of it is written
                fd, held = opened
                try:
                    _pwrite_all(fd, plaintext, offset)
                finally:
                    self._done_writing(job, fd, held)
            except OSError as exc:
                return f"cannot write: {exc.strerror or exc}"
        self._on_bytes(0, len(plaintext))
        return None

    def _open_for_write(self, job: FileJob) -> tuple[int, bool] | None:
        """A descriptor on the file's temporary, and whether the job holds it (else the caller closes it).

        None if the file has failed. Opening is under the job's lock, not the batch's.
        """
        with job.lock:
            if job.failed:
                return None
            if job.fd is None:
                held = self._held_files.acquire(blocking=False)
                try:
                    fd = _open_temporary(job)
                except BaseException:
                    if held:
                        self._held_files.release()
                    raise
                if not held:
                    return fd, False
                job.fd = fd
            job.writers += 1
            return job.fd, True

    def _done_writing(self, job: FileJob, fd: int, held: bool) -> None:
        if not held:
            os.close(fd)
            return
        with job.lock:
            job.writers -= 1
            if job.failed:
                self._close_held(job, report_errors=False)  # no later write needs it

    def _close_held(self, job: FileJob, report_errors: bool) -> None:
        """Closes the job's descriptor unless a write still uses it (the last writer then does); job.lock held."""
        if job.fd is None or job.writers > 0:
            return
        fd, job.fd = job.fd, None
        try:
            os.close(fd)
        except OSError:
            if report_errors:
                raise
        finally:
            self._held_files.release()

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
        """Runs once `remaining` is 0, so after every write of the file has returned: none still uses its fd."""
        if not job.failed:
            try:
                self._size_and_close(job)
                apply_metadata(job.temporary_path, job.entry)
                os.replace(job.temporary_path, job.final_path)
                job.created = False
            except OSError as exc:
                job.error = f"cannot write: {exc.strerror or exc}"
        if job.failed:
            with job.lock:
                self._close_held(job, report_errors=False)
            if job.created:
                try:
                    os.unlink(job.temporary_path)
                except FileNotFoundError:
                    pass
                job.created = False
        self._on_finished(job)

    def _size_and_close(self, job: FileJob) -> None:
        """ftruncate to the file's size (trailing holes, zero chunks, a file of holes), then close it."""
        with job.lock:
            held = job.fd is not None
            if held:
                fd = job.fd
                job.writers += 1  # not even an abandoning thread may close it under the ftruncate
            else:
                fd = _open_temporary(job)
        try:
            os.ftruncate(fd, job.entry.size)
        finally:
            if held:
                with job.lock:
                    job.writers -= 1
                    self._close_held(job, report_errors=True)
            else:
                os.close(fd)


def held_file_budget() -> int:
    """How many files a batch may hold open at once: a quarter of the soft RLIMIT_NOFILE, at most 256."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _MAX_HELD_FILES if soft == resource.RLIM_INFINITY else max(0, min(_MAX_HELD_FILES, soft // 4))


def _open_temporary(job: FileJob) -> int:
    """Opens the file's temporary for writing; the first open creates it, exclusively (job.lock held)."""
    fd = os.open(job.temporary_path, _WRITE_FLAGS | (0 if job.created else _CREATE_FLAGS), 0o600)
    job.created = True
    return fd


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """pwrite until every byte is written: a short write must not leave a silent hole in the file."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        if written == 0:
            raise OSError(errno.EIO, "the file system accepted no bytes")
        view, offset = view[written:], offset + written
