"""The contract between the engine and the activities it calls: one place for every name
that crosses from workflow code to an activity.

The interpreter calls a service task's activity by its registered type name with a
`ServiceCall`; the activity validates ``inputs`` into its own pydantic input model and
returns its own result model. A business failure the model may catch is an
``ApplicationError`` of type `BPMN_ERROR_TYPE` (``activities.service_call.bpmn_error``
builds one). Call activities resolve their child's model through the activity named
`RESOLVE_MODEL_ACTIVITY`.

Job workers: a task type niva does not implement runs as an activity of that name on the
task queue `JOBS_TASK_QUEUE` (``NIVA_WORKER_JOBS_TASK_QUEUE``), served by any Temporal
worker in any SDK language. It receives a `JobCall` (the envelope plus the variables the
task sees and its headers) and returns a JSON object of result variables; a BPMN error is
an ``ApplicationError`` of type `BPMN_ERROR_TYPE`, non-retryable, whose first detail is
``{"code": ..., "message"?: ..., "variables"?: {...}}``. A case carries its `JobRouting`.
Execution listeners are jobs of the same kind; a user task listener's job returns a
`TaskListenerResult` instead of variables.

``process_models`` (the registry of task types), ``workflows`` (the interpreter's Temporal
side) and ``activities`` (the implementations) all import their names from here, so this
module imports none of them and nothing of Temporal.

Idempotency: an activity's effect is keyed by ``case_id`` + ``task_id``. The task id is
unique in the case across continue-as-new (``ReferralResponse:SE-AB``,
``AnnualFollowUp#3``), so a retry, or a replay of the whole case, never repeats an effect.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    model_serializer,
)

__all__ = [
    "BPMN_ERROR_TYPE",
    "BUILTIN_TASK_TYPE_NAMES",
    "CALENDAR_YEARS_ACTIVITY",
    "DEFAULT_JOB_RETRIES",
    "JOBS_TASK_QUEUE",
    "NOTIFY",
    "RECORD_FOLLOW_UP",
    "RENDER_DOCUMENT",
    "RESOLVE_MODEL_ACTIVITY",
    "SEND_MESSAGE",
    "JobCall",
    "JobRouting",
    "ServiceCall",
    "TaskListenerCorrections",
    "TaskListenerResult",
    "idempotency_key",
]

BPMN_ERROR_TYPE = "BpmnError"
"""The ``ApplicationError.type`` of an error a model can catch with an error boundary."""

RESOLVE_MODEL_ACTIVITY = "niva.resolve_model"
"""The activity that resolves a call activity's child model from the model store."""
CALENDAR_YEARS_ACTIVITY = "niva.calendar_years"
"""The local activity that gives a case the working-day calendar years its deployed
version's snapshot lacks (`process_models.calendars.extension_wanted`)."""

NOTIFY = "notify"
"""Render a message from a template and deliver it."""
RENDER_DOCUMENT = "render_document"
"""Render a document from a template and store it write-once."""
SEND_MESSAGE = "send_message"
"""Deliver a message to another case."""
RECORD_FOLLOW_UP = "record_follow_up"
"""Write a permit's yearly follow-up to the statistics store, once per permit and year."""

BUILTIN_TASK_TYPE_NAMES: tuple[str, ...] = (NOTIFY, RENDER_DOCUMENT, SEND_MESSAGE, RECORD_FOLLOW_UP)
"""The service-task types niva implements itself; a worker registers an activity for each."""


JOBS_TASK_QUEUE = "niva-jobs"
"""The default task queue of job workers (``NIVA_WORKER_JOBS_TASK_QUEUE``)."""

DEFAULT_JOB_RETRIES = 3
"""How often a job runs when its task names no ``retries`` (Zeebe's default)."""


class JobRouting(BaseModel):
    """Where a case's jobs go: carried in its start input, kept across continue-as-new and
    handed to its child cases, so a case runs its jobs the same way all its life.

    Every case carries it, so it is written compactly: only the fields that differ from
    their defaults (usually none: ``"jobs": {}``).
    """

    task_queue: str = Field(
        default=JOBS_TASK_QUEUE, min_length=1, description="The job workers' task queue."
    )
    niva_types: list[str] = Field(
        default_factory=list,
        description="Task types niva's own worker runs besides `BUILTIN_TASK_TYPE_NAMES` "
        "(those registered when the case started); every other type is a job.",
    )
    schedule_to_start_seconds: float | None = Field(
        default=None,
        gt=0,
        description="A job no worker has taken this long after it was scheduled becomes an "
        "incident; unset, it waits for a worker (as Zeebe's jobs do).",
    )

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        defaults: dict[str, Any] = {
            "task_queue": JOBS_TASK_QUEUE,
            "niva_types": [],
            "schedule_to_start_seconds": None,
        }
        return {key: value for key, value in data.items() if defaults.get(key, ...) != value}

    @classmethod
    def for_registered(
        cls, registered: Iterable[str], *, task_queue: str = JOBS_TASK_QUEUE, **fields: Any
    ) -> JobRouting:
        """The routing of a case whose worker runs the ``registered`` task types."""
        extra = sorted(set(registered) - set(BUILTIN_TASK_TYPE_NAMES))
        return cls(task_queue=task_queue, niva_types=extra, **fields)

    def is_job(self, task_type: str) -> bool:
        """True when ``task_type`` runs on the job workers' queue."""
        return task_type not in BUILTIN_TASK_TYPE_NAMES and task_type not in self.niva_types


class ServiceCall(BaseModel):
    """What a service or send task hands its activity."""

    type: str = Field(description="The task type, e.g. 'notify', or a job's type.")
    element_id: str = Field(description="The BPMN element that runs the activity.")
    task_id: str = Field(description="Unique in the case: <element_id>[:<key>][#<n>].")
    case_id: str = Field(description="The workflow id: <process_id>:<business_key>.")
    process_id: str
    process_version: int
    business_key: str
    now: datetime = Field(
        description="The case's clock when the task started: renderings use it instead of "
        "the wall clock, so a retry produces the same bytes."
    )
    timezone: str = Field(description="The process's time zone, e.g. Europe/Stockholm.")
    inputs: dict[str, JsonValue] = Field(
        default_factory=dict, description="The task's niva:input mappings, evaluated."
    )


class JobCall(ServiceCall):
    """What a job worker's activity receives: the envelope, and what a Zeebe job carries."""

    variables: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="The variables the task sees, its input mappings applied.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="The task's headers (zeebe:taskHeaders), verbatim."
    )


class TaskListenerCorrections(BaseModel):
    """What a user task listener's job corrects in the task (Zeebe's names)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    assignee: str | None = None
    candidate_users: list[str] | None = Field(default=None, alias="candidateUsers")
    candidate_groups: list[str] | None = Field(default=None, alias="candidateGroups")
    due_date: str | None = Field(default=None, alias="dueDate")
    follow_up_date: str | None = Field(default=None, alias="followUpDate")
    priority: int | None = None


class TaskListenerResult(BaseModel):
    """What a user task listener's job returns (``zeebe:taskListener``): no variables
    (Camunda's rule), only corrections of the task and, for a completing listener, a
    denial of the completion. ``{}`` lets the lifecycle go on unchanged."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    denied: bool = False
    denied_reason: str | None = Field(default=None, alias="deniedReason")
    corrections: TaskListenerCorrections = Field(default_factory=TaskListenerCorrections)


def idempotency_key(call: ServiceCall) -> str:
    """``<case_id>/<task_id>``: the key of the activity's effect."""
    return f"{call.case_id}/{call.task_id}"
