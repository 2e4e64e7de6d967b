"""Decides which recovery points a grandfather-father-son retention policy keeps.

Pure: no I/O, no clock, no Azure. Semantics (PRODUCT.md, "backup-admin"):

* A recovery point is kept if any rule keeps it. ``last N`` keeps the N newest; ``daily N``
  keeps the newest point of each of the N most recent days that have one; ``weekly`` (ISO
  weeks), ``monthly`` and ``yearly`` likewise. Days, weeks, months and years are calendar
  periods in the vault's time zone, so DST changes move no point into another day.
* "Most recent periods that have one" counts periods holding a recovery point, not calendar
  periods back from ``now``: a machine that was off for a month still keeps N dailies.
* A policy of all zeros keeps everything.
* The newest recovery point is always kept, whatever the policy or the limits below.
* Points created after ``now`` (clocks of function instances drift) are always kept (reason
  ``future``) and, being the newest, also take part in the rules; retention never expires a
  point on the word of a clock that is behind it.
* Hard limits: at most MAX_KEPT (9,999) points are kept; when the rules keep more, the oldest of
  them are expired. Nothing created more than MAX_AGE_YEARS (99) calendar years before ``now``
  (in the vault's time zone) is kept.
* Order: newest first by ``created`` (the catalog's clock); equal times are ordered by id,
  the greater id counting as newer, so the outcome never depends on the input order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import MINYEAR, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

MAX_KEPT = 9999
MAX_AGE_YEARS = 99

_Count = Field(default=0, ge=0, le=MAX_KEPT)


class RetentionPolicy(BaseModel):
    """How many recovery points each rule keeps; all zeros keeps everything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    last: int = _Count
    daily: int = _Count
    weekly: int = _Count
    monthly: int = _Count
    yearly: int = _Count

    @property
    def keeps_everything(self) -> bool:
        return not (self.last or self.daily or self.weekly or self.monthly or self.yearly)


@dataclass(frozen=True)
class RetentionOutcome:
    """The decision: kept ids (newest first) with their reasons, and expired ids (newest first)."""

    keep: Mapping[str, tuple[str, ...]]
    expire: tuple[str, ...]


# Each calendar rule: the policy field, and the label of a local time's period.
_PERIOD_RULES: tuple[tuple[str, Callable[[datetime], str]], ...] = (
    ("daily", lambda t: t.date().isoformat()),
    ("weekly", lambda t: "{0:04d}-W{1:02d}".format(*t.isocalendar())),
    ("monthly", lambda t: f"{t.year:04d}-{t.month:02d}"),
    ("yearly", lambda t: f"{t.year:04d}"),
)


def apply_policy(
    policy: RetentionPolicy,
    recovery_points: Iterable[tuple[str, datetime]],
    time_zone: str,
    now: datetime,
) -> RetentionOutcome:
    """Split `(id, created)` pairs into kept and expired; raises ValueError on bad input."""
    zone = _zone(time_zone)
    _require_aware(now, "now")
    ordered = _newest_first(recovery_points)
    if not ordered:
        return RetentionOutcome(keep={}, expire=())
    local_now = now.astimezone(zone)
    reasons: dict[str, list[str]] = {rp_id: [] for rp_id, _ in ordered}
    reasons[ordered[0][0]].append("newest")
    for rp_id, created in ordered:
        if created > now:
            reasons[rp_id].append("future")
    if policy.keeps_everything:
        for rp_id, _ in ordered:
            reasons[rp_id].append("all")
    for rp_id, _ in ordered[: policy.last]:
        reasons[rp_id].append("last")
    for rule, label_of in _PERIOD_RULES:
        _keep_newest_per_period(ordered, zone, getattr(policy, rule), rule, label_of, reasons)

    cutoff = _years_before(local_now, MAX_AGE_YEARS)
    keep: dict[str, tuple[str, ...]] = {}
    expire: list[str] = []
    for position, (rp_id, created) in enumerate(ordered):
        is_newest = position == 0
        within_limits = created >= cutoff and len(keep) < MAX_KEPT
        if reasons[rp_id] and (within_limits or is_newest):
            keep[rp_id] = tuple(reasons[rp_id])
        else:
            expire.append(rp_id)
    return RetentionOutcome(keep=keep, expire=tuple(expire))


def _keep_newest_per_period(
    ordered: list[tuple[str, datetime]],
    zone: ZoneInfo,
    count: int,
    rule: str,
    label_of: Callable[[datetime], str],
    reasons: dict[str, list[str]],
) -> None:
    # Walking newest first, the first point seen in a period is that period's newest.
    seen: set[str] = set()
    for rp_id, created in ordered:
        if len(seen) >= count:
            return
        label = label_of(created.astimezone(zone))
        if label not in seen:
            seen.add(label)
            reasons[rp_id].append(f"{rule} {label}")


def _newest_first(recovery_points: Iterable[tuple[str, datetime]]) -> list[tuple[str, datetime]]:
    ordered: list[tuple[str, datetime]] = []
    ids: set[str] = set()
    for rp_id, created in recovery_points:
        _require_aware(created, f"created of recovery point {rp_id}")
        if rp_id in ids:
            raise ValueError(f"recovery point {rp_id} is listed twice")
        ids.add(rp_id)
        ordered.append((rp_id, created))
    ordered.sort(key=lambda point: (point[1], point[0]), reverse=True)
    return ordered


def _years_before(moment: datetime, years: int) -> datetime:
    if moment.year - years < MINYEAR:
        return datetime.min.replace(tzinfo=timezone.utc)
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February in a year that has none
        return moment.replace(year=moment.year - years, day=28)


def _zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {time_zone!r}") from exc


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a time zone aware datetime")
