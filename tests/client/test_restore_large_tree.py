"""A tree of 200,000 entries, half of them directories: backup and restore memory does not grow with it.

The peak resident memory of the `backup-agent` process (its own, from wait4) on the large tree is
compared with the same command on a tree of a few entries, in the same vault: what a restore
kept per directory (about half a kilobyte) would add some 50 MiB here; the allowance is 25 MiB,
which covers the data that does grow with the tree (the pack index and the batch of at most
10,000 files). Every directory's mode and mtime must come back, read-only ones included.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from .e2e_support import restored

pytestmark = pytest.mark.stack

TOP_DIRECTORIES = 2_000
PER_DIRECTORY = 50  # subdirectories, and one file fewer: 2,000 * (1 + 50 + 49) = 200,000 entries
MTIME_NS = 1_500_000_000_000_000_000
ALLOWED_GROWTH = 25 << 20


def _large_tree(root: Path) -> Path:
    """Empty directories and files; every directory with an mtime and mode of its own."""
    root.mkdir(parents=True)
    for top in range(TOP_DIRECTORIES):
        folder = os.path.join(root, f"d{top:04d}")
        os.mkdir(folder)
        for number in range(PER_DIRECTORY):
            sub = os.path.join(folder, f"s{number:02d}")
            os.mkdir(sub, 0o700 if number % 3 else 0o755)
            os.utime(sub, ns=(0, MTIME_NS + top * 1000 + number))
        for number in range(PER_DIRECTORY - 1):
            os.close(os.open(os.path.join(folder, f"f{number:02d}"), os.O_CREAT | os.O_WRONLY, 0o644))
        os.chmod(folder, 0o555 if top % 7 == 0 else 0o750)  # read-only directories that hold files
        os.utime(folder, ns=(0, MTIME_NS + top))
    return root


def _directories(root: Path) -> dict[str, tuple[int, int]]:
    described = {}
    for folder, dirs, _ in os.walk(root):
        for name in dirs:
            st = os.lstat(os.path.join(folder, name))
            described[os.path.relpath(os.path.join(folder, name), root)] = (stat.S_IMODE(st.st_mode), st.st_mtime_ns)
    return described


@pytest.mark.timeout(600)
def test_restoring_200k_entries_keeps_memory_flat_and_every_directory_s_metadata(make_vault, tmp_path):
    vault = make_vault()
    alpha = vault.machine()
    small = tmp_path / "small"
    (small / "a" / "b").mkdir(parents=True)
    (small / "a" / "file").write_bytes(b"")
    started = time.monotonic()
    large = _large_tree(tmp_path / "large")
    built = time.monotonic()

    small_backup, small_backup_peak = alpha.run_measuring_memory("backup", str(small), "--json")
    large_backup, large_backup_peak = alpha.run_measuring_memory("backup", str(large), "--json")
    backed_up = time.monotonic()
    assert large_backup.json()["files"] == TOP_DIRECTORIES * (PER_DIRECTORY - 1)
    small_restore, small_restore_peak = alpha.run_measuring_memory(
        "restore", small_backup.json()["recovery_point_id"], "--target", str(tmp_path / "small-target"), "--json")
    large_restore, large_restore_peak = alpha.run_measuring_memory(
        "restore", large_backup.json()["recovery_point_id"], "--target", str(tmp_path / "large-target"), "--json")
    restored_at = time.monotonic()
    assert small_restore.json()["files"] == 1
    assert large_restore.json()["dirs"] >= TOP_DIRECTORIES * (1 + PER_DIRECTORY)

    print(f"build {built - started:.1f} s, backups {backed_up - built:.1f} s, restores {restored_at - backed_up:.1f} s; "
          f"peak RSS backup {small_backup_peak >> 20} -> {large_backup_peak >> 20} MiB, "
          f"restore {small_restore_peak >> 20} -> {large_restore_peak >> 20} MiB")
    assert large_restore_peak - small_restore_peak < ALLOWED_GROWTH
    assert large_backup_peak - small_backup_peak < ALLOWED_GROWTH
    assert _directories(restored(tmp_path / "large-target", large)) == _directories(large)
