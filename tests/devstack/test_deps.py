"""`make node_modules` keeps npm's output in a log and reports a failed install as one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from devstack.stack import REPO_ROOT

NPM_NOISE = "npm ERR! pages of npm output"


def _make_node_modules(tmp_path: Path, npm_exit_code: int) -> subprocess.CompletedProcess[str]:
    """Runs `make node_modules` in a copy of the repository's install files, with a fake npm."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "devstack", repo / "devstack", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("Makefile", "package.json", "package-lock.json"):
        shutil.copy(REPO_ROOT / name, repo / name)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    npm = fake_bin / "npm"
    npm.write_text(f"#!/bin/sh\necho '{NPM_NOISE}'\necho '{NPM_NOISE}' >&2\n"
                   f"mkdir -p node_modules\nexit {npm_exit_code}\n")
    npm.chmod(0o755)
    # As a user's top-level make: under `make test` the inherited MAKELEVEL would make it a sub-make.
    inherited = {"DEVSTACK_DIR", "MAKELEVEL", "MAKEFLAGS", "MFLAGS"}
    environment = {key: value for key, value in os.environ.items() if key not in inherited}
    environment["PATH"] = f"{fake_bin}:{environment['PATH']}"
    return subprocess.run(["make", "--no-print-directory", "node_modules", f"PYTHON_VERSION={sys.executable}"],
                          cwd=repo, env=environment, capture_output=True, text=True, timeout=60)


def test_a_failed_npm_install_is_one_line_naming_the_log(tmp_path):
    result = _make_node_modules(tmp_path, npm_exit_code=1)
    log = tmp_path / "repo" / ".devstack" / "npm.log"
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if not line.startswith("make: ***")]
    assert ours == [f"devstack: error: npm ci failed with exit code 1 (log: {log})"], result.stderr
    assert NPM_NOISE not in result.stdout + result.stderr
    assert NPM_NOISE in log.read_text()
    assert not (tmp_path / "repo" / "node_modules" / ".installed").exists()  # the next make tries again


def test_a_successful_npm_install_is_one_line_and_stamps_node_modules(tmp_path):
    result = _make_node_modules(tmp_path, npm_exit_code=0)
    assert result.returncode == 0, result.stderr
    log = tmp_path / "repo" / ".devstack" / "npm.log"
    assert result.stdout.splitlines() == [f"node_modules installed (log: {log})"]
    assert (tmp_path / "repo" / "node_modules" / ".installed").exists()
