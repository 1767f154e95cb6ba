"""Working-day calendars: deadlines as Swedish and Norwegian law counts them.

A process declares a calendar with ``<niva:calendar value="SE"/>`` (or ``"NO"``) beside
``niva:timezone``; a timer event opts out with ``<niva:calendar value="none"/>``.

What each calendar skips, and the law behind it:

``SE``
    lag (1930:173) om beräkning av lagstadgad tid, 2 §: an action due on a Sunday, another
    public holiday (*allmän helgdag*, lag 1989:253), a Saturday, midsommarafton, julafton or
    nyårsafton may be taken the next weekday (*nästa vardag*).
``NO``
    domstolloven § 149 first paragraph, to which the administrative laws refer (e.g.
    skatteforvaltningsloven § 5-5): a deadline ending on a Saturday, a *helgedag* or a day
    the law treats as one (1 and 17 May, lov 26 April 1947 nr. 1) runs to the next working
    day (*virkedag*). 24 and 31 December are working days: the law does not name them.

Saturdays and Sundays are non-working by rule; the public holidays and the Swedish *aftnar*
come from the ``holidays`` package (categories ``PUBLIC`` and, for Sweden, ``DE_FACTO``).

Determinism. Workflow code never asks the library: `snapshot` runs when a model version is
deployed and its result travels with the version (in its reference data under
`SNAPSHOT_KEY`), so neither a library upgrade nor a replay changes a running case. A
snapshot covers `YEARS_BEFORE` years before the deployment year to `YEARS_AFTER` years after
it (`WorkingCalendar.covers` says whether a day is inside).

A case that outlives its snapshot is not stranded and does not fall back to calendar days:
when its clock comes within `EXTEND_AHEAD` years of the snapshot's last year, or a timer's
day lies beyond it, the case asks for the missing years (`extension_wanted`) through a
local activity that runs `snapshot` for them (``niva.calendar_years``). The result is
recorded in the case's history and kept in its state (``InstanceState.calendar_years``),
so a replay reads the recorded days, never the library, and the trail says which years
came from which library version. Only what no extension covers (more than
`MAX_YEARS_AHEAD` years after the case's clock, or before the snapshot's first year) is
counted with Saturdays and Sundays alone, and a timer moved that way says so in its trail
entry.

Deadlines and reminders (`on_working_day`): a deadline whose last day is not a working day
moves to the end of the next working day; a reminder whose day is not a working day moves
back, whole days at the same wall-clock time, to the working day before. An instant at
exactly midnight belongs to the day it ends (a date-only deadline falls due at the end of
its day, the following midnight).
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from process_models.errors import Problem
from process_models.schema import Process
from process_models.timers import resolve_local

__all__ = [
    "CALENDARS",
    "CEL_FUNCTIONS",
    "EXTEND_AHEAD",
    "LAW",
    "MAX_YEARS_AHEAD",
    "NO_CALENDAR",
    "SNAPSHOT_KEY",
    "YEARS_AFTER",
    "YEARS_BEFORE",
    "CalendarSnapshot",
    "CalendarYears",
    "Moved",
    "WorkingCalendar",
    "calendar_from_reference",
    "calendar_problems",
    "cel_functions",
    "extension_wanted",
    "on_working_day",
    "snapshot",
    "with_extension",
    "with_snapshot",
]

CALENDARS: Final = ("SE", "NO")
"""The calendars a process may declare."""

NO_CALENDAR: Final = "none"
"""The value with which a timer opts out of its process's calendar."""

SNAPSHOT_KEY: Final = "niva:calendar"
"""The reference-data entry holding a deployed version's `CalendarSnapshot`."""

YEARS_BEFORE: Final = 1
YEARS_AFTER: Final = 60
"""A snapshot spans deployment year − 1 … + 60: a case started the year before (a
migration) and the longest deadlines the shipped processes set (a Norwegian competence
service renewed over thirty years, a Swedish permit *tills vidare* with yearly follow-up)
fit, for about 8 KB in each case's first event."""

EXTEND_AHEAD: Final = 10
"""A running case asks for more years when its clock comes within this many years of the
last year it knows."""
MAX_YEARS_AHEAD: Final = 200
"""The furthest a case extends its calendar, in years after its clock."""

_MAX_WORKING_DAYS: Final = 10_000
"""Bound on ``add_working_days``: about forty years, far beyond any snapshot's use."""

LAW: Final[Mapping[str, str]] = {
    "SE": "lag (1930:173) om beräkning av lagstadgad tid 2 §",
    "NO": "domstolloven § 149",
}


class CalendarSnapshot(BaseModel):
    """A calendar's non-working days (besides Saturdays and Sundays) for a span of years."""

    model_config = ConfigDict(frozen=True)

    calendar: Literal["SE", "NO"]
    source: str = Field(description="The library and version the days came from.")
    first_year: int
    last_year: int
    days: dict[str, list[str]] = Field(
        description='Per year (``"2027"``), its holidays as ``MM-DD``, in date order.'
    )


class CalendarYears(BaseModel):
    """Which years of a calendar a case asks for (the input of ``niva.calendar_years``)."""

    model_config = ConfigDict(frozen=True)

    calendar: Literal["SE", "NO"]
    first_year: int
    last_year: int


@functools.lru_cache(maxsize=8)
def snapshot(calendar: str, first_year: int, last_year: int) -> CalendarSnapshot:
    """The non-working days of ``calendar`` from the ``holidays`` package, for deployment.

    Raises:
        ValueError: an unknown calendar or an empty span.
    """
    if calendar not in CALENDARS:
        raise ValueError(f"unknown calendar {calendar!r}; use one of {', '.join(CALENDARS)}")
    if last_year < first_year:
        raise ValueError(f"empty span {first_year}..{last_year}")
    # Imported here, never in workflow code: the workflow reads the snapshot only.
    import holidays

    years = range(first_year, last_year + 1)
    if calendar == "SE":
        found: Mapping[date, Any] = holidays.country_holidays(
            "SE", years=years, categories=(holidays.PUBLIC, holidays.DE_FACTO)
        )
    else:
        found = holidays.country_holidays("NO", years=years)
    days: dict[str, list[str]] = {str(y): [] for y in years}
    for day in sorted(found):
        days[str(day.year)].append(day.strftime("%m-%d"))
    return CalendarSnapshot(
        calendar=calendar,
        source=f"holidays {importlib.metadata.version('holidays')}",
        first_year=first_year,
        last_year=last_year,
        days=days,
    )


@dataclass(frozen=True)
class WorkingCalendar:
    """A snapshot, read for lookups. Build it with `WorkingCalendar.of`."""

    calendar: str
    first_year: int
    last_year: int
    holidays: frozenset[date]

    @classmethod
    def of(cls, snap: CalendarSnapshot) -> WorkingCalendar:
        """The calendar of a snapshot."""
        days = frozenset(
            date.fromisoformat(f"{year}-{md}") for year, mds in snap.days.items() for md in mds
        )
        return cls(snap.calendar, snap.first_year, snap.last_year, days)

    def extended(self, days: Mapping[str, list[str]]) -> WorkingCalendar:
        """This calendar with the years of ``days`` (``{"2090": ["01-01", …]}``) added."""
        if not days:
            return self
        extra = {date.fromisoformat(f"{year}-{md}") for year, mds in days.items() for md in mds}
        last = max(self.last_year, *(int(year) for year in days))
        return WorkingCalendar(self.calendar, self.first_year, last, self.holidays | extra)

    def covers(self, day: date) -> bool:
        """True when the snapshot knows the holidays of ``day``'s year."""
        return self.first_year <= day.year <= self.last_year

    def is_working_day(self, day: date) -> bool:
        """Neither a Saturday, a Sunday nor a holiday of the calendar."""
        return day.weekday() < 5 and day not in self.holidays

    def next_working_day(self, day: date) -> date:
        """``day`` when it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def previous_working_day(self, day: date) -> date:
        """``day`` when it is a working day, else the last working day before it."""
        while not self.is_working_day(day):
            day -= timedelta(days=1)
        return day

    def add_working_days(self, day: date, n: int) -> date:
        """``n`` working days after ``day`` (before it when negative); 0 rolls forward."""
        if abs(n) > _MAX_WORKING_DAYS:
            raise ValueError(f"at most {_MAX_WORKING_DAYS} working days at a time, got {n}")
        if n == 0:
            return self.next_working_day(day)
        step = timedelta(days=1 if n > 0 else -1)
        for _ in range(abs(n)):
            day += step
            while not self.is_working_day(day):
                day += step
        return day


def with_snapshot(reference: Mapping[str, Any], calendar: str | None, year: int) -> dict[str, Any]:
    """A deployed version's reference data: ``reference`` plus, when the process declares
    a calendar, its snapshot for the years around ``year`` (the deployment's)."""
    data = dict(reference)
    if calendar in CALENDARS:
        snap = snapshot(calendar, year - YEARS_BEFORE, year + YEARS_AFTER)
        data[SNAPSHOT_KEY] = snap.model_dump(mode="json")
    return data


def calendar_from_reference(reference: Mapping[str, Any] | None) -> WorkingCalendar | None:
    """The calendar a deployed version snapshotted, or None when its process has none."""
    raw = (reference or {}).get(SNAPSHOT_KEY)
    if raw is None:
        return None
    return WorkingCalendar.of(CalendarSnapshot.model_validate(raw))


def with_extension(
    reference: Mapping[str, Any], days: Mapping[str, list[str]]
) -> Mapping[str, Any]:
    """A version's reference data with a case's extra calendar years (``days``) merged into
    its snapshot, for the expressions of that case; ``reference`` itself when none."""
    raw = reference.get(SNAPSHOT_KEY)
    if raw is None or not days:
        return reference
    snap = CalendarSnapshot.model_validate(raw)
    merged = snap.model_copy(
        update={
            "days": {**snap.days, **days},
            "last_year": max(snap.last_year, *(int(year) for year in days)),
        }
    )
    return {**reference, SNAPSHOT_KEY: merged.model_dump(mode="json")}


def extension_wanted(
    calendar: WorkingCalendar | None, clock_year: int, latest_year: int | None = None
) -> CalendarYears | None:
    """The years a case should ask for: None while ``calendar`` reaches `EXTEND_AHEAD`
    years past ``clock_year`` and past ``latest_year`` (the furthest year a timer of the
    case falls in); else from the year after its last to `YEARS_AFTER` years past the
    clock, or to ``latest_year`` when that is later (at most `MAX_YEARS_AHEAD` past it)."""
    if calendar is None or calendar.calendar not in CALENDARS:
        return None
    cap = clock_year + MAX_YEARS_AHEAD
    needed = min(max(clock_year + EXTEND_AHEAD, latest_year or 0), cap)
    if needed <= calendar.last_year:
        return None
    last = min(max(clock_year + YEARS_AFTER, needed), cap)
    return CalendarYears(
        calendar=calendar.calendar,
        first_year=calendar.last_year + 1,
        last_year=last,
    )


@dataclass(frozen=True)
class Moved:
    """A timer's fire time and where its calendar put it."""

    nominal: datetime
    effective: datetime
    note: str
    """Why, for the trail: the calendar, its law, and the rule applied."""


def _day_of(instant: datetime, tz: ZoneInfo) -> date:
    """The day an instant belongs to: midnight ends the day before."""
    return (instant.astimezone(tz) - timedelta(microseconds=1)).date()


def on_working_day(
    calendar: WorkingCalendar, nominal: datetime, tz: ZoneInfo, *, deadline: bool
) -> Moved | None:
    """Where a deadline (``deadline=True``) or a reminder firing at ``nominal`` belongs.

    Returns None when ``nominal``'s day is a working day (or, for a day outside the
    snapshot, not a Saturday or Sunday): the timer stays as it is.
    """
    day = _day_of(nominal, tz)
    if calendar.is_working_day(day):
        return None
    outside = "" if calendar.covers(day) else ", outside the snapshot: weekends only"
    law = LAW.get(calendar.calendar, calendar.calendar)
    if deadline:
        target = calendar.next_working_day(day)
        effective = resolve_local(datetime.combine(target + timedelta(days=1), time()), tz)
        note = f"{calendar.calendar} ({law}): end of the next working day {target}{outside}"
    else:
        target = calendar.previous_working_day(day)
        local = nominal.astimezone(tz)
        wall = local.replace(tzinfo=None) - (day - target)
        effective = resolve_local(wall, tz, prefer=local.utcoffset())
        note = f"{calendar.calendar}: reminder on the working day before, {target}{outside}"
    return Moved(nominal=nominal, effective=effective.astimezone(nominal.tzinfo), note=note)


# --- CEL functions --------------------------------------------------------------------------

CEL_FUNCTIONS: Final[Mapping[str, int]] = {
    "add_working_days": 2,
    "is_working_day": 1,
    "next_working_day": 1,
    "previous_working_day": 1,
}
"""The calendar functions niva adds to CEL, by name, with how many arguments each takes."""


def cel_functions(calendar: WorkingCalendar | None) -> dict[str, Any]:
    """The CEL calendar functions over ``calendar``, each taking the zone first.

    Each reads a timestamp's day in the process's zone and returns a timestamp at the same
    wall-clock time (``is_working_day`` a bool); ``add_working_days`` takes an int.
    """

    def need(name: str, t: object) -> tuple[WorkingCalendar, datetime]:
        if calendar is None:
            raise ValueError(
                f"{name}() needs the process's working-day calendar: declare "
                '<niva:calendar value="SE"/> (or "NO") beside niva:timezone'
            )
        if not isinstance(t, datetime):
            raise ValueError(
                f"{name}() expects a timestamp as its first argument; convert a string "
                "with timestamp(s) or date(s)"
            )
        return calendar, t

    def at_day(t: datetime, day: date, tz: ZoneInfo) -> datetime:
        local = t.astimezone(tz)
        wall = datetime.combine(day, local.time())
        return resolve_local(wall, tz, prefer=local.utcoffset())

    def is_working_day(tz: ZoneInfo, t: object) -> bool:
        cal, when = need("is_working_day", t)
        return cal.is_working_day(when.astimezone(tz).date())

    def next_working_day(tz: ZoneInfo, t: object) -> datetime:
        cal, when = need("next_working_day", t)
        return at_day(when, cal.next_working_day(when.astimezone(tz).date()), tz)

    def previous_working_day(tz: ZoneInfo, t: object) -> datetime:
        cal, when = need("previous_working_day", t)
        return at_day(when, cal.previous_working_day(when.astimezone(tz).date()), tz)

    def add_working_days(tz: ZoneInfo, t: object, n: object) -> datetime:
        cal, when = need("add_working_days", t)
        if isinstance(n, bool) or not isinstance(n, int):
            raise ValueError("add_working_days() expects the number of days as an int")
        return at_day(when, cal.add_working_days(when.astimezone(tz).date(), n), tz)

    return {
        "add_working_days": add_working_days,
        "is_working_day": is_working_day,
        "next_working_day": next_working_day,
        "previous_working_day": previous_working_day,
    }


# --- validation -----------------------------------------------------------------------------


def calendar_problems(process: Process) -> list[Problem]:
    """What is wrong with the ``niva:calendar`` settings of a process and its timers."""
    problems: list[Problem] = []
    if process.calendar is not None and process.calendar not in (*CALENDARS, NO_CALENDAR):
        problems.append(
            Problem(
                message=f"niva:calendar {process.calendar!r} is not a calendar niva knows; "
                f"use {', '.join(CALENDARS)} or {NO_CALENDAR!r}",
                element_id=process.id,
                line=process.line,
            )
        )
    for node in process.all_nodes():
        value = node.niva.calendar
        if value is None:
            continue
        if value != NO_CALENDAR:
            message = (
                f"niva:calendar {value!r} on an element: a timer may only opt out of the "
                f'process\'s calendar with value="{NO_CALENDAR}"'
            )
        elif not any(d.timer is not None for d in node.event_definitions):
            message = "niva:calendar belongs on a timer event (or on the process)"
        else:
            continue
        problems.append(Problem(message=message, element_id=node.id, line=node.line))
    return problems
