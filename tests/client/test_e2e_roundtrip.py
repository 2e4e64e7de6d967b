"""End to end on the local stack: a tree with every kind of entry comes back bit for bit with its metadata."""

from __future__ import annotations

import os
import subprocess

import pytest

from .e2e_support import restored
from .sample_trees import OTHER_OWNER, allocated_bytes, build_sample_tree, describe_tree

pytestmark = pytest.mark.stack


@pytest.fixture
def vault(make_vault, tmp_path):
    return make_vault()


def test_round_trip_with_a_sparse_2_gib_file(vault, tmp_path):
    source = build_sample_tree(tmp_path / "source", sparse_size=2 << 30)
    alpha = vault.machine("alpha")
    backup = alpha.backup(source)
    assert backup["files_new"] == backup["files"] and backup["partial"] is False
    assert backup["bytes_read"] < 64 << 20, "holes are not read"
    target = tmp_path / "target"
    result = alpha.run("restore", backup["recovery_point_id"], "--target", str(target), "--json")
    assert result.json()["damaged"] == []
    restored_tree = describe_tree(restored(target, source))
    assert restored_tree == describe_tree(source)
    assert restored_tree["empty-dir"][0] == "dir" and restored_tree["docs/empty-dir-in-docs"][0] == "dir"
    assert restored_tree["docs/empty"][3] == restored_tree["docs/another empty"][3] == 0
    others = {path for path, described in restored_tree.items() if described[-1] == OTHER_OWNER}
    if os.geteuid() == 0:  # restore must set an owner other than the one restoring
        assert others == {"docs/script.sh", "docs/link-to-resume", "empty-dir"}
    else:
        assert {described[-1] for described in restored_tree.values()} == {(os.getuid(), os.getgid())}
    assert allocated_bytes(restored(target, source) / "sparse.img") < 8 << 20
    assert subprocess.run(["cmp", source / "sparse.img", restored(target, source) / "sparse.img"]).returncode == 0


def test_ls_verify_and_a_second_machine_restoring_with_the_passphrase(vault, tmp_path):
    source = build_sample_tree(tmp_path / "source", sparse_size=1 << 20)
    alpha, beta = vault.machine("alpha"), vault.machine("beta")
    recovery_point_id = alpha.backup(source)["recovery_point_id"]
    listing = alpha.run("ls", recovery_point_id, str(source / "docs"), "--json").json()
    assert {row["path"] for row in listing} >= {str(source / "docs" / "script.sh"), str(source / "docs" / "dangling")}
    verified = alpha.run("verify", recovery_point_id, "--json").json()
    assert verified["ok"] is True and verified["files"] > 0
    assert beta.run("list", "--json").json() == []
    everyone = beta.run("list", "--all-machines", "--json").json()
    assert [row["id"] for row in everyone] == [recovery_point_id] and everyone[0]["instance"] == "alpha"
    target = tmp_path / "beta-target"
    beta.run("restore", recovery_point_id, "--target", str(target), "--json").json()
    assert describe_tree(restored(target, source)) == describe_tree(source)


def test_include_restores_a_subset(vault, tmp_path):
    source = build_sample_tree(tmp_path / "source", sparse_size=1 << 20)
    alpha = vault.machine()
    recovery_point_id = alpha.backup(source)["recovery_point_id"]
    target = tmp_path / "target"
    alpha.run("restore", recovery_point_id, "--target", str(target), "--include", str(source / "docs"), "--json").json()
    assert (restored(target, source) / "docs" / "random.bin").read_bytes() == (source / "docs" / "random.bin").read_bytes()
    assert not (restored(target, source) / "sparse.img").exists()


def test_stdin_dump(vault, tmp_path):
    alpha = vault.machine()
    dump = os.urandom(3 << 20)
    recovery_point_id = alpha.run("backup", "--stdin", "--name", "db.sql", "--json", stdin=dump).json()["recovery_point_id"]
    alpha.run("restore", recovery_point_id, "--target", str(tmp_path / "t"), "--json").json()
    assert (tmp_path / "t" / "db.sql").read_bytes() == dump


def test_passphrase_change_keeps_the_data_readable_and_new_points_need_the_new_passphrase(vault, tmp_path):
    source = build_sample_tree(tmp_path / "source", sparse_size=1 << 20)
    alpha = vault.machine()
    recovery_point_id = alpha.backup(source)["recovery_point_id"]
    packs_before = vault.blob_names("packs/")
    new = "a brand new passphrase for e2e"
    assert alpha.run("passphrase", "change", "--json", BACKUP_AGENT_NEW_PASSPHRASE=new).code == 0
    assert vault.blob_names("packs/") == packs_before
    assert alpha.run("verify", recovery_point_id, "--json", BACKUP_AGENT_PASSPHRASE=new).json()["ok"]
    # The old key is retired, not deleted (docs/design.md, "Vault keys"): a point made before the
    # change still opens with the old passphrase; a point made after it does not.
    assert alpha.run("verify", recovery_point_id, "--json").json()["ok"]
    later = alpha.run("backup", str(source), "--json", BACKUP_AGENT_PASSPHRASE=new).json()["recovery_point_id"]
    old_try = alpha.run("verify", later)
    assert old_try.code == 3 and old_try.stderr.strip().endswith("wrong passphrase")
