"""Holds the backup's tree entries until their chunk ids are known, then writes them in order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future

from agent_client.tree_format import HOLE_ID, MAX_SEGMENT_LENGTH, SEGMENT, TreeEntry

_MAX_WAITING_ENTRIES = 4096


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
