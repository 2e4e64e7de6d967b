"""Drives our client (`backup-agent`) through the benchmark phases against the benchmark's local stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from bench.compare.blob_usage import container_bytes, delete_container
from bench.compare.measure import CommandFailed, Run, run_measured, run_quiet

PASSPHRASE = "bench-passphrase-not-secret"
BIN_DIR = Path(sys.executable).parent
_COMMIT_TIMEOUT_SECONDS = 120


def problem() -> str | None:
    """Why our client cannot be benchmarked now, or None when it can."""
    if not (BIN_DIR / "backup-agent").exists():
        return f"{BIN_DIR / 'backup-agent'} is missing (run `make venv`)"
    probe = subprocess.run([sys.executable, "-c", "import agent_client.cli"], capture_output=True, text=True)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["import failed"])[-1]
        return f"agent_client.cli does not import: {last[:200]}"
    return None


def _json_document(stdout: str) -> dict:
    """The one JSON document of `--json`, skipping lines a wrapper (a profiler) may print around it."""
    start = 0 if stdout.startswith("{") else stdout.find("\n{") + 1
    return json.JSONDecoder().raw_decode(stdout[start:])[0]


class Ours:
    """One vault and one registered machine on the stack; restores and verifies the newest backup."""

    def __init__(self, key: str, workdir: Path, stack_env: Mapping[str, str],
                 server_pid: Callable[[], int | None] = lambda: None) -> None:
        self.key, self.workdir, self._server_pid = key, workdir, server_pid
        self.storage = stack_env["PRIMARY_STORAGE_CONNECTION_STRING"]
        self.env = {**os.environ, "BACKUP_API_URL": stack_env["BACKUP_API_URL"],
                    "BACKUP_ADMIN_KEY": stack_env["BACKUP_ADMIN_KEY"], "BACKUP_AGENT_HOME": str(workdir / "home"),
                    "BACKUP_AGENT_PASSPHRASE": PASSPHRASE}
        self.container: str | None = None
        self.recovery_point: str | None = None
        self.last_summary: dict = {}
        self.measured_prefix: list[str] = []  # e.g. a profiler wrapping only the measured commands

    def _agent(self, *arguments: str) -> list[str]:
        return [str(BIN_DIR / "backup-agent"), *arguments]

    def _measured(self, *arguments: str) -> Run:
        return run_measured([*self.measured_prefix, *self._agent(*arguments)], env=self.env).check()

    def setup(self) -> None:
        self.teardown()
        self.workdir.mkdir(parents=True)
        credentials = self.workdir / "vault.json"
        name = f"bench-{os.getpid()}-{time.time_ns() % 10**9}"
        run_quiet([str(BIN_DIR / "backup-admin"), "vault", "create", name, "--redundancy", "LRS",
                   "--out", str(credentials), "--json"], env=self.env)
        self.container = f"vault-{json.loads(credentials.read_text())['vault_id']}"
        run_quiet(self._agent("register", "--vault-credentials", str(credentials), "--name", "bench", "--json"),
                  env=self.env)

    def backup(self, source: Path) -> Run:
        run = self._measured("backup", str(source), "--json")
        self.last_summary = _json_document(run.stdout)
        self.recovery_point = self.last_summary["recovery_point_id"]
        self._await_committed()  # untimed: the catalog's work must not overlap the next measurement
        return run

    def _await_committed(self) -> None:
        deadline = time.monotonic() + _COMMIT_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            points = json.loads(run_quiet(self._agent("list", "--json"), env=self.env))
            state = next((point.get("state") for point in points if point.get("id") == self.recovery_point), None)
            if state == "committed":
                return
            if state == "rejected":
                raise CommandFailed(f"the catalog rejected recovery point {self.recovery_point}")
            time.sleep(0.5)
        raise CommandFailed(f"recovery point {self.recovery_point} not committed after {_COMMIT_TIMEOUT_SECONDS} s")

    def restore(self, target: Path) -> Run:
        return self._measured("restore", self.recovery_point, "--target", str(target), "--json")

    def verify(self) -> Run:
        return self._measured("verify", self.recovery_point, "--json")

    def stored_bytes(self) -> int:
        return container_bytes(self.storage, self.container) if self.container else 0

    def server_pid(self) -> int | None:
        return self._server_pid()

    def teardown(self) -> None:
        if self.container:
            delete_container(self.storage, self.container)
            self.container = None
        shutil.rmtree(self.workdir, ignore_errors=True)
