"""Opens a recovery point for reading: restore session, keys, snapshot, and where its chunks are."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from agent_client.agent_context import AgentContext
from agent_client.chunk_codec import ChunkCodec
from agent_client.chunk_index import ChunkIndex, TrailerCache, list_vault_packs, load_chunk_index
from agent_client.errors import IntegrityError, NotFoundError
from agent_client.ports import BlobListing, RestoreSession, VaultBlobs
from agent_client.recovery_point_blobs import read_manifest, read_snapshot
from agent_client.snapshot_doc import SnapshotDocument
from agent_client.tree_format import TreeEntry
from agent_client.tree_reader import iter_snapshot_entries
from agent_client.vault_keys import read_first_master_keys, unwrap_beside


@dataclass
class OpenedRecoveryPoint:
    """Everything needed to read one recovery point's tree and chunks."""

    recovery_point_id: str
    session: RestoreSession
    vault_blobs: VaultBlobs
    codec: ChunkCodec
    document: SnapshotDocument
    index: ChunkIndex

    def entries(self) -> Iterator[TreeEntry]:
        return iter_snapshot_entries(self.vault_blobs, self.codec, self.index, self.document)


def open_recovery_point(context: AgentContext, recovery_point_id: str, from_secondary: bool = False,
                        trust_cached_trailers: bool = True) -> OpenedRecoveryPoint:
    """Opens a read-only session and the snapshot; trailers are re-read from the vault unless trusted from cache.

    Restore and verify re-read them so that a damaged pack index in the vault is noticed.
    """
    try:
        session = context.api.open_restore_session(recovery_point_id, from_secondary)
    except NotFoundError:
        raise NotFoundError(f"recovery point {recovery_point_id} does not exist in this vault", 404) from None
    vault_blobs = context.make_blobs(session.container_url, session.sas)
    recovery_point = {"id": recovery_point_id, **session.recovery_point}
    key_ids = [key_id for key_id in dict.fromkeys((session.key_id, recovery_point.get("key_id"))) if key_id]
    if not key_ids:
        raise IntegrityError("the vault has no key: nothing in it can be read")
    cache = TrailerCache(context.cache_dir / "trailers" if trust_cached_trailers else None)
    master_keys, index = unwrap_beside(  # the keyless pack indexes load meanwhile
        context.passphrases,
        lambda: read_first_master_keys(vault_blobs, key_ids, context.passphrases),
        lambda: load_chunk_index(vault_blobs, _recovery_point_packs(vault_blobs, recovery_point), cache),
    )
    document = read_snapshot(vault_blobs, recovery_point, master_keys)
    return OpenedRecoveryPoint(recovery_point_id, session, vault_blobs, ChunkCodec(master_keys), document, index)


def _recovery_point_packs(vault_blobs: VaultBlobs, recovery_point: dict) -> list[BlobListing]:
    """The packs named by the commit manifest (sizes as listed there); every pack if it is unreadable."""
    manifest = read_manifest(vault_blobs, recovery_point)
    if manifest is not None:
        return [BlobListing(pack.name, pack.size) for pack in manifest.packs]
    return list_vault_packs(vault_blobs)
