"""Drives restic through the benchmark phases, into a local directory or into an Azurite container."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from bench.compare.dataset import tree_stats
from bench.compare.measure import Run, run_measured, run_quiet

PASSWORD = "bench-password-not-secret"


def version() -> str | None:
    if not shutil.which("restic"):
        return None
    return run_quiet(["restic", "version"]).split(" compiled")[0].removeprefix("restic ").strip()


class Restic:
    """One restic repository; every command may run behind a prefix (nsenter into a namespace)."""

    def __init__(self, key: str, workdir: Path, repository: str | None = None, *, prefix: Sequence[str] = (),
                 extra_env: Mapping[str, str] | None = None,
                 stored_bytes: Callable[[], int] | None = None, discard: Callable[[], None] | None = None,
                 server_pid: Callable[[], int | None] | None = None) -> None:
        self.key, self.workdir, self._prefix = key, workdir, list(prefix)
        self.repository = repository or str(workdir / "repo")
        self._stored_bytes, self._discard = stored_bytes, discard
        self._server_pid = server_pid or (lambda: None)
        self.env = {**os.environ, **(extra_env or {}), "RESTIC_PASSWORD": PASSWORD,
                    "RESTIC_REPOSITORY": self.repository, "RESTIC_CACHE_DIR": str(workdir / "cache")}
        self.last_summary: dict = {}

    def _run(self, *arguments: str) -> Run:
        return run_measured([*self._prefix, "restic", *arguments], env=self.env).check()

    def setup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        if self._discard:
            self._discard()
        self._run("init")

    def backup(self, source: Path) -> Run:
        run = self._run("backup", "--json", str(source))
        lines = [line for line in run.stdout.splitlines() if '"message_type":"summary"' in line]
        self.last_summary = json.loads(lines[-1]) if lines else {}
        return run

    def restore(self, target: Path) -> Run:
        return self._run("restore", "latest", "--target", str(target))

    def verify(self) -> Run:
        return self._run("check", "--read-data")

    def stored_bytes(self) -> int:
        if self._stored_bytes:
            return self._stored_bytes()
        return tree_stats(Path(self.repository)).bytes

    def server_pid(self) -> int | None:
        return self._server_pid()

    def teardown(self) -> None:
        if self._discard:
            self._discard()
        shutil.rmtree(self.workdir, ignore_errors=True)
