"""Streams a recovery point's tree entries by fetching its tree chunks in order, a few ahead."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from agent_client.chunk_codec import ChunkCodec, ChunkDamagedError
from agent_client.chunk_index import ChunkIndex
from agent_client.errors import BlobNotFoundError, IntegrityError
from agent_client.ports import VaultBlobs
from agent_client.snapshot_doc import SnapshotDocument
from agent_client.tree_cache import SealedTreeCache
from agent_client.tree_format import TreeEntry, TreeFormatError, iter_entries
from shared.formats.blob_names import snapshot_name
from shared.formats.pack_index import ChunkKind

_READ_AHEAD = 8


def iter_snapshot_entries(vault_blobs: VaultBlobs, codec: ChunkCodec, index: ChunkIndex,
                          document: SnapshotDocument, cache: SealedTreeCache | None = None) -> Iterator[TreeEntry]:
    """Yields every entry in tree order; damage raises IntegrityError naming where the tree broke.

    With a cache, locally kept copies are tried first (restore and verify pass none: they must
    see the vault's bytes).
    """
    last_path = b""
    try:
        for entry in iter_entries(_tree_pieces(vault_blobs, codec, index, document, cache or SealedTreeCache(None))):
            last_path = entry.path
            yield entry
    except (TreeFormatError, _TreeChunkError) as exc:
        raise _tree_damaged(document, last_path, str(exc)) from None


def _tree_pieces(vault_blobs: VaultBlobs, codec: ChunkCodec, index: ChunkIndex,
                 document: SnapshotDocument, cache: SealedTreeCache) -> Iterator[bytes]:
    def fetch(chunk_id: bytes, recorded: tuple[str, int, int] | None) -> bytes:
        cached = cache.get(chunk_id)
        if cached is not None:
            try:
                return codec.open(chunk_id, ChunkKind.TREE, cached)
            except ChunkDamagedError:
                pass
        located = index.locate(chunk_id)
        pack_name, offset, length = recorded or (located and (located.pack_name, located.offset, located.length)) or (None, 0, 0)
        if pack_name is None:
            raise _TreeChunkError(f"tree chunk {chunk_id.hex()} is in no readable pack")
        try:
            sealed = vault_blobs.get_range(pack_name, offset, length)
            plaintext = codec.open(chunk_id, ChunkKind.TREE, sealed)
            cache.put(chunk_id, sealed)
            return plaintext
        except (ChunkDamagedError, BlobNotFoundError) as exc:
            raise _TreeChunkError(f"tree chunk {chunk_id.hex()} in {pack_name}: {exc}") from None

    with ThreadPoolExecutor(_READ_AHEAD, thread_name_prefix="tree-read") as pool:
        pending: deque = deque()
        try:
            for chunk_id, recorded in document.tree_chunk_locations():
                pending.append(pool.submit(fetch, chunk_id, recorded))
                if len(pending) >= _READ_AHEAD:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


class _TreeChunkError(Exception):
    """A tree chunk could not be found or opened."""


def _tree_damaged(document: SnapshotDocument, last_path: bytes, reason: str) -> IntegrityError:
    where = f" after {last_path.decode(errors='replace')!r}" if last_path else ""
    return IntegrityError(
        f"the tree of recovery point {document.recovery_point_id} is damaged{where}: {reason}",
        [snapshot_name(document.recovery_point_id)],
    )
