"""The stack's files that hold keys are readable by their owner only, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack_files import (
    functions_master_key, operator_key, read_env_file, write_env_file, write_local_settings,
)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask of 0, under which a file made with default permissions is world-readable and writable."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_file_holding_a_key_is_made_owner_only(tmp_path, open_umask):
    write_env_file(tmp_path / "env", {"BACKUP_ADMIN_KEY": "bko_x"})
    write_local_settings(tmp_path / "local.settings.json", {"OPERATOR_KEY_SHA256": "00"})
    operator_key(tmp_path)
    functions_master_key(tmp_path)
    made = sorted(path.name for path in tmp_path.iterdir())
    assert made == ["env", "functions-master.key", "local.settings.json", "operator.key"]  # no temp file left
    assert {name: _mode(tmp_path / name) for name in made} == dict.fromkeys(made, 0o600)


def test_an_env_file_left_readable_by_others_is_made_private_even_when_its_text_is_unchanged(tmp_path):
    path = tmp_path / "env"
    write_env_file(path, {"BACKUP_ADMIN_KEY": "bko_x"})
    path.chmod(0o644)  # as an older stack wrote it
    assert write_env_file(path, {"BACKUP_ADMIN_KEY": "bko_x"}) is False  # the text did not change
    assert _mode(path) == 0o600
    assert read_env_file(path) == {"BACKUP_ADMIN_KEY": "bko_x"}


def test_keys_are_made_once_and_kept(tmp_path):
    assert operator_key(tmp_path) == operator_key(tmp_path)
    assert functions_master_key(tmp_path) == functions_master_key(tmp_path) != operator_key(tmp_path)
