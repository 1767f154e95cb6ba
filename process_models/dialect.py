"""The expression language of a model value, decided by the file's dialect.

A niva-dialect file writes its ``=`` values in CEL (`process_models.expressions`); a Camunda 8
file (`Definitions.dialect` is ``"camunda8"``) in FEEL (`process_models.feel`). Validation
and the engine both compile through `compile_value`, so the two never disagree about a
value's language. A value without ``=`` is a literal string in both dialects.

A FEEL result becomes JSON the way a CEL result does: a date-time with a zone is the UTC
instant (``"2026-03-01T10:00:00Z"``), a days-and-time duration the elapsed time
(``"PT36H"``); other values as `process_models.feel.to_json` writes them (a date
``"2026-03-01"``, a years-and-months duration ``"P1Y2M"``, whole numbers as integers).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import JsonValue

from process_models.expressions import (
    Expression,
    _iso_elapsed,
    _iso_instant,
    compile_expression,
    is_expression,
)
from process_models.feel import FeelExpression, compile_feel, to_json
from process_models.limits import DEFAULT_LIMITS
from process_models.schema import Dialect, FlowNode
from process_models.timers import TimerSpec

__all__ = ["FeelValue", "ModelExpression", "compile_value", "language_name", "niva_form_key"]


def language_name(dialect: Dialect) -> str:
    """The expression language of a dialect, as people name it."""
    return "FEEL" if dialect == "camunda8" else "CEL"


def compile_value(
    source: str,
    *,
    dialect: Dialect,
    element_id: str | None = None,
    line: int | None = None,
) -> ModelExpression:
    """Compile a model value in its file's language: after ``=``, CEL or FEEL by
    ``dialect``; without, a literal string.

    Raises:
        ExpressionError: the expression does not compile (`FeelError` is one, and a FEEL
            syntax error names the line and column in the expression).
    """
    if dialect == "camunda8" and is_expression(source):
        return FeelValue(compile_feel(source, element_id=element_id, line=line))
    return compile_expression(source, element_id=element_id, line=line)


class FeelValue:
    """A compiled FEEL expression behind the interface of a CEL `Expression`.

    ``budget`` is accepted for that interface and not used: a FEEL evaluation is bounded by
    its own `process_models.feel.FeelLimits`.
    """

    __slots__ = ("feel", "source")

    def __init__(self, feel: FeelExpression) -> None:
        self.feel = feel
        self.source = feel.source

    def __repr__(self) -> str:
        return f"FeelValue({self.source!r})"

    def evaluate(
        self,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None = None,
        budget: int = DEFAULT_LIMITS.expression_cost,
    ) -> JsonValue:
        """The result as JSON (see the module docstring)."""
        value = self.feel.value(variables, now=now, tz=tz, reference=reference)
        return self._json(value)

    def evaluate_bool(
        self,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None = None,
        budget: int = DEFAULT_LIMITS.expression_cost,
    ) -> bool:
        """A condition; ``null`` counts as false, as in Zeebe."""
        return self.feel.evaluate_bool(variables, now=now, tz=tz, reference=reference)

    def evaluate_timer(
        self,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None = None,
        budget: int = DEFAULT_LIMITS.expression_cost,
    ) -> datetime:
        """A ``timeDate``/``timeDuration``: the UTC instant it fires."""
        return self.feel.evaluate_timer(variables, now=now, tz=tz, reference=reference)

    def evaluate_cycle(
        self,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None = None,
        budget: int = DEFAULT_LIMITS.expression_cost,
    ) -> TimerSpec:
        """A ``timeCycle``: a repeating interval (``R3/PT1H``) or a duration."""
        return self.feel.evaluate_cycle(variables, now=now, tz=tz, reference=reference)

    def _json(self, value: Any) -> JsonValue:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return _iso_instant(value)
        if isinstance(value, timedelta):
            return _iso_elapsed(value)
        if isinstance(value, list):
            return [self._json(item) for item in value]
        if isinstance(value, dict):
            return {key: self._json(item) for key, item in value.items()}
        return to_json(value, self.feel)


ModelExpression = Expression | FeelValue
"""A compiled model value, in either language: what `compile_value` returns. Both offer
``evaluate``, ``evaluate_bool``, ``evaluate_timer`` and ``evaluate_cycle`` with the same
keyword arguments, which is all the engine asks of one."""


def niva_form_key(node: FlowNode, dialect: Dialect, forms: Mapping[str, object]) -> str | None:
    """The registered niva form (`process_models.registry`) that a task's completion or a
    start event's variables must satisfy, or None.

    In the niva dialect every ``niva:form key`` names one (an unknown key is refused). In a
    Camunda 8 file a ``formKey`` is usually an embedded form or an external reference, passed
    through; one that names a registered niva form is that form, checked as in the niva
    dialect, so that a model converted to Camunda 8 (`process_models.convert`) keeps its
    checks.
    """
    form = node.niva.form
    if form is None or not form.key:
        return None
    if dialect == "niva" or form.key in forms:
        return form.key
    return None
