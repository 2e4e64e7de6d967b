"""Restores a recovery point, or the parts of it under --include paths, into a target folder."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from agent_client.agent_context import AgentContext
from agent_client.errors import BackupError, IntegrityError, UsageError
from agent_client.file_metadata import apply_metadata
from agent_client.recovery_point_access import OpenedRecoveryPoint, open_recovery_point
from agent_client.restore_batch import FileJob, RestoreBatch
from agent_client.restore_target import TargetTree, UnsafePathError, temporary_sibling
from agent_client.tree_format import EntryKind, TreeEntry

MAX_LEFT_DIRECTORIES = 10_000  # directories waiting for their metadata before the batch runs early


@dataclass
class RestoreReport:
    """What a restore did and what it could not do."""

    recovery_point_id: str
    target: str
    files: int = 0
    dirs: int = 0
    links: int = 0
    bytes_written: int = 0
    bytes_downloaded: int = 0
    seconds: float = 0.0
    damaged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    damaged_packs: dict[str, str] = field(default_factory=dict)


class PathSelection:
    """Which tree paths --include selects: the paths themselves, what is below them, and their parents."""

    def __init__(self, includes: list[str]) -> None:
        self._includes = [os.fsencode(path).strip(b"/") for path in includes]
        self.matched: set[bytes] = set()

    def wants(self, path: bytes) -> bool:
        if not self._includes:
            return True
        for include in self._includes:
            if path == include or path.startswith(include + b"/") or not include:
                self.matched.add(include)
                return True
            if include.startswith(path + b"/"):
                return True
        return False

    def unmatched(self) -> list[str]:
        return [os.fsdecode(b"/" + include) for include in self._includes if include not in self.matched]


def run_restore(context: AgentContext, recovery_point_id: str, target: str, includes: list[str],
                from_secondary: bool = False) -> RestoreReport:
    started = time.monotonic()
    opened = open_recovery_point(context, recovery_point_id, from_secondary, trust_cached_trailers=False)
    report = RestoreReport(recovery_point_id, target, damaged_packs=dict(opened.index.unreadable_packs))
    if not includes:
        recovery_point = opened.session.recovery_point
        context.progress.set_totals(recovery_point.get("files") or 0, recovery_point.get("bytes") or 0)
    run = _RestoreRun(context, opened, TargetTree(target), report)
    selection = PathSelection(includes)
    try:
        for entry in opened.entries():
            if selection.wants(entry.path):
                run.restore(entry)
        run.finish()
    except BaseException:
        run.abandon()
        raise
    report.seconds = round(time.monotonic() - started, 3)
    context.api.complete_restore(opened.session.session_id, report.bytes_downloaded)
    if selection.unmatched():
        raise UsageError(f"nothing in recovery point {recovery_point_id} matches {', '.join(selection.unmatched())}")
    raise_for_problems(report)
    return report


def raise_for_problems(report: RestoreReport) -> None:
    if report.damaged or report.refused:
        paths = report.damaged + report.refused
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        what = "damaged data" if report.damaged else "unsafe paths"
        packs = f"; damaged: {_shown_packs(report.damaged_packs)}" if report.damaged_packs else ""
        raise IntegrityError(f"{len(paths)} path(s) not restored because of {what}: {shown}{packs}", paths)
    if report.damaged_packs:
        pack_name, reason = next(iter(report.damaged_packs.items()))
        raise IntegrityError(f"every restored file is intact, but pack {pack_name} of this recovery point is damaged: {reason}")
    if report.failed:
        raise BackupError(f"{len(report.failed)} path(s) could not be written: {report.failed[0]}")


def _shown_packs(damaged_packs: dict[str, str]) -> str:
    """The damaged packs, the first two with their reason: which pack to look at, on one line."""
    shown = [f"{name} ({reason})" for name, reason in list(damaged_packs.items())[:2]]
    more = f" and {len(damaged_packs) - 2} more pack(s)" if len(damaged_packs) > 2 else ""
    return ", ".join(shown) + more


class _RestoreRun:
    def __init__(self, context: AgentContext, opened: OpenedRecoveryPoint, target: TargetTree, report: RestoreReport) -> None:
        self._context = context
        self._target = target
        self._report = report
        # Tree order is depth first, so the directories the restore is inside form a stack; one it
        # has left waits only for the batch holding its last files, then gets its metadata: memory
        # follows the depth of the tree, not its number of directories.
        self._open_directories: list[tuple[bytes, TreeEntry]] = []
        self._left_directories: list[tuple[bytes, TreeEntry]] = []
        self._restored_link_leaders: dict[bytes, bytes] = {}
        self._pending_links: list[tuple[TreeEntry, bytes]] = []
        self._batch = RestoreBatch(opened.vault_blobs, opened.codec, opened.index, self._file_finished, self._count_bytes)
        self._batch_leaders: dict[bytes, bytes] = {}
        self._report_lock = threading.Lock()

    def restore(self, entry: TreeEntry) -> None:
        shown = "/" + os.fsdecode(entry.path)
        self._leave_directories_not_above(entry.path)
        try:
            full_path = self._target.place(entry.path)
            if entry.kind == EntryKind.DIR:
                self._target.make_directory(full_path)
                self._open_directories.append((full_path, entry))
                self._report.dirs += 1
            elif entry.kind == EntryKind.FILE:
                self._restore_file(entry, full_path)
            else:
                self._restore_special(entry, full_path)
        except UnsafePathError as exc:
            self._report.refused.append(f"{shown} ({exc})")
        except OSError as exc:
            self._report.failed.append(f"{shown}: {exc.strerror or exc}")

    def finish(self) -> None:
        self._left_directories.extend(reversed(self._open_directories))
        self._open_directories.clear()
        self._run_batch()

    def abandon(self) -> None:
        self._batch.discard()

    def _restore_file(self, entry: TreeEntry, full_path: bytes) -> None:
        leader = entry.hardlink_to
        if leader and (leader in self._restored_link_leaders or leader in self._batch_leaders):
            self._pending_links.append((entry, full_path))
            return
        self._batch.add(entry, full_path)
        if entry.nlink > 1:
            self._batch_leaders[entry.path] = full_path
        if self._batch.is_full:
            self._run_batch()

    def _restore_special(self, entry: TreeEntry, full_path: bytes) -> None:
        temporary = temporary_sibling(full_path)
        if entry.kind == EntryKind.SYMLINK:
            os.symlink(entry.link_target, temporary)
        else:
            os.mkfifo(temporary, 0o600)
        apply_metadata(temporary, entry)
        os.replace(temporary, full_path)
        self._report.links += entry.kind == EntryKind.SYMLINK

    def _leave_directories_not_above(self, path: bytes) -> None:
        while self._open_directories and not path.startswith(self._open_directories[-1][1].path + b"/"):
            self._left_directories.append(self._open_directories.pop())
        if len(self._left_directories) >= MAX_LEFT_DIRECTORIES:
            self._run_batch()

    def _run_batch(self) -> None:
        """Restores the batch's files and links, then the metadata of the directories left meanwhile.

        A directory's mode and mtime are set only once nothing more is written in it (a read-only
        directory must still take its files; each new name would move its mtime), innermost first.
        """
        self._batch.run()
        for pack_name, reason in self._batch.damaged_packs.items():
            self._report.damaged_packs.setdefault(pack_name, reason)
        self._batch_leaders.clear()
        for entry, full_path in self._pending_links:
            self._link(entry, full_path)
        self._pending_links.clear()
        for full_path, entry in self._left_directories:
            try:
                apply_metadata(full_path, entry)
            except OSError as exc:
                self._report.failed.append(f"/{os.fsdecode(entry.path)}: {exc.strerror or exc}")
        self._left_directories.clear()

    def _link(self, entry: TreeEntry, full_path: bytes) -> None:
        leader_path = self._restored_link_leaders.get(entry.hardlink_to)
        shown = "/" + os.fsdecode(entry.path)
        if leader_path is None:
            self._report.damaged.append(shown)  # its group's first file was damaged, so is it
            return
        temporary = temporary_sibling(full_path)
        try:
            os.link(leader_path, temporary, follow_symlinks=False)
            os.replace(temporary, full_path)
            self._report.files += 1
        except OSError as exc:
            self._report.failed.append(f"{shown}: {exc.strerror or exc}")

    def _file_finished(self, job: FileJob) -> None:  # called on the batch's worker threads
        shown = "/" + os.fsdecode(job.entry.path)
        with self._report_lock:
            if job.damage is not None:
                self._report.damaged.append(shown)
            elif job.error is not None:
                self._report.failed.append(f"{shown}: {job.error}")
            else:
                self._report.files += 1
                if job.entry.nlink > 1:
                    self._restored_link_leaders[job.entry.path] = job.final_path

    def _count_bytes(self, downloaded: int, written: int) -> None:
        with self._report_lock:
            self._report.bytes_downloaded += downloaded
            self._report.bytes_written += written
        self._context.progress.advance(0, written)
