"""End to end: tampering, wrong passphrases, unknown recovery points, an unreachable service, SIGKILL mid-backup."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.formats.pack_index import FOOTER_SIZE, ChunkKind, parse_trailer

from .e2e_support import ExpectedDamage, damage_problems, expected_pack_damage, random_files, restored, wrong_restored_files

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def backed_up(make_vault, tmp_path):
    vault = make_vault()
    alpha = vault.machine()
    source = random_files(tmp_path / "source", 3, 700_000)
    (source / "notes.txt").write_text("some notes\n" * 3000)
    return vault, alpha, source, alpha.backup(source)["recovery_point_id"]


def _damage_pack(vault, alpha, recovery_point_id, pack, position) -> ExpectedDamage:
    owners = alpha.chunk_owners(recovery_point_id)
    container = vault.container_client()
    original = container.download_blob(pack).readall()
    vault.flip_byte(pack, position)
    return expected_pack_damage(pack, original, container.download_blob(pack).readall(), owners)


def _assert_names_damage(result, expected: ExpectedDamage):
    assert result.code == 7, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("backup-agent: error:")
    assert not damage_problems(result.stderr, expected), (damage_problems(result.stderr, expected), result.stderr)


@pytest.mark.parametrize("where", ["chunk", "index", "footer"])
def test_a_flipped_pack_byte_fails_verify_and_restore_naming_the_file(backed_up, tmp_path, where):
    vault, alpha, source, recovery_point_id = backed_up
    pack = vault.blob_names("packs/")[0]
    size = vault.blob_size(pack)
    position = {"chunk": random.randrange(size // 2), "index": size - FOOTER_SIZE - 5, "footer": size - 3}[where]
    expected = _damage_pack(vault, alpha, recovery_point_id, pack, position)
    assert expected.paths or expected.tree, "the damage touches a file or the tree"
    assert expected.whole_pack == (where != "chunk")
    _assert_names_damage(alpha.run("verify", recovery_point_id), expected)
    target = tmp_path / "target"
    _assert_names_damage(alpha.run("restore", recovery_point_id, "--target", str(target)), expected)
    assert not wrong_restored_files(restored(target, source), source, expected.paths, expected.tree)


def test_every_data_chunk_of_a_pack_flipped_in_turn_names_its_files(backed_up, tmp_path):
    vault, alpha, source, recovery_point_id = backed_up
    pack = vault.blob_names("packs/")[0]
    entries = parse_trailer(vault.container_client().download_blob(pack).readall(), vault.blob_size(pack))
    for number, entry in enumerate(entries):
        position = entry.offset + random.randrange(entry.length)
        expected = _damage_pack(vault, alpha, recovery_point_id, pack, position)
        try:
            assert expected.tree == (entry.kind == ChunkKind.TREE) and not expected.whole_pack
            for command in (["verify", recovery_point_id],
                            ["restore", recovery_point_id, "--target", str(tmp_path / f"t{number}")]):
                _assert_names_damage(alpha.run(*command), expected)
            assert not wrong_restored_files(restored(tmp_path / f"t{number}", source), source, expected.paths,
                                            expected.tree)
        finally:
            vault.flip_byte(pack, position)  # flip_byte xors: flipping the same byte again restores it
    assert alpha.run("verify", recovery_point_id).code == 0


def test_a_flipped_snapshot_byte_fails_verify_and_restore(backed_up, tmp_path):
    vault, alpha, source, recovery_point_id = backed_up
    vault.flip_byte(f"snapshots/{recovery_point_id}", 30)
    for result in (alpha.run("verify", recovery_point_id),
                   alpha.run("restore", recovery_point_id, "--target", str(tmp_path / "t"))):
        assert result.code == 7, result.stderr
        assert f"the snapshot snapshots/{recovery_point_id} is damaged" in result.stderr
    assert not (tmp_path / "t").exists() or not any(path.is_file() for path in (tmp_path / "t").rglob("*"))


def test_wrong_passphrase_is_one_clear_line(backed_up, tmp_path):
    _, alpha, source, recovery_point_id = backed_up
    for result in (alpha.run("restore", recovery_point_id, "--target", str(tmp_path / "t"),
                             BACKUP_AGENT_PASSPHRASE="not the passphrase at all"),
                   alpha.run("backup", str(source), BACKUP_AGENT_PASSPHRASE="not the passphrase at all")):
        assert result.code == 3 and result.stderr == "backup-agent: error: wrong passphrase\n"
    assert not (tmp_path / "t").exists() or not any((tmp_path / "t").rglob("*.bin"))


def test_unknown_recovery_point_and_unreachable_service_are_one_line(backed_up, tmp_path):
    _, alpha, _, _ = backed_up
    unknown = alpha.run("restore", "f" * 32, "--target", str(tmp_path / "t"))
    assert unknown.code == 6 and unknown.stderr.count("\n") == 1
    unreachable = alpha.run("list", BACKUP_API_URL="http://127.0.0.1:9/api")
    assert unreachable.code == 4 and unreachable.stderr.count("\n") == 1 and "cannot reach" in unreachable.stderr


def test_sigkill_during_backup_then_backup_again_commits_exactly_one_recovery_point(make_vault, tmp_path):
    vault = make_vault()
    alpha = vault.machine()
    source = random_files(tmp_path / "source", 12, 8 << 20)
    # Held just before a random pack upload (2nd to 5th of about 6) and SIGKILLed from here once a
    # pack is stored: the kill lands mid-upload, never after the commit or after the process ended.
    pause_dir = tmp_path / "pause"
    pause_dir.mkdir()
    env = {**alpha.env, "RELIABILITY_KILL_AT": f"pause:{random.randint(2, 5)}:PUT /packs/",
           "RELIABILITY_PAUSE_DIR": str(pause_dir)}
    process = subprocess.Popen([sys.executable, "-m", "tests.reliability.killing_agent", "backup", str(source), "--json"],
                               env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (pause_dir / "reached").exists() or not vault.blob_names("packs/"):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert vault.blob_names("snapshots/") == [] and vault.blob_names("commits/") == []
    packs_after_kill = set(vault.blob_names("packs/"))
    reused_bytes = sum(vault.blob_size(name) for name in packs_after_kill)
    result = alpha.backup(source)
    points = alpha.run("list", "--json").json()
    assert [point["id"] for point in points] == [result["recovery_point_id"]]
    commit_blob, = vault.blob_names(f"commits/{result['recovery_point_id']}")
    manifest = json.loads(vault.container_client().download_blob(commit_blob).readall())
    assert packs_after_kill <= {pack["name"] for pack in manifest["packs"]}, "what was uploaded is reused"
    assert result["bytes_uploaded"] + reused_bytes < 1.02 * (96 << 20) + (1 << 20)
    target = tmp_path / "target"
    alpha.run("restore", result["recovery_point_id"], "--target", str(target), "--json").json()
    for index in range(12):
        name = f"part{index:02d}.bin"
        assert (restored(target, source) / name).read_bytes() == (source / name).read_bytes()
