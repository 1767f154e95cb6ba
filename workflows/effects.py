"""What the interpreter asks of Temporal: start or cancel activities and child cases, and
pass an escalation a called case did not catch to its caller.

The interpreter is pure state manipulation; it returns these effects and the workflow
(`workflows.process_instance`) carries them out with Temporal's APIs. That seam keeps the
BPMN semantics testable without a server and keeps every Temporal command in one place.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, JsonValue

__all__ = [
    "CancelChild",
    "CancelService",
    "Effect",
    "EscalateToCaller",
    "StartChild",
    "StartService",
]


class StartService(BaseModel):
    """Run a service task's activity."""

    kind: Literal["start_service"] = "start_service"
    activity_id: str = Field(description="The task id; also the idempotency key.")
    attempt: int = Field(description="0 first; +1 for each incident retry.")
    type: str
    element_id: str
    name: str | None
    inputs: dict[str, JsonValue]
    retries: int | None
    timeout_seconds: float | None
    scope_id: str | None = Field(
        default=None, description="The task's scope: a job sees the variables visible there."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Passed to a job.")


class CancelService(BaseModel):
    """Cancel a running service activity (an interrupting event ended its task)."""

    kind: Literal["cancel_service"] = "cancel_service"
    activity_id: str


class StartChild(BaseModel):
    """Start a child case for a call activity."""

    kind: Literal["start_child"] = "start_child"
    activity_id: str
    process_id: str
    version: int | None
    workflow_id: str
    business_key: str
    title: str
    variables: dict[str, JsonValue]
    detached: bool


class CancelChild(BaseModel):
    """Cancel an attached child case (its call activity was interrupted or cancelled)."""

    kind: Literal["cancel_child"] = "cancel_child"
    activity_id: str
    workflow_id: str


class EscalateToCaller(BaseModel):
    """Pass an escalation this called case did not catch to the call activity that
    started it (Camunda 8's rule); the thrower has gone on already."""

    kind: Literal["escalate_to_caller"] = "escalate_to_caller"
    element_id: str = Field(
        description="What threw it here: an escalation event, or a call activity passing "
        "on its own child's escalation."
    )
    code: str


Effect = StartService | CancelService | StartChild | CancelChild | EscalateToCaller
