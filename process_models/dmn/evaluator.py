"""Evaluating DMN decisions: deterministic, bounded, with Camunda 8's result shapes.

A decision is evaluated after the decisions it requires, each once, in dependency order;
a required decision's result is in scope for the decisions that require it, by the name of
its ``variable`` and by its id. Inputs are FEEL expressions over the variables, input entries
FEEL unary tests (an empty entry or ``-`` matches anything), output entries FEEL expressions
(an empty one is ``null``). Nothing reads a clock: ``now()`` is the ``now`` passed in.
Every expression is bounded by the FEEL limits (`process_models.feel.FeelLimits`).

The result, as Camunda 8 gives it to a business rule task's ``resultVariable``:

- UNIQUE, FIRST, PRIORITY, ANY: the matched rule's output: its value when the table has
  one output column, else a context of the values by output name; ``null`` when no rule
  matches.
- COLLECT, RULE ORDER, OUTPUT ORDER: a list of those (empty when none matches).
- COLLECT with SUM, MIN or MAX (one output column): one value, ``null`` when none matches;
  COLLECT COUNT: the number of matched rules.

A literal expression's result is its value. UNIQUE with two matching rules, ANY with
matching rules whose outputs differ, and SUM/MIN/MAX over values they cannot combine are
`DecisionError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import JsonValue

from process_models.dmn.errors import DecisionError
from process_models.dmn.reader import output_values_expression
from process_models.dmn.schema import SINGLE_HIT, Decision, DecisionTable, DmnDefinitions, Rule
from process_models.feel import (
    FeelError,
    FeelExpression,
    FeelUnaryTests,
    compile_feel,
    compile_unary_tests,
    render,
    to_json,
)

__all__ = ["DecisionEvaluator"]

_ANY_TEST = "-"


class _CompiledTable:
    """A decision table's expressions, compiled once."""

    def __init__(self, decision_id: str, table: DecisionTable) -> None:
        self.table = table
        self.inputs = [compile_feel(i.expression, element_id=decision_id) for i in table.inputs]
        self.tests: list[list[FeelUnaryTests]] = [
            [
                compile_unary_tests(t or _ANY_TEST, element_id=decision_id)
                for t in rule.input_entries
            ]
            for rule in table.rules
        ]
        self.outputs: list[list[FeelExpression | None]] = [
            [compile_feel(o, element_id=decision_id) if o else None for o in rule.output_entries]
            for rule in table.rules
        ]
        self.priorities: list[list[Any] | None] = [
            None
            if not o.output_values
            else _literal_list(output_values_expression(o.output_values), decision_id)
            for o in table.outputs
        ]


def _literal_list(text: str, decision_id: str) -> list[Any]:
    """The values of an ``outputValues`` list. They are literals, so the instant and zone
    passed (FEEL needs some) never show in the result."""
    value = compile_feel(text, element_id=decision_id).value(
        {}, now=datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")), tz=ZoneInfo("UTC")
    )
    return value if isinstance(value, list) else []


class DecisionEvaluator:
    """The decisions of one DMN file, compiled once and evaluated as often as needed.

    It holds no per-evaluation state, so one instance may serve many workflows.
    """

    def __init__(self, definitions: DmnDefinitions) -> None:
        self.definitions = definitions
        self._tables: dict[str, _CompiledTable] = {}
        self._literals: dict[str, FeelExpression] = {}

    def evaluate(
        self,
        decision_id: str,
        variables: Mapping[str, JsonValue],
        *,
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, JsonValue] | None = None,
        element_id: str | None = None,
    ) -> JsonValue:
        """The decision's result as JSON, its required decisions evaluated first.

        Raises:
            DecisionError: the file has no such decision, a hit policy is violated, an
                expression fails (a FEEL limit, ``assert``), or the result is not JSON.
        """
        if decision_id not in self.definitions.decisions:
            known = ", ".join(self.definitions.decisions) or "none"
            raise DecisionError(
                f"no such decision (decisions: {known})",
                decision_id=decision_id,
                element_id=element_id,
            )
        results: dict[str, Any] = {}
        for current in self.definitions.required_closure(decision_id):
            decision = self.definitions.decisions[current]
            scope: dict[str, Any] = dict(variables)
            for required in decision.required:
                for name in self.definitions.decisions[required].result_names:
                    scope[name] = results[required]
            try:
                results[current] = self._decide(decision, scope, now, tz, reference, element_id)
            except DecisionError:
                raise
            except FeelError as exc:
                raise DecisionError(exc.reason, decision_id=current, element_id=element_id) from exc
        try:
            return to_json(results[decision_id])
        except FeelError as exc:
            raise DecisionError(exc.reason, decision_id=decision_id, element_id=element_id) from exc

    def _decide(
        self,
        decision: Decision,
        scope: Mapping[str, Any],
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, Any] | None,
        element_id: str | None,
    ) -> Any:
        if decision.literal is not None:
            literal = self._literals.get(decision.id)
            if literal is None:
                literal = compile_feel(decision.literal.text, element_id=decision.id)
                self._literals[decision.id] = literal
            return literal.value(scope, now=now, tz=tz, reference=reference)
        assert decision.table is not None  # the reader made sure of one or the other
        compiled = self._tables.get(decision.id)
        if compiled is None:
            compiled = _CompiledTable(decision.id, decision.table)
            self._tables[decision.id] = compiled
        return _Table(decision.id, compiled, scope, now, tz, reference, element_id).result()


class _Table:
    """One evaluation of one decision table."""

    def __init__(
        self,
        decision_id: str,
        compiled: _CompiledTable,
        scope: Mapping[str, Any],
        now: datetime,
        tz: ZoneInfo,
        reference: Mapping[str, Any] | None,
        element_id: str | None,
    ) -> None:
        self.decision_id = decision_id
        self.element_id = element_id
        self.compiled = compiled
        self.table = compiled.table
        self.scope = scope
        self.now = now
        self.tz = tz
        self.reference = reference

    def error(self, message: str) -> DecisionError:
        return DecisionError(message, decision_id=self.decision_id, element_id=self.element_id)

    def result(self) -> Any:
        values = [
            expression.value(self.scope, now=self.now, tz=self.tz, reference=self.reference)
            for expression in self.compiled.inputs
        ]
        matched = [
            index
            for index, tests in enumerate(self.compiled.tests)
            if all(
                test.matches(value, self.scope, now=self.now, tz=self.tz)
                for test, value in zip(tests, values, strict=True)
            )
        ]
        policy = self.table.hit_policy
        if policy in ("PRIORITY", "OUTPUT ORDER"):
            matched.sort(key=self.priority)  # stable: equal priorities keep rule order
        if policy in SINGLE_HIT:
            return self.single(policy, matched)
        outputs = [self.outputs(index) for index in matched]
        aggregation = self.table.aggregation
        if aggregation is None:
            return [self.shape(o) for o in outputs]
        return self.aggregate(aggregation, [o[0] for o in outputs])

    def single(self, policy: str, matched: list[int]) -> Any:
        if not matched:
            return None
        if policy == "UNIQUE" and len(matched) > 1:
            raise self.error(
                f"hit policy UNIQUE, but {len(matched)} rules match: "
                f"{', '.join(self.rule_name(i) for i in matched)}"
            )
        first = self.outputs(matched[0])
        if policy == "ANY":
            for index in matched[1:]:
                if self.outputs(index) != first:
                    raise self.error(
                        f"hit policy ANY, but the matching rules {self.rule_name(matched[0])} "
                        f"and {self.rule_name(index)} give different outputs"
                    )
        return self.shape(first)

    def outputs(self, index: int) -> list[Any]:
        return [
            None
            if expression is None
            else expression.value(self.scope, now=self.now, tz=self.tz, reference=self.reference)
            for expression in self.compiled.outputs[index]
        ]

    def shape(self, outputs: list[Any]) -> Any:
        """One rule's outputs: the value of a single column, else a context by name."""
        if len(self.table.outputs) == 1:
            return outputs[0]
        return {o.name or "": value for o, value in zip(self.table.outputs, outputs, strict=True)}

    def priority(self, index: int) -> tuple[int, ...]:
        """A rule's rank by its outputs' places in the columns' output values (first is
        highest; a value not listed ranks last)."""
        outputs = self.outputs(index)
        key: list[int] = []
        for column, values in enumerate(self.compiled.priorities):
            if values is None:
                continue
            value = outputs[column]
            key.append(next((i for i, v in enumerate(values) if v == value), len(values)))
        return tuple(key)

    def aggregate(self, aggregation: str, values: list[Any]) -> Any:
        if aggregation == "COUNT":
            return Decimal(len(values))
        present = [v for v in values if v is not None]
        if not present:
            return None
        if aggregation == "SUM":
            if not all(isinstance(v, Decimal) for v in present):
                raise self.error(
                    f"COLLECT SUM over values that are not all numbers: {_show(present)}"
                )
            return sum(present, Decimal(0))
        kinds = {type(v) for v in present}
        if len(kinds) != 1 or isinstance(present[0], bool | dict | list):
            raise self.error(
                f"COLLECT {aggregation} over values that cannot be compared: {_show(present)}"
            )
        try:
            return min(present) if aggregation == "MIN" else max(present)
        except TypeError as exc:
            raise self.error(
                f"COLLECT {aggregation} over values that cannot be compared: {_show(present)}"
            ) from exc

    def rule_name(self, index: int) -> str:
        rule: Rule = self.table.rules[index]
        return f"rule {index + 1}" + (f" ({rule.id})" if rule.id else "")


def _show(values: list[Any]) -> str:
    return "[" + ", ".join(render(v) for v in values) + "]"
