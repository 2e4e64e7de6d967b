"""Holds the backup's tree entries until their chunk ids are known, then writes them in order.

It also carries the two pieces of incremental logic: the cursor over the previous recovery
point's entries (merged in the same order, so memory stays bounded) and the test that lets an
unchanged file reuse its segments without being read.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future

from agent_client.chunk_index import ChunkIndex
from agent_client.tree_format import HOLE_ID, MAX_SEGMENT_LENGTH, SEGMENT, EntryKind, TreeEntry

_MAX_WAITING_ENTRIES = 4096


class PreviousTree:
    """A forward-only cursor over the previous recovery point's entries, in tree order.

    If the previous tree cannot be read to the end, the rest is treated as absent: those
    files are simply read again.
    """

    def __init__(self, entries: Iterator[TreeEntry], on_error: Callable[[Exception], None]) -> None:
        self._entries = entries
        self._on_error = on_error
        self._head: TreeEntry | None = None
        self._done = False
        self._advance()

    def find(self, key: tuple[bytes, ...]) -> TreeEntry | None:
        while self._head is not None and self._head.key < key:
            self._advance()
        if self._head is not None and self._head.key == key:
            return self._head
        return None

    def _advance(self) -> None:
        if self._done:
            self._head = None
            return
        try:
            self._head = next(self._entries)
        except StopIteration:
            self._head, self._done = None, True
        except Exception as exc:  # noqa: BLE001 - a damaged previous tree only costs re-reading
            self._head, self._done = None, True
            self._on_error(exc)


def reusable_segments(previous: TreeEntry | None, st: os.stat_result, index: ChunkIndex,
                      referenced_packs: set[str]) -> bytes | None:
    """The previous segments if the file looks untouched and every chunk is still in a live pack."""
    if (previous is None or previous.kind != EntryKind.FILE or previous.size != st.st_size
            or previous.mtime_ns != st.st_mtime_ns or previous.ctime_ns != st.st_ctime_ns
            or previous.inode != st.st_ino):
        return None
    packs = set()
    for chunk_id in previous.chunk_ids():
        location = index.locate(chunk_id)
        if location is None:
            return None
        packs.add(location.pack_name)
    referenced_packs.update(packs)
    return previous.segments


class SegmentCollector:
    """A file's segments as its chunks get their ids; keeps only not-yet-sealed chunks as futures."""

    def __init__(self) -> None:
        self._finished = bytearray()
        self._waiting: deque[tuple[Future, int]] = deque()

    def add_chunk(self, chunk_id: Future, length: int) -> None:
        self._waiting.append((chunk_id, length))
        self._collect(block=False)

    def add_hole(self, length: int) -> None:
        self._collect(block=True)
        while length > 0:
            piece = min(length, MAX_SEGMENT_LENGTH)
            self._finished += SEGMENT.pack(HOLE_ID, piece)
            length -= piece

    def ready(self) -> bool:
        self._collect(block=False)
        return not self._waiting

    def segments(self) -> bytes:
        self._collect(block=True)
        return bytes(self._finished)

    def _collect(self, block: bool) -> None:
        while self._waiting and (block or self._waiting[0][0].done()):
            future, length = self._waiting.popleft()
            self._finished += SEGMENT.pack(future.result(), length)


class _Waiting:
    __slots__ = ("entry", "collector", "leader")

    def __init__(self, entry: TreeEntry, collector: SegmentCollector | None, leader: _Waiting | None) -> None:
        self.entry = entry
        self.collector = collector
        self.leader = leader


class OrderedEntryWriter:
    """Writes entries to the tree in the order they were added, once their content is known."""

    def __init__(self, write: Callable[[TreeEntry], None]) -> None:
        self._write = write
        self._queue: deque[_Waiting] = deque()

    def add(self, entry: TreeEntry, collector: SegmentCollector | None = None, leader: _Waiting | None = None) -> _Waiting:
        waiting = _Waiting(entry, collector, leader)
        self._queue.append(waiting)
        self._flush(keep_at_most=_MAX_WAITING_ENTRIES)
        return waiting

    def finish(self) -> None:
        self._flush(keep_at_most=0)

    def _flush(self, keep_at_most: int) -> None:
        while self._queue:
            head = self._queue[0]
            must_wait = len(self._queue) > keep_at_most
            if head.collector is not None and not must_wait and not head.collector.ready():
                return
            self._queue.popleft()
            if head.leader is not None:  # a hard link: same content as the group's first file
                head.entry.segments = head.leader.entry.segments
                head.entry.size = head.leader.entry.size
            elif head.collector is not None:
                head.entry.segments = head.collector.segments()
                head.collector = None
            self._write(head.entry)
