"""Fires one timer-triggered function on its schedule, never overlapping itself."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from azure.functions.timer import TimerRequest

from devstack.funchost.app_loader import FunctionSpec
from devstack.funchost.app_settings import resolve_references
from devstack.funchost.invoker import ON_DEMAND_REASON, Invoker
from devstack.funchost.ncrontab import Schedule

log = logging.getLogger("funchost.timer")

# An invocation that starts later than this after its scheduled time is "past due".
PAST_DUE_TOLERANCE = timedelta(seconds=1)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class TimerScheduler:
    """Runs the function at each occurrence of its schedule, and on demand."""

    def __init__(self, spec: FunctionSpec, invoker: Invoker, environ: Mapping[str, str] = os.environ) -> None:
        self.spec = spec
        self.schedule = Schedule(resolve_references(spec.trigger["schedule"], environ))
        self._run_on_startup = bool(spec.trigger.get("runOnStartup"))
        self._invoker = invoker
        self._running = threading.Lock()  # one invocation at a time, scheduled or on demand
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"timer-{spec.name}", daemon=True)
        self._last: datetime | None = None

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Stop scheduling (returns at once)."""
        self._stopping.set()

    def wait_stopped(self) -> None:
        """Wait for a running invocation to finish."""
        self._thread.join()
        with self._running:
            pass

    def fire(self, past_due: bool = False, reason: str = ON_DEMAND_REASON) -> None:
        """Run the function now (after any invocation in progress); raises what it raises."""
        with self._running:
            now = _utcnow()
            status = {
                "Last": (self._last or now).isoformat(),
                "Next": self.schedule.next_after(now).isoformat(),
                "LastUpdated": now.isoformat(),
            }
            self._last = now
            request = TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})
            self._invoker.invoke(self.spec, request, reason=reason)

    def _fire_logged(self, past_due: bool, reason: str) -> None:
        try:
            self.fire(past_due=past_due, reason=reason)
        except Exception as exc:  # noqa: BLE001 - a failed run must not stop the schedule
            log.error("function %s failed: %s: %s", self.spec.name, type(exc).__name__, exc, exc_info=True)

    def _loop(self) -> None:
        if self._run_on_startup:
            self._fire_logged(False, "Timer fired at startup (runOnStartup).")
        scheduled = self.schedule.next_after(_utcnow())
        while not self._stopping.is_set():
            remaining = (scheduled - _utcnow()).total_seconds()
            if remaining > 0:
                self._stopping.wait(remaining)
                continue
            late = _utcnow() - scheduled > PAST_DUE_TOLERANCE
            self._fire_logged(late, f"Timer fired at {scheduled.isoformat()}")
            # Occurrences missed while the function ran collapse into the next one.
            scheduled = self.schedule.next_after(max(scheduled, _utcnow()))
