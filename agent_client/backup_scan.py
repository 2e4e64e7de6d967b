"""Turns the walked sources (or stdin) into tree entries, reading only new and changed files."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from agent_client.backup_entries import OrderedEntryWriter, SegmentCollector
from agent_client.chunk_index import ChunkIndex
from agent_client.chunking import ChunkParams, iter_chunks
from agent_client.file_reader import is_sparse, iter_file_pieces, open_for_backup
from agent_client.file_walker import WalkItem
from agent_client.previous_tree import PreviousTree, reusable_segments
from agent_client.tree_format import EntryKind, TreeEntry
from agent_client.upload_pipeline import UploadPipeline
from shared.formats.pack_index import ChunkKind

_KINDS = {stat.S_IFREG: EntryKind.FILE, stat.S_IFDIR: EntryKind.DIR, stat.S_IFLNK: EntryKind.SYMLINK,
          stat.S_IFIFO: EntryKind.FIFO}


@dataclass
class ScanCounts:
    """What the backup saw: per-file outcome counts, bytes, and what it had to skip."""

    files: int = 0
    dirs: int = 0
    bytes: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    bytes_read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


class BackupScan:
    """Feeds each walked item to the tree writer, sending new content through the upload pipeline."""

    def __init__(self, pipeline: UploadPipeline, index: ChunkIndex, previous: PreviousTree, chunk_params: ChunkParams,
                 writer_sink: Callable[[TreeEntry], None], on_progress: Callable[[int, int], None]) -> None:
        self.counts = ScanCounts()
        self._chunk_params = chunk_params
        self.referenced_packs: set[str] = set()
        self._pipeline = pipeline
        self._index = index
        self._previous = previous
        self._on_progress = on_progress
        self._hard_links: dict[tuple[int, int], object] = {}
        self._writer = OrderedEntryWriter(writer_sink)

    def skip(self, path: str, reason: str) -> None:
        self.counts.skipped.append((path, reason))

    def add(self, item: WalkItem) -> None:
        st = item.stat
        kind = _KINDS.get(stat.S_IFMT(st.st_mode))
        if kind is None:
            return  # sockets and device nodes are not backed up
        entry = TreeEntry(
            path=item.tree_path, kind=kind, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid,
            mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns, inode=st.st_ino, device=st.st_dev,
            nlink=st.st_nlink,
        )
        if kind == EntryKind.DIR:
            self.counts.dirs += 1
        elif kind == EntryKind.SYMLINK:
            try:
                entry.link_target = os.readlink(item.disk_path)
            except OSError as exc:
                self.skip(os.fsdecode(item.disk_path), f"cannot read the symlink: {exc.strerror or exc}")
                return
        if kind != EntryKind.FILE:
            self._writer.add(entry)
            return
        entry.size = st.st_size
        self._add_file(item, entry)

    def add_stream(self, name: bytes, stream: BinaryIO) -> None:
        """Backs up one stream (stdin) as the file `name`, always read."""
        now = time.time_ns()
        entry = TreeEntry(path=name, kind=EntryKind.FILE, mode=0o600, uid=os.getuid(), gid=os.getgid(),
                          mtime_ns=now, ctime_ns=now)
        self.counts.files += 1
        self.counts.files_new += 1
        collector = SegmentCollector()
        for chunk in iter_chunks(stream.readinto, self._chunk_params):
            collector.add_chunk(self._pipeline.submit(ChunkKind.DATA, chunk), len(chunk))
            entry.size += len(chunk)
            self.counts.bytes_read += len(chunk)
            self._on_progress(0, len(chunk))
        self.counts.bytes += entry.size
        self._writer.add(entry, collector)
        self._on_progress(1, 0)

    def finish(self) -> None:
        self._writer.finish()

    def _add_file(self, item: WalkItem, entry: TreeEntry) -> None:
        st = item.stat
        previous = self._previous.find(entry.key)
        leader = self._hard_links.get((st.st_dev, st.st_ino)) if st.st_nlink > 1 else None
        unread_bytes = 0  # a file taken without reading moves the bar by its whole size at once
        if leader is not None:
            entry.hardlink_to = leader.entry.path
            self._count_outcome(previous, unchanged=True)
            waiting, unread_bytes = self._writer.add(entry, leader=leader), entry.size
        elif (segments := reusable_segments(previous, st, self._index, self.referenced_packs)) is not None:
            entry.segments = segments
            self._count_outcome(previous, unchanged=True)
            waiting, unread_bytes = self._writer.add(entry), entry.size
        else:
            waiting = self._read_file(item, entry, previous)  # it moves the bar as it reads
        if waiting is not None:
            self.counts.files += 1
            self.counts.bytes += entry.size
            if st.st_nlink > 1 and leader is None:
                self._hard_links[(st.st_dev, st.st_ino)] = waiting
        self._on_progress(1, unread_bytes)

    def _read_file(self, item: WalkItem, entry: TreeEntry, previous: TreeEntry | None):
        disk_path = os.fsdecode(item.disk_path)
        try:
            fd = open_for_backup(item.disk_path)
        except OSError as exc:
            self._unreadable(disk_path, exc)
            return None
        collector = SegmentCollector()
        size = 0
        try:
            for piece in iter_file_pieces(fd, item.stat.st_size, is_sparse(item.stat), self._chunk_params):
                if isinstance(piece, int):
                    collector.add_hole(piece)
                    size += piece
                    self._on_progress(0, piece)
                    continue
                collector.add_chunk(self._pipeline.submit(ChunkKind.DATA, piece), len(piece))
                size += len(piece)
                self.counts.bytes_read += len(piece)
                self._on_progress(0, len(piece))
        except OSError as exc:
            self._unreadable(disk_path, exc)
            return None
        finally:
            os.close(fd)
        entry.size = size
        self._count_outcome(previous, unchanged=False)
        # Added only once read to the end, so an unreadable file never reaches the tree.
        return self._writer.add(entry, collector)

    def _count_outcome(self, previous: TreeEntry | None, unchanged: bool) -> None:
        if previous is None:
            self.counts.files_new += 1
        elif unchanged:
            self.counts.files_unchanged += 1
        else:
            self.counts.files_changed += 1

    def _unreadable(self, disk_path: str, exc: OSError) -> None:
        self.skip(disk_path, f"cannot read: {exc.strerror or exc}")
