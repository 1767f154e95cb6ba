"""FEEL's dates, times, date-times and durations: parsing, arithmetic and properties.

Camunda's rules: adding months clamps to the end of a shorter month
(``date("2024-01-31") + duration("P1M")`` is 2024-02-29); a days-time duration added to a
zoned date-time is exact elapsed time; a value that cannot be read is ``null``.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from process_models.feel.values import YearsMonths

__all__ = [
    "add_months",
    "parse_date",
    "parse_date_time",
    "parse_duration",
    "parse_temporal",
    "parse_time",
    "temporal_property",
]

_DATE = re.compile(r"(-?\d{4,9})-(\d{2})-(\d{2})")
_TIME = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?")
_ZONE = re.compile(r"(Z|[+-]\d{2}:\d{2})?(?:@([A-Za-z0-9_/+\-]+))?")
_DURATION = re.compile(
    r"(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d{1,9}))?S)?)?"
)


def _zone(offset: str | None, name: str | None) -> tzinfo | bool | None:
    """The zone of a suffix; False when the suffix names none that exists."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return False
    if offset is None:
        return None
    if offset == "Z":
        return UTC
    sign = -1 if offset[0] == "-" else 1
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    if hours > 18:
        return False
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_zone(text: str) -> tzinfo | None:
    """A zone as Camunda's ``date and time(from, timezone)`` takes one: a zone id
    (``Europe/Stockholm``), ``Z`` or ``UTC``, or an offset ``+01:00``; None otherwise."""
    if text in ("Z", "UTC"):
        return UTC
    zone = _zone(text, None) if re.fullmatch(r"[+-]\d{2}:\d{2}", text) else _zone(None, text)
    return zone if isinstance(zone, tzinfo) else None


def parse_date(text: str) -> date | None:
    """``YYYY-MM-DD`` as a date; None if it is not one (``2024-06-31``)."""
    m = _DATE.fullmatch(text)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def _clock(m: re.Match[str]) -> tuple[int, int, int, int] | None:
    hour, minute = int(m[1]), int(m[2])
    second = int(m[3] or 0)
    micro = int((m[4] or "0").ljust(6, "0")[:6])
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second, micro


def parse_time(text: str) -> time | None:
    """``hh:mm:ss[.f][Z|±hh:mm|@Zone]`` as a time; None if it is not one."""
    m = _TIME.match(text)
    if not m:
        return None
    z = _ZONE.fullmatch(text, m.end())
    clock = _clock(m)
    if not z or clock is None:
        return None
    zone = _zone(z[1], z[2])
    if zone is False:
        return None
    return time(*clock, tzinfo=zone if isinstance(zone, tzinfo) else None)


def parse_date_time(text: str) -> datetime | None:
    """``YYYY-MM-DDThh:mm:ss[.f][Z|±hh:mm|@Zone]`` as a date-time; a bare date is midnight."""
    d = _DATE.match(text)
    if not d:
        return None
    day = parse_date(d[0])
    if day is None:
        return None
    if d.end() == len(text):
        return datetime(day.year, day.month, day.day)
    if text[d.end()] != "T":
        return None
    m = _TIME.match(text, d.end() + 1)
    if not m:
        return None
    z = _ZONE.fullmatch(text, m.end())
    clock = _clock(m)
    if not z or clock is None:
        return None
    zone = _zone(z[1], z[2])
    if zone is False:
        return None
    local = datetime(day.year, day.month, day.day, *clock)
    if isinstance(zone, ZoneInfo):
        return local.replace(tzinfo=zone)
    return local.replace(tzinfo=zone) if isinstance(zone, tzinfo) else local


def parse_duration(text: str) -> timedelta | YearsMonths | None:
    """An ISO 8601 duration: years and months, or days and time; None for a mix or junk."""
    m = _DURATION.fullmatch(text)
    if not m or text.rstrip("-").endswith(("P", "T")):
        return None
    sign = -1 if m[1] else 1
    years, months = m[2], m[3]
    rest = m.group(4, 5, 6, 7, 8)
    if years or months:
        if any(rest):
            return None
        return YearsMonths(sign * (int(years or 0) * 12 + int(months or 0)))
    days, hours, minutes, seconds, fraction = rest
    delta = timedelta(
        days=int(days or 0),
        hours=int(hours or 0),
        minutes=int(minutes or 0),
        seconds=int(seconds or 0),
        microseconds=int((fraction or "0").ljust(6, "0")[:6]),
    )
    return -delta if sign < 0 else delta


def parse_temporal(text: str) -> Any:
    """An ``@"…"`` literal: a duration, a date-time, a date or a time, by its shape."""
    if text.startswith(("P", "-P")):
        return parse_duration(text)
    if "T" in text:
        return parse_date_time(text)
    if _DATE.fullmatch(text):
        return parse_date(text)
    return parse_time(text)


def add_months(value: date, months: int) -> date:
    """``value`` moved ``months`` calendar months, clamped to the end of a shorter month.

    Works on dates and date-times (keeping the clock and the zone).
    """
    index = value.year * 12 + (value.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise OverflowError("year out of range")
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def shift(value: Any, delta: timedelta | YearsMonths) -> Any:
    """A date, time or date-time plus a duration; None where FEEL defines no sum."""
    if isinstance(delta, YearsMonths):
        if isinstance(value, date):
            return add_months(value, delta.months)
        return None
    if isinstance(value, datetime):
        if isinstance(value.tzinfo, ZoneInfo):
            # Exact elapsed time across a DST change, then back to the zone's wall clock.
            return (value.astimezone(UTC) + delta).astimezone(value.tzinfo)
        return value + delta
    if isinstance(value, date):
        return (datetime(value.year, value.month, value.day) + delta).date()
    if isinstance(value, time):
        moved = datetime(2000, 1, 1, value.hour, value.minute, value.second, value.microsecond)
        moved += delta
        return moved.time().replace(tzinfo=value.tzinfo)
    return None


def difference(a: Any, b: Any) -> Any:
    """``a - b`` for two temporal values of one kind, a days-time duration; else None."""
    if isinstance(a, datetime) and isinstance(b, datetime):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return None
        return a - b
    if isinstance(a, datetime) or isinstance(b, datetime):
        return None
    if isinstance(a, date) and isinstance(b, date):
        return a - b
    if isinstance(a, time) and isinstance(b, time):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return None
        day = date(2000, 1, 1)
        return datetime.combine(day, a) - datetime.combine(day, b)
    return None


def months_between(start: date, end: date) -> YearsMonths:
    """Whole months from ``start`` to ``end``, as ``years and months duration()``."""
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if months > 0 and end.day < start.day:
        months -= 1
    elif months < 0 and end.day > start.day:
        months += 1
    return YearsMonths(months)


def _offset(value: datetime | time) -> timedelta | None:
    if value.tzinfo is None:
        return None
    if isinstance(value, datetime):
        return value.utcoffset()
    return value.tzinfo.utcoffset(None)


def temporal_property(value: Any, name: str) -> Any:
    """A property such as ``.year`` or ``.weekday``; None for one the value does not have."""
    if isinstance(value, date):
        if name in ("year", "month", "day"):
            return Decimal(getattr(value, name))
        if name == "weekday":
            return Decimal(value.isoweekday())
    if isinstance(value, datetime | time):
        if name in ("hour", "minute", "second"):
            return Decimal(getattr(value, name))
        if name == "timezone":
            return value.tzinfo.key if isinstance(value.tzinfo, ZoneInfo) else None
    if isinstance(value, timedelta):
        total = value.days * 86_400 + value.seconds
        sign = -1 if total < 0 else 1
        days, rest = divmod(abs(total), 86_400)
        parts = {
            "days": days,
            "hours": rest // 3600,
            "minutes": rest % 3600 // 60,
            "seconds": rest % 60,
        }
        if name in parts:
            return Decimal(sign * parts[name])
    if isinstance(value, YearsMonths):
        sign = -1 if value.months < 0 else 1
        if name == "years":
            return Decimal(sign * (abs(value.months) // 12))
        if name == "months":
            return Decimal(sign * (abs(value.months) % 12))
    return None


def offset_of(value: datetime | time) -> timedelta | None:
    """The UTC offset of a zoned value, as ``time offset`` reads it."""
    return _offset(value)
