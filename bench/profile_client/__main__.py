"""Profiles `backup-agent` with py-spy through the benchmark phases (`python -m bench.profile_client`).

py-spy is a profiling tool, not a project requirement: install it into the virtual environment by
hand (`.venv/bin/pip install py-spy`). Each phase writes a raw collapsed-stack profile of the client
(and, for backups, of the stack's Functions host, where the catalog runs) and a Markdown summary.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from bench.compare.bench_stack import BenchStack
from bench.compare.dataset import DEFAULT_GENERATOR, REPO_ROOT, Dataset
from bench.compare.ours import BIN_DIR, Ours
from bench.profile_client import summary

ANCHORS = {"restore": "run_restore", "verify": "run_verify"}


def _py_spy() -> str | None:
    local = BIN_DIR / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _record(py_spy: str, rate: int, out: Path) -> list[str]:
    return [py_spy, "record", "--rate", str(rate), "--threads", "--idle", "--format", "raw", "--output", str(out)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G")
    parser.add_argument("--seed", default="42")
    parser.add_argument("--rate", type=int, default=50, help="samples per second")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "bench" / ".data")
    parser.add_argument("--generator", type=Path, default=DEFAULT_GENERATOR)
    parser.add_argument("--keep-stack", action="store_true")
    args = parser.parse_args(argv)
    py_spy = _py_spy()
    if not py_spy:
        print("bench: py-spy is missing; for profiling only: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    out_dir = args.data_dir.resolve() / "profile"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    dataset = Dataset(args.data_dir.resolve(), args.size, args.seed, args.generator)
    dataset.ensure()
    dataset.fresh_copy()
    stack = BenchStack(args.data_dir.resolve() / "stack")
    env = stack.up()
    client = Ours("ours", args.data_dir.resolve() / "run" / "profile-ours", env)
    sections = [f"# Profile of backup-agent, {args.size} dataset, py-spy at {args.rate} Hz (wall time, idle included)\n"]
    try:
        client.setup()
        for phase in ("initial", "incremental", "no-change", "restore", "verify"):
            if phase == "incremental":
                dataset.mutate(1)
            raw = out_dir / f"{phase}.raw"
            client.measured_prefix = [*_record(py_spy, args.rate, raw), "--"]
            host = None
            if phase in ("initial", "incremental", "no-change"):
                host = subprocess.Popen([*_record(py_spy, args.rate, out_dir / f"{phase}-host.raw"), "--pid",
                                         str(stack.stack.pid("functions"))],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target = out_dir / "restored"
            if phase == "restore":
                run = client.restore(target)
                shutil.rmtree(target, ignore_errors=True)
            elif phase == "verify":
                run = client.verify()
            else:
                run = client.backup(dataset.work)
            if host is not None:
                host.send_signal(signal.SIGINT)
                host.wait(30)
            print(f"bench: {phase}: {run.seconds:.1f} s, profile {raw}", flush=True)
            anchor = ANCHORS.get(phase, "run_backup")
            sections.append(summary.render(f"{phase}: {run.seconds:.1f} s wall", summary.load(str(raw)), args.rate,
                                           anchor))
            if host is not None and (out_dir / f"{phase}-host.raw").exists():
                host_samples = summary.load(str(out_dir / f"{phase}-host.raw"))
                split = summary.below(host_samples, "", "catalog_commit", 1)
                split.pop("(outside catalog_commit)", None)
                sections.append(f"Functions host, inside `catalog_commit`: {sum(split.values()) / args.rate:.1f} s; "
                                + "; ".join(f"{where} {count / args.rate:.1f} s" for where, count in split.most_common(6))
                                + "\n")
    finally:
        client.teardown()
        stack.down(args.keep_stack)
    report = "\n".join(sections)
    (out_dir / "profile.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
