"""What crosses the boundary of a process instance: its input, updates, queries and result.

One pydantic model per message (``<Thing><Op>Input`` / ``…Result``), so fields can be added
without breaking a running case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, JsonValue

from process_models.deployments import ModelSource
from process_models.limits import EngineLimits
from service_contract import JobRouting
from workflows.candidates import Actor
from workflows.state import InstanceState

__all__ = [
    "Actor",
    "CancelInput",
    "CompleteTaskInput",
    "CompleteTaskResult",
    "CorrelateMessageInput",
    "CorrelateMessageResult",
    "IncidentView",
    "InstanceResult",
    "InstanceView",
    "JobView",
    "OpenTask",
    "RetryIncidentInput",
    "StartInstanceInput",
    "TokenView",
]


class StartInstanceInput(BaseModel):
    """Starts a case, or continues one after continue-as-new (``state`` is set)."""

    model: ModelSource
    business_key: str
    title: str
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    start_event: str | None = Field(
        default=None, description="A message start event to start at; the none start if unset."
    )
    actor: Actor | None = None
    parent_workflow_id: str | None = None
    state: InstanceState | None = Field(
        default=None, description="Carried state when continuing as new."
    )
    continue_after_events: int = Field(
        default=1_000,
        ge=100,
        description="Continue as new at a quiet point once the history is this long "
        "(also whenever Temporal suggests it).",
    )
    limits: EngineLimits = Field(
        default_factory=EngineLimits,
        description="What the case may hold and do (`process_models.limits`); a child case "
        "inherits its parent's.",
    )
    depth: int = Field(
        default=0,
        ge=0,
        description="How many call activities started this case: 0 for a "
        "case started by a person or a schedule.",
    )
    api_url: str | None = Field(
        default=None,
        description="Where the API is served (NIVA_API_PUBLIC_URL): the case's current "
        "details in the Web UI link to its diagram page there. Unset: no link.",
    )
    jobs: JobRouting | None = Field(
        default=None,
        description="Where task types niva does not implement run (job workers); a child "
        "case inherits its parent's. Unset (cases started before job workers): every type "
        "runs on the case's own task queue.",
    )


class InstanceResult(BaseModel):
    """A case's result: how it ended and its final variables."""

    outcome: str | None
    variables: dict[str, JsonValue]


class CompleteTaskInput(BaseModel):
    """Complete an open user task."""

    task_id: str
    payload: dict[str, JsonValue] = Field(default_factory=dict)
    actor: Actor
    idempotency_key: str | None = Field(
        default=None, description="A repeat with the same key gets the first result."
    )
    request_id: str | None = Field(
        default=None,
        description="The sender's id of this very request, echoed in the result: a result "
        "that carries another id is the stored result of an earlier request with the same "
        "update id, which Temporal answers without running the update again.",
    )


class CompleteTaskResult(BaseModel):
    """The completion as recorded (``duplicate`` for a repeat of an earlier request)."""

    task_id: str
    completed: datetime
    actor: str
    duplicate: bool = False
    request_id: str | None = Field(
        default=None, description="The `CompleteTaskInput.request_id` this result answered."
    )


class CorrelateMessageInput(BaseModel):
    """Deliver a message to the subscriptions of that name waiting in the case."""

    name: str
    payload: dict[str, JsonValue] = Field(default_factory=dict)
    actor: Actor
    idempotency_key: str | None = Field(
        default=None, description="A repeat with the same key is delivered once."
    )
    correlation_key: str | None = Field(
        default=None,
        description="Published by key (`POST /messages`): only the subscriptions holding "
        "this key receive it, and the case never buffers it. None: every subscription of "
        "the name.",
    )


class CorrelateMessageResult(BaseModel):
    """Which elements received the message; ``buffered`` when it waits for one (ttl)."""

    name: str
    received_by: list[str]
    buffered: bool
    duplicate: bool = False


class RetryIncidentInput(BaseModel):
    """Resume a token parked in an incident, optionally with corrected variables."""

    incident_id: str
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    actor: Actor


class CancelInput(BaseModel):
    """End the case; attached children are cancelled, detached ones live on."""

    reason: str = Field(min_length=1)
    actor: Actor


class OpenTask(BaseModel):
    """An open user task as shown everywhere (queries, API, details)."""

    task_id: str
    element_id: str
    name: str | None
    candidates: list[str]
    created: datetime
    due: datetime | None
    form_key: str | None


class JobView(BaseModel):
    """A service task that waits for a job worker: its job is on the job workers' queue."""

    task_id: str
    element_id: str
    name: str | None
    type: str = Field(description="The job type: the activity a job worker must register.")
    task_queue: str = Field(description="The job workers' task queue it waits on.")
    created: datetime


class TokenView(BaseModel):
    """Where a token stands."""

    node_id: str
    status: Literal["ready", "waiting", "incident"]
    activity_id: str | None


class IncidentView(BaseModel):
    """An open incident."""

    incident_id: str
    element_id: str
    kind: str
    message: str
    created: datetime


class InstanceView(BaseModel):
    """The case as the ``state`` query shows it."""

    process_id: str
    version: int
    business_key: str
    title: str
    status: Literal["running", "completed", "cancelled"]
    outcome: str | None
    variables: dict[str, JsonValue]
    open_tasks: list[OpenTask]
    tokens: list[TokenView]
    incidents: list[IncidentView]
    accepts_messages: list[str]
    participants: list[str]
    pending_jobs: list[JobView] = Field(
        default_factory=list,
        description="The service tasks whose jobs wait on the job workers' task queue.",
    )
