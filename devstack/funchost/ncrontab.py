"""Computes the next occurrences of a timer trigger's schedule (NCRONTAB or TimeSpan)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from croniter import croniter

from devstack.funchost.host_config import HostConfigError, parse_timespan


class ScheduleError(Exception):
    """A schedule expression that is neither NCRONTAB nor a TimeSpan."""


class Schedule:
    """A timer schedule; all times are UTC, as the Functions host uses by default."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        fields = self.expression.split()
        self._interval: timedelta | None = None
        self._cron: str | None = None
        if len(fields) == 6:
            # NCRONTAB puts seconds first; croniter wants them last.
            self._cron = " ".join(fields[1:] + fields[:1])
        elif len(fields) == 5:
            self._cron = self.expression
        elif re.fullmatch(r"[\d.:]+", self.expression):
            try:
                self._interval = timedelta(seconds=parse_timespan(self.expression))
            except HostConfigError as exc:
                raise ScheduleError(f"schedule {expression!r}: {exc}") from exc
            if self._interval <= timedelta(0):
                raise ScheduleError(f"schedule {expression!r} must be a positive interval")
        if self._cron is not None and not croniter.is_valid(self._cron):
            raise ScheduleError(f"schedule {expression!r} is not a valid NCRONTAB expression")
        if self._cron is None and self._interval is None:
            raise ScheduleError(f"schedule {expression!r} is neither NCRONTAB (6 fields) nor a TimeSpan")

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after moment (an aware UTC datetime)."""
        if self._interval is not None:
            return moment + self._interval
        return croniter(self._cron, moment).get_next(datetime)
