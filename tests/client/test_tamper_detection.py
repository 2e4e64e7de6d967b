"""Any flipped byte of a pack or snapshot makes verify and restore fail naming the damage; nothing wrong is written."""

from __future__ import annotations

import os
import random

import pytest

from agent_client.backup_run import BackupRequest, run_backup
from agent_client.errors import IntegrityError
from agent_client.restore_run import run_restore
from agent_client.verify_run import raise_for_damage, run_verify
from shared.formats.pack_index import PackEntry, parse_trailer, serialize_trailer

FILES = {f"file{index}.bin": os.urandom(300_000 + index) for index in range(4)}


@pytest.fixture
def backed_up(make_context, fake_service, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name, content in FILES.items():
        (source / name).write_bytes(content)
    context = make_context()
    report = run_backup(context, BackupRequest(sources=[str(source)]))
    return context, report.recovery_point_id, source


def _packs(fake_service) -> list[str]:
    return sorted(name for name in fake_service.vault_blobs.blobs if name.startswith("packs/"))


def _restore_and_verify(context, recovery_point_id, target):
    with pytest.raises(IntegrityError) as restore_error:
        run_restore(context, recovery_point_id, str(target), [])
    report = run_verify(context, recovery_point_id)
    with pytest.raises(IntegrityError) as verify_error:
        raise_for_damage(report)
    return restore_error.value, verify_error.value


def test_an_intact_recovery_point_verifies(backed_up):
    context, recovery_point_id, _ = backed_up
    report = run_verify(context, recovery_point_id)
    assert report.ok and report.files == len(FILES) and report.chunks > 0


@pytest.mark.parametrize("seed", range(12))
def test_a_flipped_byte_anywhere_in_a_pack_is_named(backed_up, fake_service, tmp_path, seed):
    context, recovery_point_id, source = backed_up
    rng = random.Random(seed)
    pack = rng.choice(_packs(fake_service))
    pack_bytes = fake_service.vault_blobs.blobs[pack]
    entries = parse_trailer(pack_bytes, len(pack_bytes))
    position = rng.randrange(len(pack_bytes))
    fake_service.vault_blobs.flip_byte(pack, position)
    target = tmp_path / "target"
    restore_error, verify_error = _restore_and_verify(context, recovery_point_id, target)
    damaged = set(restore_error.damaged_paths)
    assert damaged == set(verify_error.damaged_paths)
    if not damaged:  # only a pack holding no chunk of these files (the tree's) was hit: it is named
        assert pack in str(restore_error) and pack in str(verify_error)
    restored = target / str(source).lstrip("/")
    assert not list(target.rglob(".bkrestore-*")), "no temporary file is left behind"
    for name, content in FILES.items():
        path = restored / name
        if path.exists():
            assert path.read_bytes() == content, "a damaged file must never be put in place"
            assert str(source / name) not in damaged
    in_chunk = [e for e in entries if e.offset <= position < e.offset + e.length]
    if in_chunk and in_chunk[0].kind == 1:
        assert damaged, "the files using the damaged chunk are named"


def test_a_flipped_byte_of_the_snapshot_is_named(backed_up, fake_service, tmp_path):
    context, recovery_point_id, _ = backed_up
    fake_service.vault_blobs.flip_byte(f"snapshots/{recovery_point_id}", 40)
    with pytest.raises(IntegrityError, match=f"snapshots/{recovery_point_id}"):
        run_restore(context, recovery_point_id, str(tmp_path / "target"), [])
    with pytest.raises(IntegrityError, match="snapshot"):
        run_verify(context, recovery_point_id)
    assert not any((tmp_path / "target").rglob("*.bin"))


def test_a_missing_pack_names_the_files_that_needed_it(backed_up, fake_service, tmp_path):
    context, recovery_point_id, source = backed_up
    for pack in _packs(fake_service):
        del fake_service.vault_blobs.blobs[pack]
    with pytest.raises(IntegrityError):
        run_restore(context, recovery_point_id, str(tmp_path / "target"), [])


def test_a_pack_whose_size_changed_loses_the_same_files_in_verify_as_in_restore(backed_up, fake_service, tmp_path):
    """A pack re-laid with one chunk swapped for a longer one: its index is unreadable at the recorded size."""
    context, recovery_point_id, source = backed_up
    blobs = fake_service.vault_blobs.blobs
    pack = next(name for name in _packs(fake_service) if len(parse_trailer(blobs[name], len(blobs[name]))) > 1)
    entries = parse_trailer(blobs[pack], len(blobs[pack]))
    body, relaid = b"", []
    for number, entry in enumerate(entries):  # the last chunk gets a byte more; the others stay intact
        sealed = blobs[pack][entry.offset : entry.offset + entry.length] + (b"x" if number == len(entries) - 1 else b"")
        relaid.append(PackEntry(entry.chunk_id, entry.kind, len(body), len(sealed)))
        body += sealed
    blobs[pack] = body + serialize_trailer(relaid)
    restore_error, verify_error = _restore_and_verify(context, recovery_point_id, tmp_path / "target")
    assert set(restore_error.damaged_paths) == set(verify_error.damaged_paths) != set()
    assert pack in str(restore_error)
