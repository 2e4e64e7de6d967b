"""Tests of the tree stream: round trips through chunking in any pieces, ordering, damage, golden bytes."""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_client.chunking import TREE_CHUNKS, PushChunker
from agent_client.tree_format import (
    SEGMENT,
    EntryKind,
    TreeEntry,
    TreeFormatError,
    TreeStreamWriter,
    encode_entry,
    hole_segments,
    iter_entries,
    path_key,
)

GOLDEN = pathlib.Path(__file__).parent / "golden" / "tree_stream.hex"

names = st.binary(min_size=1, max_size=12).filter(lambda name: b"/" not in name and b"\0" not in name and name not in (b".", b".."))
paths = st.lists(names, min_size=1, max_size=4).map(lambda parts: b"/".join(parts))


@st.composite
def entries(draw):
    unique = sorted(set(draw(st.lists(paths, max_size=30))), key=path_key)
    out = []
    for path in unique:
        kind = draw(st.sampled_from(list(EntryKind)))
        lengths = draw(st.lists(st.integers(1, 1 << 20), max_size=5)) if kind == EntryKind.FILE else []
        segments = b"".join(SEGMENT.pack(draw(st.binary(min_size=32, max_size=32)), n) for n in lengths)
        out.append(TreeEntry(
            path=path, kind=kind, mode=draw(st.integers(0, 0o7777)), uid=draw(st.integers(0, 2**32 - 1)),
            gid=draw(st.integers(0, 2**32 - 1)), mtime_ns=draw(st.integers(-(2**62), 2**62)),
            ctime_ns=draw(st.integers(0, 2**62)), inode=draw(st.integers(0, 2**64 - 1)), nlink=draw(st.integers(1, 9)),
            size=sum(lengths), link_target=draw(st.binary(max_size=40)) if kind == EntryKind.SYMLINK else b"",
            segments=segments,
        ))
    return out


def _stream(tree_entries: list[TreeEntry]) -> bytes:
    pieces: list[bytes] = []
    writer = TreeStreamWriter(pieces.append)
    for entry in tree_entries:
        writer.add(entry)
    return b"".join(pieces)


@settings(max_examples=80, deadline=None)
@given(entries(), st.integers(1, 5000))
def test_round_trip_through_any_piece_sizes(tree_entries, piece_size):
    stream = _stream(tree_entries)
    pieces = [stream[i : i + piece_size] for i in range(0, len(stream), piece_size)]
    assert list(iter_entries(pieces)) == tree_entries


@settings(max_examples=30, deadline=None)
@given(entries())
def test_round_trip_through_tree_chunks(tree_entries):
    chunker = PushChunker(TREE_CHUNKS, flush_at=1)
    chunks = chunker.feed(_stream(tree_entries)) + chunker.finish()
    assert all(len(chunk) <= TREE_CHUNKS.max_size for chunk in chunks)
    assert list(iter_entries(chunks)) == tree_entries


def test_order_is_depth_first_with_names_as_bytes():
    ordered = [b"a", b"a/b", b"a/b/c", b"a/c", b"a.b", b"b"]
    assert sorted(reversed(ordered), key=path_key) == ordered


def test_writer_and_reader_refuse_disorder():
    writer = TreeStreamWriter(lambda piece: None)
    writer.add(TreeEntry(b"b", EntryKind.DIR))
    with pytest.raises(TreeFormatError):
        writer.add(TreeEntry(b"a", EntryKind.DIR))
    stream = b"BKTREE01" + encode_entry(TreeEntry(b"b", EntryKind.DIR)) + encode_entry(TreeEntry(b"a", EntryKind.DIR))
    with pytest.raises(TreeFormatError, match="order"):
        list(iter_entries([stream]))


def test_truncated_or_inconsistent_streams_are_refused():
    stream = _stream([TreeEntry(b"f", EntryKind.FILE, size=5, segments=SEGMENT.pack(b"\x01" * 32, 5))])
    with pytest.raises(TreeFormatError):
        list(iter_entries([stream[:-3]]))
    with pytest.raises(TreeFormatError, match="add up to its size"):
        list(iter_entries([_stream([TreeEntry(b"f", EntryKind.FILE, size=6, segments=SEGMENT.pack(b"\x01" * 32, 5))])]))
    with pytest.raises(TreeFormatError, match="magic"):
        list(iter_entries([b"NOTATREE"]))


def test_holes_are_split_into_representable_segments():
    segments = hole_segments(10 << 30)
    entry = TreeEntry(b"sparse", EntryKind.FILE, size=10 << 30, segments=segments)
    assert list(entry.chunk_ids()) == [] and sum(n for _, n in entry.iter_segments()) == 10 << 30


def test_golden_stream_bytes_are_stable():
    tree_entries = [
        TreeEntry(b"home", EntryKind.DIR, mode=0o755, uid=1000, gid=1000, mtime_ns=1_700_000_000_000_000_000),
        TreeEntry(b"home/f.txt", EntryKind.FILE, mode=0o644, uid=1000, gid=1000, mtime_ns=1, ctime_ns=2, inode=3,
                  device=4, nlink=1, size=9, segments=SEGMENT.pack(b"\xaa" * 32, 5) + hole_segments(4)),
        TreeEntry(b"home/link", EntryKind.SYMLINK, mode=0o777, link_target=b"f.txt"),
    ]
    assert _stream(tree_entries).hex() == GOLDEN.read_text().strip()
