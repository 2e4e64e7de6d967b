"""Drives Borg through the benchmark phases into a local repository (its defaults: lz4, repokey)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bench.compare.dataset import tree_stats
from bench.compare.measure import Run, run_measured, run_quiet

PASSPHRASE = "bench-passphrase-not-secret"


def version() -> str | None:
    if not shutil.which("borg"):
        return None
    return run_quiet(["borg", "--version"]).strip().removeprefix("borg ").strip()


class Borg:
    """One Borg repository with its cache and keys kept under the workdir."""

    def __init__(self, key: str, workdir: Path) -> None:
        self.key, self.workdir = key, workdir
        self.repository = workdir / "repo"
        self.env = {**os.environ, "BORG_PASSPHRASE": PASSPHRASE, "BORG_REPO": str(self.repository),
                    "BORG_BASE_DIR": str(workdir / "base"),
                    "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes", "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes"}
        self._archives = 0

    def _run(self, *arguments: str, cwd: Path | None = None) -> Run:
        return run_measured(["borg", *arguments], env=self.env, cwd=cwd).check()

    def setup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        self._archives = 0
        # repokey (AES-CTR + HMAC-SHA256) rather than repokey-blake2: this CPU has SHA extensions.
        self._run("init", "--encryption=repokey")

    def backup(self, source: Path) -> Run:
        self._archives += 1
        return self._run("create", f"::archive-{self._archives}", str(source))

    def restore(self, target: Path) -> Run:
        target.mkdir(parents=True, exist_ok=True)
        return self._run("extract", f"::archive-{self._archives}", cwd=target)

    def verify(self) -> Run:
        return self._run("check", "--verify-data")

    def stored_bytes(self) -> int:
        return tree_stats(self.repository).bytes

    def server_pid(self) -> int | None:
        return None

    def teardown(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
