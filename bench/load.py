"""Load on the local stack: 20 clients committing into one vault, and catalog reads over 10,000 recovery points.

    .venv/bin/python bench/load.py                      # its own fresh stack under bench/.data/load-stack
    .venv/bin/python bench/load.py --stack-dir .devstack # a stack that is already running

Part 1 (row 15 of docs/reliability.md): `--clients` machines of one vault each back up
`--commits` times, back to back, through the HTTP API and their SAS (synthetic packs with valid
indexes, as tests/api/test_commit_flow.py does), and the catalog function catalogs them. Reported:
commits per minute (cataloged, over the whole run), commit-to-visible latency (from the 202 of
the commit call to the catalog's `created` stamp, the moment the point becomes visible), and
afterwards no poison message and no verify error (the catalog's own checks re-run on every
committed point: blobs present with their sizes, pack indexes intact, references complete).

Part 2: `--points` recovery point documents are written straight into a vault's partition through
the Cosmos adapter (as the catalog writes them); then `--readers` threads read the catalog over
HTTP for `--seconds`: list pages, filtered lists and single points. Reported: reads per second
and p50/p95 latency per kind of read.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.compare.bench_stack import BenchStack  # noqa: E402
from devstack.stack import Stack  # noqa: E402
from shared.errors import CommitRejected  # noqa: E402
from shared.services import pack_refs  # noqa: E402
from shared.services.commit_checks import check_pack, check_snapshot, load_manifest  # noqa: E402
from shared.services.vaults import container_name  # noqa: E402
from tests.api.conftest import Api  # noqa: E402
from tests.support.http_backup import manifest_for, put_blob, synthetic_pack  # noqa: E402
from tests.support.queues import poison_mentioning  # noqa: E402
from tests.support.runtimes import service_runtime  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))] if ordered else float("nan")


def new_vault(api: Api, operator_key: str, name: str, machines: int) -> dict:
    status, vault = api.call("POST", "/vaults", operator_key, {"name": name})
    assert status == 201, vault
    vault["machines"] = []
    for index in range(machines):
        status, machine = api.call("POST", "/instances", vault["registration_key"], {"name": f"load-{index}"})
        assert status == 201, machine
        vault["machines"].append(machine)
    return vault


# --- part 1: commits -----------------------------------------------------------------------------

def one_client(api: Api, machine: dict, commits: int, rng: random.Random, accepted: dict, errors: list) -> None:
    shared = synthetic_pack(rng)  # each machine reuses one pack in every backup, as unchanged files do
    for index in range(commits):
        try:
            status, session = api.call("POST", "/backup-sessions", machine["token"], {})
            assert status == 201, session
            rp_id = session["recovery_point_id"]
            own = synthetic_pack(rng, chunks=4, sealed_size=4096)
            for name, data in ([shared, own] if index == 0 else [own]):
                assert put_blob(session, name, data) == 201, name
            snapshot = rng.randbytes(256)
            assert put_blob(session, f"snapshots/{rp_id}", snapshot) == 201
            manifest = manifest_for(rp_id, machine["instance_id"], snapshot, [shared, own], "0" * 32)
            assert put_blob(session, f"commits/{rp_id}", manifest.to_json_bytes()) == 201
            status, body = api.call("POST", f"/backup-sessions/{rp_id}/commit", machine["token"],
                                    {"commit_blob": f"commits/{rp_id}"})
            assert status == 202, body
            accepted[rp_id] = datetime.now(timezone.utc)
        except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
            errors.append(f"{type(exc).__name__}: {exc}")


def commit_load(api: Api, stack: dict, clients: int, commits: int, seed: int) -> dict:
    vault = new_vault(api, stack["BACKUP_ADMIN_KEY"], f"load-{seed}-{int(time.time())}", clients)
    admin = vault["admin_key"]
    accepted: dict[str, datetime] = {}
    errors: list[str] = []
    started = datetime.now(timezone.utc)
    threads = [threading.Thread(target=one_client, args=(api, m, commits, random.Random(seed * 1000 + i), accepted, errors))
               for i, m in enumerate(vault["machines"])]
    for thread in threads:
        thread.start()
    points: dict[str, dict] = {}
    expected = clients * commits
    deadline = time.monotonic() + 60 + 30 * expected
    while time.monotonic() < deadline:
        alive = any(t.is_alive() for t in threads)
        status, listing = api.call("GET", f"/recovery-points?vault={vault['vault_id']}&state=all&limit=1000", admin)
        points = {rp["id"]: rp for rp in listing["items"]} if status == 200 else points
        done = [rp for rp in points.values() if rp["state"] in ("committed", "rejected")]
        if not alive and len(done) >= len(accepted):
            break
        time.sleep(1)
    for thread in threads:
        thread.join()
    committed = [rp for rp in points.values() if rp["state"] == "committed"]
    latencies = [(datetime.fromisoformat(rp["created"]) - accepted[rp["id"]]).total_seconds()
                 for rp in committed if rp["id"] in accepted]
    last = max((datetime.fromisoformat(rp["created"]) for rp in committed), default=started)
    minutes = max((last - started).total_seconds(), 1e-9) / 60
    return {
        "vault": vault, "expected": expected, "accepted": len(accepted), "errors": errors,
        "committed": len(committed), "rejected": sum(rp["state"] == "rejected" for rp in points.values()),
        "minutes": minutes, "per_minute": len(committed) / minutes,
        "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
        "committed_ids": [rp["id"] for rp in committed],
    }


def verify_committed(rt, vault_id: str, rp_ids: list[str]) -> list[str]:
    """The catalog's own acceptance checks, re-run on each committed point, plus its references."""
    problems = []
    container = container_name(vault_id)
    for rp_id in rp_ids:
        try:
            manifest = load_manifest(rt, container, f"commits/{rp_id}")
            check_snapshot(rt, container, manifest)
            for pack in manifest.packs:
                check_pack(rt, container, pack)
            declared = sorted(p.name.removeprefix("packs/") for p in manifest.packs)
            if pack_refs.packs_of(rt, vault_id, rp_id) != declared:
                problems.append(f"{rp_id}: references differ from the manifest")
        except CommitRejected as exc:
            problems.append(f"{rp_id}: {exc}")
    return problems


# --- part 2: catalog reads -----------------------------------------------------------------------

def seed_points(rt, vault: dict, points: int, workers: int = 16) -> list[str]:
    """Writes recovery point documents shaped as the catalog writes them, spread over two years."""
    vault_id, instance_id = vault["vault_id"], vault["machines"][0]["instance_id"]
    start = datetime.now(timezone.utc) - timedelta(days=730)
    rng = random.Random(points)
    ids = [rng.randbytes(16).hex() for _ in range(points)]

    def write(index: int) -> None:
        created = (start + timedelta(minutes=105 * index)).isoformat()
        rt.catalog.recovery_points.create({
            "id": ids[index], "vault_id": vault_id, "type": "recovery_point", "instance_id": instance_id,
            "state": "committed", "received_at": created, "created": created, "client_time": created,
            "summary": {"files": 1000, "dirs": 10, "bytes": 10**9, "files_new": 1, "files_changed": 2,
                        "files_unchanged": 997, "bytes_read": 10**7, "bytes_uploaded": 10**6, "partial": False},
            "key_id": "0" * 32, "snapshot": {"name": f"snapshots/{ids[index]}", "size": 4096},
            "commit_blob": f"commits/{ids[index]}", "pack_count": 3, "stored_bytes": 10**8,
            "rejected_reason": None, "transactions": 3,
        })

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(write, range(points)))
    return ids


def _window(rng: random.Random) -> tuple[str, str]:
    """A 30-day-or-longer window somewhere in the two years the seeded points span."""
    since = datetime.now(timezone.utc) - timedelta(days=rng.randint(31, 700))
    return since.strftime("%Y-%m-%dT%H:%M:%SZ"), (since + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")


def http_reads(api: Api, vault: dict, ids: list[str]) -> dict:
    """The catalog reads an operator or a machine makes over HTTP: kind -> read(rng) -> error or None."""
    token, instance = vault["machines"][0]["token"], vault["machines"][0]["instance_id"]

    def get(path: str) -> str | None:
        status, body = api.call("GET", path, token)
        return None if status == 200 else f"{status} {str(body)[:200]}"

    return {
        "list, newest 100": lambda rng: get("/recovery-points?limit=100"),
        "list, one instance, 1000": lambda rng: get(f"/recovery-points?instance={instance}&limit=1000"),
        "list, a 30-day window": lambda rng: get("/recovery-points?limit=1000&since=%s&until=%s" % _window(rng)),
        "get one by id": lambda rng: get(f"/recovery-points/{rng.choice(ids)}"),
    }


def adapter_reads(rt, vault: dict, ids: list[str]) -> dict:
    """The same reads straight through the Cosmos adapter: what the catalog store alone costs."""
    vault_id, points = vault["vault_id"], rt.catalog.recovery_points
    where = "c.type = 'recovery_point' AND c.state = 'committed'"

    def page(extra: str = "", params: dict | None = None, limit: int = 100) -> None:
        points.query_page(vault_id, where + extra, params or {}, order_by="c.created DESC", limit=limit)

    return {
        "list, newest 100": lambda rng: page(),
        "list, one instance, 1000": lambda rng: page(" AND c.instance_id = @i", {"i": vault["machines"][0]["instance_id"]}, 1000),
        "list, a 30-day window": lambda rng: page(" AND c.created >= @s AND c.created < @u",
                                                  dict(zip(("s", "u"), _window(rng))), 1000),
        "get one by id": lambda rng: None if points.find(vault_id, rng.choice(ids)) else "not found",
    }


def read_load(kinds: dict, readers: int, seconds: float, seed: int) -> dict:
    weights = [2, 1, 1, 6]
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    failures: list[str] = []
    stop_at = time.monotonic() + seconds

    def reader(index: int) -> None:
        rng = random.Random(seed * 7919 + index)
        while time.monotonic() < stop_at:
            kind = rng.choices(list(kinds), weights)[0]
            began = time.monotonic()
            try:
                error = kinds[kind](rng)
            except Exception as exc:  # noqa: BLE001 - counted as a failed read
                error = f"{type(exc).__name__}: {exc}"
            elapsed = time.monotonic() - began
            if error:
                failures.append(f"{kind}: {error}")
            samples[kind].append(elapsed)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"samples": samples, "failures": failures, "seconds": seconds}


# --- report --------------------------------------------------------------------------------------

def print_reads(title: str, reads: dict, seconds: float) -> None:
    print(f"\n## {title}\n")
    print("| read | count | per second | p50 | p95 |\n|---|---|---|---|---|")
    everything = []
    for kind, values in reads["samples"].items():
        everything += values
        print(f"| {kind} | {len(values)} | {len(values) / seconds:.1f} | "
              f"{percentile(values, 0.5) * 1000:.0f} ms | {percentile(values, 0.95) * 1000:.0f} ms |")
    print(f"| all reads | {len(everything)} | {len(everything) / seconds:.1f} | "
          f"{percentile(everything, 0.5) * 1000:.0f} ms | {percentile(everything, 0.95) * 1000:.0f} ms |")
    print(f"| failed reads | {len(reads['failures'])} | | | |")
    for line in reads["failures"][:10]:
        print(f"  ! {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--commits", type=int, default=5, help="backups per client")
    parser.add_argument("--points", type=int, default=10_000, help="recovery points for the read test")
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of the read test")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("RELIABILITY_SEED") or 1))
    parser.add_argument("--stack-dir", type=Path, default=None,
                        help="use this running stack (default: a fresh one under bench/.data/load-stack)")
    options = parser.parse_args(argv)

    own = None if options.stack_dir else BenchStack(REPO / "bench" / ".data" / "load-stack")
    stack = own.up() if own else Stack(options.stack_dir).up()
    try:
        api = Api(stack["BACKUP_API_URL"])
        rt = service_runtime(stack)
        print(f"seed {options.seed}; stack {stack['DEVSTACK_DIR']}", flush=True)

        load = commit_load(api, stack, options.clients, options.commits, options.seed)
        vault_id = load["vault"]["vault_id"]
        poison = poison_mentioning(stack["PRIMARY_STORAGE_CONNECTION_STRING"], vault_id)
        problems = verify_committed(rt, vault_id, load["committed_ids"])
        print(f"\n## {options.clients} clients x {options.commits} commits into one vault\n")
        print("| figure | value |\n|---|---|")
        print(f"| commits accepted / cataloged / rejected | {load['accepted']} / {load['committed']} / {load['rejected']} |")
        print(f"| commits per minute (cataloged) | {load['per_minute']:.1f} |")
        print(f"| commit-to-visible latency p50 / p95 | {load['p50']:.2f} s / {load['p95']:.2f} s |")
        print(f"| client errors | {len(load['errors'])} |")
        print(f"| poison messages of the vault | {len(poison)} |")
        print(f"| verify errors (catalog checks re-run) | {len(problems)} |")
        for line in (load["errors"] + problems)[:10]:
            print(f"  ! {line}")

        readers_vault = new_vault(api, stack["BACKUP_ADMIN_KEY"], f"reads-{options.seed}-{int(time.time())}", 1)
        began = time.monotonic()
        ids = seed_points(rt, readers_vault, options.points)
        print(f"\nseeded {len(ids)} recovery points in {time.monotonic() - began:.0f} s", flush=True)
        failed = 0
        for title, kinds, seconds in (
                ("over HTTP (the API)", http_reads(api, readers_vault, ids), options.seconds),
                ("through the Cosmos adapter alone", adapter_reads(rt, readers_vault, ids), options.seconds / 2)):
            reads = read_load(kinds, options.readers, seconds, options.seed)
            failed += len(reads["failures"])
            print_reads(f"catalog reads {title}: {options.points} recovery points, {options.readers} readers, "
                        f"{seconds:.0f} s", reads, seconds)
        ok = not (load["errors"] or problems or poison or failed) and load["committed"] == load["expected"]
        return 0 if ok else 1
    finally:
        if own:
            own.down()


if __name__ == "__main__":
    sys.exit(main())
