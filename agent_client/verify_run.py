"""Verifies a recovery point: downloads every pack it names, checks every byte, names damaged files."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from agent_client.agent_context import AgentContext
from agent_client.chunk_codec import ChunkCodec, ChunkDamagedError
from agent_client.errors import BlobNotFoundError, IntegrityError
from agent_client.ports import BlobListing, VaultBlobs
from agent_client.recovery_point_access import open_recovery_point
from agent_client.tree_format import EntryKind
from shared.formats import blob_names
from shared.formats.pack_index import PackFormatError, parse_trailer


@dataclass
class VerifyReport:
    """What verify checked and what it found damaged."""

    recovery_point_id: str
    packs: int = 0
    chunks: int = 0
    bytes_downloaded: int = 0
    files: int = 0
    seconds: float = 0.0
    damaged_paths: list[str] = field(default_factory=list)
    damaged_packs: dict[str, str] = field(default_factory=dict)
    tree_damage: str | None = None

    @property
    def ok(self) -> bool:
        return not self.damaged_paths and not self.damaged_packs and not self.tree_damage


class _PackChecker:
    """Downloads whole packs, checks their SHA-256 name, index and every chunk; remembers the good chunks.

    Only chunks of `locatable` packs count as good: restore finds chunks through the index read at
    the size the commit manifest recorded, so a chunk of a pack whose index is unreadable there is
    lost to it even when the chunk itself authenticates, and verify must say so.
    """

    def __init__(self, vault_blobs: VaultBlobs, codec: ChunkCodec, report: VerifyReport, on_bytes,
                 locatable: set[str]) -> None:
        self._blobs = vault_blobs
        self._locatable = locatable
        self._codec = codec
        self._report = report
        self._on_bytes = on_bytes
        self.good_chunks: set[bytes] = set()
        self._lock = threading.Lock()

    def check(self, pack: BlobListing) -> None:
        try:
            pack_bytes = self._blobs.get(pack.name)
        except BlobNotFoundError:
            self._note(pack.name, "missing from the vault")
            return
        self._on_bytes(len(pack_bytes))
        if hashlib.sha256(pack_bytes).hexdigest() != blob_names.parse_pack(pack.name):
            self._note(pack.name, "its content does not match its name (SHA-256)")
        try:
            entries = parse_trailer(pack_bytes, len(pack_bytes))
        except PackFormatError as exc:
            self._note(pack.name, f"its index is damaged ({exc})")
            return
        good, bad = [], 0
        view = memoryview(pack_bytes)
        for entry in entries:
            try:
                self._codec.open(entry.chunk_id, entry.kind, view[entry.offset : entry.offset + entry.length])
                good.append(entry.chunk_id)
            except ChunkDamagedError:
                bad += 1
        if bad:
            self._note(pack.name, f"{bad} chunk(s) fail authentication")
        with self._lock:
            if pack.name in self._locatable:
                self.good_chunks.update(good)
            self._report.chunks += len(entries)
            self._report.packs += 1

    def _note(self, pack_name: str, reason: str) -> None:
        with self._lock:
            self._report.damaged_packs.setdefault(pack_name, reason)


def run_verify(context: AgentContext, recovery_point_id: str, from_secondary: bool = False) -> VerifyReport:
    started = time.monotonic()
    opened = open_recovery_point(context, recovery_point_id, from_secondary, trust_cached_trailers=False)
    report = VerifyReport(recovery_point_id)
    for pack_name, reason in opened.index.unreadable_packs.items():
        report.damaged_packs[pack_name] = f"its index is damaged ({reason})"
    lock = threading.Lock()

    def downloaded(count: int) -> None:
        with lock:
            report.bytes_downloaded += count
        context.progress.advance(0, count)

    checker = _PackChecker(opened.vault_blobs, opened.codec, report, downloaded, set(opened.index.packs))
    packs = list(opened.index.packs.values()) + [BlobListing(name, 0) for name in opened.index.unreadable_packs]
    context.progress.set_totals(0, sum(pack.size for pack in packs))
    with ThreadPoolExecutor(4, thread_name_prefix="verify") as pool:
        for _ in pool.map(checker.check, packs):
            pass
    try:
        for entry in opened.entries():
            if entry.kind != EntryKind.FILE:
                continue
            report.files += 1
            if any(chunk_id not in checker.good_chunks for chunk_id in entry.chunk_ids()):
                report.damaged_paths.append("/" + os.fsdecode(entry.path))
    except IntegrityError as exc:  # the tree breaks off: the files after the break cannot be named
        report.damaged_paths.extend(exc.damaged_paths)
        report.tree_damage = str(exc)
    report.seconds = round(time.monotonic() - started, 3)
    context.api.complete_restore(opened.session.session_id, report.bytes_downloaded)
    return report


def raise_for_damage(report: VerifyReport) -> None:
    if report.ok:
        return
    if report.tree_damage:
        raise IntegrityError(report.tree_damage, report.damaged_paths)
    if report.damaged_paths:
        shown = ", ".join(report.damaged_paths[:5])
        more = f" and {len(report.damaged_paths) - 5} more" if len(report.damaged_paths) > 5 else ""
        raise IntegrityError(f"recovery point {report.recovery_point_id} is damaged: {shown}{more}", report.damaged_paths)
    pack_name, reason = next(iter(report.damaged_packs.items()))
    raise IntegrityError(
        f"recovery point {report.recovery_point_id}: every file checks out, but pack {pack_name} is damaged: {reason}",
        [],
    )
