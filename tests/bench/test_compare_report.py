"""The benchmark's arithmetic: seeds, per-round spreads, the flag on a spread larger than its gap, the report."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

from bench.compare.__main__ import pick_seeds, write_report
from bench.compare.medians import cells
from bench.compare.rounds import Measurement
from bench.compare.spread import Spread, ratio_spreads
from bench.compare.targets import METRICS, OURS, RESTIC_AZURITE, rows

NO_CHANGE = next(metric for metric in METRICS if metric.name.startswith("no-change"))


def _measurements(ours_seconds: dict[tuple[str, int], float], restic_seconds: float) -> list[Measurement]:
    made = []
    for (seed, number), seconds in ours_seconds.items():
        for tool, value in ((OURS, seconds), (RESTIC_AZURITE, restic_seconds)):
            for phase in ("initial", "no-change"):
                made.append(Measurement(tool, phase, number, 1_000_000, seconds=value if phase == "no-change" else 1.0,
                                        peak_rss=100, cpu_seconds=0.5, stored_bytes=10, seed=seed))
    return made


def test_the_spread_is_the_range_of_single_round_ratios():
    measurements = _measurements({("42", 1): 0.9, ("7", 2): 1.1, ("9", 3): 1.4}, restic_seconds=1.0)
    spread = ratio_spreads(measurements, [NO_CHANGE], OURS, RESTIC_AZURITE)[NO_CHANGE.name]
    assert (spread.low, spread.high, spread.rounds) == (pytest.approx(0.9), pytest.approx(1.4), 3)


def test_a_spread_larger_than_the_gap_is_flagged_and_a_narrow_one_is_not():
    noisy = _measurements({("42", 1): 0.8, ("7", 2): 1.1, ("9", 3): 1.3}, restic_seconds=1.0)
    steady = _measurements({("42", 1): 0.50, ("7", 2): 0.52, ("9", 3): 0.55}, restic_seconds=1.0)
    for measurements, flagged in ((noisy, True), (steady, False)):
        table = cells(measurements)
        spreads = ratio_spreads(measurements, METRICS, OURS, RESTIC_AZURITE)
        row = next(row for row in rows(table, {}, None, spreads) if row.metric is NO_CHANGE)
        assert row.noisy is flagged
        assert row.met is (not flagged)  # median 1.1x misses the 1.0x target; 0.52x meets it


def test_one_round_has_no_spread_to_flag():
    assert not Spread(0.5, 0.5, 1).wider_than_gap(0.98)
    assert Spread(0.9, 1.2, 2).wider_than_gap(1.05)


def test_random_seeds_are_drawn_and_marked_and_fixed_ones_kept():
    picked = pick_seeds(["42", "random", "7"], random.Random(3))
    assert picked[0] == ("42", False) and picked[2] == ("7", False)
    assert picked[1][1] is True and picked[1][0].isdigit() and picked[1][0] not in {"42", "7"}


def test_the_report_names_every_seed_the_loads_and_the_flag(tmp_path):
    measurements = _measurements({("42", 1): 0.8, ("123", 2): 1.3}, restic_seconds=1.0)
    machine = {"date": "2026-12-02 07:00 UTC", "commit": "abc1234", "cpu": "test", "cores": 2, "memory_gib": 8,
               "kernel": "6", "load_before": [0.1, 0.1, 0.1], "python": "3.11", "restic": "0.14.0", "borg": None,
               "azurite": "3.37.0", "node": "v20"}
    datasets = [{"size": "1G", "seed": "42", "random": False, "files": 10, "bytes": 1_000_000, "changed_bytes": 10_000},
                {"size": "1G", "seed": "123", "random": True, "files": 10, "bytes": 1_000_000, "changed_bytes": 9_000}]
    run = {"argv": ["--size", "1G"], "machine": machine, "rounds": 2, "load_after": [1.0, 1.0, 1.0], "notes": [],
           "round_loads": [[0.25, 0, 0], [1.75, 0, 0]], "dataset": datasets[0], "datasets": datasets,
           "ceilings": {"read_mb_s": 500, "transfers": []}, "ours_peak_rss": 100,
           "measurements": [dataclasses.asdict(m) for m in measurements], "mutation": {}}
    markdown = write_report(json.loads(json.dumps(run)), tmp_path)
    assert "--seed 42`:" in markdown and "--seed 123` (chosen at random for this run)" in markdown
    assert "0.25, 1.75" in markdown and "over 2 seed(s)" in markdown
    line = next(line for line in markdown.splitlines() if line.startswith("| no-change backup"))
    assert "0.80-1.30x (2)" in line and "**larger than the gap**" in line
    assert (tmp_path / "latest.md").read_text() == markdown
