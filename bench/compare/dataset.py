"""Provides the benchmark dataset: generated once per size and seed, copied fresh for each round, mutated."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The project's own generator (bench/dataset), run as a module from the repository root.
GENERATOR = [sys.executable, "-m", "bench.dataset"]
_READ_BUFFER = 1 << 20


@dataclass(frozen=True)
class TreeStats:
    files: int
    bytes: int


def tree_stats(root: Path) -> TreeStats:
    """Regular files under root and their total size (symlinks and directories are not counted)."""
    files = total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            status = os.lstat(os.path.join(folder, name))
            if stat.S_ISREG(status.st_mode):
                files += 1
                total += status.st_size
    return TreeStats(files, total)


def read_tree(root: Path) -> tuple[float, int]:
    """Read every file once, like `cat` to /dev/null: (seconds, bytes)."""
    buffer = bytearray(_READ_BUFFER)
    view = memoryview(buffer)
    total, started = 0, time.perf_counter()
    for folder, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb", buffering=0) as handle:
                while count := handle.readinto(view):
                    total += count
    return time.perf_counter() - started, total


class Dataset:
    """The cached pristine tree for one size and seed, and the working copy the tools back up."""

    def __init__(self, data_dir: Path, size: str, seed: str) -> None:
        self.size, self.seed = size, seed
        self.cache = data_dir / "datasets" / f"{size}-seed{seed}"
        self.pristine = self.cache / "tree"
        # A fixed path: every tool sees the same source path in every round, as a real machine would.
        self.work = data_dir / "work" / "source"

    def ensure(self) -> dict:
        """Generate the pristine tree unless a complete one is cached; return the generator's summary."""
        summary_file = self.cache / "summary.json"
        if summary_file.exists():
            return json.loads(summary_file.read_text())
        shutil.rmtree(self.cache, ignore_errors=True)
        self.cache.mkdir(parents=True)
        print(f"bench: generating the {self.size} dataset (seed {self.seed}) in {self.pristine}", flush=True)
        output = _generate(str(self.pristine), "--size", self.size, "--seed", self.seed)
        summary_file.write_text(output)  # written last: its presence marks a complete tree
        return json.loads(output)

    def fresh_copy(self) -> TreeStats:
        """Replace the working copy with the pristine tree (new inodes, original mtimes)."""
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", str(self.pristine), str(self.work)], check=True)
        return tree_stats(self.work)

    def mutate(self, round_number: int = 1) -> dict:
        """Change about 1% of the working copy in place, deterministically; return the generator's summary."""
        return json.loads(_generate(str(self.work), "--mutate", "--round", str(round_number), "--seed", self.seed))


def _generate(*arguments: str) -> str:
    """Run the dataset generator; its JSON summary is the output."""
    return subprocess.run([*GENERATOR, *arguments], cwd=REPO_ROOT, check=True, capture_output=True, text=True).stdout
