"""Row 6: a pack deleted behind the service's back, then a new backup.

The new recovery point must either upload again what is missing (and verify) or fail loudly (a
non-zero exit with one line on stderr); the catalog must never hold a new recovery point that
references the missing pack. Two moments: the pack disappears before the backup starts, and
while the backup runs, just before it sends its commit.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.services import pack_refs
from tests.client.e2e_support import Vault
from tests.support.agents import vault_with_machine
from tests.support.runtimes import service_runtime

REPO = Path(__file__).resolve().parents[2]
PACK_SIZE = 128 << 10


def _source(folder: Path, rng) -> Path:
    folder.mkdir(parents=True)
    for index in range(6):
        (folder / f"file{index}.bin").write_bytes(rng.randbytes(rng.randint(50_000, 200_000)))
    return folder


def _backup_deleting_midway(machine, folder: Path, vault: Vault, pack: str, pause_dir: Path):
    """A backup paused just before its commit, while the pack is deleted."""
    pause_dir.mkdir()
    env = {**machine.env, "RELIABILITY_KILL_AT": "pause:1:POST /commit", "RELIABILITY_PAUSE_DIR": str(pause_dir)}
    process = subprocess.Popen([sys.executable, "-m", "tests.reliability.killing_agent", "backup", str(folder), "--json"],
                               env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (pause_dir / "reached").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    vault.container_client().delete_blob(pack)
    (pause_dir / "go").touch()
    stdout, stderr = process.communicate(timeout=280)
    return process.returncode, stdout.decode(), stderr.decode()


def _check(stack, tmp_path, rng, midway: bool) -> str:
    with vault_with_machine(stack, tmp_path / "vault", PACK_SIZE) as (vault, machine):
        source = _source(tmp_path / "source", rng)
        first = machine.backup(source)["recovery_point_id"]
        pack = rng.choice(vault.blob_names("packs/"))
        (source / "new.bin").write_bytes(rng.randbytes(30_000))  # something to upload either way
        before = {rp["id"] for rp in machine.run("list", "--json").json()}
        if midway:
            code, _, stderr = _backup_deleting_midway(machine, source, vault, pack, tmp_path / "pause")
        else:
            vault.container_client().delete_blob(pack)
            result = machine.run("backup", str(source), "--json")
            code, stderr = result.code, result.stderr
        rt = service_runtime(stack)
        new = [rp for rp in rt.catalog.recovery_points.query(vault.vault_id, "c.type = 'recovery_point'")
               if rp["id"] not in before]
        committed = [rp for rp in new if rp["state"] == "committed"]
        for rp in committed:
            for needed in pack_refs.packs_of(rt, vault.vault_id, rp["id"]):
                assert vault.container_client().get_blob_client(f"packs/{needed}").exists(), (
                    f"recovery point {rp['id']} references the missing packs/{needed}")
        if code == 0:
            assert len(committed) == 1, new
            check = machine.run("verify", committed[0]["id"], "--json")
            assert check.code == 0 and check.json()["ok"], check.stderr
            outcome = "uploaded again"
        else:
            assert not committed, f"the backup failed ({code}) but cataloged {committed}"
            assert stderr.count("\n") == 1 and stderr.startswith("backup-agent: error:"), stderr
            outcome = f"failed loudly: {stderr.strip()}"
        assert machine.run("verify", first, "--json").code != 0, "the first point lost a pack yet verifies"
        return outcome


@pytest.mark.stack
@pytest.mark.parametrize("midway", [False, True], ids=["before-the-backup", "before-the-commit"])
def test_a_pack_deleted_behind_the_service_is_never_referenced_again(stack, tmp_path, rng, midway):
    print(_check(stack, tmp_path, rng, midway))


@pytest.mark.stack
@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_soak_a_pack_deleted_behind_the_service(stack, tmp_path, rng):
    for round_ in range(20):
        print(_check(stack, tmp_path / f"r{round_}", rng, midway=bool(round_ % 2)))
