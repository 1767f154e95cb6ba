"""The calendar a simulation prints: what happened to the case, when, in the process's zone.

Event kinds:

- ``started``, ``ended``: the case began, the case reached an end (``detail``: its outcome);
- ``task_opened`` (``detail``: when it falls due), ``task_completed`` (by the scenario),
  ``task_closed`` (ended without a completion, e.g. by a deadline);
- ``timer``: a timer event fired;
- ``message``: the scenario sent a message the case took; ``message_refused``: it did not;
- ``document``: a document that would be rendered; ``notification``: a notification that
  would be sent; ``case_message``: a message to another case that would be sent;
  ``service``: another service task's call;
- ``child_started``: a call activity started a child case;
- ``incident``: the case parked a token in an incident (``detail``: why).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["CalendarEvent", "EventKind", "Outcome", "SimulationResult", "calendar_table"]

EventKind = Literal[
    "started",
    "task_opened",
    "task_completed",
    "task_closed",
    "timer",
    "message",
    "message_refused",
    "document",
    "notification",
    "case_message",
    "signal",
    "service",
    "child_started",
    "incident",
    "ended",
]

Outcome = Literal["ended", "waiting", "stranded", "incident", "failed"]
"""How the simulation left the case: it ended; it waits at the horizon (on open tasks, timers
or messages); it runs with nothing to wait for; it parked in an incident; it failed."""


class CalendarEvent(BaseModel):
    """One entry of the calendar."""

    at: datetime
    kind: EventKind
    element_id: str | None = None
    task_id: str | None = None
    detail: str | None = None


class SimulationResult(BaseModel):
    """The calendar of one simulated case and how it ended; ``--json`` prints this."""

    process_id: str
    version: int
    timezone: str
    start: datetime
    horizon_end: datetime
    events: list[CalendarEvent]
    outcome: Outcome
    outcome_detail: str | None = None
    stranded: bool = Field(description="The case runs with nothing left to wait for.")

    @property
    def exit_code(self) -> int:
        """0 when the case ended or waits at the horizon, 1 otherwise."""
        return 0 if self.outcome in ("ended", "waiting") else 1


def _when(at: datetime, tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def calendar_table(result: SimulationResult, tz: tzinfo) -> list[str]:
    """The calendar as aligned text lines, dates in ``tz``, then the outcome."""
    headers = ["date", "kind", "element", "task", "detail"]
    rows = [
        [
            _when(event.at, tz),
            event.kind,
            event.element_id or "",
            event.task_id or "",
            event.detail or "",
        ]
        for event in result.events
    ]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    outcome = f"outcome: {result.outcome}"
    if result.outcome_detail:
        outcome += f" ({result.outcome_detail})"
    lines.append(outcome + f" at {_when(result.horizon_end, tz)}" * (result.outcome == "waiting"))
    return lines
