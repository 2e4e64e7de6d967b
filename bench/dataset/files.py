"""Writing and listing the files of a dataset tree."""

from __future__ import annotations

import os
from pathlib import Path


def write_file(path: Path, data: bytes) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


def list_files(root: Path) -> list[tuple[str, int]]:
    """(path relative to root, size) of every regular file, sorted, so that choices made from it are stable."""
    found = []
    for folder, folders, names in os.walk(root):
        folders.sort()
        for name in names:
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                found.append((path.relative_to(root).as_posix(), path.stat().st_size))
    return sorted(found)
