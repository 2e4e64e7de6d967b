"""Shows a backup's or restore's progress on stderr: a rich bar on a terminal, nothing otherwise."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class NullProgress:
    """Progress that shows nothing (stderr is not a terminal, or --json)."""

    def set_totals(self, files: int, total_bytes: int) -> None: ...
    def advance(self, files: int = 0, done_bytes: int = 0) -> None: ...
    def uploaded(self, uploaded_bytes: int) -> None: ...
    def note(self, message: str) -> None: ...
    def stage(self, description: str) -> None: ...
    def close(self) -> None: ...


class TerminalProgress(NullProgress):
    """A progress bar with files, bytes, rate and ETA, plus the bytes uploaded so far."""

    def __init__(self, verb: str) -> None:
        self._console = Console(stderr=True)
        self._bar = Progress(
            TextColumn(f"{verb} [progress.description]{{task.description}}"), BarColumn(),
            DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(), console=self._console,
            transient=True,
        )
        self._task = self._bar.add_task("", total=None)
        self._files = 0
        self._total_files = 0
        self._uploaded = 0
        self._lock = threading.Lock()
        self._bar.start()

    def set_totals(self, files: int, total_bytes: int) -> None:
        with self._lock:
            self._total_files = files
            self._bar.update(self._task, total=total_bytes)

    def advance(self, files: int = 0, done_bytes: int = 0) -> None:
        with self._lock:
            self._files += files
            self._bar.update(self._task, advance=done_bytes, description=self._describe())

    def uploaded(self, uploaded_bytes: int) -> None:
        with self._lock:
            self._uploaded += uploaded_bytes
            self._bar.update(self._task, description=self._describe())

    def note(self, message: str) -> None:
        self._console.print(message, markup=False, highlight=False)

    def stage(self, description: str) -> None:
        with self._lock:
            self._bar.update(self._task, description=description)

    def close(self) -> None:
        self._bar.stop()

    def _describe(self) -> str:
        total = f"/{self._total_files}" if self._total_files else ""
        return f"{self._files}{total} files, {self._uploaded / 2**20:.0f} MiB uploaded"


class PlainNotes(NullProgress):
    """No bar, but warnings still reach stderr as lines."""

    def note(self, message: str) -> None:
        print(message, file=sys.stderr)


def make_progress(verb: str, quiet: bool) -> NullProgress:
    if not quiet and sys.stderr.isatty():
        return TerminalProgress(verb)
    return PlainNotes()


def scan_totals_in_background(sources: Iterable[bytes], progress: NullProgress) -> None:
    """Counts files and bytes below the sources on a daemon thread, to give the bar its total."""

    def scan() -> None:
        files = total = 0
        for source in sources:
            if not os.path.isdir(source):
                files, total = files + 1, total + _size(source)
                continue
            for folder, _, names in os.walk(source):
                for name in names:
                    files, total = files + 1, total + _size(os.path.join(folder, name))
        progress.set_totals(files, total)

    threading.Thread(target=scan, name="scan-totals", daemon=True).start()


def _size(path: bytes) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0
