"""FEEL's built-in functions as Camunda documents them.

Each takes the `Runtime` first, then FEEL values. An argument of the wrong type makes the
call ``null`` (the evaluator turns `TypeError`/`ValueError` raised here into ``null``), as
in Camunda's engine. ``is defined()`` is not here: it inspects its argument's expression,
so the evaluator handles it.

niva adds the working-day functions of the process's calendar (``is working day()``,
``next working day()``, ``previous working day()``, ``add working days()``; Camunda has no
business calendar), named as Camunda names its own temporal functions.

Left out on purpose: ``uuid()`` and ``random number()`` (not deterministic, and replay needs
the same answer every time), and ``and()``/``or()`` (their names are keywords in the
grammar; ``all()``/``any()`` are the same functions).
"""

from __future__ import annotations

import base64
import decimal
import math
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from process_models.calendars import WorkingCalendar, calendar_from_reference
from process_models.feel import ops, temporal
from process_models.feel.errors import FeelError
from process_models.feel.runtime import Runtime
from process_models.feel.values import CONTEXT, Builtin, Function, Range, YearsMonths, to_string
from process_models.regex import Regex, compile_regex
from process_models.timers import resolve_local

__all__ = ["BUILTINS", "PARAMETERS"]

_Fn = Callable[..., Any]
BUILTINS: dict[str, _Fn] = {}
PARAMETERS: dict[str, tuple[str, ...]] = {}
"""Parameter names for calls with named arguments (``substring(string: s, start: 2)``)."""


def _builtin(name: str, *params: str) -> Callable[[_Fn], _Fn]:
    def register(fn: _Fn) -> _Fn:
        BUILTINS[name] = fn
        PARAMETERS[name] = params
        return fn

    return register


# --- argument checks: a wrong type is TypeError, which the call turns into null ----------


def _num(value: Any) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError("not a number")
    return value


def _int(value: Any) -> int:
    n = _num(value)
    if n != n.to_integral_value():
        raise TypeError("not an integer")
    return int(n)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError("not a list")
    return value


def _items(rt: Runtime, args: tuple[Any, ...]) -> list[Any]:
    """A single list argument, or the arguments themselves (``max(1, 2)``)."""
    items = args[0] if len(args) == 1 and isinstance(args[0], list) else list(args)
    rt.tick(len(items))
    return items


def _ctx(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("not a context")
    return value


def _result_list(rt: Runtime, items: list[Any]) -> list[Any]:
    rt.check_size(len(items))
    rt.tick(len(items))
    return items


# --- conversion --------------------------------------------------------------------------


@_builtin("string", "from")
def _string(rt: Runtime, value: Any) -> str | None:
    return None if value is None else rt.check_string(to_string(value))


_NUMBER_TEXT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@_builtin("number", "from", "grouping separator", "decimal separator")
def _number(
    rt: Runtime, text: Any, grouping: Any = None, decimal_sep: Any = None
) -> Decimal | None:
    text = _str(text)
    if grouping is not None:
        text = text.replace(_str(grouping), "")
    if decimal_sep is not None:
        text = text.replace(_str(decimal_sep), ".")
    if len(text) > 100 or not _NUMBER_TEXT.fullmatch(text):
        return None
    return CONTEXT.plus(Decimal(text))


@_builtin("context", "entries")
def _context(rt: Runtime, entries: Any) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for entry in _items(rt, (entries,)):
        entry = _ctx(entry)
        if "key" not in entry or "value" not in entry:
            return None
        out[_str(entry["key"])] = entry["value"]
    return out


@_builtin("date", "from")
def _date(rt: Runtime, *args: Any) -> date | None:
    if len(args) == 3:
        return date(_int(args[0]), _int(args[1]), _int(args[2]))
    (value,) = args
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return temporal.parse_date(_str(value))


@_builtin("time", "from")
def _time(rt: Runtime, *args: Any) -> time | None:
    if len(args) in (3, 4):
        h, m = _int(args[0]), _int(args[1])
        s = _num(args[2])
        whole = int(s)
        micro = int(((s - whole) * 1_000_000).to_integral_value())
        zone = None
        if len(args) == 4 and args[3] is not None:
            offset = args[3]
            if not isinstance(offset, timedelta):
                raise TypeError("offset is not a duration")
            from datetime import timezone

            zone = timezone(offset)
        return time(h, m, whole, micro, tzinfo=zone)
    (value,) = args
    if isinstance(value, datetime):
        return value.timetz() if value.tzinfo is not None else value.time()
    if isinstance(value, date):
        return time(0, 0)
    if isinstance(value, time):
        return value
    return temporal.parse_time(_str(value))


@_builtin("date and time", "from", "timezone")
def _date_and_time(rt: Runtime, *args: Any) -> datetime | None:
    if len(args) == 2 and isinstance(args[1], str):
        return _in_zone(*args)
    if len(args) == 2:
        day, clock = args
        if not isinstance(day, date) or not isinstance(clock, time):
            raise TypeError("date and time(date, time)")
        if isinstance(day, datetime):
            day = day.date()
        return datetime.combine(day, clock)
    (value,) = args
    if isinstance(value, datetime):
        return value
    text = _str(value)
    if "T" not in text:
        return None
    return temporal.parse_date_time(text)


def _in_zone(value: Any, zone_name: str) -> datetime | None:
    """``date and time(from, timezone)``: a zoned date-time as the same instant in
    ``timezone``; a local one as that wall-clock time there (Camunda's rule)."""
    if not isinstance(value, datetime):
        raise TypeError("date and time(date and time, string)")
    zone = temporal.parse_zone(zone_name)
    if zone is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value.astimezone(zone)


@_builtin("duration", "from")
def _duration(rt: Runtime, value: Any) -> timedelta | YearsMonths | None:
    return temporal.parse_duration(_str(value))


@_builtin("years and months duration", "from", "to")
def _years_and_months(rt: Runtime, start: Any, end: Any) -> YearsMonths:
    if not isinstance(start, date) or not isinstance(end, date):
        raise TypeError("dates expected")
    if isinstance(start, datetime) != isinstance(end, datetime) and not (
        isinstance(start, datetime) or isinstance(end, datetime)
    ):
        raise TypeError("mixed")
    return temporal.months_between(start, end)


# --- boolean and control -----------------------------------------------------------------


@_builtin("not", "negand")
def _not(rt: Runtime, value: Any) -> bool | None:
    return (not value) if isinstance(value, bool) else None


@_builtin("get or else", "value", "default")
def _get_or_else(rt: Runtime, value: Any, default: Any) -> Any:
    return default if value is None else value


@_builtin("assert", "value", "condition", "cause")
def _assert(rt: Runtime, value: Any, condition: Any, cause: Any = None) -> Any:
    if condition is True:
        return value
    from process_models.feel.errors import FeelError

    reason = to_string(cause) if cause is not None else "the condition is not true"
    raise FeelError(f"assertion failed: {reason}", expression=rt.expression)


# --- strings -----------------------------------------------------------------------------


@_builtin("substring", "string", "start position", "length")
def _substring(rt: Runtime, text: Any, start: Any, length: Any = None) -> str:
    chars = list(_str(text))  # code points, as FEEL counts them
    s = _int(start)
    begin = s - 1 if s > 0 else len(chars) + s
    begin = max(begin, 0)
    if length is None:
        return "".join(chars[begin:])
    return "".join(chars[begin : begin + max(_int(length), 0)])


@_builtin("string length", "string")
def _string_length(rt: Runtime, text: Any) -> Decimal:
    return Decimal(len(_str(text)))


@_builtin("upper case", "string")
def _upper(rt: Runtime, text: Any) -> str:
    return _str(text).upper()


@_builtin("lower case", "string")
def _lower(rt: Runtime, text: Any) -> str:
    return _str(text).lower()


@_builtin("substring before", "string", "match")
def _before(rt: Runtime, text: Any, match: Any) -> str:
    text, match = _str(text), _str(match)
    i = text.find(match)
    return "" if i < 0 else text[:i]


@_builtin("substring after", "string", "match")
def _after(rt: Runtime, text: Any, match: Any) -> str:
    text, match = _str(text), _str(match)
    i = text.find(match)
    return "" if i < 0 else text[i + len(match) :]


@_builtin("contains", "string", "match")
def _contains(rt: Runtime, text: Any, match: Any) -> bool:
    return _str(match) in _str(text)


@_builtin("starts with", "string", "match")
def _starts_with(rt: Runtime, text: Any, match: Any) -> bool:
    return _str(text).startswith(_str(match))


@_builtin("ends with", "string", "match")
def _ends_with(rt: Runtime, text: Any, match: Any) -> bool:
    return _str(text).endswith(_str(match))


def _regex(rt: Runtime, pattern: Any, flags: Any = None) -> Regex:
    """``pattern`` compiled by RE2 (`process_models.regex`: linear time, so a pattern taken
    from a variable cannot stall the case); XPath's flags i, s, m and x."""
    pattern = _str(pattern)
    if len(pattern) > rt.limits.max_regex_length:
        raise rt.limit("max_regex_length", f"the pattern has {len(pattern):,} characters")
    given = _str(flags) if flags is not None else ""
    if set(given) - set("ismx"):
        raise ValueError(f"unknown regular expression flag(s) in {given!r}")
    if "x" in given:
        pattern = _without_whitespace(pattern)
    return compile_regex(
        pattern, ignore_case="i" in given, dot_all="s" in given, multiline="m" in given
    )


def _without_whitespace(pattern: str) -> str:
    """XPath's flag x: whitespace in the pattern is removed, except inside a character
    class or after a backslash."""
    kept: list[str] = []
    in_class = escaped = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char.isspace() and not in_class:
            continue
        kept.append(char)
    return "".join(kept)


@_builtin("matches", "input", "pattern", "flags")
def _matches(rt: Runtime, text: Any, pattern: Any, flags: Any = None) -> bool:
    return _regex(rt, pattern, flags).search(_str(text)) is not None


@_builtin("replace", "input", "pattern", "replacement", "flags")
def _replace(rt: Runtime, text: Any, pattern: Any, replacement: Any, flags: Any = None) -> str:
    # XPath writes groups as $1; Python as \g<1>.
    template = re.sub(r"\$(\d+)", r"\\g<\1>", _str(replacement).replace("\\", "\\\\"))
    return rt.check_string(_regex(rt, pattern, flags).sub(template, _str(text)))


@_builtin("split", "string", "delimiter")
def _split(rt: Runtime, text: Any, delimiter: Any) -> list[str]:
    return _result_list(rt, _regex(rt, delimiter).split(_str(text)))


@_builtin("extract", "string", "pattern")
def _extract(rt: Runtime, text: Any, pattern: Any) -> list[str]:
    found = [m.group(0) for m in _regex(rt, pattern).finditer(_str(text))]
    return _result_list(rt, found)


@_builtin("string join", "list", "delimiter", "prefix", "suffix")
def _string_join(
    rt: Runtime, items: Any, delimiter: Any = None, prefix: Any = None, suffix: Any = None
) -> str:
    parts = [_str(v) for v in _items(rt, (_list(items),)) if v is not None]
    joined = ("" if delimiter is None else _str(delimiter)).join(parts)
    if prefix is not None or suffix is not None:
        joined = _str(prefix or "") + joined + _str(suffix or "")
    return rt.check_string(joined)


@_builtin("trim", "string")
def _trim(rt: Runtime, text: Any) -> str:
    return _str(text).strip()


@_builtin("is blank", "string")
def _is_blank(rt: Runtime, text: Any) -> bool:
    return not _str(text).strip()


@_builtin("to base64", "value")
def _to_base64(rt: Runtime, text: Any) -> str:
    return base64.b64encode(_str(text).encode()).decode()


# --- lists -------------------------------------------------------------------------------


@_builtin("list contains", "list", "element")
def _list_contains(rt: Runtime, items: Any, element: Any) -> bool:
    return any(ops.equal(v, element) is True for v in _items(rt, (_list(items),)))


@_builtin("count", "list")
def _count(rt: Runtime, items: Any) -> Decimal:
    return Decimal(len(_list(items)))


def _ordered(rt: Runtime, args: tuple[Any, ...], pick: int) -> Any:
    items = _items(rt, args)
    if not items:
        return None
    best = items[0]
    for item in items[1:]:
        c = ops.compare(item, best)
        if c is None:
            return None
        if c == pick:
            best = item
    return best


@_builtin("min", "list")
def _min(rt: Runtime, *args: Any) -> Any:
    return _ordered(rt, args, -1)


@_builtin("max", "list")
def _max(rt: Runtime, *args: Any) -> Any:
    return _ordered(rt, args, 1)


def _numbers(rt: Runtime, args: tuple[Any, ...]) -> list[Decimal]:
    return [_num(v) for v in _items(rt, args)]


@_builtin("sum", "list")
def _sum(rt: Runtime, *args: Any) -> Decimal | None:
    numbers = _numbers(rt, args)
    if not numbers:
        return None
    total = Decimal(0)
    for n in numbers:
        total = CONTEXT.add(total, n)
    return total


@_builtin("product", "list")
def _product(rt: Runtime, *args: Any) -> Decimal | None:
    numbers = _numbers(rt, args)
    if not numbers:
        return None
    total = Decimal(1)
    for n in numbers:
        total = CONTEXT.multiply(total, n)
    return total


@_builtin("mean", "list")
def _mean(rt: Runtime, *args: Any) -> Decimal | None:
    numbers = _numbers(rt, args)
    total = _sum(rt, numbers)
    return None if total is None else CONTEXT.divide(total, len(numbers))


@_builtin("median", "list")
def _median(rt: Runtime, *args: Any) -> Decimal | None:
    numbers = sorted(_numbers(rt, args))
    if not numbers:
        return None
    mid = len(numbers) // 2
    if len(numbers) % 2:
        return numbers[mid]
    return CONTEXT.divide(CONTEXT.add(numbers[mid - 1], numbers[mid]), 2)


@_builtin("stddev", "list")
def _stddev(rt: Runtime, *args: Any) -> Decimal | None:
    numbers = _numbers(rt, args)
    if len(numbers) < 2:
        return None
    mean = CONTEXT.divide(sum(numbers, Decimal(0)), len(numbers))
    squares = sum((CONTEXT.power(n - mean, 2) for n in numbers), Decimal(0))
    return CONTEXT.sqrt(CONTEXT.divide(squares, len(numbers) - 1))


@_builtin("mode", "list")
def _mode(rt: Runtime, *args: Any) -> list[Decimal]:
    numbers = _numbers(rt, args)
    counts: dict[Decimal, int] = {}
    for n in numbers:
        counts[n] = counts.get(n, 0) + 1
    if not counts:
        return []
    top = max(counts.values())
    return sorted(n for n, c in counts.items() if c == top)


@_builtin("all", "list")
def _all(rt: Runtime, *args: Any) -> bool | None:
    items = _items(rt, args)
    if any(v is False for v in items):
        return False
    return True if all(v is True for v in items) else None


@_builtin("any", "list")
def _any(rt: Runtime, *args: Any) -> bool | None:
    items = _items(rt, args)
    if any(v is True for v in items):
        return True
    return False if all(v is False for v in items) else None


@_builtin("sublist", "list", "start position", "length")
def _sublist(rt: Runtime, items: Any, start: Any, length: Any = None) -> list[Any] | None:
    items = _list(items)
    s = _int(start)
    begin = s - 1 if s > 0 else len(items) + s
    if s == 0 or not 0 <= begin < len(items):
        return None
    end = len(items) if length is None else begin + _int(length)
    return _result_list(rt, items[begin:end])


@_builtin("append", "list", "items")
def _append(rt: Runtime, items: Any, *more: Any) -> list[Any]:
    return _result_list(rt, [*_list(items), *more])


@_builtin("concatenate", "lists")
def _concatenate(rt: Runtime, *lists: Any) -> list[Any]:
    rt.check_size(sum(len(_list(xs)) for xs in lists))
    return _result_list(rt, [v for xs in lists for v in xs])


@_builtin("insert before", "list", "position", "newItem")
def _insert_before(rt: Runtime, items: Any, position: Any, new_item: Any) -> list[Any] | None:
    items = list(_list(items))
    p = _int(position)
    index = p - 1 if p > 0 else len(items) + p
    if p == 0 or not 0 <= index < len(items):
        return None
    items.insert(index, new_item)
    return _result_list(rt, items)


@_builtin("remove", "list", "position")
def _remove(rt: Runtime, items: Any, position: Any) -> list[Any] | None:
    items = list(_list(items))
    p = _int(position)
    index = p - 1 if p > 0 else len(items) + p
    if p == 0 or not 0 <= index < len(items):
        return None
    del items[index]
    return _result_list(rt, items)


@_builtin("reverse", "list")
def _reverse(rt: Runtime, items: Any) -> list[Any]:
    return _result_list(rt, list(reversed(_list(items))))


@_builtin("index of", "list", "match")
def _index_of(rt: Runtime, items: Any, match: Any) -> list[Decimal]:
    hits = [Decimal(i + 1) for i, v in enumerate(_list(items)) if ops.equal(v, match) is True]
    return _result_list(rt, hits)


def _distinct(rt: Runtime, items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        rt.tick(len(out) + 1)
        if not any(ops.equal(item, seen) is True for seen in out):
            out.append(item)
    return out


@_builtin("union", "lists")
def _union(rt: Runtime, *lists: Any) -> list[Any]:
    rt.check_size(sum(len(_list(xs)) for xs in lists))
    return _distinct(rt, [v for xs in lists for v in xs])


@_builtin("distinct values", "list")
def _distinct_values(rt: Runtime, items: Any) -> list[Any]:
    return _distinct(rt, _list(items))


@_builtin("duplicate values", "list")
def _duplicate_values(rt: Runtime, items: Any) -> list[Any]:
    items = _list(items)
    dupes = [v for v in items if sum(ops.equal(v, w) is True for w in items) > 1]
    rt.tick(len(items) * len(items))
    return _distinct(rt, dupes)


@_builtin("flatten", "list")
def _flatten(rt: Runtime, items: Any) -> list[Any]:
    out: list[Any] = []
    stack: list[Any] = [iter(_list(items))]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
            rt.tick()
            rt.check_size(len(out))
        else:
            stack.pop()
    return out


@_builtin("sort", "list", "precedes")
def _sort(rt: Runtime, items: Any, precedes: Any = None) -> list[Any] | None:
    items = list(_list(items))
    rt.tick(len(items) * max(1, math.ceil(math.log2(len(items) + 1))))
    if precedes is None:
        for a in items[1:]:
            if ops.compare(a, items[0]) is None:
                return None
        return _merge_sort(items, lambda a, b: ops.compare(a, b) == -1)
    if not isinstance(precedes, Function | Builtin):
        raise TypeError("precedes is not a function")
    return _merge_sort(items, lambda a, b: rt.call(precedes, [a, b]) is True)


def _merge_sort(items: list[Any], before: Callable[[Any, Any], bool]) -> list[Any]:
    """A stable sort by a "comes before" predicate, as FEEL's sort() takes one."""
    if len(items) <= 1:
        return items
    mid = len(items) // 2
    left, right = _merge_sort(items[:mid], before), _merge_sort(items[mid:], before)
    out: list[Any] = []
    i = j = 0
    while i < len(left) and j < len(right):
        if before(right[j], left[i]):
            out.append(right[j])
            j += 1
        else:
            out.append(left[i])
            i += 1
    return out + left[i:] + right[j:]


@_builtin("is empty", "list")
def _is_empty(rt: Runtime, items: Any) -> bool:
    return not _list(items)


@_builtin("partition", "list", "size")
def _partition(rt: Runtime, items: Any, size: Any) -> list[list[Any]] | None:
    items, n = _list(items), _int(size)
    if n <= 0:
        return None
    return _result_list(rt, [items[i : i + n] for i in range(0, len(items), n)])


# --- numbers -----------------------------------------------------------------------------


def _rounded(n: Any, scale: Any, mode: str) -> Decimal:
    places = _int(scale)
    if not -1000 <= places <= 1000:
        raise ValueError("scale out of range")
    return _num(n).quantize(Decimal(1).scaleb(-places), rounding=mode, context=CONTEXT)


@_builtin("decimal", "n", "scale")
def _decimal(rt: Runtime, n: Any, scale: Any) -> Decimal:
    return _rounded(n, scale, decimal.ROUND_HALF_EVEN)


@_builtin("floor", "n", "scale")
def _floor(rt: Runtime, n: Any, scale: Any = Decimal(0)) -> Decimal:
    return _rounded(n, scale, decimal.ROUND_FLOOR)


@_builtin("ceiling", "n", "scale")
def _ceiling(rt: Runtime, n: Any, scale: Any = Decimal(0)) -> Decimal:
    return _rounded(n, scale, decimal.ROUND_CEILING)


@_builtin("round up", "n", "scale")
def _round_up(rt: Runtime, n: Any, scale: Any = Decimal(0)) -> Decimal:
    return _rounded(n, scale, decimal.ROUND_UP)


@_builtin("round down", "n", "scale")
def _round_down(rt: Runtime, n: Any, scale: Any = Decimal(0)) -> Decimal:
    return _rounded(n, scale, decimal.ROUND_DOWN)


@_builtin("round half up", "n", "scale")
def _round_half_up(rt: Runtime, n: Any, scale: Any = Decimal(0)) -> Decimal:
    return _rounded(n, scale, decimal.ROUND_HALF_UP)


@_builtin("round half down", "n", "scale")
def _round_half_down(rt: Runtime, n: Any, scale: Any = Decimal(0)) -> Decimal:
    return _rounded(n, scale, decimal.ROUND_HALF_DOWN)


@_builtin("abs", "n")
def _abs(rt: Runtime, n: Any) -> Any:
    if isinstance(n, timedelta):
        return abs(n)
    if isinstance(n, YearsMonths):
        return YearsMonths(abs(n.months))
    return CONTEXT.abs(_num(n))


@_builtin("modulo", "dividend", "divisor")
def _modulo(rt: Runtime, dividend: Any, divisor: Any) -> Decimal | None:
    a, b = _num(dividend), _num(divisor)
    if b == 0:
        return None
    # The result takes the divisor's sign: modulo(-12, 5) = 3.
    quotient = CONTEXT.divide(a, b).to_integral_value(decimal.ROUND_FLOOR)
    return CONTEXT.subtract(a, CONTEXT.multiply(b, quotient))


@_builtin("sqrt", "number")
def _sqrt(rt: Runtime, n: Any) -> Decimal | None:
    n = _num(n)
    return None if n < 0 else CONTEXT.sqrt(n)


@_builtin("log", "number")
def _log(rt: Runtime, n: Any) -> Decimal | None:
    n = _num(n)
    return None if n <= 0 else CONTEXT.ln(n)


@_builtin("exp", "number")
def _exp(rt: Runtime, n: Any) -> Decimal:
    return CONTEXT.exp(_num(n))


@_builtin("odd", "number")
def _odd(rt: Runtime, n: Any) -> bool:
    return _int(n) % 2 == 1


@_builtin("even", "number")
def _even(rt: Runtime, n: Any) -> bool:
    return _int(n) % 2 == 0


# --- contexts ----------------------------------------------------------------------------


@_builtin("get value", "context", "key")
def _get_value(rt: Runtime, context: Any, key: Any) -> Any:
    keys = _list(key) if isinstance(key, list) else [key]
    value: Any = _ctx(context)
    for k in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(_str(k))
    return value


@_builtin("get entries", "context")
def _get_entries(rt: Runtime, context: Any) -> list[dict[str, Any]]:
    entries = [{"key": k, "value": v} for k, v in _ctx(context).items()]
    return _result_list(rt, entries)


def _put(context: dict[str, Any], keys: list[str], value: Any) -> dict[str, Any]:
    out = dict(context)
    if len(keys) == 1:
        out[keys[0]] = value
        return out
    inner = out.get(keys[0])
    out[keys[0]] = _put(inner if isinstance(inner, dict) else {}, keys[1:], value)
    return out


@_builtin("context put", "context", "key", "value")
def _context_put(rt: Runtime, context: Any, key: Any, value: Any) -> dict[str, Any] | None:
    keys = [_str(k) for k in (_list(key) if isinstance(key, list) else [key])]
    if not keys:
        return None
    return _put(_ctx(context), keys, value)


@_builtin("context merge", "contexts")
def _context_merge(rt: Runtime, *contexts: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for context in _items(rt, contexts):
        merged.update(_ctx(context))
    return merged


# --- temporal ----------------------------------------------------------------------------


@_builtin("now")
def _now(rt: Runtime) -> datetime:
    return rt.now


@_builtin("today")
def _today(rt: Runtime) -> date:
    return rt.now.date()


def _day(value: Any) -> date:
    if not isinstance(value, date):
        raise TypeError("not a date")
    return value


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


@_builtin("day of week", "date")
def _day_of_week(rt: Runtime, value: Any) -> str:
    return _DAYS[_day(value).weekday()]


@_builtin("day of year", "date")
def _day_of_year(rt: Runtime, value: Any) -> Decimal:
    return Decimal(_day(value).timetuple().tm_yday)


@_builtin("week of year", "date")
def _week_of_year(rt: Runtime, value: Any) -> Decimal:
    return Decimal(_day(value).isocalendar()[1])


@_builtin("month of year", "date")
def _month_of_year(rt: Runtime, value: Any) -> str:
    return _MONTHS[_day(value).month - 1]


@_builtin("last day of month", "date")
def _last_day_of_month(rt: Runtime, value: Any) -> date:
    d = _day(value)
    return temporal.add_months(date(d.year, d.month, 1), 1) - timedelta(days=1)


# --- working days (niva) -----------------------------------------------------------------


def _working_calendar(rt: Runtime, name: str) -> WorkingCalendar:
    """The process's calendar. A process without one is a fault of the model, not a value:
    an error (an incident), never a silent ``null``."""
    calendar = calendar_from_reference(rt.reference)
    if calendar is None:
        raise FeelError(
            f"{name}() needs the process's working-day calendar: declare "
            '<niva:calendar value="SE"/> (or "NO") beside niva:timezone',
            expression=rt.expression,
            element_id=rt.element_id,
        )
    return calendar


def _on_day(rt: Runtime, value: Any, move: Callable[[date], date]) -> date | datetime:
    """``value`` moved by ``move`` on its day: a date gives a date; a date and time gives
    the same wall-clock time on the new day: for a zoned one, its day and time in the
    process's zone, the result in the value's own zone; a local one as it is."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return datetime.combine(move(value.date()), value.time())
        local = value.astimezone(rt.tz)
        wall = datetime.combine(move(local.date()), local.time())
        moved = resolve_local(wall, rt.tz, prefer=local.utcoffset())
        return moved.astimezone(value.tzinfo)
    return move(_day(value))


def _day_in_zone(rt: Runtime, value: Any) -> date:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(rt.tz).date()
    return _day(value) if not isinstance(value, datetime) else value.date()


@_builtin("is working day", "date")
def _is_working_day(rt: Runtime, value: Any) -> bool:
    calendar = _working_calendar(rt, "is working day")
    return calendar.is_working_day(_day_in_zone(rt, value))


@_builtin("next working day", "date")
def _next_working_day(rt: Runtime, value: Any) -> date | datetime:
    calendar = _working_calendar(rt, "next working day")
    return _on_day(rt, value, calendar.next_working_day)


@_builtin("previous working day", "date")
def _previous_working_day(rt: Runtime, value: Any) -> date | datetime:
    calendar = _working_calendar(rt, "previous working day")
    return _on_day(rt, value, calendar.previous_working_day)


@_builtin("add working days", "date", "days")
def _add_working_days(rt: Runtime, value: Any, days: Any) -> date | datetime:
    calendar = _working_calendar(rt, "add working days")
    n = _int(days)
    rt.tick(abs(n))
    return _on_day(rt, value, lambda day: calendar.add_working_days(day, n))


# --- ranges ------------------------------------------------------------------------------


@_builtin("range", "from")
def _range(rt: Runtime, text: Any) -> Range | None:
    from process_models.feel.parser import parse_expression

    node = parse_expression(_str(text))
    if node[0] != "interval" or node[1][0] != "const" or node[2][0] != "const":
        return None
    return Range(node[1][1], node[2][1], node[3], node[4])
