"""The limits a case runs under, so that no model or request can wedge it.

Temporal has hard limits of its own (2 MB per payload, 2 KB per search-attribute value,
2,000 pending activities or children per run, a workflow task that must finish within
seconds). A case that crossed one of them used to fail its workflow task for ever. These
limits are checked before that happens, and each ends in an incident on the element that
crossed it (or in a refused request), which an operator can see, retry or cancel.

`EngineLimits` is the one source of the defaults. It travels in the case's start input
(`workflows.contract.StartInstanceInput.limits`), so a case keeps the limits it started
with across continue-as-new and replay, and a child case inherits its parent's. The
settings class ``starter.settings.LimitSettings`` reads the same fields from
``NIVA_LIMITS_<FIELD>``.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

__all__ = ["DEFAULT_LIMITS", "MIN_CYCLE_PERIOD", "EngineLimits"]

MIN_CYCLE_PERIOD = timedelta(minutes=1)
"""The shortest period a ``timeCycle`` may have by default (validation and run time)."""


class EngineLimits(BaseModel):
    """What one case may hold and do; each field documents what happens beyond it."""

    max_multi_instance: int = Field(
        default=1_000,
        ge=1,
        description="The most instances one multi-instance activity may create; a larger "
        "collection or cardinality is an incident on the activity when it is entered.",
    )
    max_in_flight: int = Field(
        default=500,
        ge=1,
        le=1_900,
        description="The most service activities and child cases one case runs at once "
        "(and the most instances a parallel multi-instance service task, call activity or "
        "subprocess creates at once); the others wait and start as running ones end "
        "(Temporal allows 2,000 pending activities or children per run).",
    )
    max_steps: int = Field(
        default=2_000,
        ge=100,
        description="The most steps (a token entering or leaving an element) the case takes "
        "in one workflow task without waiting; beyond it the token that was moving is parked "
        "in an incident (a loop without a wait state, or a very long chain of elements), and "
        "a retry of the incident continues from there.",
    )
    max_tokens: int = Field(
        default=1_000,
        ge=10,
        description="The most tokens a case may hold at once; a parallel fork that would "
        "exceed it is an incident on the fork (a loop through a fork multiplies tokens).",
    )
    expression_cost: int = Field(
        default=1_000_000,
        ge=1_000,
        description="The most comprehension steps an expression may take, estimated before "
        "it runs from the nesting of all()/exists()/map()/filter() and the size of the "
        "largest list or map it reads; a costlier expression is an incident.",
    )
    max_variables_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=1_500_000,
        description="The most bytes the case's variables may take as JSON (Temporal allows "
        "2 MB per payload, and the state travels as one). A completion or message that "
        "would exceed it is refused (422); a model step that would is an incident.",
    )
    max_call_depth: int = Field(
        default=50,
        ge=1,
        description="How deep call activities may nest (a case started by a case started "
        "by …); a call beyond it is an incident on the call activity.",
    )
    max_compensable: int = Field(
        default=1_000,
        ge=1,
        description="The most completed activities awaiting compensation one case may hold "
        "(each completion of an activity with a compensation handler adds one until it is "
        "compensated or its scope ends); completing one more is an incident on the token "
        "(a loop through a compensable activity).",
    )
    min_cycle_seconds: float = Field(
        default=MIN_CYCLE_PERIOD.total_seconds(),
        ge=1,
        description="The shortest period of a timeCycle, in seconds: a model with a shorter "
        "literal cycle does not validate; a cycle computed by an expression below it is an "
        "incident.",
    )

    @property
    def min_cycle_period(self) -> timedelta:
        """`min_cycle_seconds` as a duration."""
        return timedelta(seconds=self.min_cycle_seconds)


DEFAULT_LIMITS = EngineLimits()
"""The limits of a case that was started without naming any."""
