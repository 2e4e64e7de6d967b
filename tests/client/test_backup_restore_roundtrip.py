"""Round trips through the backup and restore use cases on the in-memory vault and service."""

from __future__ import annotations

import io
import os

import pytest

from agent_client.backup_run import BackupRequest, run_backup
from agent_client.errors import UsageError
from agent_client.restore_run import run_restore

from .sample_trees import allocated_bytes, build_sample_tree, describe_tree, restored_root


@pytest.fixture
def source(tmp_path):
    return build_sample_tree(tmp_path / "source")


def test_round_trip_brings_back_content_and_metadata(make_context, source, tmp_path):
    context = make_context()
    report = run_backup(context, BackupRequest(sources=[str(source)]))
    assert report.files_new == report.files and not report.partial
    target = tmp_path / "target"
    restore_report = run_restore(context, report.recovery_point_id, str(target), [])
    restored = restored_root(target, source)
    assert describe_tree(restored) == describe_tree(source)
    assert allocated_bytes(restored / "sparse.img") < 1 << 20, "holes must stay holes"
    assert restore_report.damaged == [] and restore_report.failed == []
    assert not [name for name in os.listdir(restored / "docs") if name.startswith(".bkrestore")]


def test_ancestors_of_the_source_are_restored_as_directories(make_context, source, tmp_path):
    context = make_context()
    report = run_backup(context, BackupRequest(sources=[str(source / "docs")]))
    run_restore(context, report.recovery_point_id, str(tmp_path / "target"), [])
    assert (restored_root(tmp_path / "target", source) / "docs" / "empty").is_file()
    assert not (restored_root(tmp_path / "target", source) / "sparse.img").exists()


def test_include_restores_only_the_subset_and_fetches_only_its_chunks(make_context, fake_service, source, tmp_path):
    context = make_context()
    report = run_backup(context, BackupRequest(sources=[str(source)]))
    before = fake_service.vault_blobs.bytes_read
    include = str(source / "docs" / "script.sh")
    run_restore(context, report.recovery_point_id, str(tmp_path / "target"), [include])
    restored = restored_root(tmp_path / "target", source)
    assert (restored / "docs" / "script.sh").read_text() == "#!/bin/sh\necho hi\n"
    assert not (restored / "docs" / "random.bin").exists()
    assert fake_service.vault_blobs.bytes_read - before < 1 << 20  # not the 3 MiB random file


def test_include_of_a_path_that_is_not_there_is_a_usage_error(make_context, source, tmp_path):
    context = make_context()
    report = run_backup(context, BackupRequest(sources=[str(source)]))
    with pytest.raises(UsageError, match="matches"):
        run_restore(context, report.recovery_point_id, str(tmp_path / "target"), ["/no/such/path"])


def test_hard_link_follower_is_restored_alone_when_its_leader_is_not_included(make_context, source, tmp_path):
    context = make_context()
    report = run_backup(context, BackupRequest(sources=[str(source)]))
    include = str(source / "docs" / "random-hardlink.bin")
    run_restore(context, report.recovery_point_id, str(tmp_path / "target"), [include])
    restored = restored_root(tmp_path / "target", source) / "docs" / "random-hardlink.bin"
    assert restored.read_bytes() == (source / "docs" / "random.bin").read_bytes()


def test_exclude_globs_match_base_names_and_full_paths(make_context, source, tmp_path):
    context = make_context()
    report = run_backup(context, BackupRequest(sources=[str(source)], excludes=["*.bin", f"{source}/level00"]))
    run_restore(context, report.recovery_point_id, str(tmp_path / "target"), [])
    restored = restored_root(tmp_path / "target", source)
    assert not (restored / "docs" / "random.bin").exists() and not (restored / "level00").exists()
    assert (restored / "docs" / "empty").exists()


def test_stdin_backup_is_restored_under_its_name(make_context, tmp_path):
    context = make_context()
    dump = os.urandom(2 << 20) + b"-- end of dump\n"
    report = run_backup(context, BackupRequest(stdin_name="db.sql", stdin=io.BytesIO(dump)))
    assert report.files == 1 and report.bytes_read == len(dump)
    run_restore(context, report.recovery_point_id, str(tmp_path / "target"), [])
    assert (tmp_path / "target" / "db.sql").read_bytes() == dump


def test_stdin_with_paths_or_a_bad_name_is_refused(make_context, source):
    with pytest.raises(UsageError):
        run_backup(make_context(), BackupRequest(sources=[str(source)], stdin_name="x", stdin=io.BytesIO()))
    with pytest.raises(UsageError):
        run_backup(make_context(), BackupRequest(stdin_name="../escape", stdin=io.BytesIO()))


def test_another_machine_restores_with_only_the_passphrase(make_context, source, tmp_path):
    report = run_backup(make_context("alpha"), BackupRequest(sources=[str(source)]))
    run_restore(make_context("beta"), report.recovery_point_id, str(tmp_path / "target"), [])
    assert describe_tree(restored_root(tmp_path / "target", source)) == describe_tree(source)


def test_restore_over_an_existing_tree_replaces_files(make_context, source, tmp_path):
    context = make_context()
    report = run_backup(context, BackupRequest(sources=[str(source)]))
    target = tmp_path / "target"
    run_restore(context, report.recovery_point_id, str(target), [])
    (restored_root(target, source) / "docs" / "script.sh").write_text("changed")
    run_restore(context, report.recovery_point_id, str(target), [])
    assert (restored_root(target, source) / "docs" / "script.sh").read_text() == "#!/bin/sh\necho hi\n"
