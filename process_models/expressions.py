"""CEL expressions in process models, compiled once and evaluated deterministically.

A value in a model is a literal unless it starts with ``=``; the rest is then a CEL
expression (https://cel.dev) over the instance's variables, run by the compiled
``common-expression-language`` package (module ``cel``, the Rust ``cel`` crate 0.14).

What an expression sees:

``<name>``
    each instance variable by name (names that are not CEL identifiers only via ``vars``);
``vars``
    all instance variables as one map: ``vars["a-b"]``, ``has(vars.decision)``;
``now``
    the workflow's clock as a timestamp, never the wall clock;
``reference``
    the reference data snapshotted into the deployed model (an empty map when there is none).

``vars``, ``now`` and ``reference`` take precedence over instance variables of the same name.

niva's date functions, all in the process's zone (``niva:timezone``) and all pure:

======================== =================================================================
``date(s)``              the start (00:00) of the day ``s`` (``"2027-03-01"``) — a point
                         to compute from; a date-only *deadline* in a timer instead means
                         the end of the day (see `process_models.timers`)
``start_of_day(t)``      00:00 of the day ``t`` falls on
``end_of_day(t)``        the end of the day ``t`` falls on: the following midnight, the
                         same instant a date-only timer deadline falls due
``add_months(t, n)``     ``t`` moved ``n`` calendar months (may be negative), clamped to
                         the end of a shorter month, keeping the wall-clock time
``add_duration(t, d)``   ``t`` plus the ISO 8601 duration ``d`` (``"P10W"``, ``"P1Y"``,
                         ``"PT36H"``) with calendar arithmetic; ``t + duration("36h")`` is
                         CEL's own exact arithmetic
``next_date(t, m, d)``   the next day-of-year month ``m``/day ``d`` strictly after ``t``, at
                         00:00 ("the next 1 March after t"); 29 February is the next leap day
``start_of_year(t)``     00:00 on 1 January of ``t``'s year
``year(t)``              the year, ``month(t)`` the month 1-12, ``day(t)`` the day of the
                         month 1-31 — unlike CEL's ``getFullYear()`` and friends, which read
                         a timestamp at its own offset (UTC for ``now`` and for every
                         timestamp niva returns) and count months from zero
``days_between(a, b)``   calendar days from ``a``'s date to ``b``'s (negative when ``b`` is
                         earlier)
``sorted_keys(m)``       the keys of map ``m`` in sorted order (see Determinism)
``is_working_day(t)``    whether ``t``'s day is a working day of the process's calendar
                         (``niva:calendar``; `process_models.calendars`)
``next_working_day(t)``  ``t`` when its day is a working day, else the same wall-clock
                         time on the next one; ``previous_working_day(t)`` the one before
``add_working_days(t,    ``n`` working days after ``t``'s day (before it when negative), at
n)``                     the same wall-clock time
======================== =================================================================

Results become JSON values: a timestamp an ISO 8601 string in UTC (``2027-03-01T23:00:00Z``),
a duration an ISO 8601 duration of exact hours, minutes and seconds (``PT36H``, ``-PT1H``
when negative), a map a JSON object with its keys sorted.

Determinism. The engine replays workflow code, so evaluation must give the same answer every
time. Nothing here reads a clock, the machine's zone or the environment. One hazard comes
from the ``cel`` package itself: its maps are hash maps with a per-process random seed, so
iterating one (``m.map(k, k)``, ``m.filter(k, …)``) yields keys in an order that changes
from run to run. Iterate ``sorted_keys(m)`` instead; map *results* are sorted here.

Cost guards. CEL has no loops or recursion; only the comprehension macros (``all``,
``exists``, ``exists_one``, ``map``, ``filter``) iterate. In ``cel`` 0.10 ``map`` and
``filter`` copy their growing result at each step, so building a list of n items costs n²
(measured: 1,000 items 0.1 s, 8,000 items 6 s), while ``all``/``exists`` stay linear
(1,000,000 steps in 0.7 s). Core CEL has no range generator (``lists.range`` is an opt-in
extension niva does not enable), so large collections can only come from data or from
nesting comprehensions over literals. Compilation therefore rejects: expressions longer than
`MAX_EXPRESSION_LENGTH`; comprehensions nested deeper than `MAX_COMPREHENSION_DEPTH`; a
``map``/``filter`` nested inside another comprehension; more than `MAX_COMPREHENSIONS`
comprehensions. Large *data* is bounded when an expression runs: the largest list or map it
can reach, to the power of its comprehension nesting (plus one with ``map``/``filter``), must
stay within a budget (`process_models.limits.EngineLimits.expression_cost`, a million steps
by default), or the evaluation fails with an `ExpressionError` before it starts.

Imported inside the workflow sandbox: module state is immutable and there is no I/O.
"""

from __future__ import annotations

import calendar
import inspect
import math
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

import cel
from pydantic import JsonValue

from process_models.calendars import CEL_FUNCTIONS as _CALENDAR_ARITY
from process_models.calendars import calendar_from_reference, cel_functions
from process_models.errors import ExpressionError, TimerSpecError
from process_models.limits import DEFAULT_LIMITS
from process_models.timers import (
    IsoDuration,
    TimerSpec,
    add_months,
    parse_datetime,
    parse_timer,
    resolve_local,
)
from process_models.timers import add_duration as add_iso_duration

__all__ = [
    "CEL_BUILTIN_FUNCTIONS",
    "MAX_COMPREHENSIONS",
    "MAX_COMPREHENSION_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "NIVA_FUNCTIONS",
    "Expression",
    "compile_expression",
    "is_expression",
]

MAX_EXPRESSION_LENGTH: Final = 2_000
"""Longest CEL text accepted, in characters (after the ``=``)."""

MAX_COMPREHENSION_DEPTH: Final = 2
"""How deeply ``all``/``exists``/``exists_one``/``map``/``filter`` may nest."""

MAX_COMPREHENSIONS: Final = 8
"""How many comprehensions one expression may contain."""

CEL_BUILTIN_FUNCTIONS: Final = frozenset(
    {
        # Operators, as ``Program.functions()`` names them; ``@not_strictly_false`` comes
        # from the expansion of the all/exists macros.
        "!_",
        "-_",
        "@in",
        "@not_strictly_false",
        "_!=_",
        "_%_",
        "_&&_",
        "_*_",
        "_+_",
        "_-_",
        "_/_",
        "_<=_",
        "_<_",
        "_==_",
        "_>=_",
        "_>_",
        "_?_:_",
        "_[_]",
        "_||_",
        # Functions the cel crate implements (probed against cel 0.10: max, min and bool are
        # named by the CEL spec's extensions but not implemented, so they are not here).
        "bytes",
        "contains",
        "double",
        "duration",
        "dyn",
        "endsWith",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getFullYear",
        "getHours",
        "getMilliseconds",
        "getMinutes",
        "getMonth",
        "getSeconds",
        "int",
        "matches",
        "size",
        "startsWith",
        "string",
        "timestamp",
        "type",
        "uint",
        # optional.of(x).orValue(y) and friends.
        "hasValue",
        "none",
        "of",
        "ofNonZeroValue",
        "or",
        "orValue",
        "value",
    }
)
"""Functions and operators of CEL itself that an expression may call."""

_MACROS: Final = frozenset({"all", "exists", "exists_one", "map", "filter"})
_LIST_BUILDING_MACROS: Final = frozenset({"map", "filter"})
_INT64 = (-(2**63), 2**63 - 1)
_RESERVED = ("vars", "now", "reference")


# --- niva's functions ---------------------------------------------------------------------


class _ArgumentError(ValueError):
    """A niva function was called with a value it cannot use; the message says which."""


_CEL_TYPE_NAMES: Final = MappingProxyType(
    {
        bool: "bool",
        int: "int",
        float: "double",
        str: "string",
        bytes: "bytes",
        list: "list",
        dict: "map",
        type(None): "null",
        datetime: "timestamp",
        timedelta: "duration",
    }
)


def _cel_type(value: object) -> str:
    return _CEL_TYPE_NAMES.get(type(value), type(value).__name__)


def _timestamp(function: str, value: object, position: str = "first") -> datetime:
    if not isinstance(value, datetime):
        raise _ArgumentError(
            f"{function}() expects a timestamp as its {position} argument, got "
            f"{_cel_type(value)}; convert a string with timestamp(s) or date(s)"
        )
    return value


def _integer(function: str, value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _ArgumentError(f"{function}() expects {what} as an int, got {_cel_type(value)}")
    return value


def _text(function: str, value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _ArgumentError(f"{function}() expects {what} as a string, got {_cel_type(value)}")
    return value


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return resolve_local(datetime.combine(day, time()), tz)


def _fn_date(tz: ZoneInfo, value: object) -> datetime:
    text = _text("date", value, "a date YYYY-MM-DD")
    try:
        day = date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError as exc:
        raise _ArgumentError(f"date({text!r}): {exc}") from exc
    if day is None:
        raise _ArgumentError(f"date() expects a date written YYYY-MM-DD, got {text!r}")
    return _midnight(day, tz)


def _fn_start_of_day(tz: ZoneInfo, t: object) -> datetime:
    return _midnight(_timestamp("start_of_day", t).astimezone(tz).date(), tz)


def _fn_end_of_day(tz: ZoneInfo, t: object) -> datetime:
    day = _timestamp("end_of_day", t).astimezone(tz).date()
    return _midnight(day + timedelta(days=1), tz)


def _fn_add_months(tz: ZoneInfo, t: object, n: object) -> datetime:
    start = _timestamp("add_months", t)
    months = _integer("add_months", n, "the number of months")
    try:
        return add_months(start, months, tz)
    except ValueError as exc:
        raise _ArgumentError(f"add_months(): {exc}") from exc


def _fn_add_duration(tz: ZoneInfo, t: object, d: object) -> datetime:
    start = _timestamp("add_duration", t)
    text = _text("add_duration", d, "an ISO 8601 duration such as 'P10W'")
    try:
        return add_iso_duration(start, IsoDuration.parse(text), tz)
    except TimerSpecError as exc:
        raise _ArgumentError(f"add_duration(): {exc.reason} (got {text!r})") from exc


def _fn_next_date(tz: ZoneInfo, t: object, month: object, day: object) -> datetime:
    after = _timestamp("next_date", t)
    m = _integer("next_date", month, "the month 1-12")
    d = _integer("next_date", day, "the day of the month")
    if not 1 <= m <= 12:
        raise _ArgumentError(f"next_date(): month must be 1-12, got {m}")
    # A leap year's months, so that 29 February is a valid request.
    if not 1 <= d <= calendar.monthrange(2024, m)[1]:
        raise _ArgumentError(f"next_date(): month {m} has no day {d}")
    year = after.astimezone(tz).year
    while year <= 9999:
        if d <= calendar.monthrange(year, m)[1]:
            candidate = _midnight(date(year, m, d), tz)
            if candidate > after:
                return candidate
        year += 1
    raise _ArgumentError(f"next_date(): no {m}/{d} after {after.isoformat()} before year 10000")


def _fn_start_of_year(tz: ZoneInfo, t: object) -> datetime:
    year = _timestamp("start_of_year", t).astimezone(tz).year
    return _midnight(date(year, 1, 1), tz)


def _fn_year(tz: ZoneInfo, t: object) -> int:
    return _timestamp("year", t).astimezone(tz).year


def _fn_month(tz: ZoneInfo, t: object) -> int:
    return _timestamp("month", t).astimezone(tz).month


def _fn_day(tz: ZoneInfo, t: object) -> int:
    return _timestamp("day", t).astimezone(tz).day


def _fn_days_between(tz: ZoneInfo, a: object, b: object) -> int:
    first = _timestamp("days_between", a).astimezone(tz).date()
    second = _timestamp("days_between", b, "second").astimezone(tz).date()
    return (second - first).days


def _fn_sorted_keys(tz: ZoneInfo, m: object) -> list[Any]:
    if not isinstance(m, dict):
        raise _ArgumentError(f"sorted_keys() expects a map, got {_cel_type(m)}")
    try:
        return sorted(m)
    except TypeError as exc:
        raise _ArgumentError("sorted_keys() needs keys of one type to sort them") from exc


_Function = Callable[..., object]

_FUNCTIONS: Final[Mapping[str, _Function]] = MappingProxyType(
    {
        "add_duration": _fn_add_duration,
        "add_months": _fn_add_months,
        "date": _fn_date,
        "day": _fn_day,
        "days_between": _fn_days_between,
        "end_of_day": _fn_end_of_day,
        "month": _fn_month,
        "next_date": _fn_next_date,
        "sorted_keys": _fn_sorted_keys,
        "start_of_day": _fn_start_of_day,
        "start_of_year": _fn_start_of_year,
        "year": _fn_year,
    }
)

# How many arguments each takes from CEL (the zone is bound by niva, not passed by CEL).
_ARITY: Final[Mapping[str, int]] = MappingProxyType(
    {name: len(inspect.signature(f).parameters) - 1 for name, f in _FUNCTIONS.items()}
    | dict(_CALENDAR_ARITY)
)

NIVA_FUNCTIONS: Final = frozenset(_FUNCTIONS) | frozenset(_CALENDAR_ARITY)
"""The functions niva adds to CEL; each takes the process's zone into account."""

_KNOWN_FUNCTIONS: Final = CEL_BUILTIN_FUNCTIONS | NIVA_FUNCTIONS


# --- compiling ----------------------------------------------------------------------------


def is_expression(value: str) -> bool:
    """True when a model value is a CEL expression: it starts with ``=`` (after whitespace)."""
    return value.lstrip().startswith("=")


class Expression:
    """A model value, compiled once: a CEL expression or a literal string.

    Build it with `compile_expression`; evaluate it as often as needed. It holds no
    per-evaluation state, so one instance may serve many workflows. It wraps a compiled
    program and does not serialize: models keep the source text and compile it on load.
    """

    __slots__ = (
        "_functions",
        "_nesting",
        "_program",
        "_variables",
        "element_id",
        "line",
        "source",
    )

    def __init__(
        self,
        source: str,
        program: Any,
        *,
        element_id: str | None,
        line: int | None,
    ) -> None:
        self.source = source
        self.element_id = element_id
        self.line = line
        self._program = program
        referenced = program.references() if program is not None else {}
        self._variables: frozenset[str] = frozenset(referenced.get("variables", ()))
        self._functions: frozenset[str] = frozenset(referenced.get("functions", ()))
        self._nesting = 0 if program is None else _cost_exponent(str(program.source))

    def __repr__(self) -> str:
        return f"Expression({self.source!r}, element_id={self.element_id!r})"

    @property
    def is_literal(self) -> bool:
        """True for a value without ``=``: it evaluates to itself."""
        return self._program is None

    @property
    def cel(self) -> str | None:
        """The CEL text after the ``=``, or None for a literal."""
        return None if self._program is None else str(self._program.source)

    @property
    def variables(self) -> frozenset[str]:
        """Names the expression reads (including names bound by comprehensions)."""
        return self._variables

    @property
    def functions(self) -> frozenset[str]:
        """Functions and operators the expression calls."""
        return self._functions

    # --- evaluating -------------------------------------------------------------------

    def evaluate(
        self,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None = None,
        budget: int = DEFAULT_LIMITS.expression_cost,
    ) -> JsonValue:
        """Evaluate to a JSON value; a literal evaluates to itself.

        Args:
            variables: the instance variables, bound by name and as ``vars``.
            now: the workflow clock's current time (timezone-aware), bound as ``now``.
            tz: the process's zone, used by the date functions.
            reference: the deployed model's reference data, bound as ``reference``.

        Raises:
            ExpressionError: the evaluation fails (an undefined variable, a type error, a
                function error) or yields a value JSON cannot hold (bytes, a NaN, a map
                with non-string keys).
            ValueError: ``now`` is naive (a bug in the caller, not in the model).
        """
        if self._program is None:
            return self.source
        return self._to_json(
            self._run(variables, now=now, tz=tz, reference=reference, budget=budget)
        )

    def evaluate_bool(
        self,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None = None,
        budget: int = DEFAULT_LIMITS.expression_cost,
    ) -> bool:
        """Evaluate a condition, which must yield a bool.

        Raises:
            ExpressionError: the evaluation fails or yields anything but a bool.
        """
        if self._program is None:
            raise self._error(
                "a condition must be a CEL expression yielding a bool; this value has no "
                "'=' and is the literal string " + repr(self.source)
            )
        result = self._run(variables, now=now, tz=tz, reference=reference, budget=budget)
        if not isinstance(result, bool):
            raise self._error(
                f"the condition must yield a bool, but yielded {_cel_type(result)} "
                f"{_preview(result)}; compare explicitly, e.g. x == 'yes' or size(x) > 0"
            )
        return result

    def evaluate_timer(
        self,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None = None,
        budget: int = DEFAULT_LIMITS.expression_cost,
    ) -> datetime:
        """Evaluate a ``timeDate``/``timeDuration`` expression to the instant it fires.

        The result may be a timestamp, a CEL duration (from ``now``), or a string holding
        an ISO 8601 date-time, date (the end of that day, as for any date-only deadline) or
        duration (from ``now``, with calendar arithmetic). A literal is read the same way.

        Returns:
            The fire instant in UTC.

        Raises:
            ExpressionError: the evaluation fails or yields none of the above.
        """
        _require_aware(now)
        result: object = self.source if self._program is None else None
        if self._program is not None:
            result = self._run(variables, now=now, tz=tz, reference=reference, budget=budget)
        if isinstance(result, datetime):
            return result.astimezone(UTC)
        if isinstance(result, timedelta):
            return now.astimezone(UTC) + result
        if isinstance(result, str):
            text = result.strip()
            try:
                if text[:1] in ("P", "p", "-"):
                    return add_iso_duration(now, IsoDuration.parse(text), tz)
                return parse_datetime(text, tz)
            except TimerSpecError as exc:
                raise self._error(f"the timer value {result!r} is unusable: {exc.reason}") from exc
        raise self._error(
            "a timer expression must yield a timestamp, a duration or an ISO 8601 date, "
            f"date-time or duration string, but yielded {_cel_type(result)} {_preview(result)}"
        )

    def evaluate_cycle(
        self,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None = None,
        budget: int = DEFAULT_LIMITS.expression_cost,
    ) -> TimerSpec:
        """Evaluate a ``timeCycle`` expression to a cycle, such as ``"R3/P1D"``.

        Use `process_models.timers.next_fire` on the result, armed at ``now``.

        Raises:
            ExpressionError: the evaluation fails or does not yield a repeating interval.
        """
        result: object = self.source
        if self._program is not None:
            result = self._run(variables, now=now, tz=tz, reference=reference, budget=budget)
        if not isinstance(result, str):
            raise self._error(
                "a cycle expression must yield a string such as 'R3/P1D', but yielded "
                f"{_cel_type(result)} {_preview(result)}"
            )
        try:
            return parse_timer("cycle", result, element_id=self.element_id)
        except TimerSpecError as exc:
            raise self._error(f"the cycle {result!r} is unusable: {exc.reason}") from exc

    def _run(
        self,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None,
        budget: int,
    ) -> object:
        _require_aware(now)
        if self._nesting:
            self._check_cost(variables, reference, budget)
        bound: dict[str, object] = {}
        # Bind only what the expression names: converting unused data costs time, and a
        # value that cannot be converted should fail only the expressions that read it.
        for name in self._variables:
            if name in variables and name not in _RESERVED:
                bound[name] = self._to_cel(variables[name], name)
        if "vars" in self._variables:
            bound["vars"] = self._to_cel(dict(variables), "vars")
        if "now" in self._variables:
            # cel accepts only fixed-offset zones; a ZoneInfo-aware datetime fails to convert.
            bound["now"] = now.astimezone(UTC)
        if "reference" in self._variables:
            bound["reference"] = self._to_cel(dict(reference or {}), "reference")
        failures: list[tuple[str, Exception]] = []
        table: Mapping[str, _Function] = _FUNCTIONS
        if not self._functions.isdisjoint(_CALENDAR_ARITY):
            # The working-day calendar travels with the deployed version's reference data.
            table = {**_FUNCTIONS, **cel_functions(calendar_from_reference(reference))}
        functions = {
            name: _bind(name, function, tz, failures)
            for name, function in table.items()
            if name in self._functions
        }
        try:
            return self._program.execute(cel.Context(variables=bound, functions=functions))
        except Exception as exc:
            raise self._error(_runtime_reason(exc, failures, variables)) from exc

    def _check_cost(
        self,
        variables: Mapping[str, JsonValue],
        reference: Mapping[str, JsonValue] | None,
        budget: int,
    ) -> None:
        """Refuse to run when the comprehensions could take more than ``budget`` steps.

        The ``cel`` package cannot stop an evaluation, and one that runs for seconds
        stalls the whole case. So the work is bounded before it starts: the largest list
        or map the expression can reach, to the power of its comprehension nesting (one
        more for map()/filter(), which copy their growing result at every step).
        """
        reachable: list[JsonValue] = [variables[n] for n in self._variables if n in variables]
        if "vars" in self._variables:
            reachable.append(dict(variables))
        if "reference" in self._variables:
            reachable.append(dict(reference or {}))
        largest = max((_largest_collection(value) for value in reachable), default=0)
        if largest > 1 and largest**self._nesting > budget:
            raise self._error(
                f"would iterate collections of up to {largest:,} items "
                f"{self._nesting} level(s) deep, about {largest**self._nesting:,} steps, "
                f"more than the {budget:,} allowed (NIVA_LIMITS_EXPRESSION_COST); "
                "keep the lists smaller or compute parts in earlier steps"
            )

    # --- conversions ------------------------------------------------------------------

    def _to_cel(self, value: object, path: str) -> object:
        if value is None or isinstance(value, bool | str | float):
            return value
        if isinstance(value, int):
            if not _INT64[0] <= value <= _INT64[1]:
                raise self._error(f"{path} holds {value}, beyond the 64-bit integers CEL has")
            return value
        if isinstance(value, list | tuple):
            return [self._to_cel(item, f"{path}[{i}]") for i, item in enumerate(value)]
        if isinstance(value, Mapping):
            converted: dict[str, object] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise self._error(f"{path} has the non-string key {key!r}")
                converted[key] = self._to_cel(item, f"{path}.{key}")
            return converted
        if isinstance(value, datetime):
            _require_aware(value, path)
            return value.astimezone(UTC)
        raise self._error(f"{path} holds a {type(value).__name__}, which is not a JSON value")

    def _to_json(self, value: object) -> JsonValue:
        if value is None or isinstance(value, bool | str | int):
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self._error(f"the expression yields {value}, which JSON cannot hold")
            return value
        if isinstance(value, datetime):
            return _iso_instant(value)
        if isinstance(value, timedelta):
            return _iso_elapsed(value)
        if isinstance(value, list):
            return [self._to_json(item) for item in value]
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise self._error(
                    "the expression yields a map with non-string keys, which JSON cannot "
                    "hold; use string(k) for the keys"
                )
            return {key: self._to_json(value[key]) for key in sorted(value)}
        if isinstance(value, cel.OptionalValue):
            return self._to_json(value.value() if value.has_value() else None)
        if isinstance(value, bytes):
            raise self._error(
                "the expression yields bytes, which JSON cannot hold; convert them with "
                "string(b) (UTF-8 text)"
            )
        raise self._error(f"the expression yields a {type(value).__name__}, not a JSON value")

    def _error(self, reason: str) -> ExpressionError:
        where = f"line {self.line}: " if self.line is not None else ""
        return ExpressionError(where + reason, expression=self.source, element_id=self.element_id)


def compile_expression(
    source: str, *, element_id: str | None = None, line: int | None = None
) -> Expression:
    """Compile a model value: CEL after a leading ``=``, otherwise a literal string.

    Compilation checks the syntax, that every function called is CEL's or niva's, and the
    cost guards described in the module docstring.

    Args:
        source: the value as written in the model, e.g. ``"=decision == 'approved'"``.
        element_id: the element the value belongs to, named in errors.
        line: the source line, named in errors.

    Raises:
        ExpressionError: the CEL text is empty, too long, does not parse, calls an unknown
            function or nests comprehensions too deeply.
    """

    def error(reason: str) -> ExpressionError:
        where = f"line {line}: " if line is not None else ""
        return ExpressionError(where + reason, expression=source, element_id=element_id)

    if not is_expression(source):
        return Expression(source, None, element_id=element_id, line=line)
    text = source.lstrip()[1:].strip()
    if not text:
        raise error("nothing follows '=': write a CEL expression, e.g. =amount > 1000")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise error(
            f"the expression is {len(text)} characters long, more than the "
            f"{MAX_EXPRESSION_LENGTH} allowed; compute parts in earlier steps"
        )
    try:
        program = cel.compile(text)
    except ValueError as exc:
        raise error(_syntax_reason(str(exc), text)) from exc
    unknown = sorted(set(program.functions()) - _KNOWN_FUNCTIONS)
    if unknown:
        names = ", ".join(f"{name}()" for name in unknown)
        offered = ", ".join(sorted(NIVA_FUNCTIONS))
        raise error(f"unknown function {names}; use CEL's built-in functions or niva's: {offered}")
    if problem := _comprehension_problem(text):
        raise error(problem)
    return Expression(source, program, element_id=element_id, line=line)


# --- helpers ------------------------------------------------------------------------------


def _bind(
    name: str, function: _Function, tz: ZoneInfo, failures: list[tuple[str, Exception]]
) -> _Function:
    """``function`` with the zone bound, remembering its failure for the error message."""

    def bound(*args: object) -> object:
        try:
            if len(args) != _ARITY[name]:
                raise _ArgumentError(f"{name}() takes {_ARITY[name]} argument(s), got {len(args)}")
            return function(tz, *args)
        except Exception as exc:
            failures.append((name, exc))
            raise

    return bound


def _require_aware(t: datetime, name: str = "now") -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got the naive {t.isoformat()}")


def _iso_instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _iso_elapsed(value: timedelta) -> str:
    sign = "-" if value < timedelta(0) else ""
    micro = abs(value) // timedelta(microseconds=1)
    seconds, micro = divmod(micro, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    second_text = f"{seconds}.{micro:06d}".rstrip("0") if micro else str(seconds)
    parts = [f"{hours}H" if hours else "", f"{minutes}M" if minutes else ""]
    parts.append(f"{second_text}S" if seconds or micro else "")
    body = "".join(parts)
    return f"{sign}PT{body}" if body else "PT0S"


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_SYNTAX_LINE = re.compile(r"ERROR: <input>:(\d+):(\d+): (.*)")


def _syntax_reason(message: str, text: str) -> str:
    """cel's parse error, without its echo of the input and its token-set jargon."""
    found = _SYNTAX_LINE.findall(message)
    if not found:
        return f"does not compile: {message}"
    multiline = "\n" in text
    reasons = []
    for row, column, detail in found:
        detail = detail.replace("<EOF>", "end of expression")
        detail = re.sub(r"expecting \{[^}]*IDENTIFIER[^}]*\}", "expecting a value", detail)
        detail = detail.replace("Syntax error: ", "")
        where = f"line {row}, column {column}" if multiline else f"column {column}"
        reasons.append(f"{where}: {detail}")
    return "syntax error at " + "; ".join(reasons)


_UNDEFINED = re.compile(r"Undefined variable or function: '([^']*)'")
_FUNCTION_FAILED = re.compile(r"Function '([^']*)' error: (.*?)(?:\. Check function arguments.*)?$")


def _runtime_reason(
    exc: Exception, failures: list[tuple[str, Exception]], variables: Mapping[str, object]
) -> str:
    text = str(exc)
    if failed := _FUNCTION_FAILED.match(text):
        name = failed[1]
        for failed_name, failure in reversed(failures):
            if failed_name == name:
                return str(failure)
        return f"{name}(): {failed[2]}"
    if undefined := _UNDEFINED.match(text):
        name = undefined[1]
        if name in _KNOWN_FUNCTIONS:
            return f"{name}() does not accept arguments of these types (or this many)"
        known = ", ".join(sorted(variables)) or "none"
        return f"undefined variable {name!r} (the instance has: {known})"
    if isinstance(exc, KeyError):
        return f"no such key: {exc.args[0]!r}; test with has(x.key) or 'key' in x first"
    if isinstance(exc, IndexError):
        return f"list {text}"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if text.startswith("No such overload"):
        return (
            "no operator or function accepts these operand types; CEL does not convert "
            "between int, uint and double or string (write double(x), int(x), string(x))"
        )
    return text


def _comprehension_problem(text: str) -> str | None:
    """Why the comprehensions in ``text`` could run too long, or None when they cannot."""
    tokens = list(_tokens(text))
    open_frames: list[str | None] = []
    count = 0
    for i, token in enumerate(tokens):
        if token in "([{":
            macro = None
            if token == "(" and i >= 2 and tokens[i - 2] == "." and tokens[i - 1] in _MACROS:
                macro = tokens[i - 1]
                enclosing = [m for m in open_frames if m is not None]
                count += 1
                if macro in _LIST_BUILDING_MACROS and enclosing:
                    return (
                        f"{macro}() inside {enclosing[-1]}(): map() and filter() take time "
                        "growing with the square of their length here, so they may not be "
                        "nested in another comprehension; test with exists()/all() inside, "
                        "or build the inner list in an earlier step"
                    )
                if len(enclosing) + 1 > MAX_COMPREHENSION_DEPTH:
                    return (
                        f"comprehensions nest {len(enclosing) + 1} deep, more than the "
                        f"{MAX_COMPREHENSION_DEPTH} allowed"
                    )
            open_frames.append(macro)
        elif token in ")]}" and open_frames:
            open_frames.pop()
    if count > MAX_COMPREHENSIONS:
        return f"{count} comprehensions, more than the {MAX_COMPREHENSIONS} allowed"
    return None


def _cost_exponent(text: str) -> int:
    """How deeply the comprehensions of ``text`` nest, plus one when it has a map() or
    filter() (their cost grows with the square of the length): the exponent of
    `Expression._check_cost`. 0 when it has no comprehension."""
    tokens = list(_tokens(text))
    frames: list[str | None] = []
    deepest = 0
    builds = False
    for i, token in enumerate(tokens):
        if token in "([{":
            macro = None
            if token == "(" and i >= 2 and tokens[i - 2] == "." and tokens[i - 1] in _MACROS:
                macro = tokens[i - 1]
                builds = builds or macro in _LIST_BUILDING_MACROS
                deepest = max(deepest, 1 + sum(1 for m in frames if m is not None))
            frames.append(macro)
        elif token in ")]}" and frames:
            frames.pop()
    return deepest + (1 if builds and deepest else 0)


def _largest_collection(value: JsonValue) -> int:
    """The length of the longest list or map anywhere in ``value`` (0 for a scalar)."""
    largest = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            largest = max(largest, len(item))
            pending.extend(item)
        elif isinstance(item, dict):
            largest = max(largest, len(item))
            pending.extend(item.values())
    return largest


_STRING_START = re.compile(r"(?i:[rb]{0,2})('''|\"\"\"|'|\")")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _tokens(text: str) -> Iterator[str]:
    """Identifiers and punctuation of CEL text, with literals and comments left out.

    Enough to find comprehension calls (``.map(``) and their nesting; the text has already
    compiled, so it is well formed.
    """
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end + 1
        elif string := _STRING_START.match(text, i):
            prefix = text[string.start() : string.start(1)]
            i = _string_end(text, string.end(), string[1], raw="r" in prefix.lower())
            yield "<literal>"
        elif identifier := _IDENTIFIER.match(text, i):
            i = identifier.end()
            yield identifier[0]
        elif char.isdigit():
            while i < len(text) and (text[i].isalnum() or text[i] == "."):
                i += 1
            yield "<literal>"
        else:
            i += 1
            yield char


def _string_end(text: str, i: int, quote: str, *, raw: bool) -> int:
    while i < len(text):
        if not raw and text[i] == "\\":
            i += 2
        elif text.startswith(quote, i):
            return i + len(quote)
        else:
            i += 1
    return i
