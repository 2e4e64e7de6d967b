"""Walks the previous recovery point's entries alongside the new walk, to take unchanged files unread.

Both trees are in the same path order, so the merge is one forward pass with bounded memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from agent_client.chunk_index import ChunkIndex
from agent_client.tree_format import EntryKind, TreeEntry


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
