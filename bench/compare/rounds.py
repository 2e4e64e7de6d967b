"""Runs one benchmark round: every tool through every phase, phase by phase, on a fresh working copy."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench.compare.dataset import Dataset, TreeStats, read_tree, tree_stats
from bench.compare.measure import CommandFailed, Run, cpu_seconds

PHASES = ("initial", "incremental", "no-change", "restore", "verify")


class Tool(Protocol):
    """What a round needs from each tool: a fresh repository, the measured phases, the bytes stored."""

    key: str

    def setup(self) -> None: ...
    def backup(self, source: Path) -> Run: ...
    def restore(self, target: Path) -> Run: ...
    def verify(self) -> Run: ...
    def stored_bytes(self) -> int: ...
    def server_pid(self) -> int | None: ...
    def teardown(self) -> None: ...


@dataclass
class Measurement:
    tool: str
    phase: str
    round: int
    source_bytes: int
    seconds: float | None = None
    peak_rss: int | None = None
    cpu_seconds: float | None = None
    server_cpu_seconds: float | None = None  # the storage emulator's CPU time during the command
    stored_bytes: int | None = None
    note: str = ""
    seed: str = ""  # the dataset seed of the round


@dataclass
class RoundResult:
    number: int
    measurements: list[Measurement]
    source_before: TreeStats
    source_after: TreeStats
    mutation: dict
    read_seconds: float
    read_bytes: int
    seed: str = ""
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)  # the machine's load average when the round began


def _restore_note(target: Path, expected: TreeStats) -> str:
    """Restores are checked by file count and bytes (cheap); a mismatch is recorded, not hidden."""
    got = tree_stats(target)
    if got == expected:
        return ""
    return f"restored {got.files} files / {got.bytes} B, expected {expected.files} / {expected.bytes}"


def run_round(number: int, tools: Sequence[Tool], dataset: Dataset, scratch: Path,
              say: Callable[[str], None] = print) -> RoundResult:
    load = tuple(round(value, 2) for value in os.getloadavg())
    before = dataset.fresh_copy()
    read_tree(dataset.work)  # warm-up: every measurement below is warm-cache
    read_seconds, read_bytes = read_tree(dataset.work)
    say(f"round {number} (seed {dataset.seed}): dataset {before.files} files, {before.bytes / 1e6:.0f} MB; "
        f"read at {read_bytes / read_seconds / 1e6:.0f} MB/s; load {load[0]:.2f}")
    # Rotate who goes first so no tool always inherits the same cache and CPU state.
    order = list(tools[number % len(tools):]) + list(tools[:number % len(tools)]) if tools else []
    measurements: list[Measurement] = []
    live: list[Tool] = []
    for tool in order:
        try:
            tool.setup()
            live.append(tool)
        except CommandFailed as exc:
            measurements.append(Measurement(tool.key, "initial", number, before.bytes, note=f"setup failed: {exc}",
                                            seed=dataset.seed))
            say(f"  {tool.key}: setup failed: {exc}")

    after, mutation = before, {}
    for phase in PHASES:
        if phase == "incremental":
            mutation = dataset.mutate(1)  # the same mutation every round, so rounds are comparable
            after = tree_stats(dataset.work)
        source = before if phase == "initial" else after
        for tool in list(live):
            measurement = Measurement(tool.key, phase, number, source.bytes, seed=dataset.seed)
            target = scratch / "restore" / tool.key
            server_before = cpu_seconds(tool.server_pid())
            try:
                if phase == "restore":
                    shutil.rmtree(target, ignore_errors=True)
                    run = tool.restore(target)
                    measurement.note = _restore_note(target, after)
                elif phase == "verify":
                    run = tool.verify()
                else:
                    run = tool.backup(dataset.work)
                    measurement.stored_bytes = tool.stored_bytes()
                measurement.seconds, measurement.peak_rss = run.seconds, run.peak_rss
                measurement.cpu_seconds = run.cpu_seconds
                if tool.server_pid():
                    measurement.server_cpu_seconds = cpu_seconds(tool.server_pid()) - server_before
            except CommandFailed as exc:
                measurement.note = f"failed: {exc}"
                live.remove(tool)  # its later phases depend on this one
            finally:
                shutil.rmtree(target, ignore_errors=True)
            measurements.append(measurement)
            say(_line(measurement))
    for tool in order:
        tool.teardown()
    return RoundResult(number, measurements, before, after, mutation, read_seconds, read_bytes, dataset.seed, load)


def _line(measurement: Measurement) -> str:
    if measurement.seconds is None:
        return f"  {measurement.phase:<11} {measurement.tool:<15} {measurement.note}"
    stored = f"  stored {measurement.stored_bytes / 2**20:7.1f} MiB" if measurement.stored_bytes is not None else ""
    return (f"  {measurement.phase:<11} {measurement.tool:<15} {measurement.seconds:7.2f} s "
            f"{measurement.source_bytes / measurement.seconds / 1e6:7.1f} MB/s  "
            f"cpu {measurement.cpu_seconds:6.2f} s  rss {measurement.peak_rss / 2**20:6.1f} MiB{stored}"
            + (f"  ({measurement.note})" if measurement.note else ""))
