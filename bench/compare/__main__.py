"""Command line of the comparison: sets up the tools, runs the rounds and the ceilings, writes the report."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import sys
from contextlib import ExitStack
from pathlib import Path
from statistics import median

from bench.compare.dataset import REPO_ROOT, Dataset

TOOL_KEYS = ("ours", "restic-azurite", "restic-local", "borg-local")
DEFAULT_SEEDS = "42,7,random"  # the seed the code was tuned on, another fixed one, and one nobody has seen


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("--size", default="1G", help="dataset size for bench.dataset (default 1G)")
    parser.add_argument("--seeds", default=DEFAULT_SEEDS,
                        help=f"comma-separated dataset seeds; 'random' picks one and prints it (default {DEFAULT_SEEDS})")
    parser.add_argument("--seed", help="one seed only (the same as --seeds SEED)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per seed; medians over all rounds are reported")
    parser.add_argument("--tools", default=",".join(TOOL_KEYS), help=f"comma-separated subset of {','.join(TOOL_KEYS)}")
    parser.add_argument("--concurrency", default="1,2,4,8", help="raw transfer concurrencies to try (empty: skip)")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "bench" / ".data")
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--keep-stack", action="store_true", help="leave the benchmark's stack running")
    parser.add_argument("--render", type=Path, metavar="RUN_JSON",
                        help="only re-render latest.md from a recorded run-<size>.json")
    args = parser.parse_args(argv)
    unknown = set(args.tools.split(",")) - set(TOOL_KEYS)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    args.seeds = [part.strip() for part in (args.seed or args.seeds).split(",") if part.strip()]
    if not args.seeds or args.rounds < 1:
        parser.error("give at least one seed and one round")
    return args


def pick_seeds(seeds: list[str], chooser: random.Random | None = None) -> list[tuple[str, bool]]:
    """(seed, chosen at random) for each requested seed; 'random' becomes a fresh number."""
    chooser = chooser or random.SystemRandom()
    return [(str(chooser.randrange(1, 1_000_000)), True) if seed == "random" else (seed, False) for seed in seeds]


def _say(text: str) -> None:
    print(text, flush=True)


def _restic_in_namespace(scratch: Path, cleanup: ExitStack, notes: list[str]):
    from bench.compare.measure import run_quiet
    from bench.compare.netns import ACCOUNT, ACCOUNT_KEY, CONNECTION_STRING, NamespaceUnavailable, PrivateAzurite
    from bench.compare.restic import Restic

    private = PrivateAzurite(scratch / "netns-azurite" / "data")
    try:
        private.start()
    except NamespaceUnavailable as exc:
        notes.append(f"restic into Azurite was not measured ({exc}); the restic-local row stands in for it.")
        _say(f"bench: {notes[-1]}")
        return None
    cleanup.callback(private.stop)
    prefix, container = private.prefix(), "restic-bench"

    def blob_usage(command: str) -> str:
        return run_quiet([*prefix, sys.executable, "-m", "bench.compare.blob_usage", command, CONNECTION_STRING,
                          container], cwd=REPO_ROOT)

    return Restic("restic-azurite", scratch / "restic-azurite", f"azure:{container}:/", prefix=prefix,
                  extra_env={"AZURE_ACCOUNT_NAME": ACCOUNT, "AZURE_ACCOUNT_KEY": ACCOUNT_KEY},
                  stored_bytes=lambda: int(blob_usage("bytes")), discard=lambda: blob_usage("delete") and None,
                  server_pid=private.azurite_pid)


def _ours_peaks(results_dir: Path) -> dict[str, int]:
    """Our peak RSS in the latest recorded run of each size, labelled with the client code it ran."""
    peaks = {}
    for path in sorted(results_dir.glob("run-*.json")):
        recorded = json.loads(path.read_text())
        machine = recorded["machine"]
        if recorded.get("ours_peak_rss"):
            code = machine.get("client_commit") or machine["commit"]
            peaks[f"{recorded['dataset']['size']} (client {code}, {machine['date']})"] = recorded["ours_peak_rss"]
    return peaks


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        print(write_report(json.loads(args.render.read_text()), args.results_dir))
        return 0
    try:
        from bench.compare import borg, ceilings, medians, ours, restic
        from bench.compare.bench_stack import BenchStack
        from bench.compare.machine import describe
        from bench.compare.rounds import run_round
        from devstack.errors import StackError
    except ImportError as exc:
        print(f"bench: {exc}: run it with the project's environment: `make bench` "
              "(or `.venv/bin/python -m bench.compare`)", file=sys.stderr)
        return 2
    wanted = args.tools.split(",")
    data_dir, scratch = args.data_dir.resolve(), args.data_dir.resolve() / "run"
    seeds = pick_seeds(args.seeds)
    for seed, chosen in seeds:
        if chosen:
            _say(f"bench: seed chosen at random for this run: {seed}")
    datasets = [Dataset(data_dir, args.size, seed) for seed, _ in seeds]
    for dataset in datasets:
        dataset.ensure()
    machine = describe()
    notes: list[str] = []
    absent = [name for name in ("restic", "borg") if not machine[name]]
    if absent:
        notes.append(f"{' and '.join(absent)} not installed: `apt-get install restic borgbackup`; "
                     "measured without them.")
        _say(f"bench: {notes[-1]}")
    concurrencies = [int(part) for part in args.concurrency.split(",") if part.strip()]
    rounds, transfers = [], []
    with ExitStack() as cleanup:
        stack_env = None
        client_problem = ours.problem() if "ours" in wanted else None
        if client_problem:
            notes.append(f"our client was not measured: {client_problem}.")
            _say(f"bench: {notes[-1]}")
        if ("ours" in wanted and not client_problem) or concurrencies:
            stack = BenchStack(data_dir / "stack")
            try:
                _say("bench: starting the benchmark's local stack")
                stack_env = stack.up()
                cleanup.callback(stack.down, args.keep_stack)
            except StackError as exc:
                notes.append(f"the local stack did not start ({exc}): no Azurite ceilings, our client not measured.")
                _say(f"bench: {notes[-1]}")
        tools = []
        if "ours" in wanted and not client_problem and stack_env:
            tools.append(ours.Ours("ours", scratch / "ours", stack_env, lambda: stack.stack.pid("storage-primary")))
        if "restic-azurite" in wanted and machine["restic"]:
            restic_azurite = _restic_in_namespace(scratch, cleanup, notes)
            tools += [restic_azurite] if restic_azurite else []
        if "restic-local" in wanted and machine["restic"]:
            tools.append(restic.Restic("restic-local", scratch / "restic-local"))
        if "borg-local" in wanted and machine["borg"]:
            tools.append(borg.Borg("borg-local", scratch / "borg-local"))
        for repeat in range(args.rounds):
            for dataset in datasets:
                rounds.append(run_round(len(rounds) + 1, tools, dataset, scratch, _say))
        if stack_env and concurrencies:
            transfers = ceilings.best_transfers(stack_env["PRIMARY_STORAGE_CONNECTION_STRING"],
                                                datasets[0].pristine, concurrencies)
    shutil.rmtree(scratch, ignore_errors=True)

    measurements = [m for r in rounds for m in r.measurements]
    first = rounds[0] if rounds else None
    described = [_describe_dataset(args.size, seed, chosen, rounds) for seed, chosen in seeds]
    run = {
        "argv": sys.argv[1:] if argv is None else argv, "machine": machine, "rounds": len(rounds),
        "load_after": [round(value, 2) for value in os.getloadavg()], "notes": notes,
        "round_loads": [list(r.load) for r in rounds],
        "dataset": described[0], "datasets": described,
        "ceilings": {"read_mb_s": median(r.read_bytes / r.read_seconds / 1e6 for r in rounds) if rounds else 0,
                     "transfers": [dataclasses.asdict(t) for t in transfers]},
        "ours_peak_rss": medians.peak_rss(medians.cells(measurements), "ours"),
        "measurements": [dataclasses.asdict(m) for m in measurements],
        "mutation": first.mutation if first else {},
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"run-{args.size}.json").write_text(json.dumps(run, indent=1))
    _say("\n" + write_report(run, args.results_dir))
    return 0


def _describe_dataset(size: str, seed: str, chosen: bool, rounds: list) -> dict:
    """What the report says of one seed's dataset: its files, bytes and the bytes its mutation changed."""
    first = next((r for r in rounds if r.seed == seed), None)
    return {"size": size, "seed": seed, "random": chosen, "files": first.source_before.files if first else 0,
            "bytes": first.source_before.bytes if first else 0,
            "changed_bytes": first.mutation.get("changed_or_new_bytes", 0) if first else 0}


def write_report(run: dict, results_dir: Path) -> str:
    """Render a recorded run (the dict saved as run-<size>.json) into results_dir/latest.md."""
    from bench.compare import medians, report, spread, targets
    from bench.compare.rounds import Measurement

    measurements = [Measurement(**fields) for fields in run["measurements"]]
    table = medians.cells(measurements)
    spreads = spread.ratio_spreads(measurements, targets.METRICS, targets.OURS, targets.restic_reference(table))
    transfers = run["ceilings"]["transfers"]
    best = {"upload": max((t["bytes"] / t["upload_seconds"] / 1e6 for t in transfers), default=None),
            "download": max((t["bytes"] / t["download_seconds"] / 1e6 for t in transfers), default=None)}
    changed = median(seed["changed_bytes"] for seed in run.get("datasets") or [run["dataset"]])
    rows = targets.rows(table, {key: value for key, value in best.items() if value}, changed or None, spreads)
    scaling = targets.rss_scaling(_ours_peaks(results_dir))
    markdown = report.render(run, rows, table, scaling)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "latest.md").write_text(markdown)
    return markdown


if __name__ == "__main__":
    sys.exit(main())
