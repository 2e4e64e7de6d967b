"""Maps tree paths into the restore target, refusing anything that would land outside it.

A path is refused if it is absolute, empty, has a NUL, ``.`` or ``..`` component, or would pass
through a symlink (one restored earlier or one already in the target): nothing is ever
written through a link, so a hostile tree cannot aim a write outside the target.
"""

from __future__ import annotations

import os
import stat
import uuid

from agent_client.errors import UsageError

_MAX_CHECKED_DIRS = 8192


class UnsafePathError(Exception):
    """A tree path that must not be restored."""


def check_tree_path(path: bytes) -> None:
    if not path or path.startswith(b"/") or b"\0" in path:
        raise UnsafePathError("absolute, empty or NUL-containing path")
    if any(part in (b"", b".", b"..") for part in path.split(b"/")):
        raise UnsafePathError("path with an empty, '.' or '..' component")


def temporary_sibling(final_path: bytes) -> bytes:
    """A short unique name next to final_path (short, so a 255-byte name still gets one)."""
    return os.path.join(os.path.dirname(final_path), f".bkrestore-{uuid.uuid4().hex[:16]}.tmp".encode())


class TargetTree:
    """The restore target folder; creates parent directories after checking each component."""

    def __init__(self, target: str) -> None:
        self.root = os.fsencode(os.path.abspath(target))
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the restore target {target}: {exc.strerror or exc}") from None
        if not os.path.isdir(self.root):
            raise UsageError(f"the restore target {target} is not a directory")
        self._checked_dirs: set[bytes] = {self.root}

    def place(self, path: bytes) -> bytes:
        """The full path for a tree path, with every parent created and checked to be a real directory."""
        check_tree_path(path)
        parent = self.root
        for part in path.split(b"/")[:-1]:
            parent = os.path.join(parent, part)
            self._ensure_directory(parent)
        return os.path.join(self.root, path)

    def make_directory(self, full_path: bytes) -> None:
        self._ensure_directory(full_path)

    def _ensure_directory(self, full_path: bytes) -> None:
        if full_path in self._checked_dirs:
            return
        try:
            st = os.lstat(full_path)
        except FileNotFoundError:
            os.mkdir(full_path, 0o700)
            st = os.lstat(full_path)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePathError("a parent directory is a symlink in the target")
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePathError("a parent directory exists in the target as something else")
        if len(self._checked_dirs) > _MAX_CHECKED_DIRS:  # a cache: in tree order the ancestors come back at once
            self._checked_dirs = {self.root}
        self._checked_dirs.add(full_path)
