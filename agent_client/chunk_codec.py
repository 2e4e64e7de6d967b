"""Seals a chunk (keyed id, zstd where it pays, AES-256-GCM bound to the id) and opens it again.

Sealed chunk: ``nonce(12) | AES-256-GCM(data_key, nonce, header | body, aad)`` where the
encrypted header is ``encoding(u8) | plaintext_length(u32 LE)``, ``encoding`` 0 = stored and
1 = one zstd frame, and ``aad = b"BKCHUNK1" | kind(u8) | chunk_id(32)``.
"""

from __future__ import annotations

import os
import struct
import threading

import blake3
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agent_client.chunking import MAX_CHUNK_SIZE
from agent_client.keys import MasterKeys
from shared.formats.pack_index import ChunkKind

NONCE_SIZE = 12
_HEADER = struct.Struct("<BI")
_AAD_MAGIC = b"BKCHUNK1"
STORED, ZSTD = 0, 1
ZSTD_LEVEL = 1
# Compression must save at least this fraction to be kept: smaller wins cost a decompression
# on every restore for next to nothing.
_MIN_SAVING = 1 / 32


class ChunkDamagedError(Exception):
    """A sealed chunk failed authentication, decoding or its id check."""


class ChunkCodec:
    """Computes chunk ids and seals/opens chunks with one vault's master keys; thread-safe."""

    def __init__(self, master_keys: MasterKeys, zstd_level: int = ZSTD_LEVEL) -> None:
        self._id_key = master_keys.chunk_id_key
        self._aead = AESGCM(master_keys.data_key)
        self._zstd_level = zstd_level
        self._local = threading.local()

    @property
    def chunker_seed(self) -> int:
        """The vault's FastCDC gear-table seed, derived from the chunk-id key (never stored)."""
        digest = blake3.blake3(b"backup-agent fastcdc seed v1", key=self._id_key).digest()
        return int.from_bytes(digest[:8], "little") % (1 << 62) or 1

    def chunk_id(self, plaintext: bytes | memoryview) -> bytes:
        return blake3.blake3(plaintext, key=self._id_key).digest()

    def seal(self, chunk_id: bytes, kind: ChunkKind, plaintext: bytes | memoryview) -> bytes:
        encoding, body = STORED, plaintext
        compressed = self._compressor().compress(plaintext)
        if len(compressed) < len(plaintext) * (1 - _MIN_SAVING):
            encoding, body = ZSTD, compressed
        nonce = os.urandom(NONCE_SIZE)
        message = _HEADER.pack(encoding, len(plaintext)) + body
        return nonce + self._aead.encrypt(nonce, message, _aad(kind, chunk_id))

    def open(self, chunk_id: bytes, kind: ChunkKind, sealed: bytes | memoryview) -> bytes:
        """Returns the plaintext, or raises ChunkDamagedError; never returns unchecked bytes."""
        if len(sealed) < NONCE_SIZE + _HEADER.size + 16:
            raise ChunkDamagedError("the sealed chunk is too short")
        try:
            message = self._aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], _aad(kind, chunk_id))
        except InvalidTag:
            raise ChunkDamagedError("the chunk failed authentication") from None
        encoding, length = _HEADER.unpack_from(message)
        if length > MAX_CHUNK_SIZE:
            raise ChunkDamagedError(f"the chunk claims {length} bytes, more than the maximum chunk size")
        body = memoryview(message)[_HEADER.size :]
        if encoding == STORED:
            plaintext = bytes(body)
        elif encoding == ZSTD:
            plaintext = _decompress(self._decompressor(), body, length)
        else:
            raise ChunkDamagedError(f"unknown chunk encoding {encoding}")
        if len(plaintext) != length or self.chunk_id(plaintext) != chunk_id:
            raise ChunkDamagedError("the chunk's content does not match its id")
        return plaintext

    def _decompressor(self) -> zstandard.ZstdDecompressor:
        decompressor = getattr(self._local, "decompressor", None)
        if decompressor is None:
            decompressor = self._local.decompressor = zstandard.ZstdDecompressor()
        return decompressor

    def _compressor(self) -> zstandard.ZstdCompressor:
        compressor = getattr(self._local, "compressor", None)
        if compressor is None:
            compressor = zstandard.ZstdCompressor(level=self._zstd_level, write_content_size=True)
            self._local.compressor = compressor
        return compressor


def _aad(kind: ChunkKind, chunk_id: bytes) -> bytes:
    return _AAD_MAGIC + bytes((kind,)) + chunk_id


def _decompress(decompressor: zstandard.ZstdDecompressor, body: memoryview, length: int) -> bytes:
    try:
        declared = zstandard.frame_content_size(body)
    except zstandard.ZstdError as exc:
        raise ChunkDamagedError("the compressed chunk has no valid zstd frame header") from exc
    # Allocation is bounded by the authenticated header's length, itself <= MAX_CHUNK_SIZE.
    if declared != length:
        raise ChunkDamagedError("the compressed chunk's frame size disagrees with its header")
    try:
        return decompressor.decompress(body, max_output_size=length)
    except zstandard.ZstdError as exc:
        raise ChunkDamagedError("the compressed chunk does not decompress") from exc
