"""Tests of the retention maths: golden outcomes, edge cases and hypothesis properties."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.domain.retention import MAX_KEPT, RetentionPolicy, apply_policy

GOLDEN = sorted((Path(__file__).parent / "golden" / "retention").glob("*.json"))
UTC = timezone.utc
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


# --- golden files: inputs and the expected outcome, written by hand -------------------------

@pytest.mark.parametrize("path", GOLDEN, ids=[path.stem for path in GOLDEN])
def test_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    points = [(rp["id"], _parse(rp["created"])) for rp in case["recovery_points"]]
    policy = RetentionPolicy(**case["policy"])
    for order in (points, points[::-1]):
        outcome = apply_policy(policy, order, case["time_zone"], _parse(case["now"]))
        assert {rp_id: list(reasons) for rp_id, reasons in outcome.keep.items()} == case["expected"]["keep"]
        assert list(outcome.keep) == [rp_id for rp_id in case["expected"]["keep"]]
        assert list(outcome.expire) == case["expected"]["expire"]


def test_golden_files_exist() -> None:
    assert len(GOLDEN) >= 10


# --- edge cases ------------------------------------------------------------------------------

def test_hard_limit_keeps_the_newest_9999_when_everything_is_kept() -> None:
    points = [(f"rp{i:05d}", NOW - timedelta(minutes=i)) for i in range(MAX_KEPT + 51)]
    outcome = apply_policy(RetentionPolicy(), points, "UTC", NOW)
    assert list(outcome.keep) == [rp_id for rp_id, _ in points[:MAX_KEPT]]
    assert list(outcome.expire) == [rp_id for rp_id, _ in points[MAX_KEPT:]]


def test_hard_limit_expires_the_oldest_that_rules_keep() -> None:
    # last keeps 9,999 hourly points (about 417 days); daily would keep about 83 more days.
    points = [(f"rp{i:05d}", NOW - timedelta(hours=i)) for i in range(12_000)]
    outcome = apply_policy(RetentionPolicy(last=MAX_KEPT, daily=MAX_KEPT), points, "UTC", NOW)
    assert len(outcome.keep) == MAX_KEPT
    assert list(outcome.keep) == [rp_id for rp_id, _ in points[:MAX_KEPT]]
    assert len(outcome.expire) == 12_000 - MAX_KEPT


def test_ninety_nine_years_on_29_february() -> None:
    now = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    points = [("new", now), ("at_cutoff", datetime(1929, 2, 28, 12, 0, tzinfo=UTC)),
              ("before", datetime(1929, 2, 28, 11, 59, tzinfo=UTC))]
    outcome = apply_policy(RetentionPolicy(), points, "UTC", now)
    assert list(outcome.keep) == ["new", "at_cutoff"]
    assert outcome.expire == ("before",)


@pytest.mark.parametrize("field", ["last", "daily", "weekly", "monthly", "yearly"])
@pytest.mark.parametrize("value", [-1, 10_000])
def test_policy_counts_are_bounded(field: str, value: int) -> None:
    with pytest.raises(ValidationError):
        RetentionPolicy(**{field: value})


def test_policy_refuses_unknown_rules() -> None:
    with pytest.raises(ValidationError):
        RetentionPolicy(hourly=3)  # type: ignore[call-arg]


def test_policy_bounds_are_accepted() -> None:
    policy = RetentionPolicy(last=MAX_KEPT, daily=0)
    assert policy.last == MAX_KEPT
    assert not policy.keeps_everything
    assert RetentionPolicy().keeps_everything


@pytest.mark.parametrize(
    ("points", "time_zone", "now", "message"),
    [
        ([("a", datetime(2026, 1, 1))], "UTC", NOW, "created of recovery point a"),
        ([("a", NOW)], "UTC", datetime(2026, 1, 1), "now must be"),
        ([("a", NOW)], "Mars/Olympus_Mons", NOW, "unknown time zone"),
        ([("a", NOW)], "../etc/passwd", NOW, "unknown time zone"),
        ([("a", NOW), ("a", NOW - timedelta(days=1))], "UTC", NOW, "listed twice"),
    ],
)
def test_bad_input_is_refused(points: list, time_zone: str, now: datetime, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        apply_policy(RetentionPolicy(daily=1), points, time_zone, now)


def test_mixed_offsets_compare_as_instants() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    points = [("utc", datetime(2026, 6, 1, 10, 0, tzinfo=UTC)),  # 12:00 in Berlin
              ("berlin", datetime(2026, 6, 1, 11, 0, tzinfo=berlin))]  # 09:00 UTC
    outcome = apply_policy(RetentionPolicy(last=1), points, "UTC", NOW)
    assert list(outcome.keep) == ["utc"]


# --- properties ------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
# Around the 2026 DST switches of Berlin (03-29, 10-25) and New York (03-08, 11-01).
DST_SWITCHES = [datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC),
                datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)]

counts = st.one_of(st.integers(0, 4), st.integers(0, 40))
policies = st.builds(RetentionPolicy, last=counts, daily=counts, weekly=counts, monthly=counts, yearly=counts)


@st.composite
def histories(draw: st.DrawFn, around: datetime = NOW, spread_minutes: int = 3 * 366 * 24 * 60) -> tuple:
    offsets = draw(st.lists(st.integers(0, spread_minutes), min_size=0, max_size=60))
    end = around + timedelta(minutes=spread_minutes // 10)
    points = [(f"rp{index:03d}", end - timedelta(minutes=offset)) for index, offset in enumerate(offsets)]
    now = max([end] + [created for _, created in points])
    return points, now


@st.composite
def dst_histories(draw: st.DrawFn) -> tuple:
    switch = draw(st.sampled_from(DST_SWITCHES))
    offsets = draw(st.lists(st.integers(-3 * 24 * 60, 3 * 24 * 60), min_size=1, max_size=60))
    points = [(f"rp{index:03d}", switch + timedelta(minutes=offset)) for index, offset in enumerate(offsets)]
    return points, switch + timedelta(days=4)


def _newest_id(points: list) -> str:
    return max(points, key=lambda point: (point[1], point[0]))[0]


@given(policies, histories(), st.sampled_from(ZONES), st.integers(0, 3 * 24 * 60))
def test_never_expires_the_newest_nor_a_future_point(policy, history, time_zone, clock_behind) -> None:
    points, now = history
    now -= timedelta(minutes=clock_behind)
    outcome = apply_policy(policy, points, time_zone, now)
    if points:
        assert next(iter(outcome.keep)) == _newest_id(points)
    assert {rp_id for rp_id, created in points if created > now} <= set(outcome.keep)


@given(policies, histories(), st.sampled_from(ZONES))
def test_keeps_no_more_than_the_policy_allows(policy, history, time_zone) -> None:
    points, now = history
    outcome = apply_policy(policy, points, time_zone, now)
    allowed = len(points) if policy.keeps_everything else (
        1 + policy.last + policy.daily + policy.weekly + policy.monthly + policy.yearly)
    assert len(outcome.keep) <= min(allowed, MAX_KEPT)
    for rule in ("daily", "weekly", "monthly", "yearly"):
        labels = [reason for reasons in outcome.keep.values() for reason in reasons if reason.startswith(rule)]
        assert len(labels) == len(set(labels)) <= getattr(policy, rule)
    assert sum("last" in reasons for reasons in outcome.keep.values()) <= policy.last


@given(policies, histories(), st.sampled_from(ZONES))
def test_partitions_the_input(policy, history, time_zone) -> None:
    points, now = history
    outcome = apply_policy(policy, points, time_zone, now)
    assert set(outcome.keep).isdisjoint(outcome.expire)
    assert set(outcome.keep) | set(outcome.expire) == {rp_id for rp_id, _ in points}
    assert all(outcome.keep.values())


@given(policies, histories(), st.sampled_from(ZONES))
def test_stable_under_reruns(policy, history, time_zone) -> None:
    points, now = history
    first = apply_policy(policy, points, time_zone, now)
    kept = [point for point in points if point[0] in first.keep]
    second = apply_policy(policy, kept, time_zone, now)
    assert dict(second.keep) == dict(first.keep)
    assert second.expire == ()


@given(policies, histories(), st.sampled_from(ZONES), st.integers(1, 400 * 24 * 60), st.randoms())
def test_an_older_point_changes_nothing_for_newer_ones(policy, history, time_zone, older_by, rng) -> None:
    points, now = history
    if not points:
        return
    oldest = min(created for _, created in points)
    grown = points + [("older", oldest - timedelta(minutes=older_by))]
    rng.shuffle(grown)
    before = apply_policy(policy, points, time_zone, now)
    after = apply_policy(policy, grown, time_zone, now)
    assert {k: v for k, v in after.keep.items() if k != "older"} == dict(before.keep)


@given(policies, histories(), st.sampled_from(ZONES), st.randoms())
def test_input_order_does_not_matter(policy, history, time_zone, rng: random.Random) -> None:
    points, now = history
    shuffled = list(points)
    rng.shuffle(shuffled)
    assert apply_policy(policy, shuffled, time_zone, now) == apply_policy(policy, points, time_zone, now)


def _reference_period_keeps(points: list, zone: ZoneInfo, label_of: Callable[[datetime], str], count: int) -> dict:
    """An independent statement of one calendar rule: group, sort the periods, take the newest."""
    by_period: dict[str, list] = {}
    for rp_id, created in points:
        by_period.setdefault(label_of(created.astimezone(zone)), []).append((created, rp_id))
    periods = sorted(by_period, key=lambda label: max(by_period[label]), reverse=True)[:count]
    return {max(by_period[label])[1]: label for label in periods}


LABELS = {
    "daily": lambda t: t.strftime("%Y-%m-%d"),
    "weekly": lambda t: f"{t.isocalendar().year}-W{t.isocalendar().week:02d}",
    "monthly": lambda t: t.strftime("%Y-%m"),
    "yearly": lambda t: t.strftime("%Y"),
}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(LABELS)), st.integers(1, 8), dst_histories(),
       st.sampled_from(["Europe/Berlin", "America/New_York"]))
def test_calendar_rules_follow_local_time_across_dst(rule, count, history, time_zone) -> None:
    points, now = history
    outcome = apply_policy(RetentionPolicy(**{rule: count}), points, time_zone, now)
    expected = _reference_period_keeps(points, ZoneInfo(time_zone), LABELS[rule], count)
    actual = {rp_id: reason.split(" ", 1)[1] for rp_id, reasons in outcome.keep.items()
              for reason in reasons if reason.startswith(rule)}
    assert actual == expected
