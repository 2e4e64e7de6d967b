"""Starts, recognises and stops one service process of the stack through its pid file."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

# Children started by this Python process, so that their exit can be reaped (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def is_alive(pid: int) -> bool:
    """Whether pid is a live process; one that has wholly exited but awaits reaping is not."""
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state not in ("Z", "X"):
        return True
    # A zombie leader's other threads may still be exiting, holding the process's sockets.
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


class ServiceProcess:
    """A service's process, known by the pid in `<state_dir>/<name>.pid` and an argument only it has."""

    def __init__(self, state_dir: Path, name: str, identity: str) -> None:
        self.name = name
        self.pid_file = state_dir / f"{name}.pid"
        self.log_file = state_dir / f"{name}.log"
        self._identity = identity

    def recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def running_pid(self) -> int | None:
        """The recorded pid if that process is alive and is still this service (not a reused pid)."""
        pid = self.recorded_pid()
        if pid is None or not is_alive(pid):
            return None
        cmdline = _cmdline(pid)
        return pid if cmdline and self._identity in cmdline else None

    def start(self, argv: list[str], cwd: Path, env: Mapping[str, str]) -> int:
        """Start the service in a process group of its own, logging to its log file."""
        with self.log_file.open("ab") as log:
            log.write(f"--- {datetime.now().isoformat(timespec='seconds')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            child = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        _children[child.pid] = child
        self.pid_file.write_text(f"{child.pid}\n")
        return child.pid

    def stop(self, grace_seconds: float = 15.0) -> None:
        """SIGTERM the service's process group, SIGKILL it after grace_seconds, forget the pid."""
        pid = self.running_pid()
        if pid is not None:
            self._signal(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_seconds
            while is_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if is_alive(pid):
                self._signal(pid, signal.SIGKILL)
                deadline = time.monotonic() + 10
                while is_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
            _children.pop(pid, None)
        self.pid_file.unlink(missing_ok=True)

    def last_log_line(self) -> str:
        try:
            lines = [line.strip() for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1] if lines else ""

    @staticmethod
    def _signal(pid: int, signum: int) -> None:
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, signum)  # the service and anything it started
            else:
                os.kill(pid, signum)
        except ProcessLookupError:
            pass
