"""The mixed dataset: what a workstation holds, in fixed shares of the requested size.

    src/          ~15%  small source-like text files, 1-64 KiB (5,000 per GiB), compressible
    media/, archives/   ~35%  incompressible files, 0.5-48 MiB, sizes log-uniform
    vm/disk.img   ~40%  a disk image (see vm_image.py)
    docs/, copies/ ~10%  near-duplicates: four documents, each with two edited variants
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from bench.dataset.files import write_file
from bench.dataset.sizes import GIB, KIB, MIB
from bench.dataset.text_model import TextModel
from bench.dataset.vm_image import write_vm_image

VM_SHARE = 0.40
NEAR_DUPLICATE_SHARE = 0.10
SMALL_FILES_PER_GIB = 5000
_SOURCE_FOLDERS = ("core", "net", "ui", "util", "db", "api", "tests", "docs", "tools", "vendor")
_SOURCE_SUFFIXES = (".py", ".c", ".h", ".js", ".md", ".json", ".txt", ".log", ".go", ".rs")
_MEDIA = (("media/photos", "IMG_{:05d}.jpg"), ("media/video", "clip_{:04d}.mp4"),
          ("archives", "backup_{:04d}.tar.gz"), ("media/music", "track_{:04d}.flac"))
_NEAR_DUPLICATES = (("db_dump_{}.sql", True), ("report_{}.pdf", False),
                    ("mailbox_{}.mbox", True), ("photo_album_{}.psd", False))


def create_mixed(root: Path, size: int, seed: str) -> dict:
    """Write the mixed dataset of about `size` bytes under root; return what was written, part by part."""
    rng = random.Random(f"{seed}/create")
    text = TextModel(seed)
    parts = {"small_text": _small_text(root, size, rng, text)}
    vm_size = int(size * VM_SHARE)
    near_duplicate_budget = int(size * NEAR_DUPLICATE_SHARE)
    media_budget = max(0, size - parts["small_text"]["bytes"] - vm_size - near_duplicate_budget)
    parts["medium_random"] = _media(root, media_budget, rng)
    parts["vm_image"] = write_vm_image(root / "vm" / "disk.img", vm_size, rng, text)
    parts["near_dups"] = _near_duplicates(root, near_duplicate_budget, rng, text)
    return {"root": str(root), "seed": seed, "requested_size": size, "parts": parts,
            "total_bytes": sum(part["bytes"] for part in parts.values()),
            "total_files": sum(part["files"] for part in parts.values())}


def _small_text(root: Path, size: int, rng: random.Random, text: TextModel) -> dict:
    count = max(20, round(SMALL_FILES_PER_GIB * size / GIB))
    written = 0
    for index in range(count):
        folder = root / "src" / rng.choice(_SOURCE_FOLDERS) / f"pkg{rng.randrange(40):02d}"
        name = f"file_{index:05d}{rng.choice(_SOURCE_SUFFIXES)}"
        written += write_file(folder / name, text.text(rng.randint(KIB, 64 * KIB), rng))
    return {"files": count, "bytes": written}


def _media(root: Path, budget: int, rng: random.Random) -> dict:
    low, high = math.log(512 * KIB), math.log(48 * MIB)
    written = count = 0
    while written < budget:
        length = min(int(math.exp(rng.uniform(low, high))), budget - written)
        if length < 64 * KIB and count:
            break
        folder, pattern = _MEDIA[count % len(_MEDIA)]
        written += write_file(root / folder / pattern.format(count), rng.randbytes(length))
        count += 1
    return {"files": count, "bytes": written}


def _near_duplicates(root: Path, budget: int, rng: random.Random, text: TextModel) -> dict:
    base_size = max(4 * KIB, budget // (len(_NEAR_DUPLICATES) * 3))
    written = count = 0
    for pattern, is_text in _NEAR_DUPLICATES:
        def fresh(length: int) -> bytes:
            return text.text(length, rng) if is_text else rng.randbytes(length)
        first = fresh(base_size)
        second = edit(first, 6, rng)
        third = edit(second, 12, rng) + fresh(8 * KIB)
        for path, data in ((root / "docs" / pattern.format("v1"), first),
                           (root / "copies" / pattern.format("v2"), second),
                           (root / "copies" / "old" / pattern.format("v3"), third)):
            written += write_file(path, data)
            count += 1
    return {"files": count, "bytes": written}


def edit(data: bytes, edits: int, rng: random.Random, longest: int = 100) -> bytes:
    """`edits` small inserts, overwrites and deletions at random places, as a person editing a document makes."""
    edited = bytearray(data)
    for _ in range(edits):
        position, length, kind = rng.randrange(len(edited)), rng.randint(1, longest), rng.random()
        if kind < 0.4:
            edited[position:position] = rng.randbytes(length)
        elif kind < 0.8:
            edited[position:position + length] = rng.randbytes(min(length, len(edited) - position))
        else:
            del edited[position:position + length]
    return bytes(edited)
