"""Errors of the FEEL evaluator.

The tree::

    ExpressionError (process_models.errors)   any model expression that fails
    └── FeelError                             a FEEL expression fails
        ├── FeelSyntaxError                   it does not parse; names line and column
        └── FeelLimitError                    it would do more work than a limit allows

FEEL itself has no runtime errors: anything that goes wrong (an unknown variable or
function, a type mismatch) yields ``null``, as Camunda's engine does. `FeelError` is raised
only where returning ``null`` would hide a fault: a syntax error, a limit reached, a failed
``assert()``, or a result JSON cannot hold.
"""

from __future__ import annotations

from process_models.errors import ExpressionError

__all__ = ["FeelError", "FeelLimitError", "FeelSyntaxError"]


class FeelError(ExpressionError):
    """A FEEL expression fails to compile or to evaluate."""


class FeelSyntaxError(FeelError):
    """The text is not FEEL; ``line`` and ``column`` (from 1) point at the fault."""

    def __init__(
        self,
        message: str,
        *,
        expression: str,
        line: int,
        column: int,
        element_id: str | None = None,
    ) -> None:
        source_line = expression.splitlines()[line - 1] if expression.strip() else ""
        caret = " " * (column - 1) + "^"
        super().__init__(
            f"line {line}, column {column}: {message}\n  {source_line}\n  {caret}",
            expression=expression,
            element_id=element_id,
        )
        self.line = line
        self.column = column


class FeelLimitError(FeelError):
    """The evaluation would exceed ``limit`` (its name, e.g. ``max_list_size``)."""

    def __init__(
        self, message: str, *, limit: str, expression: str, element_id: str | None = None
    ) -> None:
        super().__init__(message, expression=expression, element_id=element_id)
        self.limit = limit
