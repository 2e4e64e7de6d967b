"""RestoreBatch's write path: zero chunks stay holes, descriptors stay within budget and are always closed."""

from __future__ import annotations

import errno
import os
import threading

import pytest

from agent_client.chunk_codec import ChunkCodec
from agent_client.chunk_index import ChunkIndex
from agent_client.keys import MasterKeys
from agent_client.pack_builder import PackBuilder
from agent_client.ports import BlobListing
from agent_client.restore_batch import FileJob, RestoreBatch, held_file_budget
from agent_client.tree_format import SEGMENT, EntryKind, TreeEntry, hole_segments
from shared.formats.pack_index import ChunkKind

from .fakes import MemoryBlobs
from .sample_trees import allocated_bytes


class Vault:
    """Sealed chunks in packs of a MemoryBlobs, the index over them, and a batch restoring from them."""

    def __init__(self, folder) -> None:
        self.folder = folder
        self.codec = ChunkCodec(MasterKeys.generate())
        self.blobs = MemoryBlobs()
        self.index = ChunkIndex()
        self.finished: list[FileJob] = []
        self.written = 0
        self.peak_descriptors = 0
        self._lock = threading.Lock()

    def add_pack(self, contents: list[bytes]) -> tuple[str, list[bytes]]:
        """Seals `contents` into one new pack; returns its name and the chunk ids."""
        builder, chunk_ids = PackBuilder(), []
        for content in contents:
            chunk_id = self.codec.chunk_id(content)
            builder.add(chunk_id, ChunkKind.DATA, self.codec.seal(chunk_id, ChunkKind.DATA, content))
            chunk_ids.append(chunk_id)
        pack = builder.take().finish()
        self.blobs.put_new(pack.name, pack.pack_bytes)
        self.index.add_pack(BlobListing(pack.name, pack.size), pack.entries)
        return pack.name, chunk_ids

    def batch(self, **options) -> RestoreBatch:
        return RestoreBatch(self.blobs, self.codec, self.index, self.finished.append, self._count, **options)

    def _count(self, downloaded: int, written: int) -> None:
        descriptors = open_descriptors(self.folder)
        with self._lock:
            self.written += written
            self.peak_descriptors = max(self.peak_descriptors, descriptors)


def file_entry(name: str, pieces: list[tuple[bytes | None, int]]) -> TreeEntry:
    """A file made of (chunk id, length) pieces; a None id is a hole."""
    segments = b"".join(hole_segments(length) if chunk_id is None else SEGMENT.pack(chunk_id, length)
                        for chunk_id, length in pieces)
    return TreeEntry(name.encode(), EntryKind.FILE, mode=0o640, mtime_ns=1_000_000_000,
                     size=sum(length for _, length in pieces), segments=segments)


def open_descriptors(folder) -> int:
    """Descriptors of this process on files in `folder` (other tests' threads may open and close their own)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(f"{folder}/")
        except OSError:
            pass  # closed meanwhile
    return count


def leftovers(target) -> list[str]:
    return sorted(name for name in os.listdir(target) if name.startswith(".bkrestore-"))


def test_zero_chunks_are_left_as_holes_and_still_counted(tmp_path):
    vault = Vault(tmp_path)
    zeros, tail = bytes(256 << 10), b"tail" * 250
    _, (zero_id, tail_id) = vault.add_pack([zeros, tail])
    entry = file_entry("image", [(zero_id, len(zeros))] * 4 + [(None, 1 << 20), (tail_id, len(tail)), (None, 5)])
    batch = vault.batch()
    batch.add(entry, os.fsencode(tmp_path / "image"))
    batch.run()
    restored = (tmp_path / "image").read_bytes()
    assert restored == zeros * 4 + bytes(1 << 20) + tail + bytes(5)
    assert allocated_bytes(tmp_path / "image") < 64 << 10, "all-zero chunks must not be written"
    assert os.stat(tmp_path / "image").st_mode & 0o777 == 0o640
    assert vault.written == 4 * len(zeros) + len(tail)  # progress counts the zero chunks as restored
    assert [job.failed for job in vault.finished] == [False]


def test_a_file_of_zero_chunks_only_is_created_at_its_size(tmp_path):
    vault = Vault(tmp_path)
    _, (zero_id,) = vault.add_pack([bytes(4096)])
    batch = vault.batch()
    batch.add(file_entry("zeros", [(zero_id, 4096)] * 3), os.fsencode(tmp_path / "zeros"))
    batch.run()
    assert (tmp_path / "zeros").read_bytes() == bytes(3 * 4096)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("held_files", [0, 3])
def test_more_files_than_the_descriptor_budget_restore_exactly(tmp_path, held_files):
    vault = Vault(tmp_path)
    contents = {f"f{index:03}": [os.urandom(20_000 + index), os.urandom(7_000), bytes(9_000)] for index in range(40)}
    # Each file's chunks are spread over three packs, so files stay open across ranges and workers.
    ids = [vault.add_pack([pieces[part] for pieces in contents.values()])[1] for part in range(3)]
    batch = vault.batch(workers=4, held_files=held_files)
    for index, (name, pieces) in enumerate(contents.items()):
        parts = [(ids[part][index], len(pieces[part])) for part in (2, 0, 1, 0)]
        batch.add(file_entry(name, parts), os.fsencode(tmp_path / name))
    batch.run()
    assert open_descriptors(tmp_path) == 0
    # Held files stay within the budget; beyond it each of the 4 workers opens one file at a time.
    assert vault.peak_descriptors <= held_files + 4
    for name, pieces in contents.items():
        assert (tmp_path / name).read_bytes() == pieces[2] + pieces[0] + pieces[1] + pieces[0]
    assert not any(job.failed for job in vault.finished) and len(vault.finished) == 40
    assert leftovers(tmp_path) == []


def test_a_damaged_file_leaves_no_descriptor_and_no_temporary(tmp_path):
    vault = Vault(tmp_path)
    good, bad = os.urandom(50_000), os.urandom(50_000)
    _, (good_id,) = vault.add_pack([good])
    bad_pack, (bad_id,) = vault.add_pack([bad])
    vault.blobs.flip_byte(bad_pack, 100)
    batch = vault.batch(workers=1)  # the good chunk is written (and its file held open) before the bad one fails
    batch.add(file_entry("damaged", [(good_id, len(good)), (bad_id, len(bad))]), os.fsencode(tmp_path / "damaged"))
    batch.add(file_entry("fine", [(good_id, len(good))]), os.fsencode(tmp_path / "fine"))
    batch.run()
    assert vault.peak_descriptors == 2, "each file is held open from its first write to its finish"
    assert open_descriptors(tmp_path) == 0
    assert not (tmp_path / "damaged").exists() and leftovers(tmp_path) == []
    assert (tmp_path / "fine").read_bytes() == good
    assert {job.entry.path: job.damage is not None for job in vault.finished} == {b"damaged": True, b"fine": False}


def test_a_write_error_closes_the_file_and_deletes_its_temporary(tmp_path, monkeypatch):
    vault = Vault(tmp_path)
    pieces = [os.urandom(30_000) for _ in range(3)]
    _, ids = vault.add_pack(pieces)
    real_pwrite, calls = os.pwrite, []

    def failing_pwrite(fd, data, offset):
        calls.append(offset)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", failing_pwrite)
    batch = vault.batch(workers=1)
    batch.add(file_entry("full", [(chunk_id, 30_000) for chunk_id in ids]), os.fsencode(tmp_path / "full"))
    batch.run()
    assert open_descriptors(tmp_path) == 0
    assert len(calls) == 2, "nothing more of a failed file is written"
    assert vault.finished[0].error == "cannot write: No space left on device"
    assert os.listdir(tmp_path) == []


def test_an_exception_closes_every_descriptor_and_discard_deletes_the_temporaries(tmp_path):
    vault = Vault(tmp_path)
    first, second = os.urandom(40_000), os.urandom(40_000)
    _, (first_id,) = vault.add_pack([first])
    second_pack, (second_id,) = vault.add_pack([second])
    real_get_range = vault.blobs.get_range

    def get_range(name, offset, length):
        if name == second_pack:
            raise RuntimeError("the connection broke")
        return real_get_range(name, offset, length)

    vault.blobs.get_range = get_range
    batch = vault.batch(workers=1)
    batch.add(file_entry("half", [(first_id, len(first)), (second_id, len(second))]), os.fsencode(tmp_path / "half"))
    with pytest.raises(RuntimeError):
        batch.run()
    assert open_descriptors(tmp_path) == 0
    assert len(leftovers(tmp_path)) == 1  # the half-written temporary, until the restore discards the batch
    batch.discard()
    assert os.listdir(tmp_path) == []


def test_the_budget_is_a_quarter_of_the_soft_limit_and_at_most_256(monkeypatch):
    import resource

    for soft, budget in [(1024, 256), (20_000, 256), (400, 100), (3, 0), (resource.RLIM_INFINITY, 256)]:
        monkeypatch.setattr(resource, "getrlimit", lambda _, soft=soft: (soft, resource.RLIM_INFINITY))
        assert held_file_budget() == budget


def test_a_file_whose_chunks_are_in_no_readable_pack_is_finished_once(tmp_path):
    vault = Vault(tmp_path)
    batch = vault.batch()
    batch.add(file_entry("lost.bin", [(os.urandom(32), 10)]), str(tmp_path / "lost.bin").encode())
    batch.run()
    assert [job.entry.path for job in vault.finished] == [b"lost.bin"], "reported damaged once, not twice"
