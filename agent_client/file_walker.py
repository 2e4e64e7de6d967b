"""Walks the backup sources in tree order (depth first, names as bytes), applying exclude globs.

Tree paths are the absolute paths without their leading "/", so a recovery point restores
under the target as `<target>/<absolute path>` (restic's convention), and the ancestors of each
source are recorded as directories so their modes and times come back too.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from agent_client.errors import UsageError
from agent_client.tree_format import path_key

SkipReporter = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class WalkItem:
    """One path found by the walk: its tree path, its path on disk and its lstat."""

    tree_path: bytes
    disk_path: bytes
    stat: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.stat.st_mode)


class ExcludeRules:
    """Glob patterns matched against the whole absolute path and against the base name."""

    def __init__(self, patterns: list[str]) -> None:
        self._patterns = [pattern.rstrip("/") or "/" for pattern in patterns]

    def excludes(self, disk_path: bytes) -> bool:
        if not self._patterns:
            return False
        text = os.fsdecode(disk_path)
        name = os.path.basename(text)
        return any(fnmatch.fnmatchcase(text, p) or fnmatch.fnmatchcase(name, p) for p in self._patterns)


def normalise_sources(sources: list[str]) -> list[bytes]:
    """Absolute source paths with real parent directories, nested sources dropped, in tree order."""
    normalised = []
    for source in sources:
        absolute = os.path.abspath(os.fsencode(source))
        if absolute != b"/":
            parent, name = os.path.split(absolute)
            absolute = os.path.join(os.path.realpath(parent), name)
        if not os.path.lexists(absolute):
            raise UsageError(f"{source}: no such file or directory")
        normalised.append(absolute)
    normalised.sort(key=lambda path: path_key(path.lstrip(b"/")))
    kept: list[bytes] = []
    for path in normalised:
        if not any(path == parent or path.startswith(parent.rstrip(b"/") + b"/") for parent in kept):
            kept.append(path)
    return kept


def walk_sources(sources: list[bytes], excludes: ExcludeRules, on_skip: SkipReporter) -> Iterator[WalkItem]:
    """Yields the ancestors of each source, then the source and everything below it, in tree order."""
    emitted_ancestors: set[bytes] = set()
    for source in sources:
        parts = source.strip(b"/").split(b"/") if source != b"/" else []
        for depth in range(1, len(parts)):
            ancestor = b"/" + b"/".join(parts[:depth])
            if ancestor not in emitted_ancestors:
                emitted_ancestors.add(ancestor)
                item = _item(ancestor, on_skip)
                if item is not None:
                    yield item
        if source == b"/":
            yield from _walk_below(b"/", excludes, on_skip)
            continue
        if excludes.excludes(source):
            continue
        item = _item(source, on_skip)
        if item is not None:
            yield item
            if item.is_dir:
                yield from _walk_below(source, excludes, on_skip)


def _walk_below(directory: bytes, excludes: ExcludeRules, on_skip: SkipReporter) -> Iterator[WalkItem]:
    # An explicit stack of sorted name lists: no recursion limit on deep trees, and memory
    # proportional to the depth times the directory sizes, never to the whole tree.
    stack = [(directory, iter(_sorted_names(directory, on_skip)))]
    while stack:
        parent, names = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            continue
        disk_path = os.path.join(parent, name)
        if excludes.excludes(disk_path):
            continue
        item = _item(disk_path, on_skip)
        if item is None:
            continue
        yield item
        if item.is_dir:
            stack.append((disk_path, iter(_sorted_names(disk_path, on_skip))))


def _sorted_names(directory: bytes, on_skip: SkipReporter) -> list[bytes]:
    try:
        return sorted(os.listdir(directory))
    except OSError as exc:
        on_skip(os.fsdecode(directory), f"cannot list the directory: {exc.strerror or exc}")
        return []


def _item(disk_path: bytes, on_skip: SkipReporter) -> WalkItem | None:
    try:
        return WalkItem(disk_path.lstrip(b"/"), disk_path, os.lstat(disk_path))
    except OSError as exc:
        on_skip(os.fsdecode(disk_path), f"vanished or unreadable: {exc.strerror or exc}")
        return None
