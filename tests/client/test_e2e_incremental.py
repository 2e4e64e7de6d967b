"""End to end: incremental backups upload only what changed and read no unchanged file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .e2e_support import make_dataset, restored

pytestmark = pytest.mark.stack
REPO = Path(__file__).resolve().parents[2]
MiB, GiB = 1 << 20, 1 << 30
IMAGE_BLOCK = 8 * MiB
HOLE_EVERY = 8  # every 8th block is left unallocated, as a VM disk's never-written space is


def _backup_recording_opens(machine, source: Path, opens_file: Path) -> tuple[dict, set[bytes]]:
    """A backup through tests/reliability/killing_agent.py, which records every file the agent opens."""
    done = subprocess.run([sys.executable, "-m", "tests.reliability.killing_agent", "backup", str(source), "--json"],
                          env={**machine.env, "RELIABILITY_OPENS": str(opens_file)}, cwd=REPO,
                          capture_output=True, timeout=280)
    assert done.returncode == 0, done.stderr.decode()
    opened = set(opens_file.read_bytes().splitlines()) if opens_file.exists() else set()
    return json.loads(done.stdout), opened


def _inside(paths: set[bytes], folder: Path) -> set[bytes]:
    prefix = os.fsencode(folder.resolve()) + b"/"
    return {path for path in paths if os.path.abspath(path).startswith(prefix)}


@pytest.mark.timeout(900)
def test_one_percent_change_uploads_under_five_percent_and_no_change_uploads_almost_nothing(make_vault, tmp_path):
    vault = make_vault()
    alpha = vault.machine()
    dataset = tmp_path / "dataset"
    make_dataset(dataset, "512M")  # smaller sets shrink the mutation's ranges below a chunk
    first = alpha.backup(dataset)
    mutation = make_dataset(dataset, "", mutate_round=1)
    second, opened = _backup_recording_opens(alpha, dataset, tmp_path / "opens-2")
    assert second["bytes_uploaded"] < 0.05 * first["bytes_uploaded"]
    assert second["bytes_uploaded"] < 2.5 * mutation["changed_or_new_bytes"]  # 1.8x measured at this size
    assert second["files_unchanged"] > 0.9 * second["files"]
    # The recorder sees the agent's reads: exactly the new and changed files were opened.
    opened_data = _inside(opened, dataset)
    assert len(opened_data) == second["files_new"] + second["files_changed"] > 0
    assert {os.fsencode(dataset / name) for name in [*mutation["overwritten"], *mutation["added"]]} <= opened_data
    third, opened = _backup_recording_opens(alpha, dataset, tmp_path / "opens-3")
    assert _inside(opened, dataset) == set(), "a no-change backup opened files of the tree"
    assert third["bytes_read"] == 0 and third["files_unchanged"] == third["files"]
    assert third["files_new"] == third["files_changed"] == 0
    assert third["bytes_uploaded"] < 100_000
    target = tmp_path / "target"
    alpha.run("restore", third["recovery_point_id"], "--target", str(target), "--json").json()
    assert subprocess.run(["diff", "-r", "--no-dereference", str(dataset), str(restored(target, dataset))]).returncode == 0


def _write_image(path: Path, size: int) -> int:
    """Random blocks (nothing deduplicates inside the image) with unallocated holes; returns the data bytes."""
    data_bytes = 0
    with open(path, "wb") as image:
        image.truncate(size)
        for index in range(size // IMAGE_BLOCK):
            if index % HOLE_EVERY != HOLE_EVERY - 1:
                image.seek(index * IMAGE_BLOCK)
                image.write(os.urandom(IMAGE_BLOCK))
                data_bytes += IMAGE_BLOCK
    return data_bytes


@pytest.mark.timeout(600)
def test_one_mib_changed_in_a_one_gib_vm_image_uploads_about_one_mib(make_vault, tmp_path):
    size = GiB  # about 20 s here, 10 of them the first backup's upload
    vault = make_vault()
    alpha = vault.machine()
    image = tmp_path / "vm" / "disk.img"
    image.parent.mkdir()
    started = time.monotonic()
    data_bytes = _write_image(image, size)
    generated = time.monotonic()
    first = alpha.backup(image.parent)
    assert first["bytes_uploaded"] >= data_bytes  # random data: nothing compresses or deduplicates
    with open(image, "r+b") as handle:  # a contiguous MiB in the middle, inside a data block, not aligned
        handle.seek(size // 2 + 12_345)
        handle.write(os.urandom(MiB))
    second = alpha.backup(image.parent)
    finished = time.monotonic()
    assert second["files_changed"] == 1 and second["bytes_read"] == data_bytes
    assert MiB <= second["bytes_uploaded"] <= 4 * MiB, second
    # ~128 KiB chunks: the changed MiB is 8 chunks plus the two it cuts into, plus the tree's chunks.
    assert second["chunks_stored"] <= 16, second
    print(f"{size >> 20} MiB image: generated in {generated - started:.1f} s, first backup "
          f"{first['seconds']:.1f} s ({first['bytes_uploaded'] >> 20} MiB), second {second['seconds']:.1f} s: "
          f"{second['bytes_uploaded'] / MiB:.2f} MiB uploaded in {second['chunks_stored']} chunks; "
          f"test {finished - started:.1f} s")
