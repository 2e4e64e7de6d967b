"""Builds source trees with every kind of entry the client handles, and compares restored trees to them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

MTIME_NS = 1_600_000_000_123_456_789
# The owner given to one file and one directory when the tests run as root, so that restore must set it.
OTHER_OWNER = (1234, 5678)


def build_sample_tree(root: Path, sparse_size: int = 64 << 20) -> Path:
    """Unicode names, empty files and directories, sparse files, symlinks (one dangling), hard links, deep
    paths, odd modes; as root, a file, a symlink and a directory owned by OTHER_OWNER.
    """
    root.mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "docs" / "résumé – ünïcödé ✓.txt").write_text("bonjour\n" * 1000)
    (root / "docs" / "empty").write_bytes(b"")
    (root / "docs" / "another empty").write_bytes(b"")
    (root / "empty-dir").mkdir()
    (root / "docs" / "empty-dir-in-docs").mkdir()
    (root / "docs" / "random.bin").write_bytes(os.urandom(3 << 20))
    (root / "docs" / "script.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "docs" / "script.sh", 0o751)
    os.chmod(root / "docs" / "random.bin", 0o600)
    os.symlink("résumé – ünïcödé ✓.txt", root / "docs" / "link-to-resume")
    os.symlink("/nonexistent/target", root / "docs" / "dangling")
    os.link(root / "docs" / "random.bin", root / "docs" / "random-hardlink.bin")
    with open(root / "sparse.img", "wb") as handle:
        handle.truncate(sparse_size)
        handle.seek(sparse_size // 2)
        handle.write(b"island of data" * 1000)
        handle.seek(sparse_size - 10)
        handle.write(b"end marker")
    deep = root.joinpath(*[f"level{depth:02d}" for depth in range(40)])
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("deep down")
    locked = root / "locked-dir"
    locked.mkdir()
    (locked / "inside.txt").write_text("inside a read-only directory")
    if os.geteuid() == 0:
        for owned in ("docs/script.sh", "docs/link-to-resume", "empty-dir"):
            os.chown(root / owned, *OTHER_OWNER, follow_symlinks=False)
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, ns=(MTIME_NS, MTIME_NS), follow_symlinks=False)
    os.chmod(locked, 0o555)
    os.utime(locked, ns=(MTIME_NS, MTIME_NS))
    return root


def describe_tree(root: Path) -> dict[str, tuple]:
    """Everything a restore must bring back, per relative path (hard links as a shared group id, owner as (uid, gid))."""
    description: dict[str, tuple] = {}
    inodes: dict[int, str] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            relative = str(path.relative_to(root))
            st = os.lstat(path)
            owner = (st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                description[relative] = ("link", os.readlink(path), st.st_mtime_ns, owner)
            elif stat.S_ISDIR(st.st_mode):
                description[relative] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns, owner)
            else:
                group = inodes.setdefault(st.st_ino, relative) if st.st_nlink > 1 else None
                description[relative] = ("file", stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_size,
                                         path.read_bytes(), group, owner)
    return description


def restored_root(target: Path, source: Path) -> Path:
    """Where a source directory lands inside a restore target (its absolute path below the target)."""
    return target / os.path.abspath(source).lstrip("/")


def allocated_bytes(path: Path) -> int:
    return os.stat(path).st_blocks * 512
