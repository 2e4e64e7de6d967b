"""Tests of the pack trailer index: golden bytes, round trips, and rejection of damaged trailers."""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.formats.pack_index import (
    ENTRY_SIZE,
    FOOTER_SIZE,
    MIN_SEALED_LENGTH,
    ChunkKind,
    PackEntry,
    PackFormatError,
    parse_footer,
    parse_trailer,
    serialize_trailer,
)

GOLDEN = pathlib.Path(__file__).parent / "golden" / "pack_trailer.hex"


def _layout(specs: list[tuple[bytes, ChunkKind, int]]) -> list[PackEntry]:
    entries, offset = [], 0
    for chunk_id, kind, length in specs:
        entries.append(PackEntry(chunk_id, kind, offset, length))
        offset += length
    return entries


GOLDEN_ENTRIES = _layout([(bytes(range(32)), ChunkKind.DATA, 100), (b"\xff" * 32, ChunkKind.TREE, 29)])


def test_golden_trailer_bytes_are_stable():
    expected = bytes.fromhex(GOLDEN.read_text())
    assert serialize_trailer(GOLDEN_ENTRIES) == expected
    assert len(expected) == 2 * ENTRY_SIZE + FOOTER_SIZE
    assert parse_trailer(expected, 129 + len(expected)) == GOLDEN_ENTRIES


def test_golden_layout_is_little_endian_id_kind_offset_length():
    trailer = bytes.fromhex(GOLDEN.read_text())
    second = trailer[ENTRY_SIZE : 2 * ENTRY_SIZE]
    assert second[:32] == b"\xff" * 32
    assert second[32] == ChunkKind.TREE
    assert int.from_bytes(second[33:41], "little") == 100
    assert int.from_bytes(second[41:45], "little") == 29
    assert trailer[-8:] == b"BKPACK\x00\x01"


def test_empty_pack_has_only_a_footer():
    trailer = serialize_trailer([])
    assert len(trailer) == FOOTER_SIZE
    assert parse_trailer(trailer, FOOTER_SIZE) == []


entry_specs = st.lists(
    st.tuples(
        st.binary(min_size=32, max_size=32),
        st.sampled_from(list(ChunkKind)),
        st.integers(min_value=MIN_SEALED_LENGTH, max_value=(1 << 32) - 1),
    ),
    max_size=40,
)


@given(entry_specs, st.integers(min_value=0, max_value=64))
def test_round_trip_from_any_tail_that_holds_the_trailer(specs, extra):
    entries = _layout(specs)
    trailer = serialize_trailer(entries)
    data_length = sum(e.length for e in entries)
    prefix = b"\x00" * min(extra, data_length)
    assert parse_trailer(prefix + trailer, data_length + len(trailer)) == entries


@settings(max_examples=300)
@given(entry_specs.filter(bool), st.data())
def test_any_flipped_byte_of_the_trailer_is_rejected(specs, data):
    entries = _layout(specs)
    trailer = bytearray(serialize_trailer(entries))
    position = data.draw(st.integers(min_value=0, max_value=len(trailer) - 1))
    trailer[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(PackFormatError):
        parse_trailer(bytes(trailer), sum(e.length for e in entries) + len(trailer))


def test_wrong_pack_size_is_rejected():
    trailer = serialize_trailer(GOLDEN_ENTRIES)
    with pytest.raises(PackFormatError, match="cover"):
        parse_trailer(trailer, 130 + len(trailer))


def test_truncated_tail_is_rejected():
    trailer = serialize_trailer(GOLDEN_ENTRIES)
    with pytest.raises(PackFormatError, match="whole index"):
        parse_trailer(trailer[10:], 129 + len(trailer))
    with pytest.raises(PackFormatError):
        parse_footer(trailer[-FOOTER_SIZE + 1 :])


def test_serializer_refuses_gaps_and_short_ids():
    with pytest.raises(PackFormatError, match="contiguous"):
        serialize_trailer([PackEntry(b"\x00" * 32, ChunkKind.DATA, 5, 40)])
    with pytest.raises(PackFormatError, match="32 bytes"):
        serialize_trailer([PackEntry(b"\x00" * 31, ChunkKind.DATA, 0, 40)])
