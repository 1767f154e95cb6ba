"""A FEEL expression compiled once, evaluated like a CEL `process_models.expressions.Expression`.

`FeelExpression` offers the same ``evaluate``/``evaluate_bool``/``evaluate_timer``/
``evaluate_cycle`` methods with the same keyword arguments, so the Camunda 8 dialect can hold
either kind of expression behind one interface. ``now()`` and ``today()`` read the ``now``
passed in (the case clock) in the zone ``tz`` (the process's zone); nothing reads a clock.
The working-day functions (``next working day()``…) read the calendar snapshot in the
``reference`` passed in (`process_models.calendars`).

`FeelUnaryTests` is the entry point DMN input entries need: ``< 25``, ``[25..65]``,
``"a", "b"``, ``not("x")``, ``-``, ``? > 3``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import JsonValue

from process_models.errors import TimerSpecError
from process_models.feel import parser
from process_models.feel.errors import FeelError
from process_models.feel.evaluator import Scope, Variables, call_function, evaluate_node, test_value
from process_models.feel.runtime import DEFAULT_FEEL_LIMITS, FeelLimits, Runtime
from process_models.feel.values import Range, YearsMonths, render, temporal_text
from process_models.timers import (
    IsoDuration,
    TimerSpec,
    add_duration,
    parse_datetime,
    parse_timer,
    resolve_local,
)

__all__ = ["FeelExpression", "FeelUnaryTests", "compile_feel", "compile_unary_tests", "to_json"]


def _runtime(
    text: str,
    element_id: str | None,
    now: datetime,
    tz: ZoneInfo,
    limits: FeelLimits,
    reference: Mapping[str, Any] | None = None,
) -> Runtime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got the naive {now.isoformat()}")
    # Converted here, not in now(): a zone that cannot be used is the caller's bug and must
    # not turn into a null the way a model's mistakes do.
    local = now.astimezone(tz)
    rt = Runtime(
        now=local,
        tz=tz,
        limits=limits,
        expression=text,
        element_id=element_id,
        reference=reference,
    )
    rt.call = lambda function, args: call_function(function, args, rt)
    return rt


def _root(variables: Mapping[str, Any], reference: Mapping[str, Any] | None) -> Scope:
    names: Mapping[str, Any] = Variables(variables)
    if reference is not None and "reference" not in variables:
        names = Variables({**variables, "reference": reference})
    return Scope(names)


def _run(node: parser.Node, scope: Scope, rt: Runtime, evaluate: Any = evaluate_node) -> Any:
    try:
        return evaluate(node, scope, rt)
    except RecursionError:
        raise rt.limit("max_call_depth", "the expression nests too deeply") from None


class FeelExpression:
    """One FEEL expression, parsed once; evaluate it as often as needed.

    It holds no per-evaluation state, so one instance may serve many workflows.
    """

    __slots__ = ("_tree", "element_id", "limits", "line", "source", "text")

    def __init__(
        self,
        source: str,
        *,
        element_id: str | None = None,
        line: int | None = None,
        limits: FeelLimits = DEFAULT_FEEL_LIMITS,
    ) -> None:
        self.source = source
        self.text = source.lstrip()[1:] if source.lstrip().startswith("=") else source
        self.element_id = element_id
        self.line = line
        self.limits = limits
        self._tree = parser.parse_expression(self.text)

    def __repr__(self) -> str:
        return f"FeelExpression({self.source!r}, element_id={self.element_id!r})"

    def value(
        self,
        variables: Mapping[str, Any],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, Any] | None = None,
    ) -> Any:
        """The FEEL value (Decimal, date, duration…), before conversion to JSON."""
        rt = _runtime(self.text, self.element_id, now, tz, self.limits, reference)
        return _run(self._tree, _root(variables, reference), rt)

    def evaluate(
        self,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None = None,
    ) -> JsonValue:
        """Evaluate to a JSON value (see `to_json`).

        Raises:
            FeelError: a limit is reached, ``assert()`` fails, or the result is a function
                or a range, which JSON cannot hold.
            ValueError: ``now`` is naive (a bug in the caller, not in the model).
        """
        return to_json(self.value(variables, now=now, tz=tz, reference=reference), self)

    def evaluate_bool(
        self,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None = None,
    ) -> bool:
        """Evaluate a condition; ``null`` counts as false, as Zeebe takes no such flow.

        Raises:
            FeelError: the result is neither a boolean nor ``null``.
        """
        result = self.value(variables, now=now, tz=tz, reference=reference)
        if result is None:
            return False
        if not isinstance(result, bool):
            raise self.error(f"the condition must yield a boolean, but yielded {render(result)}")
        return result

    def evaluate_timer(
        self,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None = None,
    ) -> datetime:
        """Evaluate a ``timeDate``/``timeDuration`` expression to the UTC instant it fires.

        A date-time fires then (a local one in ``tz``); a date at the end of that day, as any
        date-only deadline; a duration after ``now``; a string is read as ISO 8601.
        """
        result = self.value(variables, now=now, tz=tz, reference=reference)
        try:
            if isinstance(result, datetime):
                if result.tzinfo is None:
                    return resolve_local(result, tz).astimezone(UTC)
                return result.astimezone(UTC)
            if isinstance(result, date):
                return parse_datetime(result.isoformat(), tz)
            if isinstance(result, timedelta):
                return now.astimezone(UTC) + result
            if isinstance(result, YearsMonths):
                return add_duration(now, IsoDuration.parse(result.iso()), tz)
            if isinstance(result, str):
                text = result.strip()
                if text[:1] in ("P", "p", "-"):
                    return add_duration(now, IsoDuration.parse(text), tz)
                return parse_datetime(text, tz)
        except TimerSpecError as exc:
            raise self.error(f"the timer value {render(result)} is unusable: {exc.reason}") from exc
        raise self.error(
            "a timer expression must yield a date-time, a date, a duration or an ISO 8601 "
            f"string, but yielded {render(result)}"
        )

    def evaluate_cycle(
        self,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None = None,
    ) -> TimerSpec:
        """Evaluate a ``timeCycle`` expression: a string such as ``"R3/P1D"``, or a duration
        (repeating for ever)."""
        result = self.value(variables, now=now, tz=tz, reference=reference)
        if isinstance(result, timedelta | YearsMonths):
            result = "R/" + str(temporal_text(result))
        if not isinstance(result, str):
            raise self.error(
                f"a cycle expression must yield a string such as 'R3/P1D', got {render(result)}"
            )
        try:
            return parse_timer("cycle", result, element_id=self.element_id)
        except TimerSpecError as exc:
            raise self.error(f"the cycle {result!r} is unusable: {exc.reason}") from exc

    def error(self, reason: str) -> FeelError:
        """An error about this expression, naming its line when known."""
        where = f"line {self.line}: " if self.line is not None else ""
        return FeelError(where + reason, expression=self.source, element_id=self.element_id)


def compile_feel(
    source: str,
    *,
    element_id: str | None = None,
    line: int | None = None,
    limits: FeelLimits = DEFAULT_FEEL_LIMITS,
) -> FeelExpression:
    """Parse a FEEL expression once (a leading ``=``, as Camunda writes it, is dropped).

    Raises:
        FeelSyntaxError: the text is not FEEL; the error names line and column.
    """
    try:
        return FeelExpression(source, element_id=element_id, line=line, limits=limits)
    except FeelError as exc:
        if element_id is not None and exc.element_id is None:
            exc.element_id = element_id
        raise


class FeelUnaryTests:
    """DMN input-entry tests, parsed once: does an input value pass them?"""

    __slots__ = ("_negated", "_tests", "element_id", "limits", "source")

    def __init__(
        self,
        source: str,
        *,
        element_id: str | None = None,
        limits: FeelLimits = DEFAULT_FEEL_LIMITS,
    ) -> None:
        self.source = source
        self.element_id = element_id
        self.limits = limits
        text = source.strip()
        self._negated = False
        self._tests: parser.Node | None = None  # None: "-", anything passes
        if text == "-":
            return
        if text.startswith("not") and text[3:].lstrip().startswith("(") and text.endswith(")"):
            inner = text[3:].lstrip()[1:-1]
            if _balanced(inner):
                self._negated = True
                text = inner
        self._tests = parser.parse_unary_tests(text)

    def matches(
        self,
        value: JsonValue,
        variables: Mapping[str, JsonValue] | None = None,
        *,
        now: datetime,
        tz: ZoneInfo,
    ) -> bool:
        """Whether ``value`` passes; a test that yields ``null`` does not pass."""
        if self._tests is None:
            return True
        rt = _runtime(self.source, self.element_id, now, tz, self.limits)
        scope = _root(variables or {}, None)
        feel_value = Variables({"?": value})["?"]

        def run(node: parser.Node, scope: Scope, rt: Runtime) -> bool | None:
            results = [test_value(t, feel_value, scope, rt) for t in node[1]]
            if any(r is True for r in results):
                return True
            return False if all(r is False for r in results) else None

        result = _run(self._tests, scope, rt, run)
        if result is None:
            return False
        return not result if self._negated else result


def _balanced(text: str) -> bool:
    depth = 0
    in_string = False
    previous = ""
    for c in text:
        if in_string:
            in_string = not (c == '"' and previous != "\\")
        elif c == '"':
            in_string = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return False
        previous = c
    return depth == 0


def compile_unary_tests(
    source: str, *, element_id: str | None = None, limits: FeelLimits = DEFAULT_FEEL_LIMITS
) -> FeelUnaryTests:
    """Parse DMN unary tests once.

    Raises:
        FeelSyntaxError: the text is not a list of unary tests.
    """
    return FeelUnaryTests(source, element_id=element_id, limits=limits)


def to_json(value: Any, expression: FeelExpression | None = None) -> JsonValue:
    """A FEEL value as JSON: integral numbers as ints, others as floats; dates, times and
    durations as FEEL writes them (``"2021-01-01"``, ``"P1D"``); contexts as objects.

    Raises:
        FeelError: a function or a range, which JSON cannot hold.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, list):
        return [to_json(v, expression) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v, expression) for k, v in value.items()}
    if isinstance(value, date | time | timedelta | YearsMonths):
        return temporal_text(value)
    kind = "a range" if isinstance(value, Range) else "a function"
    reason = f"the expression yields {kind}, which JSON cannot hold"
    if expression is not None:
        raise expression.error(reason)
    raise FeelError(reason, expression="")
