"""Runs one command and measures its wall time and the peak resident memory of its process tree."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_RSS_POLL_SECONDS = 0.1
# Finding new descendants means reading every /proc/<pid>/stat (about 9 ms here): do it less often.
_TREE_SCAN_SECONDS = 0.5


class CommandFailed(Exception):
    """A measured command exited non-zero; the message carries the end of its stderr."""


@dataclass(frozen=True)
class Run:
    """What one measured command did."""

    argv: tuple[str, ...]
    seconds: float
    peak_rss: int  # bytes: the larger of the polled tree sum and the kernel's per-process maximum
    cpu_seconds: float  # user + system time of the command and its waited-for descendants
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> Run:
        if self.returncode != 0:
            tail = " | ".join(line for line in self.stderr.strip().splitlines()[-3:])
            raise CommandFailed(f"{Path(self.argv[0]).name} exited {self.returncode}: {tail[:400]}")
        return self


def _parent_of(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    return int(stat[stat.rindex(b")") + 2:].split(b" ", 2)[1])


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _parent_of(entry)
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    tree, frontier = {root}, [root]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in tree:
                tree.add(child)
                frontier.append(child)
    return tree


def _resident(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


class _TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and its descendants until stopped."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peak = root, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        tree, scanned = {self.root}, 0.0
        while not self._stop_event.is_set():
            now = time.monotonic()
            if now - scanned >= _TREE_SCAN_SECONDS:
                tree, scanned = _descendants(self.root), now
            self.peak = max(self.peak, sum(_resident(pid) for pid in tree))
            self._stop_event.wait(_RSS_POLL_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def run_measured(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                 cwd: str | Path | None = None) -> Run:
    """Run argv to completion; stdout and stderr go to files so a chatty tool cannot block."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, cwd=cwd,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        sampler = _TreeSampler(process.pid)
        sampler.start()
        # wait4 returns this child's own rusage: ru_maxrss is its peak (and its waited-for children's).
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        sampler.stop()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(tuple(argv), seconds, max(sampler.peak, usage.ru_maxrss * 1024),
                   usage.ru_utime + usage.ru_stime, process.returncode,
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def cpu_seconds(pid: int | None) -> float:
    """User + system time a live process has used so far (0 when it is gone or unknown)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime (fields 14 and 15)


def run_quiet(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              cwd: str | Path | None = None, timeout: float = 600) -> str:
    """Run an unmeasured helper command; return its stdout or raise CommandFailed."""
    done = subprocess.run(list(argv), env=dict(env) if env is not None else None, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise CommandFailed(f"{Path(argv[0]).name} exited {done.returncode}: {tail[:400]}")
    return done.stdout
