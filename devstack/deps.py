"""Installs what the stack needs when it is missing: the Python virtual environment, node_modules, Debian packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from devstack.errors import StackError
from devstack.stack_files import REPO_ROOT, default_state_dir, make_state_dir

AZURITE_SCRIPT = Path("node_modules/azurite/dist/src/azurite.js")
COSMOS_SCRIPT = Path("node_modules/@vercel/cosmosdb-server/lib/cli.js")
# Starts that server with keep-alive connections (its CLI has no flag for it).
COSMOS_LAUNCHER = Path("devstack/cosmos_server.js")


def venv_python(repo_root: Path) -> Path:
    return repo_root / ".venv" / "bin" / "python"


def _run_logged(argv: list[str], repo_root: Path, log_path: Path, what: str) -> None:
    make_state_dir(log_path.parent)  # the logs live in the state folder, which this may be first to make
    with log_path.open("ab") as log:
        try:
            result = subprocess.run(argv, cwd=repo_root, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, check=False)
        except OSError as exc:
            raise StackError(f"{what} could not start: {exc}") from None
    if result.returncode != 0:
        raise StackError(f"{what} failed with exit code {result.returncode} (log: {log_path})")


def ensure_venv(repo_root: Path, state_dir: Path) -> Path:
    """The virtual environment's python, creating .venv with `make venv` if it is missing."""
    python = venv_python(repo_root)
    if python.exists():
        return python
    if shutil.which("make") is None:
        raise StackError(".venv is missing and make is not installed: install make, then run `make venv`")
    _run_logged(["make", "venv"], repo_root, state_dir / "venv.log", "make venv")
    return python


def ensure_node_modules(repo_root: Path, state_dir: Path) -> Path:
    """The node executable, running `npm ci` first if node_modules lacks Azurite or cosmosdb-server."""
    node = shutil.which("node")
    if node is None:
        raise StackError("node is not installed: install Node.js 20 or later (with npm) to run the local stack")
    if all((repo_root / script).exists() for script in (AZURITE_SCRIPT, COSMOS_SCRIPT)):
        return Path(node)
    if shutil.which("npm") is None:
        raise StackError("node_modules is missing and npm is not installed: install npm, then run `make node_modules`")
    install_node_modules(repo_root, state_dir)
    return Path(node)


def install_node_modules(repo_root: Path, state_dir: Path) -> None:
    """`npm ci`, its output kept in <state_dir>/npm.log rather than on the terminal."""
    _run_logged(["npm", "ci", "--no-audit", "--no-fund"], repo_root, state_dir / "npm.log", "npm ci")


# The command each Debian package we may install provides: present means installed.
DEBIAN_COMMANDS = {"restic": "restic", "borgbackup": "borg", "chromium": "chromium",
                   "chromium-driver": "chromedriver", "fuse3": "fusermount3"}


def missing_debian_packages(packages: list[str], which=shutil.which) -> list[str]:
    """The packages among `packages` whose command is not on PATH."""
    unknown = [package for package in packages if package not in DEBIAN_COMMANDS]
    if unknown:
        raise StackError(f"no command is known for the Debian package(s) {', '.join(unknown)}")
    return [package for package in packages if which(DEBIAN_COMMANDS[package]) is None]


def ensure_debian_packages(packages: list[str], state_dir: Path) -> list[str]:
    """apt-get install whichever of `packages` is missing (as root, or through sudo); returns what it installed."""
    missing = missing_debian_packages(packages)
    if not missing:
        return []
    if shutil.which("apt-get") is None:
        raise StackError(f"{', '.join(missing)} missing and this is not a Debian system: install them by hand")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    log = state_dir / "apt.log"
    _run_logged([*prefix, "apt-get", "update", "-q"], REPO_ROOT, log, "apt-get update")
    _run_logged([*prefix, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
                 "--no-install-recommends", *missing], REPO_ROOT, log, f"apt-get install {' '.join(missing)}")
    return missing


def main(argv: list[str]) -> int:
    """`python -m devstack.deps node_modules | debian PACKAGE...`, the Makefile's install steps: a failure is one line."""
    if argv[:1] not in (["node_modules"], ["debian"]) or (argv[0] == "node_modules") != (len(argv) == 1):
        print("devstack: error: usage: python -m devstack.deps node_modules | debian PACKAGE...", file=sys.stderr)
        return 2
    state_dir = default_state_dir()
    try:
        if argv[0] == "debian":
            installed = ensure_debian_packages(argv[1:], state_dir)
            if installed:
                print(f"installed {' '.join(installed)} (log: {state_dir / 'apt.log'})")
            return 0
        install_node_modules(REPO_ROOT, state_dir)
    except StackError as exc:
        print(f"devstack: error: {exc}", file=sys.stderr)
        return 1
    print(f"node_modules installed (log: {state_dir / 'npm.log'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
