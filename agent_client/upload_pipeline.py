"""Turns chunks into uploaded packs on worker threads: deduplicate, seal, pack, upload, bounded.

The caller submits plaintext chunks in order and gets futures of their ids. Seal workers hash
the chunk (keyed BLAKE3), skip it if the vault or this session already holds it, else compress,
encrypt and add it to the open pack; a full pack goes to the upload workers. At most
`max_pending_bytes` of plaintext wait for sealing, and `upload_workers + 1` packs are in memory
(those uploading and the one being filled), so memory stays flat however much data passes.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from agent_client.chunk_codec import ChunkCodec
from agent_client.chunk_index import ChunkIndex, TrailerCache
from agent_client.pack_builder import DEFAULT_PACK_SIZE, PackBuilder, PackDraft
from agent_client.ports import BlobListing, VaultBlobs
from shared.formats.pack_index import ChunkKind, serialize_trailer


@dataclass
class UploadStats:
    """What the pipeline did: chunks seen and stored, packs and bytes uploaded."""

    chunks_seen: int = 0
    chunks_stored: int = 0
    packs_uploaded: int = 0
    packs_already_present: int = 0
    bytes_uploaded: int = 0
    session_packs: dict[str, BlobListing] = field(default_factory=dict)


class UploadPipeline:
    """Deduplicates against `index`, packs and uploads new chunks; one instance per backup."""

    def __init__(self, codec: ChunkCodec, index: ChunkIndex, vault_blobs: VaultBlobs, *,
                 pack_size: int = DEFAULT_PACK_SIZE, seal_workers: int = 2, upload_workers: int = 2,
                 max_pending_bytes: int = 24 << 20, trailer_cache: TrailerCache | None = None,
                 on_uploaded=None, on_sealed_tree=None) -> None:
        self._codec = codec
        self._index = index
        self._blobs = vault_blobs
        self._trailer_cache = trailer_cache or TrailerCache(None)
        self._on_uploaded = on_uploaded or (lambda size: None)
        self._on_sealed_tree = on_sealed_tree or (lambda chunk_id, sealed: None)
        self._builder = PackBuilder(pack_size)
        self._lock = threading.Lock()
        self._claimed: set[bytes] = set()
        self.referenced_packs: set[str] = set()
        self.stats = UploadStats()
        self._pending_bytes = 0
        self._max_pending_bytes = max_pending_bytes
        self._room = threading.Condition()
        self._packs_in_memory = threading.BoundedSemaphore(upload_workers)
        self._sealers = ThreadPoolExecutor(seal_workers, thread_name_prefix="seal")
        self._uploaders = ThreadPoolExecutor(upload_workers, thread_name_prefix="upload")
        self._uploads: list[Future] = []
        self._failure: BaseException | None = None

    def submit(self, kind: ChunkKind, plaintext: memoryview | bytes) -> Future:
        """Queues one chunk; blocks while too much plaintext is waiting. The future gives its id."""
        self._raise_failure()
        size = len(plaintext)
        with self._room:
            while self._pending_bytes and self._pending_bytes + size > self._max_pending_bytes:
                self._room.wait()
            self._pending_bytes += size
        return self._sealers.submit(self._seal, kind, plaintext)

    def finish(self) -> UploadStats:
        """Waits for every chunk, uploads the last partial pack, and returns the totals."""
        self._sealers.shutdown(wait=True)
        self._raise_failure()
        if len(self._builder):
            self._start_upload(self._builder.take())
        for upload in self._uploads:
            upload.result()
        self._uploaders.shutdown(wait=True)
        self._raise_failure()
        return self.stats

    def abort(self) -> None:
        self._failure = self._failure or RuntimeError("the backup was stopped")
        self._sealers.shutdown(wait=True, cancel_futures=True)
        self._uploaders.shutdown(wait=True, cancel_futures=True)

    def _seal(self, kind: ChunkKind, plaintext: memoryview | bytes) -> bytes:
        try:
            chunk_id = self._codec.chunk_id(plaintext)
            with self._lock:
                self.stats.chunks_seen += 1
                location = self._index.locate(chunk_id)
                if location is not None:
                    self.referenced_packs.add(location.pack_name)
                    return chunk_id
                if chunk_id in self._claimed:
                    return chunk_id
                self._claimed.add(chunk_id)
            sealed = self._codec.seal(chunk_id, kind, plaintext)
            if kind == ChunkKind.TREE:
                self._on_sealed_tree(chunk_id, sealed)
            with self._lock:
                self._builder.add(chunk_id, kind, sealed)
                self.stats.chunks_stored += 1
                draft = self._builder.take() if self._builder.is_full else None
            if draft is not None:
                self._start_upload(draft)
            return chunk_id
        except BaseException as exc:
            self._failure = self._failure or exc
            raise
        finally:
            with self._room:
                self._pending_bytes -= len(plaintext)
                self._room.notify_all()

    def _start_upload(self, draft: PackDraft) -> None:
        while not self._packs_in_memory.acquire(timeout=0.5):
            self._raise_failure()  # a failed upload frees its slot, but never wait on a doomed backup
        try:
            self._raise_failure()
            self._uploads.append(self._uploaders.submit(self._upload, draft))
        except BaseException:
            self._packs_in_memory.release()
            raise

    def _upload(self, draft: PackDraft) -> None:
        try:
            pack = draft.finish()
            created = self._blobs.put_new(pack.name, pack.parts)
            listing = BlobListing(pack.name, pack.size)
            self._trailer_cache.put(pack.name, serialize_trailer(pack.entries))
            with self._lock:
                self._index.add_pack(listing, pack.entries)
                self.stats.session_packs[pack.name] = listing
                if created:
                    self.stats.packs_uploaded += 1
                    self.stats.bytes_uploaded += listing.size
                else:
                    self.stats.packs_already_present += 1
            self._on_uploaded(listing.size if created else 0)
        except BaseException as exc:
            self._failure = self._failure or exc
            raise
        finally:
            self._packs_in_memory.release()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
