"""A virtual disk image: 4 KiB-aligned extents of zeros, text, random data, repeated blocks and patterns.

Zero runs test hole handling, repeats of a small block library test deduplication inside one
file, and a 4 KiB pattern repeated over megabytes tests chunking of highly regular data.
"""

from __future__ import annotations

import random
from pathlib import Path

from bench.dataset.sizes import KIB, MIB
from bench.dataset.text_model import TextModel

BLOCK = 4 * KIB
_EXTENTS = {"zero": 0.30, "text": 0.15, "random": 0.25, "repeat": 0.20, "pattern": 0.10}
_ZEROS = bytes(4 * MIB)


def write_vm_image(path: Path, size: int, rng: random.Random, text: TextModel) -> dict:
    """Write an image of `size` bytes (rounded down to a block); return its extent statistics."""
    size -= size % BLOCK
    library = [rng.randbytes(rng.randint(256, 1024) * BLOCK) if index % 2
               else text.text(rng.randint(256, 1024) * BLOCK, rng) for index in range(12)]
    kinds, weights = list(_EXTENTS), list(_EXTENTS.values())
    extent_bytes = dict.fromkeys(kinds, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(path, "wb") as image:
        while written < size:
            kind = rng.choices(kinds, weights)[0]
            length = min(rng.randint(16, 2048) * BLOCK, size - written)
            if kind == "zero":
                for offset in range(0, length, len(_ZEROS)):
                    image.write(_ZEROS[:min(len(_ZEROS), length - offset)])
            else:
                data = _extent(kind, length, rng, text, library)
                image.write(data)
                length = len(data)
            written += length
            extent_bytes[kind] += length
    return {"files": 1, "bytes": written, "extent_bytes": extent_bytes}


def _extent(kind: str, length: int, rng: random.Random, text: TextModel, library: list[bytes]) -> bytes:
    if kind == "text":
        return text.text(length, rng)
    if kind == "random":
        return rng.randbytes(length)
    if kind == "repeat":
        return rng.choice(library)[:length]
    return rng.randbytes(BLOCK) * (length // BLOCK)
