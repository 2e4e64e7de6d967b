"""The walk yields tree order, records ancestors, applies excludes and reports what it cannot read."""

from __future__ import annotations

import os

import pytest

from agent_client.errors import UsageError
from agent_client.file_walker import ExcludeRules, normalise_sources, walk_sources
from agent_client.tree_format import path_key


def _walk(sources, excludes=(), skipped=None):
    reporter = (lambda path, reason: skipped.append(path)) if skipped is not None else (lambda path, reason: None)
    return [item.tree_path for item in walk_sources(normalise_sources([str(s) for s in sources]), ExcludeRules(list(excludes)), reporter)]


def test_walk_order_is_tree_order_with_ancestors_first(tmp_path):
    for name in ("b", "a.b", "a/c", "a/b/z", "a/b/a"):
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    paths = _walk([tmp_path / "src"])
    assert paths == sorted(paths, key=path_key)
    root = os.fsencode(tmp_path).lstrip(b"/")
    assert paths[: len(root.split(b"/"))] == [b"/".join(root.split(b"/")[:n]) for n in range(1, len(root.split(b"/")) + 1)]
    assert paths[-1] == root + b"/src/b"


def test_nested_and_repeated_sources_are_walked_once(tmp_path):
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "sub" / "f").write_text("x")
    paths = _walk([tmp_path / "src" / "sub", tmp_path / "src", tmp_path / "src"])
    assert len(paths) == len(set(paths))


def test_excludes_prune_directories_and_match_names(tmp_path):
    (tmp_path / "src" / "cache").mkdir(parents=True)
    (tmp_path / "src" / "cache" / "big").write_text("x")
    (tmp_path / "src" / "keep.txt").write_text("x")
    (tmp_path / "src" / "drop.tmp").write_text("x")
    names = [p.rsplit(b"/", 1)[-1] for p in _walk([tmp_path / "src"], ["cache", "*.tmp"])]
    assert b"keep.txt" in names and b"big" not in names and b"drop.tmp" not in names


def test_an_unlistable_directory_is_reported(tmp_path, monkeypatch):
    (tmp_path / "src" / "private").mkdir(parents=True)
    real_listdir = os.listdir

    def refusing_listdir(path):
        if os.fsencode(path).endswith(b"private"):
            raise PermissionError(13, "Permission denied")
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", refusing_listdir)
    skipped: list[str] = []
    paths = _walk([tmp_path / "src"], skipped=skipped)
    assert skipped == [str(tmp_path / "src" / "private")]
    assert paths[-1].endswith(b"private"), "the directory itself is still recorded"


def test_a_missing_source_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        normalise_sources([str(tmp_path / "missing")])


def test_a_symlinked_parent_is_resolved_so_ancestors_are_directories(tmp_path):
    (tmp_path / "real" / "data").mkdir(parents=True)
    os.symlink(tmp_path / "real", tmp_path / "alias")
    [source] = normalise_sources([str(tmp_path / "alias" / "data")])
    assert source == os.fsencode(tmp_path / "real" / "data")
