"""The local host fires timer triggers on their NCRONTAB schedules and on demand, never overlapping."""

from __future__ import annotations

import time

import pytest

from tests.devstack.sample_records import wait_for

pytestmark = pytest.mark.timeout(60)


def test_a_setting_named_every_second_schedule_fires_every_second(sample_stack, records):
    before = len(records.of("tick"))
    wait_for(lambda: len(records.of("tick")) >= before + 3, timeout=10)
    times = [r["at"] for r in records.of("tick")][-3:]
    assert all(0.5 < later - earlier < 1.6 for earlier, later in zip(times, times[1:]))


def test_a_timer_runs_now_through_the_admin_endpoint(admin, records):
    before = len(records.of("yearly"))
    started = time.time()
    response = admin("POST", "/functions/yearly", json={"input": ""})
    assert response.status == 202
    runs = records.of("yearly")
    assert len(runs) == before + 1  # 202 comes after the run
    assert runs[-1]["at"] >= started and runs[-1]["past_due"] is False


def test_a_timer_that_runs_longer_than_its_interval_never_overlaps_itself(admin, records):
    wait_for(lambda: len(records.of("slow_tick")) >= 2, timeout=15)
    assert admin("POST", "/functions/slow_tick", json={}).status == 202
    runs = sorted(records.of("slow_tick"), key=lambda r: r["started"])
    overlapping = [(earlier, later) for earlier, later in zip(runs, runs[1:]) if later["started"] < earlier["ended"]]
    assert not overlapping, overlapping
