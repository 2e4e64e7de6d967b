"""A tampered `backup-agent` that writes hostile recovery points: `python -m tests.security.malicious_agent ARGS...`.

Everything but the tampered step is the real client's code (chunking, sealing, packs, snapshot,
commit), so restore sees a well-formed, authenticated recovery point with hostile contents: what
a compromised machine holding the vault key could write.

RELIABILITY_EVIL_TREE  a JSON file: a list of [tree path as hex, path on disk]. The backup walks
                       exactly those entries (the disk path gives kind, metadata, content or link
                       target) in place of the sources: paths the real walker never produces.
RELIABILITY_BOMB       a decompression bomb in place of the chunk of any file starting with
                       b"BOMB:": "small-header" (the header claims the real length, the zstd frame
                       expands to 1 GiB), "frame-agrees" (header and frame both claim 1 GiB),
                       "no-content-size" (a 1 GiB frame that does not declare its size),
                       "max-header" (header and frame claim just past the maximum chunk size).
"""

from __future__ import annotations

import json
import os
import sys

import zstandard

from agent_client import backup_run, chunk_codec
from agent_client.chunking import MAX_CHUNK_SIZE
from agent_client.file_walker import WalkItem
from agent_client.tree_format import path_key

BOMB_MARKER = b"BOMB:"
GIB = 1 << 30


def _evil_walk(sources, excludes, on_skip):
    with open(os.environ["RELIABILITY_EVIL_TREE"]) as spec:
        items = [(bytes.fromhex(tree_path), os.fsencode(disk_path)) for tree_path, disk_path in json.load(spec)]
    for tree_path, disk_path in sorted(items, key=lambda item: path_key(item[0])):
        yield WalkItem(tree_path, disk_path, os.lstat(disk_path))


def _zeros_frame(size: int, declare_size: bool) -> bytes:
    """A zstd frame of `size` zero bytes, compressed without ever holding them."""
    compressor = zstandard.ZstdCompressor(level=3, write_content_size=declare_size)
    chunk = bytes(1 << 20)
    pieces = []
    with compressor.stream_writer(_Sink(pieces), size=size if declare_size else -1, closefd=False) as writer:
        for offset in range(0, size, len(chunk)):
            writer.write(chunk[: min(len(chunk), size - offset)])
    return b"".join(pieces)


class _Sink:
    def __init__(self, pieces: list) -> None:
        self.pieces = pieces

    def write(self, data) -> int:
        self.pieces.append(bytes(data))
        return len(data)


def _bomb_message(variant: str, real_length: int) -> bytes:
    header = chunk_codec._HEADER
    if variant == "small-header":
        return header.pack(chunk_codec.ZSTD, real_length) + _zeros_frame(GIB, True)
    if variant == "frame-agrees":
        return header.pack(chunk_codec.ZSTD, GIB) + _zeros_frame(GIB, True)
    if variant == "no-content-size":
        return header.pack(chunk_codec.ZSTD, real_length) + _zeros_frame(GIB, False)
    if variant == "max-header":
        return header.pack(chunk_codec.ZSTD, MAX_CHUNK_SIZE + 1) + _zeros_frame(MAX_CHUNK_SIZE + 1, True)
    raise ValueError(f"unknown bomb {variant}")


def _install_bomb(variant: str) -> None:
    real_seal = chunk_codec.ChunkCodec.seal

    def seal(self, chunk_id, kind, plaintext):
        if bytes(plaintext[: len(BOMB_MARKER)]) != BOMB_MARKER:
            return real_seal(self, chunk_id, kind, plaintext)
        nonce = os.urandom(chunk_codec.NONCE_SIZE)
        message = _bomb_message(variant, len(plaintext))
        return nonce + self._aead.encrypt(nonce, message, chunk_codec._aad(kind, chunk_id))

    chunk_codec.ChunkCodec.seal = seal


if os.environ.get("RELIABILITY_EVIL_TREE"):
    backup_run.walk_sources = _evil_walk
if os.environ.get("RELIABILITY_BOMB"):
    _install_bomb(os.environ["RELIABILITY_BOMB"])

if __name__ == "__main__":
    from agent_client.cli import main

    sys.exit(main(sys.argv[1:]))
