"""Runs one backup end to end: session, keys, vault index, incremental scan, packs, commit."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import BinaryIO

from agent_client.agent_context import AgentContext
from agent_client.backup_scan import BackupScan
from agent_client.chunk_codec import ChunkCodec
from agent_client.chunk_index import ChunkIndex, TrailerCache, list_live_packs, load_chunk_index
from agent_client.chunking import DATA_CHUNKS, TREE_CHUNKS, PushChunker
from agent_client.commit_flow import commit_and_wait, utc_now, write_recovery_point
from agent_client.errors import BackupError, LimitError, UsageError
from agent_client.file_walker import ExcludeRules, normalise_sources, walk_sources
from agent_client.keys import MasterKeys
from agent_client.memory_tuning import release_free_memory
from agent_client.ports import VaultBlobs
from agent_client.previous_tree import PreviousTree
from agent_client.recovery_point_blobs import read_snapshot
from agent_client.snapshot_doc import SnapshotDocument
from agent_client.tree_cache import SealedTreeCache
from agent_client.tree_format import TreeStreamWriter
from agent_client.tree_reader import iter_snapshot_entries
from agent_client.upload_pipeline import UploadPipeline
from agent_client.vault_keys import OpenedKeys, open_backup_keys, unwrap_beside
from shared.formats.commit_manifest import CommitSummary
from shared.formats.pack_index import ChunkKind


@dataclass
class BackupRequest:
    """What to back up: paths with exclude globs, or one stream under a name."""

    sources: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    stdin_name: str | None = None
    stdin: BinaryIO | None = None


@dataclass
class BackupReport:
    """The CLI contract's backup result (PRODUCT.md), plus a few more totals."""

    recovery_point_id: str
    files_new: int
    files_changed: int
    files_unchanged: int
    bytes_read: int
    bytes_uploaded: int
    seconds: float
    partial: bool
    skipped: list[dict[str, str]]
    files: int
    dirs: int
    bytes: int
    chunks_stored: int
    packs_uploaded: int


def run_backup(context: AgentContext, request: BackupRequest) -> BackupReport:
    started = time.monotonic()
    sources = _check_request(request)
    trailer_cache = TrailerCache(context.cache_dir / "trailers")
    tree_cache = SealedTreeCache(context.cache_dir / "trees")
    opened, index = _open_keys_and_index(context, trailer_cache)
    session, vault_blobs = opened.session, opened.vault_blobs
    codec = ChunkCodec(opened.master_keys)
    previous = PreviousTree(_previous_entries(context, vault_blobs, codec, index, opened.master_keys, tree_cache),
                            lambda exc: context.progress.note(f"warning: the previous recovery point is unreadable ({exc}); reading every file"))
    pipeline = UploadPipeline(codec, index, vault_blobs, pack_size=context.pack_size,
                              trailer_cache=trailer_cache, on_uploaded=lambda size: _pack_uploaded(context, size),
                              on_sealed_tree=tree_cache.put)
    tree_chunks = PushChunker(TREE_CHUNKS.keyed(codec.chunker_seed))
    tree_ids = []

    def tree_sink(piece: bytes) -> None:
        tree_ids.extend(pipeline.submit(ChunkKind.TREE, chunk) for chunk in tree_chunks.feed(piece))

    tree_writer = TreeStreamWriter(tree_sink)
    scan = BackupScan(pipeline, index, previous, DATA_CHUNKS.keyed(codec.chunker_seed), tree_writer.add,
                      lambda files, done: context.progress.advance(files, done))
    try:
        if request.stdin_name is not None:
            scan.add_stream(os.fsencode(request.stdin_name), request.stdin)
        else:
            for item in walk_sources(sources, ExcludeRules(request.excludes), scan.skip):
                scan.add(item)
        scan.finish()
        tree_ids.extend(pipeline.submit(ChunkKind.TREE, chunk) for chunk in tree_chunks.finish())
        stats = pipeline.finish()
    except BaseException:
        pipeline.abort()
        _abandon(context, session)
        raise
    counts = scan.counts
    tree_chunk_ids = [future.result() for future in tree_ids]
    summary = CommitSummary(
        files=counts.files, dirs=counts.dirs, bytes=counts.bytes, files_new=counts.files_new,
        files_changed=counts.files_changed, files_unchanged=counts.files_unchanged, bytes_read=counts.bytes_read,
        bytes_uploaded=stats.bytes_uploaded, partial=bool(counts.skipped), skipped=len(counts.skipped),
    )
    document = SnapshotDocument(
        recovery_point_id=session.recovery_point_id, instance_id=context.config.instance_id,
        hostname=socket.gethostname(), client_time=utc_now().isoformat(),
        sources=[os.fsdecode(s) for s in sources] or [f"<stdin> as {request.stdin_name}"],
        tree_chunks=[chunk_id.hex() for chunk_id in tree_chunk_ids], tree_entries=tree_writer.entry_count,
        tree_length=tree_writer.stream_length, summary=summary.model_dump(),
        tree_locations=[_location(index, chunk_id) for chunk_id in tree_chunk_ids],
    )
    packs = _referenced_packs(index, pipeline.referenced_packs | scan.referenced_packs | set(stats.session_packs))
    try:
        written = write_recovery_point(vault_blobs, opened.master_keys, opened.key_id, session, document, packs, summary)
    except BaseException:
        _abandon(context, session)
        raise
    context.progress.stage("done; the service is cataloging it")
    try:
        commit_and_wait(context.api, session, written.commit_blob, context.commit_timeout)
    except LimitError:
        _abandon(context, session)  # refused before anything was queued: the session ends here
        raise
    context.progress.close()
    tree_cache.keep_only(set(tree_chunk_ids))
    return BackupReport(
        recovery_point_id=session.recovery_point_id, files_new=counts.files_new,
        files_changed=counts.files_changed, files_unchanged=counts.files_unchanged, bytes_read=counts.bytes_read,
        bytes_uploaded=stats.bytes_uploaded + written.bytes_written, seconds=round(time.monotonic() - started, 3),
        partial=bool(counts.skipped), skipped=[{"path": path, "error": reason} for path, reason in counts.skipped],
        files=counts.files, dirs=counts.dirs, bytes=counts.bytes, chunks_stored=stats.chunks_stored,
        packs_uploaded=stats.packs_uploaded,
    )


def _open_keys_and_index(context: AgentContext, trailer_cache: TrailerCache) -> tuple[OpenedKeys, ChunkIndex]:
    """Opens the session, then unwraps the vault key while the vault's pack index loads.

    The index is keyless, so the two overlap. A vault's first key may need two prompts and may
    lose a race that re-opens the session: that case runs in order.
    """
    session = context.api.open_backup_session()
    if session.key_id is None:
        opened = open_backup_keys(context.api, session, context.make_blobs, context.passphrases)
        return opened, _load_index(opened.vault_blobs, opened.session, trailer_cache)
    return unwrap_beside(
        context.passphrases,
        lambda: open_backup_keys(context.api, session, context.make_blobs, context.passphrases),
        lambda: _load_index(context.make_blobs(session.container_url, session.sas), session, trailer_cache),
    )


def _load_index(vault_blobs: VaultBlobs, session, trailer_cache: TrailerCache) -> ChunkIndex:
    return load_chunk_index(vault_blobs, list_live_packs(vault_blobs, session.condemned_packs), trailer_cache)


def _abandon(context: AgentContext, session) -> None:
    """Ends a session that will not commit, so that it does not hold one of the machine's slots
    until it expires; best effort: the failure that got us here is what the user must see."""
    try:
        context.api.abandon_backup_session(session.session_id)
    except BackupError:
        pass


def _pack_uploaded(context: AgentContext, size: int) -> None:
    context.progress.uploaded(size)
    release_free_memory()  # a pack's worth of sealed chunks was just freed across the worker threads


def _check_request(request: BackupRequest) -> list[bytes]:
    if request.stdin_name is not None:
        if request.sources:
            raise UsageError("--stdin backs up only the stream: give no paths with it")
        name = request.stdin_name.strip("/")
        if not name or any(part in ("", ".", "..") for part in name.split("/")) or "\0" in name:
            raise UsageError("--name must be a relative file name without '..'")
        request.stdin_name = name
        return []
    if not request.sources:
        raise UsageError("give at least one path to back up, or --stdin --name NAME")
    return normalise_sources(request.sources)


def _previous_entries(context: AgentContext, vault_blobs: VaultBlobs, codec: ChunkCodec, index: ChunkIndex,
                      master_keys: MasterKeys, tree_cache: SealedTreeCache):
    """The entries of this machine's latest committed recovery point (none on a first backup)."""
    latest = next(iter(context.api.list_recovery_points(context.config.instance_id, "committed", limit=1)), None)
    if latest is None:
        return
    recovery_point_id = latest["id"]
    try:
        document = read_snapshot(vault_blobs, latest, master_keys)
    except BackupError as exc:
        context.progress.note(f"warning: cannot read the previous recovery point {recovery_point_id} ({exc}); reading every file")
        return
    yield from iter_snapshot_entries(vault_blobs, codec, index, document, tree_cache)


def _location(index: ChunkIndex, chunk_id: bytes) -> list:
    location = index.locate(chunk_id)
    if location is None:
        raise AssertionError(f"tree chunk {chunk_id.hex()} was stored in no pack")
    return [location.pack_name, location.offset, location.length]


def _referenced_packs(index: ChunkIndex, names: set[str]):
    return [(index.packs[name], index.pack_chunk_counts[name]) for name in sorted(names)]
