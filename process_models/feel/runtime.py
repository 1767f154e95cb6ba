"""What one evaluation carries: the case clock and zone, the deployed version's reference
data (and in it the working-day calendar), and the work bounds it enforces."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from process_models.feel.errors import FeelLimitError

__all__ = ["DEFAULT_FEEL_LIMITS", "FeelLimits", "Runtime"]


@dataclass(frozen=True, slots=True)
class FeelLimits:
    """Bounds on one evaluation, so that no model can hang a worker.

    Each is named in the `FeelLimitError` that reports it.
    """

    max_list_size: int = 100_000
    """The longest list (or range iterated) an expression may build."""
    max_steps: int = 1_000_000
    """Iterations (for, some, every, filters) and list items processed by functions."""
    max_call_depth: int = 64
    """Nested calls of functions defined in the expression (recursion)."""
    max_string_length: int = 1_000_000
    """The longest string an expression may build."""
    max_regex_length: int = 500
    """The longest pattern ``matches()``, ``replace()``, ``split()`` accept."""


DEFAULT_FEEL_LIMITS = FeelLimits()


@dataclass(slots=True)
class Runtime:
    """One evaluation's clock, zone, limits and counters; never shared between evaluations."""

    now: datetime
    """The case clock in the process's zone: what ``now()`` returns."""
    tz: ZoneInfo
    limits: FeelLimits
    expression: str
    reference: Mapping[str, Any] | None = None
    """The deployed version's reference data; its calendar snapshot serves the working-day
    functions (read only when one is called)."""
    element_id: str | None = None
    steps: int = 0
    depth: int = 0
    call: Callable[[Any, list[Any]], Any] = field(default=lambda f, args: None)

    def limit(self, limit: str, message: str) -> FeelLimitError:
        """The error for reaching ``limit``, naming it and (for a number) its value."""
        value = getattr(self.limits, limit, None)
        bound = f": more than the limit {limit} = {value:,}" if value is not None else ""
        return FeelLimitError(
            message + bound,
            limit=limit,
            expression=self.expression,
            element_id=self.element_id,
        )

    def tick(self, n: int = 1) -> None:
        """Count ``n`` steps of work; fail once they exceed ``max_steps``."""
        self.steps += n
        if self.steps > self.limits.max_steps:
            raise self.limit("max_steps", "the expression takes too many steps")

    def check_size(self, n: int) -> None:
        """Fail before building a list of ``n`` items when that exceeds ``max_list_size``."""
        if n > self.limits.max_list_size:
            raise self.limit("max_list_size", f"the expression builds a list of {n:,} items")

    def check_string(self, text: str) -> str:
        """``text``, if it is within ``max_string_length``."""
        if len(text) > self.limits.max_string_length:
            raise self.limit(
                "max_string_length", f"the expression builds a string of {len(text):,} characters"
            )
        return text
