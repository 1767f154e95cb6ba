"""Expected dates under a working-day calendar, for tests of the shipped models.

The shipped models declare ``niva:calendar``: a deadline whose last day is not a working day
closes at the end of the next working day, a reminder moves to the working day before. The
expected values come from `process_models.calendars`, whose rules are checked against
hand-counted dates in ``tests/process_models/test_calendars.py``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from process_models.calendars import (
    YEARS_AFTER,
    YEARS_BEFORE,
    WorkingCalendar,
    on_working_day,
    snapshot,
)
from process_models.timers import resolve_local

__all__ = ["calendar_for", "closes", "deadline", "reminded"]


def calendar_for(calendar: str, year: int) -> WorkingCalendar:
    """The calendar a case counts with in ``year``: the one a model deployed now snapshots,
    and past its span (a test server's clock may run decades ahead) the years the case adds
    to it as its clock nears the snapshot's end (`process_models.calendars`, #23)."""
    deployed = datetime.now(UTC).year
    return _span(calendar, deployed - YEARS_BEFORE, max(deployed + YEARS_AFTER, year + 1))


@cache
def _span(calendar: str, first: int, last: int) -> WorkingCalendar:
    return WorkingCalendar.of(snapshot(calendar, first, last))


def deadline(calendar: str, tz: ZoneInfo, nominal: datetime) -> datetime:
    """When a deadline due at ``nominal`` closes: then, or at the end of the next working
    day when ``nominal``'s day is not one."""
    moved = on_working_day(calendar_for(calendar, nominal.year), nominal, tz, deadline=True)
    return (moved.effective if moved else nominal).astimezone(tz)


def closes(calendar: str, tz: ZoneInfo, day: date) -> datetime:
    """When a deadline whose last day is ``day`` closes: the end of that day, or of the next
    working day when ``day`` is not one."""
    end = resolve_local(datetime.combine(day + timedelta(days=1), time()), tz)
    return deadline(calendar, tz, end)


def reminded(calendar: str, tz: ZoneInfo, at: datetime) -> datetime:
    """When a reminder due at ``at`` is sent: then, or on the working day before."""
    moved = on_working_day(calendar_for(calendar, at.year), at, tz, deadline=False)
    return (moved.effective if moved else at).astimezone(tz)
