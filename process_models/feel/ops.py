"""FEEL's operators on values: equality, ordering and arithmetic, all ``null``-tolerant.

Values of different types are neither equal nor ordered: ``=`` gives ``false`` only
against ``null`` and ``null`` otherwise, as Camunda's engine does; ``<`` with ``null`` or
across types gives ``null``.
"""

from __future__ import annotations

import decimal
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from process_models.feel import temporal
from process_models.feel.values import CONTEXT, Range, YearsMonths, feel_type

__all__ = ["arithmetic", "compare", "equal", "in_range", "negate"]


def _comparable_kind(a: Any, b: Any) -> bool:
    if feel_type(a) != feel_type(b):
        return False
    if isinstance(a, datetime | time):
        # A local date-time is not on the same time line as a zoned one.
        return (a.tzinfo is None) == (b.tzinfo is None)
    return True


def _instant(value: datetime | time) -> Any:
    if isinstance(value, time) and value.tzinfo is not None:
        offset = value.tzinfo.utcoffset(None)
        anchor = datetime.combine(date(2000, 1, 1), value.replace(tzinfo=None))
        return anchor - offset if offset is not None else anchor
    return value


def equal(a: Any, b: Any) -> bool | None:
    """``a = b``: true/false, or None when the types differ (and neither is null)."""
    if a is None or b is None:
        return a is None and b is None
    if not _comparable_kind(a, b):
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):
            same = equal(x, y)
            if same is not True:
                return same
        return True
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return False
        for key in a:
            same = equal(a[key], b[key])
            if same is not True:
                return same
        return True
    if isinstance(a, time):
        return bool(_instant(a) == _instant(b))
    return bool(a == b)


def compare(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 for ordered values of one type; None otherwise (``null``, mixed types)."""
    if a is None or b is None or not _comparable_kind(a, b):
        return None
    if isinstance(a, Decimal | str | date | timedelta):
        pass
    elif isinstance(a, time):
        a, b = _instant(a), _instant(b)
    elif isinstance(a, YearsMonths):
        a, b = a.months, b.months
    else:
        return None
    return -1 if a < b else (1 if a > b else 0)


def in_range(value: Any, r: Range) -> bool | None:
    """Whether ``value`` lies in ``r``; None when it cannot be compared with the ends."""
    if r.start is not None:
        c = compare(value, r.start)
        if c is None:
            return None
        if c < 0 or (c == 0 and not r.start_included):
            return False
    if r.end is not None:
        c = compare(value, r.end)
        if c is None:
            return None
        if c > 0 or (c == 0 and not r.end_included):
            return False
    return True


def negate(value: Any) -> Any:
    """Unary minus for numbers and durations; None otherwise."""
    if isinstance(value, Decimal):
        return CONTEXT.minus(value)
    if isinstance(value, timedelta):
        return -value
    if isinstance(value, YearsMonths):
        return YearsMonths(-value.months)
    return None


def arithmetic(op: str, a: Any, b: Any) -> Any:
    """``a op b`` for ``+ - * / **``; None where FEEL defines no result (or on ``/ 0``)."""
    if a is None or b is None:
        return None
    try:
        if isinstance(a, Decimal) and isinstance(b, Decimal):
            return _numbers(op, a, b)
        if op == "+":
            return _plus(a, b)
        if op == "-":
            return _minus(a, b)
        if op in ("*", "/"):
            return _scale(op, a, b)
    except (ArithmeticError, OverflowError, ValueError):
        return None
    return None


def _numbers(op: str, a: Decimal, b: Decimal) -> Decimal | None:
    if op == "+":
        return CONTEXT.add(a, b)
    if op == "-":
        return CONTEXT.subtract(a, b)
    if op == "*":
        return CONTEXT.multiply(a, b)
    if op == "/":
        return None if b == 0 else CONTEXT.divide(a, b)
    if b != b.to_integral_value() or abs(b) > 999_999:
        # A fractional or huge exponent: decimal would take long or lose exactness.
        return None
    return CONTEXT.power(a, b)


def _plus(a: Any, b: Any) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        return a + b
    if isinstance(a, YearsMonths) and isinstance(b, YearsMonths):
        return YearsMonths(a.months + b.months)
    if isinstance(b, timedelta | YearsMonths) and isinstance(a, date | time):
        return temporal.shift(a, b)
    if isinstance(a, timedelta | YearsMonths) and isinstance(b, date | time):
        return temporal.shift(b, a)
    return None


def _minus(a: Any, b: Any) -> Any:
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        return a - b
    if isinstance(a, YearsMonths) and isinstance(b, YearsMonths):
        return YearsMonths(a.months - b.months)
    if isinstance(b, timedelta | YearsMonths) and isinstance(a, date | time):
        return temporal.shift(a, -b if isinstance(b, timedelta) else YearsMonths(-b.months))
    if isinstance(a, date | time) and isinstance(b, date | time):
        return temporal.difference(a, b)
    return None


def _micros(d: timedelta) -> int:
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _scale(op: str, a: Any, b: Any) -> Any:
    if isinstance(a, Decimal) and isinstance(b, timedelta | YearsMonths) and op == "*":
        a, b = b, a
    if isinstance(a, timedelta):
        if isinstance(b, Decimal):
            if op == "/" and b == 0:
                return None
            micros = Decimal(_micros(a))
            scaled = CONTEXT.multiply(micros, b) if op == "*" else CONTEXT.divide(micros, b)
            return timedelta(microseconds=int(scaled.to_integral_value(decimal.ROUND_HALF_UP)))
        if isinstance(b, timedelta) and op == "/":
            return None if not _micros(b) else CONTEXT.divide(_micros(a), _micros(b))
    if isinstance(a, YearsMonths):
        if isinstance(b, Decimal):
            if op == "/" and b == 0:
                return None
            scaled = CONTEXT.multiply(a.months, b) if op == "*" else CONTEXT.divide(a.months, b)
            return YearsMonths(int(scaled.to_integral_value(decimal.ROUND_DOWN)))
        if isinstance(b, YearsMonths) and op == "/":
            return None if not b.months else CONTEXT.divide(a.months, b.months)
    return None
