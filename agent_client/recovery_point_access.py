"""Opens a recovery point for reading: restore session, keys, snapshot, and where its chunks are."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from agent_client.agent_context import AgentContext
from agent_client.chunk_codec import ChunkCodec
from agent_client.chunk_index import ChunkIndex, TrailerCache, load_chunk_index
from agent_client.commit_flow import commit_blob_name
from agent_client.errors import BlobNotFoundError, IntegrityError, NotFoundError
from agent_client.ports import BlobListing, RestoreSession, VaultBlobs, iter_blobs
from agent_client.snapshot_doc import SnapshotDocument, open_snapshot, snapshot_blob_name
from agent_client.tree_format import TreeEntry
from agent_client.tree_reader import iter_snapshot_entries
from agent_client.vault_keys import read_master_keys, unwrap_beside
from shared.formats.commit_manifest import CommitManifest


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
    key_id = session.key_id or session.recovery_point.get("key_id")
    if not key_id:
        raise IntegrityError("the vault has no key: nothing in it can be read")
    cache = TrailerCache(context.cache_dir / "trailers" if trust_cached_trailers else None)
    master_keys, index = unwrap_beside(  # the keyless pack indexes load meanwhile
        context.passphrases,
        lambda: read_master_keys(vault_blobs, key_id, context.passphrases),
        lambda: load_chunk_index(vault_blobs, _recovery_point_packs(vault_blobs, recovery_point_id), cache),
    )
    try:
        snapshot_blob = vault_blobs.get(snapshot_blob_name(recovery_point_id))
    except BlobNotFoundError:
        raise IntegrityError(f"the snapshot of recovery point {recovery_point_id} is missing from the vault",
                             [snapshot_blob_name(recovery_point_id)]) from None
    document = open_snapshot(snapshot_blob, master_keys, recovery_point_id)
    return OpenedRecoveryPoint(recovery_point_id, session, vault_blobs, ChunkCodec(master_keys), document, index)


def _recovery_point_packs(vault_blobs: VaultBlobs, recovery_point_id: str) -> list[BlobListing]:
    """The packs named by the commit manifest (sizes as listed there); every pack if it is gone."""
    try:
        manifest = CommitManifest.from_json_bytes(vault_blobs.get(commit_blob_name(recovery_point_id)))
        return [BlobListing(pack.name, pack.size) for pack in manifest.packs]
    except (BlobNotFoundError, ValueError):
        return list(iter_blobs(vault_blobs, "packs/"))
