"""Backups that go wrong: interrupted uploads, unreadable files, wrong passphrases, rejected commits."""

from __future__ import annotations

import os

import pytest

from agent_client import backup_scan
from agent_client.backup_run import BackupRequest, run_backup
from agent_client.errors import ServiceError, StorageBusyError, WrongPassphraseError

from .fakes import MemoryBlobs
from .sample_trees import build_sample_tree


@pytest.fixture
def source(tmp_path):
    root = build_sample_tree(tmp_path / "source", sparse_size=1 << 20)
    for index in range(6):
        (root / f"blob{index}.bin").write_bytes(os.urandom(1 << 20))
    return root


class FailingBlobs(MemoryBlobs):
    """Accepts `budget` pack uploads, then fails like a lost network."""

    def __init__(self, inner: MemoryBlobs, budget: int) -> None:
        super().__init__()
        self.blobs = inner.blobs
        self.budget = budget

    def put_new(self, name: str, data: bytes) -> bool:
        if name.startswith("packs/"):
            if self.budget <= 0:
                raise StorageBusyError("the network went away")
            self.budget -= 1
        return super().put_new(name, data)


def test_interrupted_backup_leaves_no_recovery_point_and_the_next_reuses_its_packs(make_context, fake_service, source):
    context = make_context(pack_size=1 << 20)
    failing = FailingBlobs(fake_service.vault_blobs, budget=3)
    context.make_blobs = lambda url, sas: failing
    with pytest.raises(StorageBusyError):
        run_backup(context, BackupRequest(sources=[str(source)]))
    assert fake_service.recovery_points == {}
    uploaded_before = {name for name in fake_service.vault_blobs.blobs if name.startswith("packs/")}
    assert len(uploaded_before) == 3
    report = run_backup(make_context(pack_size=1 << 20), BackupRequest(sources=[str(source)]))
    assert [rp["state"] for rp in fake_service.recovery_points.values()] == ["committed"]
    assert uploaded_before <= set(fake_service.recovery_points[report.recovery_point_id]["packs"])


def test_unreadable_files_are_skipped_and_the_backup_is_committed_as_partial(make_context, fake_service, source, monkeypatch):
    real_open = backup_scan.open_for_backup
    secret = os.fsencode(source / "docs" / "script.sh")

    def refusing_open(disk_path: bytes) -> int:
        if disk_path == secret:
            raise PermissionError(13, "Permission denied")
        return real_open(disk_path)

    monkeypatch.setattr(backup_scan, "open_for_backup", refusing_open)
    report = run_backup(make_context(), BackupRequest(sources=[str(source)]))
    assert report.partial and report.skipped == [{"path": os.fsdecode(secret), "error": "cannot read: Permission denied"}]
    recovery_point = fake_service.recovery_points[report.recovery_point_id]
    assert recovery_point["state"] == "committed" and recovery_point["summary"]["partial"]


def test_a_file_vanishing_during_the_walk_is_reported_not_fatal(make_context, source, monkeypatch):
    doomed = source / "docs" / "empty"
    real_lstat = os.lstat

    def vanishing_lstat(path, *args, **kwargs):
        if os.fsencode(path) == os.fsencode(doomed):
            raise FileNotFoundError(2, "No such file or directory")
        return real_lstat(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", vanishing_lstat)
    report = run_backup(make_context(), BackupRequest(sources=[str(source)]))
    assert report.partial and report.skipped[0]["path"] == str(doomed)


def test_wrong_passphrase_fails_before_anything_is_written(make_context, fake_service, source):
    run_backup(make_context(), BackupRequest(sources=[str(source)]))
    blobs_before = dict(fake_service.vault_blobs.blobs)
    with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
        run_backup(make_context(passphrase="not the right passphrase"), BackupRequest(sources=[str(source)]))
    assert fake_service.vault_blobs.blobs == blobs_before


def test_a_rejected_commit_is_an_error_with_the_reason(make_context, fake_service, source):
    fake_service.reject_reason = "pack deleted by garbage collection"
    with pytest.raises(ServiceError, match="pack deleted by garbage collection"):
        run_backup(make_context(), BackupRequest(sources=[str(source)]))
