"""The API's request and response bodies.

They are kept apart from the engine's internal models (`workflows.contract`,
`workflows.state`, `process_models.deployments`) so that either side can change without
breaking the other; the routes convert between them with the ``from_*`` constructors here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from process_models.deployments import DeployedModel
from process_models.errors import Problem
from workflows.contract import (
    CompleteTaskResult,
    CorrelateMessageResult,
    IncidentView,
    InstanceView,
    JobView,
    OpenTask,
    TokenView,
)

__all__ = [
    "CancelRequest",
    "CompleteTaskRequest",
    "CompleteTaskResponse",
    "DeployedProcess",
    "DocumentItem",
    "DocumentList",
    "ErrorBody",
    "FieldError",
    "InboxTask",
    "IncidentItem",
    "InstanceDetail",
    "InstancePage",
    "InstanceStatus",
    "InstanceSummary",
    "MessageResponse",
    "ModelProblem",
    "OpenTaskItem",
    "PendingJobItem",
    "ProcessModelDetail",
    "ProcessModelVersion",
    "RetryIncidentRequest",
    "SendMessageRequest",
    "StartInstanceRequest",
    "StartInstanceResponse",
    "TaskDetail",
    "TaskPage",
    "TokenItem",
]

InstanceStatus = Literal["running", "completed", "cancelled", "failed"]
"""``failed``: Temporal ended the case without the model (terminated, timed out, failed)."""

BusinessKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^/\s][^/\x00-\x1f]*$",
        description="The case's key in the agency's register (e.g. a diary number); no "
        "'/' and no control characters, since it becomes part of the instance id in URLs.",
        examples=["SOS-2026-0042"],
    ),
]


# --- errors ---------------------------------------------------------------------------------


class FieldError(BaseModel):
    """One field of a request body or payload that is wrong."""

    loc: list[str | int] = Field(description="Where the field is, outermost first.")
    msg: str = Field(description="What is wrong with it.")


class ModelProblem(BaseModel):
    """One problem of a BPMN model that was refused."""

    message: str
    element_id: str | None = None
    line: int | None = None
    file: str | None = None

    @classmethod
    def from_problem(cls, problem: Problem) -> ModelProblem:
        """The API's view of a validation `Problem`."""
        return cls(
            message=problem.message,
            element_id=problem.element_id,
            line=problem.line,
            file=problem.file,
        )


class ErrorBody(BaseModel):
    """Every error answer: a short code, a sentence saying what is wrong and how to fix it,
    and where it helps the fields, model problems or the instance concerned."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": "not_found",
                    "detail": "no open task 'Review' in instance p:K; open tasks: none",
                }
            ]
        }
    )

    error: str = Field(
        description="A stable code: bad_request, unauthorized, forbidden, not_found, "
        "method_not_allowed, conflict, payload_too_large, unsupported_media_type, invalid, "
        "too_many_requests, internal, unavailable."
    )
    detail: str
    fields: list[FieldError] | None = Field(
        default=None, description="422: the fields that are wrong."
    )
    problems: list[ModelProblem] | None = Field(
        default=None, description="422 on deploying: every problem of the model."
    )
    instance_id: str | None = Field(
        default=None, description="409 on starting: the instance that has this business key."
    )
    accepts: list[str] | None = Field(
        default=None, description="409 on a message: the messages the case accepts now."
    )


# --- process models -------------------------------------------------------------------------


class DeployedProcess(BaseModel):
    """One process of a deployment; ``created`` is false when identical content was
    deployed before (it keeps its version)."""

    id: str
    version: int
    created: bool
    name: str | None = None
    forms: dict[str, int] = Field(
        default_factory=dict, description="The Camunda Forms it uses: form id to version."
    )
    decisions: dict[str, int] = Field(
        default_factory=dict,
        description="The DMN decisions its business rule tasks call: decision id to version.",
    )
    warnings: list[ModelProblem] = Field(
        default_factory=list,
        description="What validation warns of in its file (settings niva ignores, a called "
        "process not deployed yet); they did not stop the deployment.",
    )


class ProcessModelVersion(BaseModel):
    """One deployed version of a process."""

    id: str
    version: int
    name: str | None
    version_tag: str | None
    content_hash: str = Field(description="SHA-256 of the BPMN file.")
    timezone: str
    file_name: str
    deployed_at: datetime

    @classmethod
    def from_model(cls, model: DeployedModel) -> ProcessModelVersion:
        """The API's view of a `DeployedModel`."""
        return cls(
            id=model.process_id,
            version=model.version,
            name=model.name,
            version_tag=model.version_tag,
            content_hash=model.content_hash,
            timezone=model.timezone,
            file_name=model.file_name,
            deployed_at=model.deployed_at,
        )


class ProcessModelDetail(BaseModel):
    """A process with every deployed version, oldest first."""

    id: str
    name: str | None
    latest_version: int
    versions: list[ProcessModelVersion]


# --- instances ------------------------------------------------------------------------------


class StartInstanceRequest(BaseModel):
    """Start a case of a deployed process."""

    model_config = ConfigDict(extra="forbid")

    process_id: str = Field(min_length=1, max_length=200)
    version: int | None = Field(default=None, ge=1, description="Unset: the latest version.")
    business_key: BusinessKey
    title: str = Field(min_length=1, max_length=300, description="Shown in lists of cases.")
    variables: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="The start variables; checked against the start event's form if it has one.",
    )
    start_event: str | None = Field(
        default=None,
        max_length=200,
        description="The id of a message start event to start at; unset: the none start.",
    )


class StartInstanceResponse(BaseModel):
    """The case that was started."""

    instance_id: str
    process_id: str
    version: int


class OpenTaskItem(BaseModel):
    """An open user task, as shown everywhere."""

    task_id: str = Field(description="<element_id>[:<key>][#<n>], unique in the case.")
    element_id: str
    name: str | None
    candidates: list[str] = Field(
        description="Who may complete it: group:G, org:O or org:O/group:G; empty: anyone."
    )
    created: datetime
    due: datetime | None
    form_key: str | None

    @classmethod
    def from_open_task(cls, task: OpenTask) -> OpenTaskItem:
        """The API's view of the engine's `OpenTask`."""
        return cls(**_task_fields(task))


def _task_fields(task: OpenTask) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "element_id": task.element_id,
        "name": task.name,
        "candidates": list(task.candidates),
        "created": task.created,
        "due": task.due,
        "form_key": task.form_key,
    }


class InboxTask(OpenTaskItem):
    """An open task the caller may complete, with the case it belongs to."""

    instance_id: str
    process_id: str

    @classmethod
    def from_instance_task(cls, instance_id: str, process_id: str, task: OpenTask) -> InboxTask:
        """An `OpenTask` of instance ``instance_id``."""
        return cls(instance_id=instance_id, process_id=process_id, **_task_fields(task))


class TaskDetail(OpenTaskItem):
    """An open task with the JSON Schema of its form (None: any JSON object is accepted)."""

    instance_id: str
    may_complete: bool = Field(description="Whether the caller is one of the candidates.")
    form_schema: dict[str, Any] | None


class TaskPage(BaseModel):
    """A page of open tasks; pass ``next_page_token`` back for the next one."""

    tasks: list[InboxTask]
    unanswered: list[str] = Field(
        default_factory=list,
        description="Cases of this page that did not answer in time (no worker?): their "
        "tasks are missing; ask again later.",
    )
    next_page_token: str | None


class TokenItem(BaseModel):
    """Where a token of the case stands."""

    node_id: str
    status: Literal["ready", "waiting", "incident"]
    activity_id: str | None

    @classmethod
    def from_token(cls, token: TokenView) -> TokenItem:
        """The API's view of a `TokenView`."""
        return cls(node_id=token.node_id, status=token.status, activity_id=token.activity_id)


class IncidentItem(BaseModel):
    """An open incident: a token parked by a failure, resumed by a retry."""

    incident_id: str
    element_id: str
    kind: str
    message: str
    created: datetime

    @classmethod
    def from_incident(cls, incident: IncidentView) -> IncidentItem:
        """The API's view of an `IncidentView`."""
        return cls(
            incident_id=incident.incident_id,
            element_id=incident.element_id,
            kind=incident.kind,
            message=incident.message,
            created=incident.created,
        )


class PendingJobItem(BaseModel):
    """A service task whose job waits on the job workers' task queue for a job worker."""

    task_id: str
    element_id: str
    name: str | None
    type: str = Field(description="The job type: the activity a job worker must register.")
    task_queue: str = Field(description="The task queue its job waits on.")
    created: datetime

    @classmethod
    def from_job(cls, job: JobView) -> PendingJobItem:
        """The API's view of a `JobView`."""
        return cls(**job.model_dump())


class InstanceDetail(BaseModel):
    """One case: where it stands and what it waits for."""

    instance_id: str
    process_id: str
    version: int = Field(description="The model version the case runs.")
    business_key: str
    title: str
    status: InstanceStatus
    outcome: str | None
    variables: dict[str, JsonValue]
    open_tasks: list[OpenTaskItem]
    tokens: list[TokenItem]
    incidents: list[IncidentItem]
    accepts_messages: list[str]
    participants: list[str]
    pending_jobs: list[PendingJobItem] = Field(
        default_factory=list,
        description="Service tasks waiting for a job worker, with their job type and task queue.",
    )

    @classmethod
    def from_view(cls, instance_id: str, view: InstanceView) -> InstanceDetail:
        """The API's view of the ``state`` query."""
        return cls(
            instance_id=instance_id,
            process_id=view.process_id,
            version=view.version,
            business_key=view.business_key,
            title=view.title,
            status=view.status,
            outcome=view.outcome,
            variables=view.variables,
            open_tasks=[OpenTaskItem.from_open_task(t) for t in view.open_tasks],
            tokens=[TokenItem.from_token(t) for t in view.tokens],
            incidents=[IncidentItem.from_incident(i) for i in view.incidents],
            accepts_messages=list(view.accepts_messages),
            participants=list(view.participants),
            pending_jobs=[PendingJobItem.from_job(j) for j in view.pending_jobs],
        )


class InstanceSummary(BaseModel):
    """A case in a list, from Temporal's visibility store (may lag a second behind)."""

    instance_id: str
    process_id: str | None
    version: int | None
    business_key: str | None
    status: InstanceStatus
    outcome: str | None
    started: datetime | None
    closed: datetime | None
    open_tasks: list[str]
    next_deadline: datetime | None
    has_incident: bool


class InstancePage(BaseModel):
    """A page of cases; pass ``next_page_token`` back for the next one."""

    instances: list[InstanceSummary]
    next_page_token: str | None


class CompleteTaskRequest(BaseModel):
    """Submit a task's form."""

    model_config = ConfigDict(extra="forbid")

    payload: dict[str, JsonValue] = Field(default_factory=dict)
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A repeat with the same key (by the same principal) gets the first "
        "result, even after the case has ended; a key another principal used is refused "
        "(403). Use one per submission, and the same one when retrying it.",
    )


class CompleteTaskResponse(BaseModel):
    """The completion as the case recorded it; ``duplicate`` for a repeat."""

    task_id: str
    completed: datetime
    actor: str
    duplicate: bool

    @classmethod
    def from_result(cls, result: CompleteTaskResult) -> CompleteTaskResponse:
        """The API's view of a `CompleteTaskResult`."""
        return cls(
            task_id=result.task_id,
            completed=result.completed,
            actor=result.actor,
            duplicate=result.duplicate,
        )


class SendMessageRequest(BaseModel):
    """A message to the case (a withdrawal, a deadline extension)."""

    model_config = ConfigDict(extra="forbid")

    payload: dict[str, JsonValue] = Field(default_factory=dict)
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A repeat with the same key (by the same principal) is delivered once "
        "and gets the first result, even after the case has ended; a key another principal "
        "used is refused (403).",
    )


class MessageResponse(BaseModel):
    """Which elements received the message; ``buffered`` when it waits for one;
    ``duplicate`` for a repeat."""

    name: str
    received_by: list[str]
    buffered: bool
    duplicate: bool = False

    @classmethod
    def from_result(cls, result: CorrelateMessageResult) -> MessageResponse:
        """The API's view of a `CorrelateMessageResult`."""
        return cls(
            name=result.name,
            received_by=result.received_by,
            buffered=result.buffered,
            duplicate=result.duplicate,
        )


class RetryIncidentRequest(BaseModel):
    """Resume a token parked in an incident, optionally with corrected variables."""

    model_config = ConfigDict(extra="forbid")

    variables: dict[str, JsonValue] = Field(default_factory=dict)


class CancelRequest(BaseModel):
    """End a case now."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)


# --- documents ------------------------------------------------------------------------------


class DocumentItem(BaseModel):
    """A document filed under a case; its id is the SHA-256 of its bytes."""

    document_id: str
    sha256: str
    size: int | None = Field(default=None, description="Bytes; set on upload.")


class DocumentList(BaseModel):
    """The documents filed under a case, by id."""

    documents: list[DocumentItem]
