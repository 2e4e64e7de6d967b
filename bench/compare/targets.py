"""Computes the comparison rows: each metric per tool, our ratios to the others, and the target checks."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from bench.compare.medians import Cell, growth, peak_rss
from bench.compare.spread import Spread

OURS, RESTIC_AZURITE, RESTIC_LOCAL, BORG = "ours", "restic-azurite", "restic-local", "borg-local"
OTHERS = (RESTIC_AZURITE, RESTIC_LOCAL, BORG)
MiB = 2**20


@dataclass(frozen=True)
class Metric:
    name: str
    value: Callable[[dict, str], float | None]  # (median table, tool) -> value
    higher_is_better: bool
    target: float | None = None  # the bound on ours/restic (into Azurite when measured)
    ceiling: str | None = None  # which ceiling bounds this metric, if any


@dataclass
class Row:
    metric: Metric
    values: dict[str, float | None]
    ceiling: float | None
    ratios: dict[str, float | None]  # ours / other, for each other tool and "ceiling"
    target_text: str
    met: bool | None
    spread: Spread | None = None  # ours/reference per round, when there was more than one round
    noisy: bool = False  # the spread is larger than the gap the median ratio reports


def _phase(phase: str, attribute: str, scale: float = 1.0) -> Callable[[dict, str], float | None]:
    def value(table: dict, tool: str) -> float | None:
        cell = table.get((tool, phase))
        return getattr(cell, attribute) / scale if isinstance(cell, Cell) and getattr(cell, attribute) is not None else None
    return value


def _scaled(function: Callable[[dict, str], int | None]) -> Callable[[dict, str], float | None]:
    def value(table: dict, tool: str) -> float | None:
        result = function(table, tool)
        return None if result is None else result / MiB
    return value


METRICS = (
    Metric("initial backup, MB/s", _phase("initial", "mb_per_second"), True, 1.5, "upload"),
    Metric("incremental backup (1% mutated), s", _phase("incremental", "seconds"), False, 0.8),
    Metric("no-change backup, s", _phase("no-change", "seconds"), False, 1.0),
    Metric("full restore, MB/s", _phase("restore", "mb_per_second"), True, 1.2, "download"),
    Metric("verify (read all data), MB/s", _phase("verify", "mb_per_second"), True, None, "download"),
    Metric("client CPU, initial backup, s", _phase("initial", "cpu_seconds"), False),
    Metric("client CPU, full restore, s", _phase("restore", "cpu_seconds"), False),
    Metric("peak RSS (any phase), MiB", _scaled(peak_rss), False, 0.75),
    Metric("stored after initial, MiB", _phase("initial", "stored_bytes", MiB), False, 1.0),
    Metric("growth after mutation, MiB", _scaled(growth), False, None),
)
GROWTH_BOUND = 2.0  # growth after the mutation at most twice the bytes changed


def restic_reference(table: dict) -> str:
    """The restic row the targets compare with: into Azurite when it was measured, else the local one."""
    return RESTIC_AZURITE if isinstance(table.get((RESTIC_AZURITE, "initial")), Cell) else RESTIC_LOCAL


def rows(table: dict, ceilings: dict[str, float], changed_bytes: int | None,
         spreads: dict[str, Spread] | None = None) -> list[Row]:
    reference = restic_reference(table)
    spreads = spreads or {}
    out = []
    for metric in METRICS:
        values = {tool: metric.value(table, tool) for tool in (OURS, *OTHERS)}
        ours = values[OURS]
        ceiling = ceilings.get(metric.ceiling) if metric.ceiling else None
        ratios = {other: ours / values[other] if ours is not None and values[other] else None for other in OTHERS}
        ratios["ceiling"] = ours / ceiling if ours is not None and ceiling else None
        target_text, met = "", None
        if metric.target is not None:
            compare = operator.ge if metric.higher_is_better else operator.le
            target_text = f"{'≥' if metric.higher_is_better else '≤'} {metric.target}x {reference}"
            ratio = ratios[reference]
            met = None if ratio is None else compare(ratio, metric.target)
        elif metric.name.startswith("growth") and changed_bytes:
            target_text = f"≤ {GROWTH_BOUND:g}x bytes changed ({changed_bytes / MiB:.1f} MiB)"
            met = None if ours is None else ours <= GROWTH_BOUND * changed_bytes / MiB
        spread = spreads.get(metric.name)
        noisy = spread is not None and ratios[reference] is not None and spread.wider_than_gap(ratios[reference])
        out.append(Row(metric, values, ceiling, ratios, target_text, met, spread, noisy))
    return out


def rss_scaling(ours_peaks: dict[str, int]) -> str | None:
    """'flat from 1 GiB to 4 GiB' needs two runs; say what the recorded runs show."""
    if len(ours_peaks) < 2:
        return None
    ordered = sorted(ours_peaks.items(), key=lambda item: item[1])
    text = ", ".join(f"{size}: {peak / MiB:.0f} MiB" for size, peak in sorted(ours_peaks.items()))
    return f"our peak RSS by dataset size: {text} (largest/smallest {ordered[-1][1] / ordered[0][1]:.2f}x)"
