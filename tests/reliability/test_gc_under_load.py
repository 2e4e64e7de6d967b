"""Row 14: retention and garbage collection loop while several machines back up into one vault.

The host runs with a grace period of seconds (sessions shorter still, as the settings demand), the
vault keeps the last two points of each machine and soft-deletes nothing for long, and a thread
runs retention, purge and garbage collection over the vault again and again. Meanwhile each
machine backs up a folder that shares files with the others (one vault key: shared chunks and
packs), changing some of them every round. A backup may fail loudly when the collector wins a race
(then the next round backs up again); none may ever leave a cataloged point without its data: at
the end every committed recovery point of every machine must pass `verify`.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devstack.stack import Stack
from shared.services.garbage_collection import collect_garbage
from shared.services.purge import purge_expired
from shared.services.retention_run import apply_retention
from tests.api.conftest import Api
from tests.client.e2e_support import Vault
from tests.support.runtimes import service_runtime

PACK_SIZE = str(128 << 10)
# Small files keep five machines' backups and the verify of every kept point well under 90 s on
# two cores; the packs are small too, so each backup still writes several of them.
OWN_FILE_BYTES = (10_000, 60_000)
SHARED_FILE_BYTES = (15_000, 80_000)
VERIFIERS = 3


def _maintenance_loop(rt, vault_id: str, stop: threading.Event, counts: dict, errors: list) -> None:
    while not stop.is_set():
        try:
            vault = rt.catalog.vaults.get(vault_id, vault_id)
            counts["runs"] += 1
            counts["expired"] += apply_retention(rt, vault)["expired"]
            counts["purged"] += purge_expired(rt, vault)
            swept = collect_garbage(rt, vault)
            counts["swept"] += swept["swept"] + swept["orphans"]
            counts["condemned"] += swept["condemned"]
        except Exception as exc:  # noqa: BLE001 - counted: the loop is the adversary, not the subject
            errors.append(f"{type(exc).__name__}: {exc}")
        stop.wait(0.5)


def _machine_loop(machine, folder: Path, pool: list[bytes], seed: int, done: threading.Event, outcomes: list) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for index in range(4):
        (folder / f"common{index}.bin").write_bytes(pool[index])
        (folder / f"own{index}.bin").write_bytes(rng.randbytes(rng.randint(*OWN_FILE_BYTES)))
    while not done.is_set():
        result = machine.run("backup", str(folder), "--json")
        outcomes.append((result.code, result.stderr.strip()[-200:]))
        (folder / f"own{rng.randrange(4)}.bin").write_bytes(rng.randbytes(rng.randint(*OWN_FILE_BYTES)))
        (folder / f"common{rng.randrange(4)}.bin").write_bytes(rng.choice(pool))


def _verify(machine, recovery_points: list[dict], problems: list[str]) -> None:
    for rp in recovery_points:
        check = machine.run("verify", rp["id"], "--json")
        if check.code != 0:
            problems.append(f"{rp['id']} ({rp['instance']}): {check.stderr.strip()[-300:]}")


def _check(stack, stack_control: Stack, tmp_path: Path, rng, machines: int, seconds: float,
           grace_hours: float, session_hours: float) -> dict:
    settings = {"GC_GRACE_HOURS": str(grace_hours), "BACKUP_SESSION_HOURS": str(session_hours)}
    Stack(stack_control.state_dir, extra_settings=settings).restart_functions()
    vault = Vault(stack, tmp_path / "vault")
    try:
        api = Api(stack["BACKUP_API_URL"])
        assert api.call("PATCH", f"/vaults/{vault.vault_id}", stack["BACKUP_ADMIN_KEY"], {"soft_delete_days": 0})[0] == 200
        assert api.call("PUT", f"/vaults/{vault.vault_id}/policy", stack["BACKUP_ADMIN_KEY"], {"last": 2})[0] == 200
        members = []
        for index in range(machines):
            member = vault.machine(f"m{index}")
            member.env["BACKUP_AGENT_PACK_SIZE"] = PACK_SIZE
            members.append(member)
        pool = [rng.randbytes(rng.randint(*SHARED_FILE_BYTES)) for _ in range(10)]
        rt = service_runtime(stack, **settings)
        stop, counts, errors = threading.Event(), dict.fromkeys(("runs", "expired", "purged", "swept", "condemned"), 0), []
        collector = threading.Thread(target=_maintenance_loop, args=(rt, vault.vault_id, stop, counts, errors))
        collector.start()
        done = threading.Event()
        outcomes: list[list] = [[] for _ in members]
        workers = [threading.Thread(target=_machine_loop, args=(m, tmp_path / f"src{i}", pool, rng.randrange(1 << 30),
                                                                 done, outcomes[i]))
                   for i, m in enumerate(members)]
        for worker in workers:
            worker.start()
        # At least `seconds` of backups, and on until the collector has swept under them (how soon
        # depends on the machine's speed, so the run waits for it rather than for a clock).
        started = time.monotonic()
        while time.monotonic() - started < seconds or (not counts["swept"] and time.monotonic() - started < 20 * seconds):
            time.sleep(1)
        done.set()
        for worker in workers:
            worker.join()
        stop.set()
        collector.join()
        backups = [o for per_machine in outcomes for o in per_machine]
        succeeded = sum(code == 0 for code, _ in backups)
        assert succeeded, f"no backup succeeded: {backups[:5]}"
        committed = members[0].run("list", "--all-machines", "--json").json()
        problems: list[str] = []
        # Each verifier is a machine of its own (its own cache folder), verifying its share in turn.
        with ThreadPoolExecutor(VERIFIERS) as pool:
            list(pool.map(lambda n: _verify(members[n], committed[n::VERIFIERS], problems), range(VERIFIERS)))
        assert not problems, f"missing data in {len(problems)} of {len(committed)} kept recovery points: {problems}"
        assert counts["purged"] and counts["swept"], f"the collector never swept anything: {counts}"
        return {"backups": len(backups), "succeeded": succeeded, "failed": [o for o in backups if o[0] != 0][:5],
                "verified": len(committed), "maintenance": counts, "maintenance errors": errors[:5]}
    finally:
        vault.delete_containers()
        stack_control.restart_functions()


@pytest.mark.stack
@pytest.mark.timeout(900)
def test_no_kept_point_misses_data_while_gc_races_backups(stack, stack_control, tmp_path, rng):
    print(_check(stack, stack_control, tmp_path, rng, machines=5, seconds=30, grace_hours=0.005, session_hours=0.003))


@pytest.mark.stack
@pytest.mark.soak
@pytest.mark.timeout(3 * 3600)
def test_soak_ten_machines_for_five_minutes(stack, stack_control, tmp_path, rng):
    print(_check(stack, stack_control, tmp_path, rng, machines=10, seconds=300, grace_hours=0.02, session_hours=0.01))
