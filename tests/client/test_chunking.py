"""Tests of the chunkers: streaming cuts equal one-shot cuts, whatever the read sizes; bounds hold."""

from __future__ import annotations

import io
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from agent_client.chunking import DATA_CHUNKS, TREE_CHUNKS, ChunkParams, PushChunker, iter_chunks

SMALL = ChunkParams(256, 1024, 4096)


def _reference_cuts(data: bytes, params: ChunkParams) -> list[bytes]:
    return [bytes(chunk.data) for chunk in params.cutter().cut_buf(data)]


class _TrickleReader:
    """Returns at most `step` bytes per readinto, like a pipe or a slow disk."""

    def __init__(self, data: bytes, step: int) -> None:
        self._stream = io.BytesIO(data)
        self._step = step

    def readinto(self, buffer: memoryview) -> int:
        return self._stream.readinto(buffer[: self._step])


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=60_000), st.integers(min_value=1, max_value=9000), st.integers(0, 2**32))
def test_streamed_chunks_equal_one_shot_chunks(size, step, seed):
    data = random.Random(seed).randbytes(size)
    streamed = [bytes(chunk) for chunk in iter_chunks(_TrickleReader(data, step).readinto, SMALL, size_hint=step)]
    assert streamed == _reference_cuts(data, SMALL)
    assert b"".join(streamed) == data


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=7000), max_size=20), st.integers(0, 2**32))
def test_push_chunker_equals_one_shot_chunks(piece_sizes, seed):
    rng = random.Random(seed)
    pieces = [rng.randbytes(size) for size in piece_sizes]
    chunker = PushChunker(SMALL, flush_at=4096)
    out = [chunk for piece in pieces for chunk in chunker.feed(piece)] + chunker.finish()
    assert out == _reference_cuts(b"".join(pieces), SMALL)


def test_data_chunks_respect_their_bounds_on_large_input():
    data = random.Random(7).randbytes(12 << 20)
    chunks = list(iter_chunks(io.BytesIO(data).readinto, DATA_CHUNKS, len(data)))
    assert all(DATA_CHUNKS.min_size <= len(chunk) <= DATA_CHUNKS.max_size for chunk in chunks[:-1])
    assert b"".join(chunks) == data
    assert 40 < len(chunks) < 200  # about 12 MiB / (min + avg)


def test_an_insert_changes_only_nearby_chunks():
    data = random.Random(3).randbytes(4 << 20)
    edited = data[: 2 << 20] + b"inserted bytes" + data[2 << 20 :]
    before = set(_reference_cuts(data, DATA_CHUNKS))
    after = _reference_cuts(edited, DATA_CHUNKS)
    assert sum(chunk not in before for chunk in after) <= 2


def test_tree_chunks_are_small():
    assert TREE_CHUNKS.max_size <= 64 << 10
