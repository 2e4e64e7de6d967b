"""One round of change to an existing tree: about 1% of its bytes, the same for the same seed and round.

A round overwrites ranges in a few large files (always the disk image when there is one),
inserts lines into 20 small files, appends to the disk image, adds 8 files and deletes 10 small
files and one medium one: the kinds of change a day brings to a workstation.
"""

from __future__ import annotations

import random
from pathlib import Path

from bench.dataset.files import list_files, write_file
from bench.dataset.sizes import KIB, MIB
from bench.dataset.text_model import TextModel

VM_IMAGE = "vm/disk.img"
OVERWRITE_SHARE = 0.0055
APPEND_SHARE = 0.002
SMALL_FILE = 64 * KIB


class EmptyTreeError(ValueError):
    """The tree to mutate holds no file."""


def mutate(root: Path, seed: str, round_number: int) -> dict:
    """Apply round `round_number` to the tree under root; return what changed (paths relative to root)."""
    rng = random.Random(f"{seed}/mutate/{round_number}")
    text = TextModel(seed)
    files = list_files(root)
    if not files:
        raise EmptyTreeError(f"{root} holds no file to mutate")
    total = sum(size for _, size in files)
    has_image = (root / VM_IMAGE).is_file()
    summary = {"root": str(root), "seed": seed, "round": round_number, "total_before": total,
               "overwritten": _overwrite(root, files, total, has_image, rng),
               "text_edited": _insert_lines(root, files, rng, text),
               "appended": _append_to_image(root, total, rng, text) if has_image else 0,
               "added": _add_files(root, total, round_number, rng, text)}
    summary["deleted"] = _delete_files(root, set(summary["overwritten"]), rng)
    after = list_files(root)
    changed = (sum(summary["overwritten"].values()) + summary["text_edited"] + summary["appended"]
               + sum((root / path).stat().st_size for path in summary["added"]))
    summary.update(total_after=sum(size for _, size in after), files_after=len(after),
                   changed_or_new_bytes=changed, changed_fraction=round(changed / total, 5))
    return summary


def _overwrite(root: Path, files: list, total: int, has_image: bool, rng: random.Random) -> dict[str, int]:
    large = [path for path, size in files if size >= MIB and path != VM_IMAGE]
    chosen = sorted(rng.sample(large, min(5, len(large)))) + ([VM_IMAGE] if has_image else [])
    per_file = int(total * OVERWRITE_SHARE) // max(1, len(chosen))
    overwritten = {}
    for path in chosen:
        size = (root / path).stat().st_size
        ranges = rng.randint(3, 8)
        length = min(size, max(4 * KIB, per_file // ranges))
        with open(root / path, "r+b") as handle:
            for _ in range(ranges):
                handle.seek(rng.randrange(max(1, size - length)))
                handle.write(rng.randbytes(length))
        overwritten[path] = ranges * length
    return overwritten


def _insert_lines(root: Path, files: list, rng: random.Random, text: TextModel) -> int:
    small = [path for path, size in files if size <= SMALL_FILE]
    inserted = 0
    for path in sorted(rng.sample(small, min(20, len(small)))):
        data = (root / path).read_bytes()
        insert = text.text(rng.randint(64, 2048), rng)
        position = rng.randrange(len(data) + 1)
        (root / path).write_bytes(data[:position] + insert + data[position:])
        inserted += len(insert)
    return inserted


def _append_to_image(root: Path, total: int, rng: random.Random, text: TextModel) -> int:
    length = int(total * APPEND_SHARE)
    with open(root / VM_IMAGE, "ab") as image:
        image.write(text.text(length // 2, rng))
        image.write(rng.randbytes(length - length // 2))
    return length


def _add_files(root: Path, total: int, round_number: int, rng: random.Random, text: TextModel) -> list[str]:
    added = []
    for index in range(6):
        path = f"src/new/r{round_number}_added_{index}.py"
        write_file(root / path, text.text(rng.randint(KIB, 64 * KIB), rng))
        added.append(path)
    for index in range(2):
        path = f"media/new/r{round_number}_added_{index}.bin"
        write_file(root / path, rng.randbytes(max(4 * KIB, int(total * 0.001))))
        added.append(path)
    return added


def _delete_files(root: Path, overwritten: set[str], rng: random.Random) -> list[str]:
    present = [(path, size) for path, size in list_files(root) if "/new/" not in path]
    small = [path for path, size in present if size <= SMALL_FILE]
    medium = [path for path, size in present if SMALL_FILE < size and path not in overwritten and path != VM_IMAGE]
    deleted = sorted(rng.sample(small, min(10, len(small))))
    if medium:
        deleted.append(rng.choice(medium))
    for path in deleted:
        (root / path).unlink()
    return deleted
