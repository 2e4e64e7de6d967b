"""Tests of sealed chunks: round trips, the golden layout, and that any damage is refused."""

from __future__ import annotations

import json
import os
import pathlib
import struct

import pytest
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_client.chunk_codec import ChunkCodec, ChunkDamagedError
from agent_client.chunking import MAX_CHUNK_SIZE
from agent_client.keys import MasterKeys
from shared.formats.pack_index import ChunkKind

KEYS = MasterKeys(bytes(range(32)), bytes(range(32, 64)))
CODEC = ChunkCodec(KEYS)
GOLDEN = pathlib.Path(__file__).parent / "golden" / "sealed_chunk.json"


def test_round_trip_of_compressible_and_random_chunks():
    for plaintext in (b"hello world " * 5000, os.urandom(100_000), b""):
        chunk_id = CODEC.chunk_id(plaintext)
        sealed = CODEC.seal(chunk_id, ChunkKind.DATA, plaintext)
        assert CODEC.open(chunk_id, ChunkKind.DATA, sealed) == plaintext


def test_compression_only_where_it_pays():
    text, noise = b"abc " * 20_000, os.urandom(80_000)
    assert len(CODEC.seal(CODEC.chunk_id(text), ChunkKind.DATA, text)) < len(text) // 10
    assert len(CODEC.seal(CODEC.chunk_id(noise), ChunkKind.DATA, noise)) == len(noise) + 12 + 5 + 16


def test_sealing_the_same_chunk_twice_uses_fresh_nonces():
    """Random nonces: two seals of one chunk share neither nonce nor ciphertext (no nonce reuse under the key)."""
    plaintext = os.urandom(50_000)
    chunk_id = CODEC.chunk_id(plaintext)
    first, second = (CODEC.seal(chunk_id, ChunkKind.DATA, plaintext) for _ in range(2))
    assert first[:12] != second[:12]
    assert first[12:] != second[12:]
    assert CODEC.open(chunk_id, ChunkKind.DATA, first) == CODEC.open(chunk_id, ChunkKind.DATA, second) == plaintext


def test_chunk_ids_are_keyed():
    other = ChunkCodec(MasterKeys(bytes(32), bytes(32)))
    assert CODEC.chunk_id(b"same content") != other.chunk_id(b"same content")
    assert len(CODEC.chunk_id(b"x")) == 32


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=3000), st.data())
def test_any_flipped_byte_is_refused(plaintext, data):
    chunk_id = CODEC.chunk_id(plaintext)
    sealed = bytearray(CODEC.seal(chunk_id, ChunkKind.DATA, plaintext))
    position = data.draw(st.integers(0, len(sealed) - 1))
    sealed[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ChunkDamagedError):
        CODEC.open(chunk_id, ChunkKind.DATA, bytes(sealed))


def test_chunk_is_bound_to_its_id_and_kind():
    plaintext = b"bound"
    chunk_id = CODEC.chunk_id(plaintext)
    sealed = CODEC.seal(chunk_id, ChunkKind.DATA, plaintext)
    with pytest.raises(ChunkDamagedError):
        CODEC.open(CODEC.chunk_id(b"other"), ChunkKind.DATA, sealed)
    with pytest.raises(ChunkDamagedError):
        CODEC.open(chunk_id, ChunkKind.TREE, sealed)


def _seal_raw(chunk_id: bytes, header_and_body: bytes, nonce: bytes = bytes(12)) -> bytes:
    aad = b"BKCHUNK1" + bytes((ChunkKind.DATA,)) + chunk_id
    return nonce + AESGCM(KEYS.data_key).encrypt(nonce, header_and_body, aad)


def test_a_chunk_claiming_more_than_the_maximum_size_is_refused_before_decompressing():
    bomb = zstandard.ZstdCompressor().compress(bytes(MAX_CHUNK_SIZE + 1))
    chunk_id = CODEC.chunk_id(bytes(MAX_CHUNK_SIZE + 1))
    with pytest.raises(ChunkDamagedError, match="maximum chunk size"):
        CODEC.open(chunk_id, ChunkKind.DATA, _seal_raw(chunk_id, struct.pack("<BI", 1, MAX_CHUNK_SIZE + 1) + bomb))


def test_a_frame_larger_than_its_header_says_is_refused():
    frame = zstandard.ZstdCompressor().compress(bytes(5000))
    chunk_id = CODEC.chunk_id(bytes(100))
    with pytest.raises(ChunkDamagedError, match="disagrees"):
        CODEC.open(chunk_id, ChunkKind.DATA, _seal_raw(chunk_id, struct.pack("<BI", 1, 100) + frame))


def test_golden_sealed_chunk_opens():
    golden = json.loads(GOLDEN.read_text())
    plaintext = bytes.fromhex(golden["plaintext"])
    assert CODEC.chunk_id(plaintext).hex() == golden["chunk_id"]
    assert CODEC.open(bytes.fromhex(golden["chunk_id"]), ChunkKind.DATA, bytes.fromhex(golden["sealed"])) == plaintext


def _write_golden() -> None:  # pragma: no cover - run by hand when the format version changes
    plaintext = b"golden chunk " * 8
    chunk_id = CODEC.chunk_id(plaintext)
    body = zstandard.ZstdCompressor(level=1, write_content_size=True).compress(plaintext)
    sealed = _seal_raw(chunk_id, struct.pack("<BI", 1, len(plaintext)) + body)
    GOLDEN.write_text(json.dumps({"data_key": KEYS.data_key.hex(), "chunk_id_key": KEYS.chunk_id_key.hex(),
                                  "plaintext": plaintext.hex(), "chunk_id": chunk_id.hex(), "sealed": sealed.hex()}, indent=1))
