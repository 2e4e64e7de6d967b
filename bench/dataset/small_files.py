"""The many-small-files tree: text files of 64 B to 4 KiB, a hundred to a folder, like a home folder or a mail store."""

from __future__ import annotations

import random
from pathlib import Path

from bench.dataset.text_model import TextModel

FILES_PER_FOLDER = 100
SMALLEST, LARGEST = 64, 4096


def create_small_files(root: Path, count: int, seed: str) -> dict:
    """Write `count` small text files under root (folders of FILES_PER_FOLDER); return the totals."""
    if count <= 0:
        raise ValueError(f"--small-files needs a positive count, not {count}")
    rng = random.Random(f"{seed}/small-files")
    text = TextModel(seed, pool=20_000)
    total = 0
    folder = root
    for index in range(count):
        if index % FILES_PER_FOLDER == 0:
            folder = root / f"d{index // FILES_PER_FOLDER // 100:03d}" / f"f{index // FILES_PER_FOLDER:05d}"
            folder.mkdir(parents=True, exist_ok=True)
        data = text.text(rng.randint(SMALLEST, LARGEST), rng)
        with open(folder / f"n{index:07d}.txt", "wb") as handle:
            handle.write(data)
        total += len(data)
    folders = -(-count // FILES_PER_FOLDER)
    return {"root": str(root), "seed": seed, "total_files": count, "total_bytes": total, "folders": folders,
            "parts": {"small_files": {"files": count, "bytes": total}}}
