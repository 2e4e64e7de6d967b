"""The local stack's whole pipeline under load: concurrent clients committing into one GRS vault, then catalog reads over 10,000 recovery points.

    .venv/bin/python bench/pipeline.py                       # its own fresh stack under bench/.data/pipeline-stack
    .venv/bin/python bench/pipeline.py --stack-dir .devstack # a stack that is already running

Part 1 (row 15 of docs/reliability.md): `--clients` machines of one GRS vault each back up
`--commits` times, back to back, through the HTTP API and their SAS (synthetic packs with valid
indexes, as tests/api/test_commit_flow.py does), and the host's functions carry every commit
down the pipeline: the catalog catalogs it and fans it out, replication copies its blobs to the
paired region, metering applies its `backup:` and `replicated:` usage events. The run waits
(bounded) until every accepted commit is cataloged, replicated and metered. Reported: commits per
minute (cataloged, over the whole run) and commit-to-visible latency (from the 202 of the commit
call to the catalog's `created` stamp, the moment the point becomes visible); replications per
minute and commit-to-replicated latency (from the 202 to `replicated_at`); whether metering
applied each committed point's `backup:` event, and each replicated point's `replicated:` event,
exactly once. Checked afterwards: no poison message mentions the vault; the catalog's own checks
re-run on every committed point (blobs present with their sizes, pack indexes intact, references
complete); every replicated point's blobs are in the paired region with their primary sizes.

Part 2: `--points` recovery point documents are written straight into a vault's partition through
the Cosmos adapter (as the catalog writes them); then `--readers` threads read the catalog over
HTTP for `--seconds`: list pages, filtered lists and single points. Reported: reads per second
and p50/p95 latency per kind of read.

A summary table closes the run; the exit status is 1 if any check failed.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

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
from tests.support.manifests import manifest_blob  # noqa: E402
from tests.support.queues import poison_mentioning  # noqa: E402
from tests.support.runtimes import service_runtime  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))] if ordered else float("nan")


def new_vault(api: Api, operator_key: str, name: str, machines: int, redundancy: str | None = None) -> dict:
    body = {"name": name, **({"redundancy": redundancy} if redundancy else {})}
    status, vault = api.call("POST", "/vaults", operator_key, body)
    assert status == 201, vault
    vault["machines"] = []
    for index in range(machines):
        status, machine = api.call("POST", "/instances", vault["registration_key"], {"name": f"load-{index}"})
        assert status == 201, machine
        vault["machines"].append(machine)
    return vault


# --- part 1: commits through the pipeline --------------------------------------------------------

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
            commit_blob, manifest = manifest_blob(manifest_for(rp_id, machine["instance_id"], snapshot, [shared, own], "0" * 32))
            assert put_blob(session, commit_blob, manifest) == 201
            status, body = api.call("POST", f"/backup-sessions/{rp_id}/commit", machine["token"],
                                    {"commit_blob": commit_blob})
            assert status == 202, body
            accepted[rp_id] = datetime.now(timezone.utc)
        except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
            errors.append(f"{type(exc).__name__}: {exc}")


def list_points(api: Api, admin_key: str, vault_id: str) -> dict[str, dict] | None:
    """Every recovery point of the vault over HTTP, page by page; None if a page failed."""
    points: dict[str, dict] = {}
    continuation = None
    while True:
        path = f"/recovery-points?vault={vault_id}&state=all&limit=1000"
        if continuation:
            path += "&continuation=" + quote(continuation, safe="")
        status, listing = api.call("GET", path, admin_key)
        if status != 200:
            return None
        points.update((rp["id"], rp) for rp in listing["items"])
        continuation = listing.get("continuation")
        if not continuation:
            return points


def usage_days(rt, vault_id: str) -> list[dict]:
    """The vault's daily usage documents (one per instance and UTC day of the events)."""
    return list(rt.catalog.usage.query(vault_id, "c.type = 'day'"))


def applied_counts(days: list[dict], kind: str) -> Counter:
    """How many times each recovery point's `<kind>:` event is applied over the day documents."""
    return Counter(event.split(":", 1)[1] for day in days for event in day["applied_events"]
                   if event.startswith(f"{kind}:"))


def wait_for_pipeline(api: Api, rt, vault: dict, threads: list, accepted: dict, expected: int) -> dict:
    """Polls until the clients are done and every accepted commit is cataloged (or rejected),
    replicated and metered, or the deadline passes; returns the last listing and usage."""
    admin, vault_id = vault["admin_key"], vault["vault_id"]
    points: dict[str, dict] = {}
    days: list[dict] = []
    began = time.monotonic()
    deadline = began + 120 + 30 * expected
    settled = False
    while time.monotonic() < deadline:
        alive = any(t.is_alive() for t in threads)
        points = list_points(api, admin, vault_id) or points
        committed = {rp["id"] for rp in points.values() if rp["state"] == "committed"}
        done = sum(rp["state"] in ("committed", "rejected") for rp in points.values())
        if not alive and done >= len(accepted) and all(points[rp]["replicated_at"] for rp in committed):
            # Metering is read only once the rest is done: the usage query is not free either.
            days = usage_days(rt, vault_id)
            if committed <= set(applied_counts(days, "backup")) and committed <= set(applied_counts(days, "replicated")):
                settled = True
                break
        time.sleep(1)
    return {"points": points, "days": days or usage_days(rt, vault_id), "settled": settled,
            "waited": time.monotonic() - began}


def metering_problems(days: list[dict], committed: list[str], replicated: list[str]) -> list[str]:
    """Each committed point metered as a backup exactly once, each replicated point as a copy."""
    problems = []
    for kind, expected in (("backup", set(committed)), ("replicated", set(replicated))):
        counted = applied_counts(days, kind)
        problems += [f"metering applied {kind}:{rp} {n} times" for rp, n in counted.items() if n > 1]
        problems += [f"metering never applied {kind}:{rp}" for rp in sorted(expected - set(counted))]
        problems += [f"metering applied {kind}:{rp}, a point that is not {kind}" for rp in sorted(set(counted) - expected)]
    backups = sum(day["backups"] for day in days)
    if backups != len(committed):
        problems.append(f"the usage documents count {backups} backups for {len(committed)} committed points")
    return problems


def commit_load(api: Api, rt, stack: dict, clients: int, commits: int, seed: int) -> dict:
    vault = new_vault(api, stack["BACKUP_ADMIN_KEY"], f"load-{seed}-{int(time.time())}", clients, "GRS")
    accepted: dict[str, datetime] = {}
    errors: list[str] = []
    started = datetime.now(timezone.utc)
    threads = [threading.Thread(target=one_client, args=(api, m, commits, random.Random(seed * 1000 + i), accepted, errors))
               for i, m in enumerate(vault["machines"])]
    for thread in threads:
        thread.start()
    expected = clients * commits
    outcome = wait_for_pipeline(api, rt, vault, threads, accepted, expected)
    for thread in threads:
        thread.join()
    points = outcome["points"]
    committed = [rp for rp in points.values() if rp["state"] == "committed"]
    replicated = [rp for rp in committed if rp["replicated_at"]]
    visible = [(datetime.fromisoformat(rp["created"]) - accepted[rp["id"]]).total_seconds()
               for rp in committed if rp["id"] in accepted]
    copied = [(datetime.fromisoformat(rp["replicated_at"]) - accepted[rp["id"]]).total_seconds()
              for rp in replicated if rp["id"] in accepted]

    def per_minute(count: int, stamp: str) -> float:
        last = max((datetime.fromisoformat(rp[stamp]) for rp in committed if rp[stamp]), default=started)
        return count / (max((last - started).total_seconds(), 1e-9) / 60)

    committed_ids, replicated_ids = [rp["id"] for rp in committed], [rp["id"] for rp in replicated]
    return {
        "vault": vault, "expected": expected, "accepted": len(accepted), "errors": errors,
        "settled": outcome["settled"], "waited": outcome["waited"],
        "committed": len(committed), "rejected": sum(rp["state"] == "rejected" for rp in points.values()),
        "per_minute": per_minute(len(committed), "created"),
        "p50": percentile(visible, 0.5), "p95": percentile(visible, 0.95),
        "replicated": len(replicated), "replicated_per_minute": per_minute(len(replicated), "replicated_at"),
        "replicated_p50": percentile(copied, 0.5), "replicated_p95": percentile(copied, 0.95),
        "metered": {kind: sum(applied_counts(outcome["days"], kind).values()) for kind in ("backup", "replicated")},
        "metering_problems": metering_problems(outcome["days"], committed_ids, replicated_ids),
        "committed_ids": committed_ids, "replicated_ids": replicated_ids,
    }


def verify_committed(rt, vault_id: str, rp_ids: list[str]) -> list[str]:
    """The catalog's own acceptance checks, re-run on each committed point, plus its references."""
    problems = []
    container = container_name(vault_id)
    for rp_id in rp_ids:
        try:
            commit_blob = rt.catalog.recovery_points.get(vault_id, rp_id)["commit_blob"]
            manifest = load_manifest(rt, container, commit_blob)
            check_snapshot(rt, container, manifest)
            for pack in manifest.packs:
                check_pack(rt, container, pack)
            declared = sorted(p.name.removeprefix("packs/") for p in manifest.packs)
            if pack_refs.packs_of(rt, vault_id, rp_id) != declared:
                problems.append(f"{rp_id}: references differ from the manifest")
        except CommitRejected as exc:
            problems.append(f"{rp_id}: {exc}")
    return problems


def verify_replicated(rt, vault_id: str, rp_ids: list[str]) -> list[str]:
    """Every blob of each replicated point (commit, snapshot, packs) is in the paired region with its primary size."""
    problems = []
    container = container_name(vault_id)
    seen: set[str] = set()  # a machine's shared pack belongs to all its points: compared once
    for rp_id in rp_ids:
        try:
            commit_blob = rt.catalog.recovery_points.get(vault_id, rp_id)["commit_blob"]
            manifest = load_manifest(rt, container, commit_blob)
        except CommitRejected as exc:
            problems.append(f"{rp_id}: {exc}")
            continue
        for name in [commit_blob, manifest.snapshot.name, *(p.name for p in manifest.packs)]:
            if name in seen:
                continue
            seen.add(name)
            primary, secondary = rt.primary_blobs.blob_size(container, name), rt.secondary_blobs.blob_size(container, name)
            if primary is None or secondary != primary:
                problems.append(f"{rp_id}: {name} has {secondary} bytes in the paired region, {primary} in the primary")
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


def print_commits(load: dict, clients: int, commits: int, checks: dict[str, list]) -> None:
    print(f"\n## {clients} clients x {commits} commits into one GRS vault\n")
    print("| figure | value |\n|---|---|")
    print(f"| commits accepted / cataloged / rejected | {load['accepted']} / {load['committed']} / {load['rejected']} |")
    print(f"| commits per minute (cataloged) | {load['per_minute']:.1f} |")
    print(f"| commit-to-visible latency p50 / p95 | {load['p50']:.2f} s / {load['p95']:.2f} s |")
    print(f"| points replicated / committed | {load['replicated']} / {load['committed']} |")
    print(f"| replications per minute | {load['replicated_per_minute']:.1f} |")
    print(f"| commit-to-replicated latency p50 / p95 | {load['replicated_p50']:.2f} s / {load['replicated_p95']:.2f} s |")
    print(f"| backup events applied by metering / committed | {load['metered']['backup']} / {load['committed']} |")
    print(f"| replicated events applied by metering / replicated | {load['metered']['replicated']} / {load['replicated']} |")
    print(f"| pipeline settled (cataloged, replicated, metered) | {'yes' if load['settled'] else 'NO'}, "
          f"after {load['waited']:.0f} s |")
    for check, lines in checks.items():
        print(f"| {check} | {len(lines)} |")
    for line in [line for lines in checks.values() for line in lines][:10]:
        print(f"  ! {line}")


def print_summary(rows: list[tuple[str, str, bool | None]]) -> None:
    print("\n## Summary\n")
    print("| figure | value | check |\n|---|---|---|")
    for figure, value, passed in rows:
        print(f"| {figure} | {value} | {'' if passed is None else 'ok' if passed else 'FAIL'} |")
    verdict = all(passed is not False for _, _, passed in rows)
    print(f"| **result** | | **{'PASS' if verdict else 'FAIL'}** |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--commits", type=int, default=5, help="backups per client")
    parser.add_argument("--points", type=int, default=10_000, help="recovery points for the read test")
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of the read test")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("RELIABILITY_SEED") or 1))
    parser.add_argument("--stack-dir", type=Path, default=None,
                        help="use this running stack (default: a fresh one under bench/.data/pipeline-stack)")
    options = parser.parse_args(argv)

    own = None if options.stack_dir else BenchStack(REPO / "bench" / ".data" / "pipeline-stack")
    stack = own.up() if own else Stack(options.stack_dir).up()
    try:
        api = Api(stack["BACKUP_API_URL"])
        rt = service_runtime(stack)
        print(f"seed {options.seed}; stack {stack['DEVSTACK_DIR']}", flush=True)

        load = commit_load(api, rt, stack, options.clients, options.commits, options.seed)
        vault_id = load["vault"]["vault_id"]
        checks = {
            "client errors": load["errors"],
            "poison messages of the vault": poison_mentioning(stack["PRIMARY_STORAGE_CONNECTION_STRING"], vault_id),
            "verify errors (catalog checks re-run)": verify_committed(rt, vault_id, load["committed_ids"]),
            "paired-region errors (blob missing or of another size)": verify_replicated(rt, vault_id, load["replicated_ids"]),
            "metering errors (an event missing, extra or applied twice)": load["metering_problems"],
        }
        print_commits(load, options.clients, options.commits, checks)

        readers_vault = new_vault(api, stack["BACKUP_ADMIN_KEY"], f"reads-{options.seed}-{int(time.time())}", 1)
        began = time.monotonic()
        ids = seed_points(rt, readers_vault, options.points)
        print(f"\nseeded {len(ids)} recovery points in {time.monotonic() - began:.0f} s", flush=True)
        runs = {}
        for title, kinds, seconds in (
                ("over HTTP (the API)", http_reads(api, readers_vault, ids), options.seconds),
                ("through the Cosmos adapter alone", adapter_reads(rt, readers_vault, ids), options.seconds / 2)):
            runs[title] = reads = read_load(kinds, options.readers, seconds, options.seed)
            print_reads(f"catalog reads {title}: {options.points} recovery points, {options.readers} readers, "
                        f"{seconds:.0f} s", reads, seconds)

        http = runs["over HTTP (the API)"]
        http_samples = [value for values in http["samples"].values() for value in values]
        print_summary([
            ("pipeline settled before the deadline", f"{'yes' if load['settled'] else 'no'}, after {load['waited']:.0f} s",
             load["settled"]),
            ("commits cataloged / expected", f"{load['committed']} / {load['expected']}",
             load["committed"] == load["expected"]),
            ("commits per minute", f"{load['per_minute']:.1f}", None),
            ("commit-to-visible p50 / p95", f"{load['p50']:.2f} s / {load['p95']:.2f} s", None),
            ("points replicated / committed", f"{load['replicated']} / {load['committed']}",
             load["replicated"] == load["committed"]),
            ("replications per minute", f"{load['replicated_per_minute']:.1f}", None),
            ("commit-to-replicated p50 / p95", f"{load['replicated_p50']:.2f} s / {load['replicated_p95']:.2f} s", None),
            ("metered exactly once: backup / replicated events", f"{load['metered']['backup']} / "
             f"{load['metered']['replicated']}", not load["metering_problems"]),
            *((check, str(len(lines)), not lines) for check, lines in checks.items() if not check.startswith("metering")),
            (f"catalog reads over HTTP on {options.points} points: per second, p95",
             f"{len(http_samples) / http['seconds']:.1f}, {percentile(http_samples, 0.95) * 1000:.0f} ms", None),
            ("failed catalog reads (HTTP + adapter)", str(sum(len(r["failures"]) for r in runs.values())),
             not any(r["failures"] for r in runs.values())),
        ])
        ok = (load["settled"] and load["committed"] == load["expected"] and load["replicated"] == load["committed"]
              and not any(checks.values()) and not any(r["failures"] for r in runs.values()))
        return 0 if ok else 1
    finally:
        if own:
            own.down()


if __name__ == "__main__":
    sys.exit(main())
