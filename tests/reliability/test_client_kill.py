"""Row 1: `backup-agent backup` SIGKILLed at seeded points; the vault stays consistent and the next backup works.

Each round changes a few files, runs a backup that kills itself at the next of KILL_POINTS (at
a seeded position: after the k-th pack upload, between the uploads and the commit, as the commit
is sent, while it waits for the catalog, or at any request), maybe changes files again (so that
what it uploaded is never needed: an orphan), then runs a normal backup, which must succeed.
Each round must add exactly one recovery point, the normal backup's, plus the killed backup's
own only if its `POST /commit` went out (read from the request trace). Every recovery point the
catalog holds must pass `backup-agent verify` (every byte downloaded and authenticated). At the
end the garbage collector, run at a clock past the grace period, must reclaim the orphaned
uploads and leave every recovery point verifiable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from shared.formats import blob_names
from shared.services.garbage_collection import collect_garbage
from shared.services.vaults import container_name
from tests.api.conftest import Api
from tests.pipeline.conftest import Clock
from tests.support.agents import vault_with_machine
from tests.support.runtimes import service_runtime

REPO = Path(__file__).resolve().parents[2]
PACK_SIZE = 256 << 10  # small packs: several uploads per backup, so several places to die
KILL_POINTS = [  # (when, which request, how many of them may come); the position is drawn per round
    ("after", "PUT /packs/", 2), ("before", "PUT /packs/", 2), ("after", "PUT /snapshots/", 1),
    ("after", "PUT /commits/", 1), ("before", "POST /commit", 1), ("after", "POST /commit", 1),
    ("after", "GET /api/recovery-points/", 2), ("after", "", 10), ("before", "", 10),
]


class Round:
    """The source folder a machine backs up, changed a little each round (seeded)."""

    def __init__(self, folder: Path, rng) -> None:
        self.folder, self.rng = folder, rng
        folder.mkdir(parents=True)
        for index in range(8):
            self._write(index)

    def _write(self, index: int) -> None:
        (self.folder / f"file{index:02d}.bin").write_bytes(self.rng.randbytes(self.rng.randint(50_000, 400_000)))

    def change(self, files: list[int] | None = None) -> list[int]:
        files = files or [self.rng.randrange(12) for _ in range(self.rng.randint(1, 3))]
        for index in files:
            self._write(index)
        return files


def _killed_backup(machine, folder: Path, kill_at: str, trace: Path) -> tuple[int, bool]:
    """Runs the backup that kills itself; returns its exit code and whether its commit request went out."""
    trace.unlink(missing_ok=True)
    env = {**machine.env, "RELIABILITY_KILL_AT": kill_at, "RELIABILITY_TRACE": str(trace)}
    done = subprocess.run([sys.executable, "-m", "tests.reliability.killing_agent", "backup", str(folder), "--json"],
                          env=env, cwd=REPO, capture_output=True, timeout=280)
    requests = [line.split(" ", 1)[1] for line in trace.read_text().splitlines()] if trace.exists() else []
    when, position, fragment = (kill_at.split(":", 2) + [""])[:3]
    unsent = None  # the request a "before" kill died in front of
    if done.returncode == -9 and when == "before":
        wanted_method, _, wanted_path = fragment.partition(" ")
        matching = [i for i, request in enumerate(requests)
                    if not fragment or (request.split(" ")[0] == wanted_method and wanted_path in request)]
        unsent = matching[int(position) - 1]
    commit_sent = any(request.startswith("POST ") and request.endswith("/commit")
                      for i, request in enumerate(requests) if i != unsent)
    return done.returncode, commit_sent


def _points(machine) -> list[dict]:
    return machine.run("list", "--json").json()


def _settled(api: Api, machine) -> list[dict]:
    """The catalog once no commit is in flight: a killed backup's commit may still be cataloged, so
    wait until nothing is pending and the listing has not changed for a few seconds."""
    token = json.loads((machine.home / "config.json").read_text())["token"]
    deadline, last, stable_since = time.monotonic() + 90, None, time.monotonic()
    while time.monotonic() < deadline:
        status, body = api.call("GET", "/recovery-points?state=all&limit=1000", token)
        assert status == 200, body
        listing = sorted((rp["id"], rp["state"]) for rp in body["items"])
        if listing != last:
            last, stable_since = listing, time.monotonic()
        elif not any(state == "pending" for _, state in listing) and time.monotonic() - stable_since > 3:
            break
        time.sleep(0.5)
    return _points(machine)


def _check(stack, tmp_path, rng, rounds: int) -> None:
    api = Api(stack["BACKUP_API_URL"])
    with vault_with_machine(stack, tmp_path / "vault", PACK_SIZE) as (vault, machine):
        source = Round(tmp_path / "source", rng)
        assert machine.run("backup", str(source.folder), "--json").code == 0
        known = {rp["id"] for rp in _settled(api, machine)}
        verified: set[str] = set()
        kills, outcomes = 0, []
        for index in range(rounds):
            changed = source.change()
            when, request, most = KILL_POINTS[index % len(KILL_POINTS)]  # each in turn
            kill_at = f"{when}:{rng.randint(1, most)}:{request}"
            if index == 0:
                kill_at = "after:1:PUT /packs/"  # KILL_POINTS[0] at 1: an orphan for certain, a pack nobody needs
            code, commit_sent = _killed_backup(machine, source.folder, kill_at, tmp_path / "trace")
            kills += code == -9
            assert code in (0, -9), f"round {index} ({kill_at}): the killed backup exited {code}"
            if index == 0 or rng.random() < 0.5:
                source.change(changed)  # what the killed backup uploaded is now needed by no one
            after = machine.run("backup", str(source.folder), "--json")
            assert after.code == 0, f"round {index} ({kill_at}): the next backup failed: {after.stderr}"
            settled = _settled(api, machine)
            new = {rp["id"] for rp in settled} - known
            assert after.json()["recovery_point_id"] in new, f"round {index} ({kill_at})"
            assert len(new) == 1 + commit_sent, \
                f"round {index} ({kill_at}, exit {code}, commit sent: {commit_sent}): {len(new)} new recovery points"
            known |= new
            outcomes.append(f"{kill_at}→{len(new)}")
            for rp in settled:
                assert rp["state"] == "committed", rp
                if rp["id"] not in verified:
                    check = machine.run("verify", rp["id"], "--json")
                    assert check.code == 0 and check.json()["ok"], f"round {index} ({kill_at}): {check.stderr}"
                    verified.add(rp["id"])
        assert kills, "no backup was ever killed: the kill points never came"

        # The orphans: uploads no recovery point references, reclaimed once the grace period is over.
        clock = Clock()
        rt = service_runtime(stack, clock)
        clock.advance(hours=rt.settings.gc_grace_hours + 1)
        report = collect_garbage(rt, rt.catalog.vaults.get(vault.vault_id, vault.vault_id))
        container = container_name(vault.vault_id)
        referenced = {doc["pack"] for doc in rt.catalog.packs.query(vault.vault_id, "c.type = 'ref'")}
        left = {b.name.removeprefix("packs/") for b in rt.primary_blobs.list_blobs(container, "packs/")}
        assert left == referenced, f"unreferenced packs left after GC: {sorted(left - referenced)[:5]} ({report})"
        assert report["orphans"] >= 1, f"the first round's orphan was not reclaimed: {report}"
        cataloged = {rp["id"] for rp in rt.catalog.recovery_points.query(vault.vault_id, "c.type = 'recovery_point'")}
        stray = [b.name for prefix in ("snapshots/", "commits/") for b in rt.primary_blobs.list_blobs(container, prefix)
                 if blob_names.recovery_point_of(b.name) not in cataloged]
        assert not stray, f"snapshot or manifest blobs of sessions that never committed left after GC: {stray[:5]}"
        for rp_id in verified:
            check = machine.run("verify", rp_id, "--json")
            assert check.code == 0 and check.json()["ok"], f"after GC: {check.stderr}"
        print(f"{rounds} rounds, {kills} killed backups, new points per round {outcomes}, "
              f"{len(verified)} recovery points verified, GC {report}")


@pytest.mark.stack
@pytest.mark.timeout(600)
def test_a_killed_backup_never_leaves_a_point_without_its_data(stack, tmp_path, rng):
    _check(stack, tmp_path, rng, rounds=len(KILL_POINTS))  # every kill point once, ~15 s each


@pytest.mark.stack
@pytest.mark.soak
@pytest.mark.timeout(4 * 3600)
def test_soak_sixty_kill_points(stack, tmp_path, rng):
    _check(stack, tmp_path, rng, rounds=60)
