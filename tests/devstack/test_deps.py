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


def _debian(tmp_path: Path, *packages: str, present: tuple[str, ...] = (), apt_exit: int = 0):
    """`python -m devstack.deps debian ...` with a fake apt-get that records its arguments."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(parents=True, exist_ok=True)
    (fake_bin / "env").symlink_to(shutil.which("env"))
    (fake_bin / "sudo").write_text('#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n')  # for a run as a user
    (fake_bin / "sudo").chmod(0o755)
    calls = tmp_path / "apt-calls"
    apt = fake_bin / "apt-get"
    apt.write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\nexit {apt_exit}\n")
    apt.chmod(0o755)
    for command in present:
        (fake_bin / command).write_text("#!/bin/sh\n")
        (fake_bin / command).chmod(0o755)
    environment = {"PATH": str(fake_bin), "DEVSTACK_DIR": str(tmp_path / "state")}
    result = subprocess.run([sys.executable, "-m", "devstack.deps", "debian", *packages], cwd=REPO_ROOT,
                            env=environment, capture_output=True, text=True, timeout=60)
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_missing_debian_packages_are_installed_in_one_apt_call(tmp_path):
    result, calls = _debian(tmp_path, "restic", "borgbackup", present=("borg",))
    assert result.returncode == 0, result.stderr
    assert calls == ["update -q", "install -y -q --no-install-recommends restic"]
    assert result.stdout.splitlines() == [f"installed restic (log: {tmp_path / 'state' / 'apt.log'})"]


def test_present_debian_packages_install_nothing_and_a_failure_is_one_line(tmp_path):
    result, calls = _debian(tmp_path / "present", "restic", "fuse3", present=("restic", "fusermount3"))
    assert (result.returncode, result.stdout, calls) == (0, "", [])
    result, calls = _debian(tmp_path / "failing", "chromium", apt_exit=100)
    assert result.returncode == 1 and len(calls) == 1
    assert result.stderr.splitlines() == [
        f"devstack: error: apt-get update failed with exit code 100 (log: {tmp_path / 'failing' / 'state' / 'apt.log'})"]
    result, _ = _debian(tmp_path / "unknown", "no-such-package")
    assert result.returncode == 1 and "no command is known" in result.stderr
