"""DMN decisions as niva reads them: decision tables and literal expressions.

The schema holds what evaluation needs, with the source line of every element so that a
problem can point at it. Expressions stay text here; `process_models.dmn.evaluator`
compiles them once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Aggregation",
    "Decision",
    "DecisionTable",
    "DmnDefinitions",
    "HitPolicy",
    "InputClause",
    "LiteralExpression",
    "OutputClause",
    "Rule",
]

HitPolicy = Literal["UNIQUE", "FIRST", "PRIORITY", "ANY", "COLLECT", "RULE ORDER", "OUTPUT ORDER"]
Aggregation = Literal["SUM", "MIN", "MAX", "COUNT"]

#: Hit policies whose result is one rule's outputs (or null); the others give a list.
SINGLE_HIT: frozenset[str] = frozenset({"UNIQUE", "FIRST", "PRIORITY", "ANY"})


class _Element(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str | None = None
    line: int | None = None


class InputClause(_Element):
    """One input column: its label and the FEEL expression whose value the rules test."""

    label: str | None = None
    expression: str = ""
    expression_line: int | None = None


class OutputClause(_Element):
    """One output column: the name its value has in a context result, and the values
    (``outputValues``, FEEL literals) that order rules for PRIORITY and OUTPUT ORDER."""

    name: str | None = None
    label: str | None = None
    type_ref: str | None = None
    output_values: str | None = None


class Rule(_Element):
    """One row: a unary-tests text per input column, an expression per output column."""

    input_entries: list[str] = Field(default_factory=list)
    input_lines: list[int | None] = Field(default_factory=list)
    output_entries: list[str] = Field(default_factory=list)
    output_lines: list[int | None] = Field(default_factory=list)


class DecisionTable(_Element):
    """A ``decisionTable``."""

    hit_policy: HitPolicy = "UNIQUE"
    aggregation: Aggregation | None = None
    inputs: list[InputClause] = Field(default_factory=list)
    outputs: list[OutputClause] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)


class LiteralExpression(_Element):
    """A ``literalExpression``: one FEEL expression whose value is the decision's result."""

    text: str = ""


class Decision(_Element):
    """One ``decision``: a table or a literal expression, and the decisions it requires."""

    id: str
    name: str | None = None
    variable: str | None = Field(
        default=None, description="The name of its ``variable``, if it declares one."
    )
    required: list[str] = Field(
        default_factory=list, description="Ids of the decisions it requires, in model order."
    )
    table: DecisionTable | None = None
    literal: LiteralExpression | None = None

    @property
    def result_names(self) -> list[str]:
        """The names its result has in a requiring decision: its variable's name and its
        id (Camunda Modeler writes a variable only for literal expressions)."""
        return list(dict.fromkeys(n for n in (self.variable, self.id) if n))


class DmnDefinitions(_Element):
    """A DMN file: its decisions (a decision requirements graph) by id, in model order."""

    name: str | None = None
    namespace: str | None = None
    decisions: dict[str, Decision] = Field(default_factory=dict)

    def required_closure(self, decision_id: str) -> list[str]:
        """The decision and every decision it requires, directly or not, each once,
        required ones first (the order evaluation takes). The file was checked to be
        acyclic when read."""
        order: list[str] = []
        seen: set[str] = {decision_id}
        # Iterative depth-first walk: a long chain of requirements must not exhaust the stack.
        stack: list[tuple[str, int]] = [(decision_id, 0)]
        while stack:
            current, index = stack.pop()
            required = self.decisions[current].required
            if index < len(required):
                stack.append((current, index + 1))
                child = required[index]
                if child not in seen:
                    seen.add(child)
                    stack.append((child, 0))
            else:
                order.append(current)
        return order
