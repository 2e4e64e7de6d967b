"""Reads a file as content-defined chunks and holes (sparse regions found with SEEK_DATA/SEEK_HOLE)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from agent_client.chunking import ChunkParams, iter_chunks

# A piece of a file: a chunk's bytes, or an int that is the length of a hole.
FilePiece = memoryview | int
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


def open_for_backup(disk_path: bytes) -> int:
    """Opens without following a symlink swapped in since the walk, and without touching atime."""
    noatime = getattr(os, "O_NOATIME", 0)
    if noatime:
        try:
            return os.open(disk_path, _OPEN_FLAGS | noatime)
        except PermissionError:
            pass  # O_NOATIME needs ownership of the file
    return os.open(disk_path, _OPEN_FLAGS)


def is_sparse(st: os.stat_result) -> bool:
    return st.st_blocks * 512 < st.st_size


def iter_file_pieces(fd: int, size: int, sparse: bool, params: ChunkParams) -> Iterator[FilePiece]:
    """Yields the file's chunks in order, and holes as ints when `sparse`; stops at the real end."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    if not sparse:
        yield from iter_chunks(_reader(fd, 0, None), params, size)
        return
    position = 0
    for data_start, data_end in _data_regions(fd, size):
        if data_start > position:
            yield data_start - position
        yield from iter_chunks(_reader(fd, data_start, data_end), params, data_end - data_start)
        position = data_end
    if size > position:
        yield size - position


def _data_regions(fd: int, size: int) -> Iterator[tuple[int, int]]:
    position = 0
    while position < size:
        try:
            start = os.lseek(fd, position, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole remains
            return
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        if start >= size:
            return
        yield start, end
        position = end


def _reader(fd: int, start: int, end: int | None) -> Callable[[memoryview], int]:
    position = start

    def readinto(buffer: memoryview) -> int:
        nonlocal position
        if end is not None:
            buffer = buffer[: max(0, end - position)]
            if not len(buffer):
                return 0
        count = os.preadv(fd, [buffer], position)
        position += count
        return count

    return readinto
