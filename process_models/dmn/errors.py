"""Errors of DMN decisions.

The tree::

    ExpressionError (process_models.errors)   any model expression that fails
    └── DecisionError                         a decision cannot be evaluated: a hit policy
                                              is violated (UNIQUE, ANY), a required decision
                                              or an expression fails, the result is not JSON

A decision file that cannot be read or breaks a rule is a `ModelInvalidError` with every
`Problem` (file, line, decision, rule and column), as a BPMN file is. A `DecisionError` in a
case parks the business rule task's token in an incident, like a failing expression.
"""

from __future__ import annotations

from process_models.errors import ExpressionError

__all__ = ["DecisionError"]


class DecisionError(ExpressionError):
    """A decision's evaluation fails; ``decision_id`` names the decision at fault."""

    def __init__(self, message: str, *, decision_id: str, element_id: str | None = None) -> None:
        super().__init__(message, expression=decision_id, element_id=element_id)
        # Not ExpressionError's "(expression: …)" form: the decision is named up front.
        where = f"{element_id}: " if element_id else ""
        self.args = (f"{where}decision {decision_id!r}: {message}",)
        self.decision_id = decision_id

    def __str__(self) -> str:
        return str(self.args[0])
