"""Describes where a run happened: CPU, cores, memory, tool versions, the commit, the date and the load."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess

from bench.compare import borg, restic
from bench.compare.dataset import REPO_ROOT


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    return 0.0


def _azurite_version() -> str | None:
    package = REPO_ROOT / "node_modules" / "azurite" / "package.json"
    return json.loads(package.read_text())["version"] if package.exists() else None


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "agent_client", "shared"], cwd=REPO_ROOT,
                               capture_output=True, text=True).stdout.strip()
        return head + (" + uncommitted client changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _client_commit() -> str:
    """The last commit that changed the client or the shared code it runs: what its numbers depend on."""
    try:
        return subprocess.run(["git", "log", "-1", "--format=%h", "--", "agent_client", "shared/formats", "shared/domain"],
                              cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip() or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def describe() -> dict:
    node = shutil.which("node")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_memory_gib(), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "restic": restic.version(),
        "borg": borg.version(),
        "azurite": _azurite_version(),
        "node": subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() if node else None,
        "commit": _commit(),
        "client_commit": _client_commit(),
        "load_before": [round(value, 2) for value in os.getloadavg()],
    }
