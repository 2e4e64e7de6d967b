"""Reduces the rounds of a run to one cell per tool and phase: the median of each quantity."""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median

from bench.compare.rounds import Measurement


@dataclass
class Cell:
    """The medians of one tool in one phase over the rounds in which it succeeded."""

    seconds: float
    source_bytes: int
    peak_rss: int
    stored_bytes: int | None
    cpu_seconds: float
    server_cpu_seconds: float | None
    rounds: int
    notes: list[str] = field(default_factory=list)

    @property
    def mb_per_second(self) -> float:
        return self.source_bytes / self.seconds / 1e6


def cells(measurements: list[Measurement]) -> dict[tuple[str, str], Cell | list[str]]:
    """(tool, phase) -> Cell, or the notes of its failures when it never succeeded."""
    grouped: dict[tuple[str, str], list[Measurement]] = {}
    for measurement in measurements:
        grouped.setdefault((measurement.tool, measurement.phase), []).append(measurement)
    out: dict[tuple[str, str], Cell | list[str]] = {}
    for key, measurements in grouped.items():
        good = [m for m in measurements if m.seconds is not None]
        notes = sorted({m.note for m in measurements if m.note})
        if not good:
            out[key] = notes
            continue
        stored = [m.stored_bytes for m in good if m.stored_bytes is not None]
        server = [m.server_cpu_seconds for m in good if m.server_cpu_seconds is not None]
        out[key] = Cell(seconds=median(m.seconds for m in good), source_bytes=round(median(m.source_bytes for m in good)),
                        peak_rss=round(median(m.peak_rss for m in good)),
                        stored_bytes=round(median(stored)) if stored else None,
                        cpu_seconds=median(m.cpu_seconds for m in good),
                        server_cpu_seconds=median(server) if server else None, rounds=len(good), notes=notes)
    return out


def peak_rss(table: dict, tool: str) -> int | None:
    """The tool's largest median peak RSS over all phases."""
    values = [cell.peak_rss for (name, _), cell in table.items() if name == tool and isinstance(cell, Cell)]
    return max(values) if values else None


def growth(table: dict, tool: str) -> int | None:
    """Bytes the repository grew by in the incremental backup."""
    initial, incremental = table.get((tool, "initial")), table.get((tool, "incremental"))
    if isinstance(initial, Cell) and isinstance(incremental, Cell) and None not in (
            initial.stored_bytes, incremental.stored_bytes):
        return incremental.stored_bytes - initial.stored_bytes
    return None
