"""Applies a tree entry's owner, mode and modification time to a restored path."""

from __future__ import annotations

import os

from agent_client.tree_format import EntryKind, TreeEntry

_IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def apply_metadata(full_path: bytes, entry: TreeEntry) -> None:
    """Owner first (chown clears set-id bits), then mode, then times; never follows a symlink."""
    is_link = entry.kind == EntryKind.SYMLINK
    if _IS_ROOT:
        try:
            os.chown(full_path, entry.uid, entry.gid, follow_symlinks=False)
        except OSError:
            pass  # e.g. an id the target file system cannot represent
    if not is_link:
        os.chmod(full_path, entry.mode)
    times = (entry.mtime_ns, entry.mtime_ns)
    if not is_link or os.utime in os.supports_follow_symlinks:
        os.utime(full_path, ns=times, follow_symlinks=not is_link)
