"""End to end: incremental backups of the benchmark dataset upload only what changed and read no unchanged file."""

from __future__ import annotations

import subprocess

import pytest

from .e2e_support import DATASET_SCRIPT, make_dataset, restored

pytestmark = [pytest.mark.stack, pytest.mark.skipif(not DATASET_SCRIPT.exists(), reason="no benchmark dataset script")]


@pytest.mark.timeout(900)
def test_one_percent_change_uploads_under_five_percent_and_no_change_uploads_almost_nothing(make_vault, tmp_path):
    vault = make_vault()
    alpha = vault.machine()
    dataset = tmp_path / "dataset"
    make_dataset(dataset, "512M")  # smaller sets shrink the mutation's ranges below a chunk
    first = alpha.backup(dataset)
    mutation = make_dataset(dataset, "", mutate_round=1)
    second = alpha.backup(dataset)
    assert second["bytes_uploaded"] < 0.05 * first["bytes_uploaded"]
    assert second["bytes_uploaded"] < 2.5 * mutation["changed_or_new_bytes"]  # 1.8x measured at this size
    assert second["files_unchanged"] > 0.9 * second["files"]
    third = alpha.backup(dataset)
    assert third["bytes_read"] == 0 and third["files_unchanged"] == third["files"]
    assert third["files_new"] == third["files_changed"] == 0
    assert third["bytes_uploaded"] < 100_000
    target = tmp_path / "target"
    alpha.run("restore", third["recovery_point_id"], "--target", str(target), "--json").json()
    assert subprocess.run(["diff", "-r", "--no-dereference", str(dataset), str(restored(target, dataset))]).returncode == 0
