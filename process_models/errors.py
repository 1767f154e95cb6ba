"""Errors raised while reading, validating and deploying process models.

The tree::

    ModelError                      anything wrong with a process model
    ├── BpmnReadError               the file cannot be read as BPMN 2.0 at all
    │                               (not XML, hostile XML, too large, wrong root)
    ├── ModelInvalidError           the file was read but breaks one or more rules;
    │                               carries every `Problem` found, not just the first
    ├── ExpressionError             a CEL expression does not compile or fails to run
    ├── TimerSpecError              a timer value is not ISO 8601 as BPMN tools write it
    └── DeploymentError             the model store refuses an operation
        ├── UnknownModelError       no deployed model has that process id / version
        └── ModelTooLargeError      a file is larger than a deployment accepts

Every error names what is wrong, where (element id, source line) and, where it helps,
how to fix it. None of them leaves anything half-changed: reading and validating are
pure, and a deployment is written in full or not at all.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = [
    "BpmnReadError",
    "DeploymentError",
    "ExpressionError",
    "ModelError",
    "ModelInvalidError",
    "ModelTooLargeError",
    "Problem",
    "TimerSpecError",
    "UnknownModelError",
]


class Problem(BaseModel):
    """One thing wrong with a model, located as precisely as the source allows."""

    model_config = ConfigDict(frozen=True)

    message: str
    element_id: str | None = None
    line: int | None = None
    file: str | None = None

    def format(self, file: str | None = None) -> str:
        """Render as ``file:line: element_id: message``, the form editors jump to.

        A problem of the whole file (no line known) points at line 1: editors count from 1.
        """
        where = file or self.file or "<model>"
        line = self.line if self.line is not None else 1
        element = self.element_id or "-"
        return f"{where}:{line}: {element}: {self.message}"


class ModelError(Exception):
    """Base of every process-model error."""


class BpmnReadError(ModelError):
    """The input is not a readable BPMN 2.0 document."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line
        # Without a line the whole input is at fault (empty, too large): its first line.
        self.problem = Problem(message=message, line=line if line is not None else 1)


class ModelInvalidError(ModelError):
    """The model was read but breaks rules; `problems` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(p.format() for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the model:\n{lines}")


class ExpressionError(ModelError):
    """A CEL expression does not compile, or its evaluation fails."""

    def __init__(self, message: str, *, expression: str, element_id: str | None = None) -> None:
        where = f"{element_id}: " if element_id else ""
        super().__init__(f"{where}{message} (expression: {expression})")
        self.reason = message
        self.expression = expression
        self.element_id = element_id


class TimerSpecError(ModelError):
    """A timer value is not an ISO 8601 duration, date-time or repeating interval."""

    def __init__(self, message: str, *, value: str, element_id: str | None = None) -> None:
        where = f"{element_id}: " if element_id else ""
        super().__init__(f"{where}{message} (value: {value!r})")
        self.reason = message
        self.value = value
        self.element_id = element_id


class DeploymentError(ModelError):
    """The model store refuses an operation."""


class UnknownModelError(DeploymentError):
    """No deployed model has the requested process id or version."""


class ModelTooLargeError(DeploymentError):
    """A file is larger than a deployment accepts; the message names the limit's setting."""

    def __init__(self, message: str, *, file: str, size: int, limit: int) -> None:
        super().__init__(message)
        self.file = file
        self.size = size
        self.limit = limit
