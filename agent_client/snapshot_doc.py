"""Seals and opens the snapshot document: the tree's chunk ids, the sources and the summary.

Blob `snapshots/<recovery_point_id>`: ``b"BKSNAP01" | nonce(12) | AES-256-GCM(data_key, nonce,
zstd(JSON), aad = b"BKSNAP01" | recovery_point_id(ASCII))``; binding the id means a snapshot
cannot be passed off as another recovery point's.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agent_client.errors import IntegrityError
from agent_client.keys import MasterKeys
from shared.formats import bounded_json
from shared.formats.blob_names import snapshot_name

MAGIC = b"BKSNAP01"
SNAPSHOT_VERSION = 1
_MAX_DOCUMENT = 256 << 20


@dataclass
class SnapshotDocument:
    """What a recovery point is: whose, when, from which paths, and where its tree is."""

    recovery_point_id: str
    instance_id: str
    hostname: str
    client_time: str
    sources: list[str]
    tree_chunks: list[str]
    tree_entries: int
    tree_length: int
    summary: dict = field(default_factory=dict)
    # [pack name, offset, length] of each tree chunk: authenticated here, so the tree stays
    # readable (and damaged files nameable) even when a pack's unauthenticated index is damaged.
    tree_locations: list[list] = field(default_factory=list)
    version: int = SNAPSHOT_VERSION

    def tree_chunk_ids(self) -> list[bytes]:
        return [bytes.fromhex(chunk_hex) for chunk_hex in self.tree_chunks]

    def tree_chunk_locations(self) -> list[tuple[bytes, tuple[str, int, int] | None]]:
        locations = self.tree_locations if len(self.tree_locations) == len(self.tree_chunks) else []
        return [(chunk_id, tuple(locations[n]) if locations else None) for n, chunk_id in enumerate(self.tree_chunk_ids())]


def seal_snapshot(document: SnapshotDocument, master_keys: MasterKeys) -> bytes:
    plaintext = zstandard.ZstdCompressor(level=3).compress(json.dumps(asdict(document)).encode())
    nonce = os.urandom(12)
    aad = MAGIC + document.recovery_point_id.encode()
    return MAGIC + nonce + AESGCM(master_keys.data_key).encrypt(nonce, plaintext, aad)


def open_snapshot(blob: bytes, master_keys: MasterKeys, recovery_point_id: str) -> SnapshotDocument:
    """Authenticates and decodes a snapshot blob; any damage raises IntegrityError naming the blob."""
    damaged = IntegrityError(
        f"the snapshot {snapshot_name(recovery_point_id)} is damaged; no file of this recovery point can be trusted",
        [snapshot_name(recovery_point_id)],
    )
    if blob[: len(MAGIC)] != MAGIC or len(blob) < len(MAGIC) + 12 + 16:
        raise damaged
    nonce, ciphertext = blob[len(MAGIC) : len(MAGIC) + 12], blob[len(MAGIC) + 12 :]
    try:
        plaintext = AESGCM(master_keys.data_key).decrypt(nonce, ciphertext, MAGIC + recovery_point_id.encode())
        fields = bounded_json.parse(zstandard.ZstdDecompressor().decompress(plaintext, max_output_size=_MAX_DOCUMENT))
        document = SnapshotDocument(**fields)
    except (InvalidTag, ValueError, TypeError, zstandard.ZstdError):
        raise damaged from None
    if document.version != SNAPSHOT_VERSION or document.recovery_point_id != recovery_point_id:
        raise damaged
    return document
