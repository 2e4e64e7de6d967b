"""Incremental backups: unchanged files are not read, vault chunks are not re-uploaded, condemned packs are avoided."""

from __future__ import annotations

import os
import stat

import pytest

from agent_client import backup_scan
from agent_client.backup_run import BackupRequest, run_backup
from agent_client.restore_run import run_restore

from .sample_trees import build_sample_tree, describe_tree, restored_root


@pytest.fixture
def source(tmp_path):
    return build_sample_tree(tmp_path / "source")


@pytest.fixture
def opened_files(monkeypatch):
    opened: list[bytes] = []
    real_open = backup_scan.open_for_backup

    def counting_open(disk_path: bytes) -> int:
        opened.append(disk_path)
        return real_open(disk_path)

    monkeypatch.setattr(backup_scan, "open_for_backup", counting_open)
    return opened


def test_second_backup_reads_no_unchanged_file_and_uploads_almost_nothing(make_context, fake_service, source,
                                                                         opened_files):
    context = make_context()
    first = run_backup(context, BackupRequest(sources=[str(source)]))
    opened_files.clear()
    range_reads = fake_service.vault_blobs.range_reads
    second = run_backup(context, BackupRequest(sources=[str(source)]))
    assert opened_files == []
    assert fake_service.vault_blobs.range_reads == range_reads, "trailers and the previous tree come from the cache"
    assert second.files_unchanged == first.files and second.files_new == second.files_changed == 0
    assert second.bytes_read == 0
    assert second.bytes_uploaded < 20_000


def test_a_changed_file_is_the_only_one_read(make_context, source, opened_files):
    context = make_context()
    run_backup(context, BackupRequest(sources=[str(source)]))
    changed = source / "docs" / "script.sh"
    changed.write_text("#!/bin/sh\necho changed\n")
    opened_files.clear()
    report = run_backup(context, BackupRequest(sources=[str(source)]))
    assert opened_files == [os.fsencode(changed)]
    assert report.files_changed == 1 and report.files_new == 0


def test_small_change_in_a_large_file_uploads_a_few_chunks(make_context, tmp_path):
    context = make_context()
    image = tmp_path / "vm" / "disk.img"
    image.parent.mkdir()
    image.write_bytes(os.urandom(32 << 20))
    first = run_backup(context, BackupRequest(sources=[str(image.parent)]))
    with open(image, "r+b") as handle:
        handle.seek(20 << 20)
        handle.write(os.urandom(64 << 10))
    second = run_backup(context, BackupRequest(sources=[str(image.parent)]))
    assert second.files_changed == 1
    assert second.chunks_stored <= 4 + 2  # the touched data chunks plus the tree
    assert second.bytes_uploaded < first.bytes_uploaded / 8


def test_a_damaged_tree_cache_falls_back_to_the_vault(make_context, source, tmp_path, opened_files):
    context = make_context()
    run_backup(context, BackupRequest(sources=[str(source)]))
    for cached in (context.cache_dir / "trees").iterdir():
        cached.write_bytes(b"garbage")
    opened_files.clear()
    report = run_backup(context, BackupRequest(sources=[str(source)]))
    assert opened_files == [] and report.files_unchanged == report.files


def test_a_fresh_machine_with_an_empty_cache_deduplicates_against_the_vault(make_context, source):
    run_backup(make_context("alpha"), BackupRequest(sources=[str(source)]))
    report = run_backup(make_context("beta"), BackupRequest(sources=[str(source)]))
    assert report.files_new == report.files  # beta has no previous recovery point: it reads everything...
    assert report.bytes_uploaded < 50_000  # ...but uploads only its tree and snapshot


def test_condemned_packs_are_never_deduplicated_against(make_context, fake_service, source, tmp_path, opened_files):
    context = make_context()
    first = run_backup(context, BackupRequest(sources=[str(source)]))
    fake_service.condemned_packs = {name.removeprefix("packs/") for name in fake_service.vault_blobs.blobs
                                    if name.startswith("packs/")}
    opened_files.clear()
    second = run_backup(context, BackupRequest(sources=[str(source)]))
    # Only content-free entries (empty files, hard links whose first file was re-read) stay unread.
    assert second.files_unchanged <= _content_free_files(source)
    assert os.fsencode(source / "docs" / "script.sh") in opened_files
    assert second.bytes_uploaded > first.bytes_uploaded * 0.9
    manifest_packs = fake_service.recovery_points[second.recovery_point_id]["packs"]
    assert not {name.removeprefix("packs/") for name in manifest_packs} & fake_service.condemned_packs
    fake_service.condemned_packs = set()
    run_restore(context, second.recovery_point_id, str(tmp_path / "target"), [])
    assert describe_tree(restored_root(tmp_path / "target", source)) == describe_tree(source)


def _content_free_files(root) -> int:
    """Files a backup records without reading them: empty ones, and each hard link after its inode's first."""
    count, inodes = 0, set()
    for path in root.rglob("*"):
        st = path.lstat()
        if stat.S_ISREG(st.st_mode):
            count += st.st_size == 0 or st.st_ino in inodes
            inodes.add(st.st_ino)
    return count


def test_manifest_lists_every_pack_the_recovery_point_needs(make_context, fake_service, source):
    context = make_context()
    first = run_backup(context, BackupRequest(sources=[str(source)]))
    (source / "new.txt").write_text("a new file")
    second = run_backup(context, BackupRequest(sources=[str(source)]))
    first_packs = set(fake_service.recovery_points[first.recovery_point_id]["packs"])
    second_packs = set(fake_service.recovery_points[second.recovery_point_id]["packs"])
    assert first_packs <= second_packs, "reused packs are referenced again"
