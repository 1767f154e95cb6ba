"""Cron expressions in a ``timeCycle``, as Camunda 8 reads them (Spring's six-field cron).

Camunda 8 accepts a cron expression where a ``timeCycle`` holds a repeating interval:
``0 0 9 * * MON-FRI`` fires at nine on weekdays. The format is Spring's ``CronExpression``:

    second minute hour day-of-month month day-of-week

Each field is ``*``, a value, a range ``a-b``, a list ``a,b``, or a step ``*/n``, ``a/n``,
``a-b/n``; months and days of the week may be named (``JAN``, ``MON``, any case); a day of
the week is 0 to 7 with 0 and 7 Sunday; ``?`` is ``*`` in the two day fields. The day fields
also take ``L`` (the last day of the month), ``L-n`` (n days before it), ``LW`` (the last
weekday), ``nW`` (the weekday nearest day n, within the month), ``dL`` (the last weekday d
of the month, ``5L`` or ``FRIL``) and ``d#n`` (its n-th, ``MON#2``). ``@yearly``
(``@annually``), ``@monthly``, ``@weekly``, ``@daily`` (``@midnight``) and ``@hourly``
stand for their six-field forms. As in Spring, a day must match both day fields.

The times are wall-clock times in the process's zone: a time that a daylight-saving change
skips fires when the clock jumps (02:30 on the spring-forward night fires at 03:30, once
even when 03:30 is also in the schedule), and a time that occurs twice fires once, the first
time; the rules of `process_models.timers.resolve_local`.

The n-th firing after an instant is counted day by day (a day's firings are its matching
times of day), so a timer that has fired for decades finds its next firing in milliseconds.
Pure and deterministic; every instant is timezone-aware UTC.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from process_models.errors import TimerSpecError

__all__ = ["CronSchedule", "is_cron", "parse_cron"]

#: How far ahead a firing is looked for: Spring looks as far, and a 29 February that is a
#: Monday comes every 28 years.
SEARCH_YEARS = 400

_MACROS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_FIELDS = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")
_FORM = (
    "expected a cron expression of six fields, second minute hour day-of-month month "
    "day-of-week (e.g. 0 0 9 * * MON-FRI), or @yearly, @monthly, @weekly, @daily, @hourly"
)
_NTH = re.compile(r"(?P<day>\w+)#(?P<n>\d+)")


def is_cron(text: str) -> bool:
    """Whether a ``timeCycle`` value is a cron expression rather than an ISO 8601 interval."""
    value = text.strip()
    return value.lower() in _MACROS or len(value.split()) == len(_FIELDS)


class CronSchedule(BaseModel):
    """A parsed cron expression: the values each field allows, and the day rules."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="The expression as written.")
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    days_of_month: frozenset[int] = Field(description="Days 1-31; empty with `month_rules`.")
    month_rules: tuple[str, ...] = Field(
        default=(), description="L, L-n, LW, nW: days that depend on the month."
    )
    days_of_week: frozenset[int] = Field(description="0 (Sunday) to 6; empty with rules.")
    week_rules: tuple[tuple[int, int], ...] = Field(
        default=(),
        description="(weekday, n): the n-th weekday of the month, n = -1 the last one.",
    )

    # --- matching ---------------------------------------------------------------------

    def matches_day(self, day: date) -> bool:
        """Whether the schedule fires on ``day`` (both day fields match, as in Spring)."""
        if day.month not in self.months:
            return False
        return self._month_day(day) and self._week_day(day)

    def _month_day(self, day: date) -> bool:
        if day.day in self.days_of_month:
            return True
        last = calendar.monthrange(day.year, day.month)[1]
        for rule in self.month_rules:
            if rule == "L" and day.day == last:
                return True
            if rule.startswith("L-") and day.day == last - int(rule[2:]):
                return True
            if rule == "LW" and day.day == _nearest_weekday(day, last):
                return True
            if (
                rule.endswith("W")
                and rule != "LW"
                and day.day == _nearest_weekday(day, min(int(rule[:-1]), last))
            ):
                return True
        return False

    def _week_day(self, day: date) -> bool:
        weekday = (day.weekday() + 1) % 7  # Sunday 0, as cron counts
        if weekday in self.days_of_week:
            return True
        last = calendar.monthrange(day.year, day.month)[1]
        for wanted, nth in self.week_rules:
            if weekday != wanted:
                continue
            if nth == -1 and day.day + 7 > last:
                return True
            if nth > 0 and (day.day - 1) // 7 + 1 == nth:
                return True
        return False

    @property
    def times_of_day(self) -> list[time]:
        """The wall-clock times it fires at on a matching day, in order."""
        return [time(h, m, s) for h in self.hours for m in self.minutes for s in self.seconds]

    def shortest_gap(self) -> timedelta:
        """The shortest wall-clock time between two firings on the same or the next day."""
        seconds = [t.hour * 3600 + t.minute * 60 + t.second for t in self.times_of_day]
        gaps = [b - a for a, b in pairwise(seconds)]
        gaps.append(86400 - seconds[-1] + seconds[0])
        return timedelta(seconds=min(gaps))

    # --- firings ----------------------------------------------------------------------

    def _firings_on(self, day: date, tz: ZoneInfo) -> list[datetime]:
        """The instants it fires at on ``day`` (a matching day), in order, each once."""
        from process_models.timers import resolve_local

        instants: list[datetime] = []
        for moment in self.times_of_day:
            instant = resolve_local(datetime.combine(day, moment), tz)
            # A skipped time jumps to one that may be in the schedule too: fire once.
            if not instants or instant > instants[-1]:
                instants.append(instant)
        return instants

    def nth_after(self, after: datetime, n: int, tz: ZoneInfo) -> datetime | None:
        """The ``n``-th firing (1 is the first) strictly after ``after``, or None when there
        is none within `SEARCH_YEARS` years."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        day = after.astimezone(tz).date()
        for index, current in enumerate(_days(day)):
            if not self.matches_day(current):
                continue
            if index == 0 or _changes_offset(current, tz):
                firings = [t for t in self._firings_on(current, tz) if t > after]
                if n <= len(firings):
                    return firings[n - 1]
                n -= len(firings)
                continue
            count = len(self.hours) * len(self.minutes) * len(self.seconds)
            if n <= count:
                moment = self.times_of_day[n - 1]
                return datetime.combine(current, moment, tzinfo=tz).astimezone(UTC)
            n -= count
        return None

    def count_between(self, after: datetime, until: datetime, tz: ZoneInfo) -> int:
        """How many firings fall in ``(after, until]``."""
        if until <= after:
            return 0
        first = after.astimezone(tz).date()
        last = until.astimezone(tz).date()
        total = 0
        current = first
        while current <= last:
            if self.matches_day(current):
                if current in (first, last) or _changes_offset(current, tz):
                    total += sum(1 for t in self._firings_on(current, tz) if after < t <= until)
                else:
                    total += len(self.hours) * len(self.minutes) * len(self.seconds)
            current += timedelta(days=1)
        return total


def _days(start: date) -> Iterator[date]:
    end = min(date.max.year, start.year + SEARCH_YEARS)
    current = start
    while current.year <= end:
        yield current
        if current == date.max:
            return
        current += timedelta(days=1)


def _changes_offset(day: date, tz: ZoneInfo) -> bool:
    """Whether the zone's offset changes during ``day`` (a daylight-saving day)."""
    start = datetime.combine(day, time(), tzinfo=tz)
    end = datetime.combine(day, time(23, 59, 59), tzinfo=tz)
    return start.utcoffset() != end.utcoffset()


def _nearest_weekday(day: date, target: int) -> int:
    """The day of ``day``'s month nearest ``target`` that is Monday to Friday, within the
    month (Quartz's and Spring's ``W``)."""
    last = calendar.monthrange(day.year, day.month)[1]
    weekday = date(day.year, day.month, target).weekday()
    if weekday == 5:  # Saturday: Friday before, or Monday after on the 1st
        return target - 1 if target > 1 else target + 2
    if weekday == 6:  # Sunday: Monday after, or Friday before on the last day
        return target + 1 if target < last else target - 2
    return target


# --- parsing ------------------------------------------------------------------------------


def parse_cron(text: str, *, element_id: str | None = None) -> CronSchedule:
    """Read a cron expression (Spring's six fields, or a macro).

    Raises:
        TimerSpecError: a field is malformed or out of range, naming the field.
    """
    source = text
    value = _MACROS.get(text.strip().lower(), text.strip())
    fields = value.upper().split()
    if len(fields) != len(_FIELDS):
        raise TimerSpecError(_FORM, value=source, element_id=element_id)
    name = _FIELDS[0]
    try:
        seconds = _values(fields[0], 0, 59)
        name = _FIELDS[1]
        minutes = _values(fields[1], 0, 59)
        name = _FIELDS[2]
        hours = _values(fields[2], 0, 23)
        name = _FIELDS[3]
        month_days, month_rules = _month_days(fields[3])
        name = _FIELDS[4]
        months = _values(fields[4], 1, 12, names=_MONTHS, first_name=1)
        name = _FIELDS[5]
        week_days, week_rules = _week_days(fields[5])
    except ValueError as exc:
        raise TimerSpecError(
            f"the {name} field: {exc}; {_FORM}", value=source, element_id=element_id
        ) from exc
    return CronSchedule(
        source=source,
        seconds=tuple(sorted(seconds)),
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        months=frozenset(months),
        days_of_month=frozenset(month_days),
        month_rules=tuple(month_rules),
        days_of_week=frozenset(week_days),
        week_rules=tuple(week_rules),
    )


def _values(
    field: str,
    low: int,
    high: int,
    *,
    names: list[str] | None = None,
    first_name: int = 0,
) -> set[int]:
    result: set[int] = set()
    for part in field.split(","):
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"the step of {part!r} must be a whole number above 0")
            step = int(step_text)
        if body in ("*", "?"):
            start, end = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            start, end = (
                _value(a, low, high, names, first_name),
                _value(b, low, high, names, first_name),
            )
            if end < start:
                raise ValueError(f"the range {body!r} runs backwards")
        else:
            start = _value(body, low, high, names, first_name)
            end = high if step_text else start
        result.update(range(start, end + 1, step))
    return result


def _value(text: str, low: int, high: int, names: list[str] | None, first_name: int) -> int:
    if names is not None and text in names:
        return names.index(text) + first_name
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"{text!r} is not a value from {low} to {high}")
    return int(text)


def _month_days(field: str) -> tuple[set[int], list[str]]:
    days: set[int] = set()
    rules: list[str] = []
    for part in field.split(","):
        if part == "L" or part == "LW" or re.fullmatch(r"L-\d+", part):
            if part.startswith("L-") and not 0 <= int(part[2:]) <= 30:
                raise ValueError(f"{part!r} is out of range")
            rules.append(part)
        elif re.fullmatch(r"\d+W", part):
            if not 1 <= int(part[:-1]) <= 31:
                raise ValueError(f"{part!r} is out of range")
            rules.append(part)
        else:
            days |= _values(part, 1, 31)
    return days, rules


def _week_days(field: str) -> tuple[set[int], list[tuple[int, int]]]:
    days: set[int] = set()
    rules: list[tuple[int, int]] = []
    for part in field.split(","):
        if (match := _NTH.fullmatch(part)) is not None:
            n = int(match["n"])
            if not 1 <= n <= 5:
                raise ValueError(f"{part!r} names no week of a month")
            rules.append((_value(match["day"], 0, 7, _DAYS, 0) % 7, n))
        elif len(part) > 1 and part.endswith("L"):
            rules.append((_value(part[:-1], 0, 7, _DAYS, 0) % 7, -1))
        else:
            days |= {d % 7 for d in _values(part, 0, 7, names=_DAYS)}
    return days, rules
