"""How much our ratio to restic moves from round to round, and whether that is more than the gap a median reports.

A median of 1.10x over rounds that range from 0.85x to 1.30x does not show that we are faster: the
spread (0.45) is larger than the gap to parity (0.10), and the report says so next to the row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench.compare.medians import cells
from bench.compare.rounds import Measurement


@dataclass(frozen=True)
class Spread:
    """The lowest and highest per-round value of ours/reference for one metric."""

    low: float
    high: float
    rounds: int

    @property
    def width(self) -> float:
        return self.high - self.low

    def wider_than_gap(self, median_ratio: float, parity: float = 1.0) -> bool:
        """True when the rounds disagree by more than the median's distance from parity."""
        return self.rounds > 1 and self.width > abs(median_ratio - parity)


def per_round(measurements: Iterable[Measurement]) -> dict[tuple[str, int], list[Measurement]]:
    """The measurements of each (seed, round)."""
    grouped: dict[tuple[str, int], list[Measurement]] = {}
    for measurement in measurements:
        grouped.setdefault((measurement.seed, measurement.round), []).append(measurement)
    return grouped


def ratio_spreads(measurements: list[Measurement], metrics, ours: str, reference: str) -> dict[str, Spread]:
    """Metric name -> the spread of ours/reference over the rounds in which both were measured."""
    tables = [cells(group) for group in per_round(measurements).values()]
    spreads = {}
    for metric in metrics:
        ratios = []
        for table in tables:
            mine, theirs = metric.value(table, ours), metric.value(table, reference)
            if mine is not None and theirs:
                ratios.append(mine / theirs)
        if ratios:
            spreads[metric.name] = Spread(min(ratios), max(ratios), len(ratios))
    return spreads
