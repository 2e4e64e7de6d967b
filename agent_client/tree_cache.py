"""Keeps this machine's latest tree chunks, still sealed, so the next backup reads its previous tree locally."""

from __future__ import annotations

import os
import pathlib


class SealedTreeCache:
    """Sealed tree chunks by id under the vault's cache folder; a bad copy is simply fetched again."""

    def __init__(self, folder: pathlib.Path | None) -> None:
        self._folder = folder

    def get(self, chunk_id: bytes) -> bytes | None:
        if self._folder is None:
            return None
        try:
            return (self._folder / chunk_id.hex()).read_bytes()
        except OSError:
            return None

    def put(self, chunk_id: bytes, sealed: bytes) -> None:
        if self._folder is None:
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        final = self._folder / chunk_id.hex()
        temporary = self._folder / f".{chunk_id.hex()}.{os.getpid()}.tmp"
        temporary.write_bytes(sealed)
        os.replace(temporary, final)

    def keep_only(self, chunk_ids: set[bytes]) -> None:
        """Drops every cached chunk not in `chunk_ids` (the tree of the recovery point just committed)."""
        if self._folder is None or not self._folder.is_dir():
            return
        wanted = {chunk_id.hex() for chunk_id in chunk_ids}
        for path in self._folder.iterdir():
            if path.name not in wanted:
                path.unlink(missing_ok=True)
