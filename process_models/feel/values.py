"""FEEL values as Python objects, and their conversions.

================================  ==========================================================
FEEL type                         Python value
================================  ==========================================================
null, boolean, string             ``None``, `bool`, `str`
number                            `decimal.Decimal` (34 digits, as Camunda's DECIMAL128);
                                  never a float, so results do not depend on binary rounding
list, context                     `list`, `dict` (keys in insertion order)
date, time                        `datetime.date`, `datetime.time` (naive = local time)
date and time                     `datetime.datetime` (naive = local date-time)
days and time duration            `datetime.timedelta`
years and months duration         `YearsMonths`
range                             `Range`
function                          `Function` (a ``function(…)`` literal) or `Builtin`
================================  ==========================================================
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "CONTEXT",
    "Builtin",
    "Function",
    "Range",
    "YearsMonths",
    "feel_type",
    "from_json",
    "render",
]

CONTEXT = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN, Emax=6144, Emin=-6143)
"""Decimal arithmetic as IEEE 754 decimal128, the precision FEEL prescribes."""


@dataclass(frozen=True, slots=True)
class YearsMonths:
    """A years-and-months duration, counted in months (negative when it goes back)."""

    months: int

    def iso(self) -> str:
        sign, m = ("-", -self.months) if self.months < 0 else ("", self.months)
        years, months = divmod(m, 12)
        if not years and not months:
            return "P0M"
        return sign + "P" + (f"{years}Y" if years else "") + (f"{months}M" if months else "")


@dataclass(frozen=True, slots=True)
class Range:
    """An interval such as ``[1..10)``; a missing end (``None``) is unbounded."""

    start: Any
    end: Any
    start_included: bool
    end_included: bool


@dataclass(frozen=True, slots=True)
class Function:
    """A ``function(a, b) body`` value with the scope it was written in."""

    params: tuple[str, ...]
    body: Any
    scope: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Builtin:
    """A built-in function used as a value (``sort(xs, precedes)`` passes one)."""

    name: str
    call: Callable[..., Any]


def feel_type(value: object) -> str:
    """The FEEL type name of ``value``, as ``instance of`` spells it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "date and time"
    if isinstance(value, date):
        return "date"
    if isinstance(value, time):
        return "time"
    if isinstance(value, timedelta):
        return "days and time duration"
    if isinstance(value, YearsMonths):
        return "years and months duration"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "context"
    if isinstance(value, Range):
        return "range"
    if isinstance(value, Function | Builtin):
        return "function"
    return type(value).__name__


def from_json(value: object) -> Any:
    """A JSON value (as variables hold them) as a FEEL value.

    Integers and floats become Decimals; a float goes through its shortest repr, so
    ``0.1`` is exactly one tenth. Aware datetimes pass through as zoned date-times.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, list | tuple):
        return [from_json(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): from_json(v) for k, v in value.items()}
    return value


def format_number(n: Decimal) -> str:
    """A number as FEEL prints it: no exponent, no trailing zeros (``1.50`` is ``1.5``)."""
    if n == 0:
        return "0"
    text = format(n.normalize(CONTEXT), "f")
    return text


def format_duration(d: timedelta) -> str:
    """A days-time duration in ISO 8601 (``P1DT2H``, ``-PT30M``, ``PT0S``)."""
    total = d.days * 86_400_000_000 + d.seconds * 1_000_000 + d.microseconds
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86_400_000_000)
    hours, rest = divmod(rest, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, micros = divmod(rest, 1_000_000)
    out = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if micros:
        clock += f"{seconds}.{micros:06d}".rstrip("0") + "S"
    elif seconds:
        clock += f"{seconds}S"
    if clock:
        out += "T" + clock
    if out == "P":
        return "PT0S"
    return sign + out


def _offset(value: datetime | time) -> str:
    tz = value.tzinfo
    if tz is None:
        return ""
    if isinstance(tz, ZoneInfo):
        return "@" + tz.key
    offset = value.utcoffset() if isinstance(value, datetime) else tz.utcoffset(None)
    if offset is None:
        return ""
    if offset == timedelta(0):
        return "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h:02d}:{m:02d}"


def _clock(value: datetime | time) -> str:
    text = f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text


def temporal_text(value: object) -> str | None:
    """A temporal value as FEEL's string() writes it, or None for other values."""
    if isinstance(value, datetime):
        return f"{value.date().isoformat()}T{_clock(value)}{_offset(value)}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return _clock(value) + _offset(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, YearsMonths):
        return value.iso()
    return None


def to_string(value: object) -> str:
    """FEEL's ``string(x)``: strings as they are, everything else as `render` writes it."""
    if isinstance(value, str):
        return value
    text = temporal_text(value)
    return text if text is not None else render(value)


def render(value: object) -> str:
    """A value as FEEL literal text: ``[1, "a", date("2024-01-31"), {a: null}]``.

    The conformance table states expected results this way, so a result's type shows.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        entries = (f"{_key(k)}: {render(v)}" for k, v in value.items())
        return "{" + ", ".join(entries) + "}"
    if isinstance(value, datetime):
        return f'date and time("{temporal_text(value)}")'
    if isinstance(value, date):
        return f'date("{temporal_text(value)}")'
    if isinstance(value, time):
        return f'time("{temporal_text(value)}")'
    if isinstance(value, timedelta | YearsMonths):
        return f'duration("{temporal_text(value)}")'
    if isinstance(value, Range):
        open_ = "[" if value.start_included else "("
        close = "]" if value.end_included else ")"
        return f"{open_}{render(value.start)}..{render(value.end)}{close}"
    if isinstance(value, Function | Builtin):
        return "function"
    return repr(value)


def _key(key: str) -> str:
    if key.isidentifier():
        return key
    return json.dumps(key, ensure_ascii=False)
