"""`.ci/run` exits with pytest's own status, not make's 2, and with make's when pytest never ran."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devstack.stack import REPO_ROOT

INSTALL_INPUTS = ("requirements.txt", "requirements-dev.txt", "pyproject.toml", "package.json", "package-lock.json")


def _ci_run(repo: Path, **variables: str) -> int:
    environment = {key: value for key, value in os.environ.items() if key != "DEVSTACK_DIR"} | variables
    return subprocess.run(["bash", ".ci/run"], cwd=repo, env=environment, capture_output=True, timeout=60).returncode


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The Makefile and .ci/run with up-to-date install stamps and a stand-in .venv python."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(REPO_ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    for name in ("Makefile", *INSTALL_INPUTS):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / "node_modules").mkdir()
    (tmp_path / ".venv" / ".installed").touch()
    (tmp_path / "node_modules" / ".installed").touch()
    return tmp_path


@pytest.mark.parametrize("pytest_status", [0, 1, 5])
def test_ci_exits_with_the_status_pytest_exited_with(repo, pytest_status):
    python = repo / ".venv" / "bin" / "python"
    python.write_text(f"#!/bin/sh\nexit {pytest_status}\n")
    python.chmod(0o755)
    (repo / ".devstack").mkdir()
    (repo / ".devstack" / "pytest.status").write_text("0\n")  # a stale one from an earlier run
    assert _ci_run(repo) == pytest_status


def test_ci_exits_with_make_status_when_pytest_never_ran(repo):
    (repo / ".devstack").mkdir()
    (repo / ".devstack" / "pytest.status").write_text("0\n")
    (repo / ".venv" / ".installed").unlink()  # make must build .venv, with an interpreter that is not there
    assert _ci_run(repo, PYTHON_VERSION="python-not-installed") == 2
