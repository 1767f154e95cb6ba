"""ISO 8601 timers as BPMN tools write them, with calendar arithmetic in the process's zone.

BPMN's ``timerEventDefinition`` holds one of three values:

``timeDuration``
    a duration such as ``P10W``, ``P6M`` or ``PT36H``, counted from when the timer is armed;
``timeDate``
    an instant: ``2027-03-01T00:00:00+01:00``, ``2027-03-01T00:00:00Z``, a local date-time
    ``2027-03-01T09:00`` (in the process's zone) or a date ``2027-03-01``;
``timeCycle``
    a repeating interval ``R6/P1D``, ``R/P1Y`` or ``R3/2027-03-01T00:00:00Z/P1Y``, or a cron
    expression as Camunda 8 writes one, ``0 0 9 * * MON-FRI`` (`process_models.cron`).

The rules, chosen so that a deadline lands where a case handler expects it:

- Durations are calendar arithmetic in the process's zone (`add_duration`): years and months
  first, clamped to the end of the month (``P1M`` from 31 January is the last day of
  February, 29 February in a leap year); then weeks and days as calendar days, keeping the
  wall-clock time across a daylight-saving change; then hours, minutes and seconds as exact
  elapsed time. A wall-clock time a DST change skips moves forward by the gap (02:30 on the
  spring-forward night becomes 03:30); one that occurs twice keeps the original offset when
  it can, otherwise takes the earlier instant. These are java.time's rules, which Camunda
  users know.
- A date without a time is a deadline that falls due at the *end* of that day: ``2027-03-01``
  is the instant the process's zone reaches midnight starting 2 March. As the *start* of a
  cycle (``R/2027-03-01/P1Y``) a date means the start of that day instead, since the
  repetitions happen *on* those days.
- The n-th repetition of a cycle is computed from the cycle's start (or from when it was
  armed) by adding n periods at once, never by adding one period to the previous fire, so a
  yearly cycle from 29 February 2028 fires on 28 February 2029 and again on 29 February 2032.
  A cron cycle's n-th firing is the n-th time the expression matches after the timer was
  armed, in wall-clock time of the process's zone; it repeats without end.

Everything here is pure and deterministic: no clock, no I/O, no module state that changes.
Every instant returned is timezone-aware UTC.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Literal, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from process_models.cron import CronSchedule, is_cron, parse_cron
from process_models.errors import TimerSpecError

__all__ = [
    "IsoDuration",
    "TimerKind",
    "TimerSpec",
    "add_duration",
    "add_months",
    "check_cycle_period",
    "missed_firings",
    "next_fire",
    "parse_datetime",
    "parse_timer",
    "resolve_local",
]

TimerKind = Literal["duration", "date", "cycle"]

# Seconds may carry a fraction; six digits is what a datetime can represent.
_MAX_SECOND_DIGITS = 6

_DURATION = re.compile(
    r"""
    (?P<sign>[-+])?P
    (?:(?P<years>\d+)Y)?
    (?:(?P<months>\d+)M)?
    (?:(?P<weeks>\d+)W)?
    (?:(?P<days>\d+)D)?
    (?:T
        (?:(?P<hours>\d+)H)?
        (?:(?P<minutes>\d+)M)?
        (?:(?P<seconds>\d+(?:[.,]\d+)?)S)?
    )?
    """,
    re.VERBOSE | re.IGNORECASE,
)
_DURATION_FORM = (
    "expected an ISO 8601 duration PnYnMnWnDTnHnMnS with at least one part, "
    "e.g. P10W, P6M, PT36H or P1Y2M3DT4H5M6.5S"
)

_DATE = r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
_DATE_ONLY = re.compile(_DATE)
_DATE_TIME = re.compile(
    _DATE
    + r"[Tt](?P<hour>\d{2}):(?P<minute>\d{2})"
    + r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?"
    + r"(?P<offset>[Zz]|[-+]\d{2}(?::?\d{2})?)?"
)
_DATE_FORM = (
    "expected an ISO 8601 date-time such as 2027-03-01T09:00:00+01:00, "
    "2027-03-01T08:00:00Z, a local 2027-03-01T09:00 or a date 2027-03-01"
)

_REPEAT = re.compile(r"R(?P<count>\d*)", re.IGNORECASE)
_CYCLE_FORM = (
    "expected a repeating interval Rn/period or Rn/start/period, e.g. R6/P1D, R/P1Y or "
    "R3/2027-03-01T00:00:00Z/P1Y (leave out n to repeat without end), or a cron expression "
    "of six fields, second minute hour day-of-month month day-of-week (0 0 9 * * MON-FRI)"
)

# Average lengths, used only to guess which repetition of a cycle comes first after a given
# instant; the guess is then corrected by exact arithmetic.
_AVERAGE_SECONDS = (
    ("years", 365.2425 * 86400),
    ("months", 365.2425 * 86400 / 12),
    ("weeks", 7 * 86400),
    ("days", 86400),
    ("hours", 3600),
    ("minutes", 60),
)


class IsoDuration(BaseModel):
    """An ISO 8601 duration, kept part by part because a month is not a fixed length.

    ``str()`` writes the canonical form (``P1Y2M3DT4H5M6.5S``, ``PT0S`` for nothing) and
    `parse` reads it back, so ``IsoDuration.parse(str(d)) == d``.
    """

    model_config = ConfigDict(frozen=True)

    years: int = Field(default=0, ge=0, description="Calendar years.")
    months: int = Field(default=0, ge=0, description="Calendar months, clamped at month end.")
    weeks: int = Field(default=0, ge=0, description="Weeks of seven calendar days.")
    days: int = Field(default=0, ge=0, description="Calendar days (23 or 25 hours across DST).")
    hours: int = Field(default=0, ge=0, description="Exact hours of elapsed time.")
    minutes: int = Field(default=0, ge=0, description="Exact minutes of elapsed time.")
    seconds: Decimal = Field(
        default=Decimal(0),
        ge=0,
        description="Exact seconds of elapsed time, with up to six decimals.",
    )

    @model_validator(mode="after")
    def _seconds_resolution(self) -> Self:
        if -_exponent(self.seconds) > _MAX_SECOND_DIGITS:
            raise ValueError(f"seconds may have at most {_MAX_SECOND_DIGITS} decimals")
        return self

    @classmethod
    def parse(cls, value: str, *, element_id: str | None = None) -> IsoDuration:
        """Read an ISO 8601 duration such as ``P10W``, ``P6M`` or ``P1Y2M3DT4H5M6.5S``.

        Designators may be lower case and a decimal comma is accepted; surrounding
        whitespace is ignored.

        Raises:
            TimerSpecError: the value is empty of parts (``P``, ``PT``), negative, has more
                than six decimals of seconds or is not a duration at all.
        """
        text = value.strip()
        match = _DURATION.fullmatch(text)
        if match is None:
            raise TimerSpecError(_DURATION_FORM, value=value, element_id=element_id)
        if match["sign"] == "-":
            raise TimerSpecError(
                "a timer duration cannot be negative; write the positive duration",
                value=value,
                element_id=element_id,
            )
        parts = {k: v for k, v in match.groupdict().items() if k != "sign" and v is not None}
        # "P" and a "T" with nothing after it ("PT", "P1DT") are not durations.
        if not parts or text.upper().endswith("T"):
            raise TimerSpecError(_DURATION_FORM, value=value, element_id=element_id)
        seconds = Decimal(parts.pop("seconds", "0").replace(",", "."))
        if -_exponent(seconds) > _MAX_SECOND_DIGITS:
            raise TimerSpecError(
                f"seconds may have at most {_MAX_SECOND_DIGITS} decimals",
                value=value,
                element_id=element_id,
            )
        return cls(seconds=seconds, **{k: int(v) for k, v in parts.items()})

    def __str__(self) -> str:
        date_part = "".join(
            f"{n}{unit}"
            for n, unit in (
                (self.years, "Y"),
                (self.months, "M"),
                (self.weeks, "W"),
                (self.days, "D"),
            )
            if n
        )
        seconds = f"{self.seconds.normalize():f}" if self.seconds else ""
        time_part = "".join(
            f"{n}{unit}"
            for n, unit in ((self.hours, "H"), (self.minutes, "M"), (seconds, "S"))
            if n
        )
        if not date_part and not time_part:
            return "PT0S"
        return f"P{date_part}" + (f"T{time_part}" if time_part else "")

    @property
    def is_zero(self) -> bool:
        """True when every part is zero (``PT0S``)."""
        return self == IsoDuration()

    @property
    def calendar_months(self) -> int:
        """Years and months together, as a number of months."""
        return self.years * 12 + self.months

    @property
    def calendar_days(self) -> int:
        """Weeks and days together, as a number of calendar days."""
        return self.weeks * 7 + self.days

    @property
    def exact(self) -> timedelta:
        """The hours, minutes and seconds part as elapsed time."""
        whole = int(self.seconds)
        micro = int((self.seconds - whole) * 1_000_000)
        return timedelta(hours=self.hours, minutes=self.minutes, seconds=whole, microseconds=micro)

    def times(self, factor: int) -> IsoDuration:
        """This duration repeated ``factor`` times, part by part (``P1M`` × 3 = ``P3M``)."""
        if factor < 0:
            raise ValueError(f"factor must not be negative, got {factor}")
        return IsoDuration(
            years=self.years * factor,
            months=self.months * factor,
            weeks=self.weeks * factor,
            days=self.days * factor,
            hours=self.hours * factor,
            minutes=self.minutes * factor,
            seconds=self.seconds * factor,
        )

    def approximate_seconds(self) -> float:
        """Length in seconds with average months and years; for estimates only."""
        total = float(self.seconds)
        for part, seconds in _AVERAGE_SECONDS:
            total += getattr(self, part) * seconds
        return total


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


# --- calendar arithmetic ------------------------------------------------------------------


def _require_aware(t: datetime, name: str = "t") -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got the naive {t.isoformat()}")


def _shift_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise OverflowError(f"date out of range: year {year}")
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def resolve_local(wall: datetime, tz: tzinfo, *, prefer: timedelta | None = None) -> datetime:
    """The UTC instant of a naive wall-clock time in ``tz``.

    A time the zone skips (spring forward) moves forward by the gap; a time that occurs
    twice (fall back) takes the offset ``prefer`` when it is one of the two, otherwise the
    earlier instant.
    """
    earlier = wall.replace(tzinfo=tz, fold=0)
    later = wall.replace(tzinfo=tz, fold=1)
    real = [
        c for c in (earlier, later) if c.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall
    ]
    if not real:
        # In a gap zoneinfo gives fold=0 the offset from before the change, which lands
        # exactly the gap's length later on the wall clock: 02:30 → 03:30.
        return earlier.astimezone(UTC)
    chosen = next((c for c in real if prefer is not None and c.utcoffset() == prefer), real[0])
    return chosen.astimezone(UTC)


def _with_calendar(t: datetime, tz: ZoneInfo, months: int, days: int) -> datetime:
    local = t.astimezone(tz)
    day = _shift_months(local.date(), months) + timedelta(days=days)
    wall = datetime.combine(day, local.time())
    return resolve_local(wall, tz, prefer=local.utcoffset())


def add_duration(t: datetime, d: IsoDuration, tz: ZoneInfo) -> datetime:
    """``t`` plus the duration ``d``, by the calendar of ``tz``.

    Years and months first (clamped to the end of the month), then weeks and days as
    calendar days keeping the wall-clock time, then hours, minutes and seconds as exact
    elapsed time.

    Args:
        t: a timezone-aware instant.
        d: the duration to add.
        tz: the process's zone, whose calendar and daylight-saving rules apply.

    Returns:
        The resulting instant in UTC.

    Raises:
        ValueError: ``t`` is naive.
        TimerSpecError: the result would lie beyond year 9999.
    """
    _require_aware(t)
    try:
        shifted = t.astimezone(UTC)
        if d.calendar_months or d.calendar_days:
            shifted = _with_calendar(t, tz, d.calendar_months, d.calendar_days)
        return shifted + d.exact
    except OverflowError as exc:
        raise TimerSpecError(
            f"adding it to {t.isoformat()} goes beyond the year 9999", value=str(d)
        ) from exc


def add_months(t: datetime, months: int, tz: ZoneInfo) -> datetime:
    """``t`` moved by ``months`` calendar months (negative moves back), keeping the wall clock.

    The day is clamped to the end of a shorter month: 31 January plus one month is the last
    day of February.

    Raises:
        ValueError: ``t`` is naive, or the result would lie outside the years 1 to 9999.
    """
    _require_aware(t)
    try:
        return _with_calendar(t, tz, months, 0)
    except OverflowError as exc:
        raise ValueError(f"{t.isoformat()} moved by {months} months is out of range") from exc


# --- instants -----------------------------------------------------------------------------


def parse_datetime(value: str, tz: ZoneInfo, *, element_id: str | None = None) -> datetime:
    """Read an ISO 8601 instant as a ``timeDate`` deadline.

    - with an offset or ``Z``: that instant;
    - a date-time without offset: that wall-clock time in ``tz``;
    - a date only (``2027-03-01``): the *end* of that day in ``tz``, i.e. the instant of the
      following midnight, because a deadline given as a date is met until that day is over.

    Returns:
        The instant in UTC.

    Raises:
        TimerSpecError: the value is not such a date-time, or names a day that does not exist.
    """
    return _parse_instant(value, tz, element_id=element_id, date_only="end")


def _parse_instant(
    value: str,
    tz: tzinfo,
    *,
    element_id: str | None,
    date_only: Literal["start", "end"],
) -> datetime:
    text = value.strip()
    try:
        if match := _DATE_ONLY.fullmatch(text):
            day = date(int(match["year"]), int(match["month"]), int(match["day"]))
            if date_only == "end":
                day += timedelta(days=1)
            return resolve_local(datetime.combine(day, time()), tz)
        if match := _DATE_TIME.fullmatch(text):
            return _date_time(match, tz)
    except (ValueError, OverflowError) as exc:
        raise TimerSpecError(
            f"not a real date or time ({exc}); {_DATE_FORM}", value=value, element_id=element_id
        ) from exc
    raise TimerSpecError(_DATE_FORM, value=value, element_id=element_id)


def _date_time(match: re.Match[str], tz: tzinfo) -> datetime:
    fraction = (match["fraction"] or "").ljust(6, "0")[:6]
    wall = datetime(
        int(match["year"]),
        int(match["month"]),
        int(match["day"]),
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"] or 0),
        int(fraction or 0),
    )
    offset = match["offset"]
    if offset is None:
        return resolve_local(wall, tz)
    if offset in ("Z", "z"):
        return wall.replace(tzinfo=UTC)
    digits = offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    if delta >= timedelta(hours=24):
        raise ValueError(f"offset {offset} is 24 hours or more")
    fixed = timezone(-delta if offset[0] == "-" else delta)
    return wall.replace(tzinfo=fixed).astimezone(UTC)


# --- timer specifications -----------------------------------------------------------------


class TimerSpec(BaseModel):
    """A parsed ``timeDuration``, ``timeDate`` or ``timeCycle``.

    Dates are kept as written and resolved against the process's zone in `next_fire`, so a
    spec does not depend on where it was parsed.
    """

    model_config = ConfigDict(frozen=True)

    kind: TimerKind
    source: str = Field(description="The value as written in the model.")
    element_id: str | None = Field(default=None, description="The timer's element, for errors.")
    duration: IsoDuration | None = Field(
        default=None, description="duration: the delay; cycle: the period between repetitions."
    )
    at: str | None = Field(
        default=None,
        description="date: the deadline; cycle: the first repetition, if the cycle names one. "
        "ISO 8601 as written; a date only is the end of that day for a deadline and its "
        "start for a cycle.",
    )
    repetitions: int | None = Field(
        default=None, ge=0, description="cycle: how many times it fires; None for no end."
    )
    cron: CronSchedule | None = Field(
        default=None, description="cycle: a cron expression, instead of a period."
    )

    @model_validator(mode="after")
    def _parts_match_kind(self) -> Self:
        cycle_needs = ("cron",) if self.cron is not None else ("duration",)
        needs = {"duration": ("duration",), "date": ("at",), "cycle": cycle_needs}[self.kind]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} timer needs {', '.join(missing)}")
        if self.kind == "cycle" and self.duration is not None and self.duration.is_zero:
            raise ValueError("a cycle's period must be longer than zero")
        return self


def parse_timer(kind: TimerKind, value: str, *, element_id: str | None = None) -> TimerSpec:
    """Parse a BPMN timer value: ``timeDuration``, ``timeDate`` or ``timeCycle``.

    Args:
        kind: ``"duration"``, ``"date"`` or ``"cycle"``, after the BPMN element.
        value: the ISO 8601 text as written (surrounding whitespace is ignored).
        element_id: the timer event's id, named in errors.

    Raises:
        TimerSpecError: the value does not parse as that kind, or is an ``=`` expression
            (compile those with ``process_models.expressions.compile_expression``).
    """
    text = value.strip()
    if not text:
        raise TimerSpecError(
            f"the time{kind.capitalize()} is empty", value=value, element_id=element_id
        )
    if text.startswith("="):
        raise TimerSpecError(
            "this timer is an expression: compile it with compile_expression and evaluate it "
            "when the timer is armed",
            value=value,
            element_id=element_id,
        )
    if kind == "duration":
        duration = IsoDuration.parse(text, element_id=element_id)
        return TimerSpec(kind=kind, source=value, element_id=element_id, duration=duration)
    if kind not in ("date", "cycle"):
        raise ValueError(f"kind must be 'duration', 'date' or 'cycle', got {kind!r}")
    if kind == "date":
        # Validate now, against any zone (UTC needs no zone database): only whether it
        # parses matters here; `next_fire` resolves it in the process's zone.
        _parse_instant(text, UTC, element_id=element_id, date_only="end")
        return TimerSpec(kind=kind, source=value, element_id=element_id, at=text)
    return _parse_cycle(text, value, element_id)


def _parse_cycle(text: str, value: str, element_id: str | None) -> TimerSpec:
    if is_cron(text):
        cron = parse_cron(text, element_id=element_id)
        return TimerSpec(kind="cycle", source=value, element_id=element_id, cron=cron)
    parts = text.split("/")
    repeat = _REPEAT.fullmatch(parts[0])
    if repeat is None or len(parts) not in (2, 3):
        raise TimerSpecError(_CYCLE_FORM, value=value, element_id=element_id)
    start: str | None = None
    if len(parts) == 3:
        start, period_text = parts[1], parts[2]
        if start.upper().startswith("P"):
            raise TimerSpecError(
                f"a cycle that ends at a date (period/end) is not supported; {_CYCLE_FORM}",
                value=value,
                element_id=element_id,
            )
        _parse_instant(start, UTC, element_id=element_id, date_only="start")
    else:
        period_text = parts[1]
    if not period_text.upper().startswith("P"):
        raise TimerSpecError(
            f"a cycle needs a period (start/end is not supported); {_CYCLE_FORM}",
            value=value,
            element_id=element_id,
        )
    period = IsoDuration.parse(period_text, element_id=element_id)
    if period.is_zero:
        raise TimerSpecError(
            "a cycle's period must be longer than zero", value=value, element_id=element_id
        )
    count = int(repeat["count"]) if repeat["count"] else None
    return TimerSpec(
        kind="cycle",
        source=value,
        element_id=element_id,
        duration=period,
        at=start,
        repetitions=count,
    )


def next_fire(spec: TimerSpec, *, armed_at: datetime, fired: int, tz: ZoneInfo) -> datetime | None:
    """When the timer next fires, or None when it has fired all it will.

    - duration: ``armed_at`` plus the duration, once;
    - date: the deadline, once (a date only means the end of that day in ``tz``);
    - cycle without start: the ``fired + 1``-th period after ``armed_at``;
    - cycle with start: repetitions fall at ``start``, ``start + period``, ...; the first
      one at or after ``armed_at`` is fired first, and the count includes those that fell
      before the timer was armed (``R3/2020-01-01/P1Y`` armed in 2027 never fires);
    - cron: the ``fired + 1``-th time the expression matches after ``armed_at``, without end.

    Args:
        spec: the parsed timer.
        armed_at: when the timer was armed (the workflow clock), timezone-aware.
        fired: how many times it has fired since it was armed.
        tz: the process's zone.

    Returns:
        The fire instant in UTC, or None once a one-shot timer has fired or a cycle's
        count is used up.
    """
    _require_aware(armed_at, "armed_at")
    if fired < 0:
        raise ValueError(f"fired must not be negative, got {fired}")
    try:
        return _next_fire(spec, armed_at, fired, tz)
    except TimerSpecError as exc:
        if exc.element_id is not None:
            raise
        raise TimerSpecError(exc.reason, value=spec.source, element_id=spec.element_id) from exc


def check_cycle_period(spec: TimerSpec, minimum: timedelta) -> None:
    """Refuse a cycle whose period is shorter than ``minimum`` (the setting
    ``NIVA_LIMITS_MIN_CYCLE_SECONDS``, default `process_models.limits.MIN_CYCLE_PERIOD`).

    A cycle of seconds writes a history event per firing for as long as the case lives.
    Calendar periods count at their average length (a month is about 30.4 days).

    Raises:
        TimerSpecError: the spec is a cycle with a shorter period.
    """
    if spec.kind != "cycle":
        return
    if spec.cron is not None:
        shortest = spec.cron.shortest_gap().total_seconds()
    elif spec.duration is not None:
        shortest = spec.duration.approximate_seconds()
    else:
        return
    if shortest < minimum.total_seconds():
        raise TimerSpecError(
            f"a cycle's period must be at least {_iso_seconds(minimum)} "
            "(NIVA_LIMITS_MIN_CYCLE_SECONDS)",
            value=spec.source,
            element_id=spec.element_id,
        )


def _iso_seconds(span: timedelta) -> str:
    seconds = span.total_seconds()
    return f"PT{int(seconds)}S" if seconds == int(seconds) else f"PT{seconds}S"


def missed_firings(
    spec: TimerSpec, *, armed_at: datetime, fired: int, now: datetime, tz: ZoneInfo
) -> int:
    """How many repetitions of a cycle after its ``fired``-th fell due at or before ``now``.

    A cycle that fires late (the worker was down, or the period is shorter than a workflow
    task) fires once and skips these, so its next firing is the first repetition after
    ``now``; it never replays every missed one in a row. The skipped ones count as fired,
    so ``R3/…`` still fires at most three times. Zero for anything but a cycle.

    Args:
        spec: the parsed timer.
        armed_at: when the timer was armed, timezone-aware.
        fired: how many times it has fired (the late firing included).
        now: the workflow clock.
        tz: the process's zone.
    """
    if spec.kind != "cycle":
        return 0
    if spec.cron is not None:
        _require_aware(armed_at, "armed_at")
        return max(spec.cron.count_between(armed_at, now, tz) - fired, 0)

    def due(count: int) -> bool:
        at = next_fire(spec, armed_at=armed_at, fired=count, tz=tz)
        return at is not None and at <= now

    if not due(fired):
        return 0
    first = next_fire(spec, armed_at=armed_at, fired=fired, tz=tz)
    assert first is not None
    assert spec.duration is not None
    # Estimate from the average period, then correct by single steps: calendar periods
    # (months, days across a DST change) differ from the average only slightly.
    skip = int((now - first).total_seconds() // spec.duration.approximate_seconds()) + 1
    if spec.repetitions is not None:
        skip = min(skip, max(spec.repetitions - fired, 0))
    while skip > 1 and not due(fired + skip - 1):
        skip -= 1
    while due(fired + skip):
        skip += 1
    return skip


def _next_fire(spec: TimerSpec, armed_at: datetime, fired: int, tz: ZoneInfo) -> datetime | None:
    if spec.kind == "date":
        assert spec.at is not None  # guaranteed by TimerSpec's validator
        if fired:
            return None
        return _parse_instant(spec.at, tz, element_id=spec.element_id, date_only="end")
    if spec.cron is not None:
        return spec.cron.nth_after(armed_at, fired + 1, tz)
    assert spec.duration is not None  # guaranteed by TimerSpec's validator
    if spec.kind == "duration":
        return None if fired else add_duration(armed_at, spec.duration, tz)
    period = spec.duration
    if spec.at is None:
        index = fired + 1
        if spec.repetitions is not None and index > spec.repetitions:
            return None
        return add_duration(armed_at, period.times(index), tz)
    start = _parse_instant(spec.at, tz, element_id=spec.element_id, date_only="start")
    index = _first_repetition_at_or_after(start, period, armed_at, tz) + fired
    if spec.repetitions is not None and index > spec.repetitions:
        return None
    return add_duration(start, period.times(index - 1), tz)


def _first_repetition_at_or_after(
    start: datetime, period: IsoDuration, instant: datetime, tz: ZoneInfo
) -> int:
    """The 1-based number of the first repetition (start is number 1) not before ``instant``."""
    if instant <= start:
        return 1

    def occurrence(index: int) -> datetime:
        return add_duration(start, period.times(index - 1), tz)

    elapsed = (instant - start).total_seconds()
    index = max(1, int(elapsed // period.approximate_seconds()) + 1)
    while occurrence(index) < instant:
        index += 1
    while index > 1 and occurrence(index - 1) >= instant:
        index -= 1
    return index
