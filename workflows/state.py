"""The state of one process instance: one pydantic model, carried across continue-as-new.

Everything the interpreter knows about a case lives here: tokens, scopes (subprocess and
multi-instance instances with their local variables), open activities (user tasks, service
calls, children), armed timers with absolute fire times, message, signal and condition
subscriptions, buffered messages, incidents, visit counters and the audit trail of the
current run.
Collections are dicts keyed by id: their order is insertion order, so iteration is
deterministic.

Schema changes are additive (new fields with defaults). When one cannot be, bump
`SCHEMA_VERSION` and add a function to `MIGRATIONS` that upgrades the previous version's
JSON, so every recorded history still replays: `InstanceState` runs the migrations whenever
it is read from JSON, including the state a case carries across continue-as-new.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, JsonValue, model_validator

from workflows.effects import StartChild, StartService

__all__ = [
    "MIGRATIONS",
    "ROOT_SCOPE",
    "SCHEMA_VERSION",
    "Activity",
    "AuditEntry",
    "BufferedMessage",
    "Compensable",
    "CompensationRun",
    "CompletedTask",
    "ConditionSubscription",
    "Incident",
    "IncidentKind",
    "InstanceState",
    "MigrationRecord",
    "MultiInstanceState",
    "Scope",
    "SignalSubscription",
    "Subscription",
    "Timer",
    "Token",
    "migrate",
    "upgrade",
]

SCHEMA_VERSION = 1
ROOT_SCOPE = "~root"

IncidentKind = Literal[
    "expression", "gateway", "activity", "error", "child", "start", "message", "limit"
]
"""What parked a token: the one list shared by `ModelFailure` and `Incident`, so a model
failure of any kind becomes an incident, never a validation error of the state."""

Json = dict[str, JsonValue]


class Token(BaseModel):
    """A token: a place in the graph where execution stands or is about to move."""

    id: str
    node_id: str
    scope_id: str
    via_flow: str | None = Field(default=None, description="The flow it arrived by.")
    status: Literal["ready", "waiting", "incident"] = "ready"
    phase: Literal["enter", "complete", "end"] = Field(
        default="enter",
        description="enter: run the node; complete: its activity finished, map the outputs "
        "and leave; end: outputs mapped, its end listeners run (`workflows.listeners`). A "
        "failure in any parks the token in an incident at that phase.",
    )
    activity_id: str | None = Field(default=None, description="The activity it waits in.")
    payload: Json | None = Field(default=None, description="Submitted payload to map out.")
    result: JsonValue = Field(default=None, description="Activity or child result to map out.")
    actor: str | None = None
    locals: Json | None = Field(
        default=None,
        description="Camunda 8: the task's input mappings, its local variables until its "
        "outputs are mapped (seen by the task and its outputs, never by the scope).",
    )
    listeners_done: int = Field(
        default=0,
        description="Execution listeners of the current phase that have run "
        "(`workflows.listeners`); 0 again when the token leaves.",
    )
    listener_locals: Json | None = Field(
        default=None,
        description="Camunda 8: the start listeners' result variables, local to the element.",
    )
    process_listeners: bool = Field(
        default=False, description="The listeners it runs are the process's, not the element's."
    )
    completing: bool = Field(
        default=False,
        description="Camunda 8: its user task's completion was accepted and the task's "
        "completing listeners run (`workflows.listeners`); the completion waits in "
        "``payload``.",
    )
    task_corrections: Json | None = Field(
        default=None,
        description="Camunda 8: what the user task's creating listeners corrected "
        "(assignee, candidate users and groups), applied when the task opens.",
    )


class Scope(BaseModel):
    """A running embedded subprocess or multi-instance instance, with local variables."""

    id: str
    element_id: str
    parent_id: str
    activity_id: str = Field(description="The activity that owns this scope.")
    key: str | None = Field(default=None, description="Multi-instance key, if any.")
    variables: Json = Field(default_factory=dict)


class MultiInstanceState(BaseModel):
    """The fan-out of a multi-instance activity."""

    keys: list[str]
    items: list[JsonValue]
    sequential: bool
    next_index: int = 0
    running: list[str] = Field(default_factory=list, description="Instance activity ids.")
    completed: int = 0


class Activity(BaseModel):
    """An activity instance: a task, subprocess, call or multi-instance body."""

    id: str = Field(description="The task id: <element_id>[:<key>][#<n>].")
    element_id: str
    kind: str
    name: str | None = None
    scope_id: str
    token_id: str
    status: Literal["active", "incident"] = "active"
    created: datetime
    key: str | None = None
    parent_activity: str | None = Field(
        default=None, description="The multi-instance body this instance belongs to."
    )
    # user tasks
    candidate_groups: list[str] = Field(default_factory=list)
    candidate_orgs: list[str] = Field(default_factory=list)
    candidate_users: list[str] = Field(
        default_factory=list, description="Principals by subject (a Camunda 8 assignee)."
    )
    form_key: str | None = None
    due: datetime | None = None
    # service tasks
    attempt: int = 0
    task_type: str | None = Field(
        default=None,
        description="The type its activity was started with (a computed job type, evaluated); "
        "None before it starts, and in states saved before the type was kept.",
    )
    # subprocess / multi-instance
    inner_scope: str | None = None
    multi: MultiInstanceState | None = None
    # call activities
    child_workflow_id: str | None = None


class Timer(BaseModel):
    """An armed timer with its absolute fire time (survives continue-as-new as is)."""

    id: str
    element_id: str = Field(description="The timer event.")
    owner: str = Field(description="Activity id (boundary), token id (catch) or scope id.")
    fire_at: datetime
    armed_at: datetime
    fired: int = 0


class Subscription(BaseModel):
    """A message the case waits for at an element."""

    id: str
    element_id: str
    message_name: str
    owner: str = Field(description="Activity id (boundary/receive), token id or scope id.")
    candidate_groups: list[str] = Field(default_factory=list)
    candidate_orgs: list[str] = Field(default_factory=list)
    correlation_key: str | None = Field(
        default=None,
        description="The key a message must carry to reach it (evaluated when it opened); "
        "None: any message of the name sent to the case.",
    )


class SignalSubscription(BaseModel):
    """A signal the case waits for at an element (a catch, boundary or start event)."""

    id: str
    element_id: str
    signal_name: str
    owner: str = Field(description="Activity id (boundary), token id or scope id.")
    candidate_groups: list[str] = Field(
        default_factory=list, description="Who may broadcast it (`signals.DEFAULT_BROADCASTERS`)."
    )
    candidate_orgs: list[str] = Field(default_factory=list)


class ConditionSubscription(BaseModel):
    """A conditional event armed at an element (`workflows.conditions`): it fires when
    its condition turns true."""

    id: str
    element_id: str
    owner: str = Field(description="Activity id (boundary), token id (catch) or scope id.")
    scope_id: str = Field(description="The scope whose variables the condition reads.")
    seen: str | None = Field(
        default=None,
        description="Digest of the variables the condition read when last evaluated; "
        "None: not evaluated since it was armed (or since its incident was retried).",
    )
    held: bool = Field(default=False, description="The condition held when last evaluated.")
    incident_id: str | None = Field(
        default=None, description="The open incident of a failed evaluation, if any."
    )


class BufferedMessage(BaseModel):
    """A message that arrived before its subscription, kept until ``expires``."""

    name: str
    payload: Json
    actor: str | None
    org: str | None
    roles: list[str] = Field(
        default_factory=list, description="The sender's roles, checked again on delivery."
    )
    received: datetime
    expires: datetime


class Incident(BaseModel):
    """A token parked by a failure in the model or an activity; resolved by a retry."""

    id: str
    element_id: str
    token_id: str | None = None
    activity_id: str | None = None
    kind: IncidentKind
    message: str
    created: datetime


class Compensable(BaseModel):
    """A completed activity whose compensation is installed (`workflows.compensation`).

    Kept only for activities with a compensation boundary event in the model, once per
    completion (an instance of a multi-instance activity each); dropped when it is
    compensated, when the scope it belongs to is cancelled, and when the case ends.
    """

    activity_id: str = Field(description="The completed activity's task id.")
    element_id: str
    handler_id: str = Field(description="The compensation handler's element id.")
    scope_id: str = Field(description="The scope a compensation throw finds it in.")
    via: str | None = Field(
        default=None,
        description="The completed embedded subprocess it was compensable within, once "
        "that subprocess ended and handed it to its own scope.",
    )
    variables: Json = Field(
        default_factory=dict,
        description="Local variables of the instance and subprocess scopes it ran in, as "
        "they were when those ended: what its handler sees besides the current ones.",
    )


class CompensationRun(BaseModel):
    """A compensation throw waiting for its handlers, which run one after another."""

    id: str
    token_id: str = Field(description="The throwing token, waiting for the handlers.")
    element_id: str = Field(description="The compensation throw or end event.")
    pending: list[Compensable] = Field(
        default_factory=list, description="To compensate after the current one, next first."
    )
    current: Compensable | None = None
    handler_scope: str | None = Field(
        default=None, description="The scope the current handler runs in."
    )


class CompletedTask(BaseModel):
    """A completed user task, kept so a repeated request gets the first answer."""

    task_id: str
    completed: datetime
    actor: str
    idempotency_key: str | None = None


class AuditEntry(BaseModel):
    """One line of the decision trail."""

    at: datetime
    kind: str
    element_id: str | None = None
    task_id: str | None = None
    actor: str | None = None
    org: str | None = None
    payload_digest: str | None = None
    detail: str | None = None
    model_version: int


class MigrationRecord(BaseModel):
    """A migration the case applied (`workflows.migration`): kept for the case's life, so
    a repeat of the same migration is recognised after continue-as-new."""

    migration_id: str
    at: datetime
    actor: str
    source: str = Field(description="The version migrated from (``<process> v<n>``).")
    target: str = Field(description="The version migrated to.")
    plan_hash: str


class InstanceState(BaseModel):
    """Everything the interpreter knows about one case."""

    schema_version: int = SCHEMA_VERSION
    process_id: str
    version: int
    business_key: str
    title: str
    variables: Json = Field(default_factory=dict, description="The root scope's variables.")
    tokens: dict[str, Token] = Field(default_factory=dict)
    scopes: dict[str, Scope] = Field(default_factory=dict)
    activities: dict[str, Activity] = Field(default_factory=dict)
    timers: dict[str, Timer] = Field(default_factory=dict)
    subscriptions: dict[str, Subscription] = Field(default_factory=dict)
    signal_subscriptions: dict[str, SignalSubscription] = Field(default_factory=dict)
    condition_subscriptions: dict[str, ConditionSubscription] = Field(default_factory=dict)
    buffered: list[BufferedMessage] = Field(default_factory=list)
    incidents: dict[str, Incident] = Field(default_factory=dict)
    completed_tasks: dict[str, CompletedTask] = Field(default_factory=dict)
    delivered_messages: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Idempotency key of each delivered message -> the elements it reached.",
    )
    message_senders: dict[str, str] = Field(
        default_factory=dict,
        description="Idempotency key of each delivered message -> the subject who sent it.",
    )
    signals_taken: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Broadcast id of each signal the case took -> the elements it reached; "
        "the latest `workflows.signals.TAKEN_SIGNALS_KEPT` only, oldest dropped first.",
    )
    visits: dict[str, int] = Field(default_factory=dict)
    participants: list[str] = Field(default_factory=list)
    children: list[str] = Field(
        default_factory=list, description="Workflow ids of every child case ever started."
    )
    seq: int = 0
    held: list[Annotated[StartService | StartChild, Field(discriminator="kind")]] = Field(
        default_factory=list,
        description="Service activities and child cases waiting for room under the case's "
        "max_in_flight, oldest first (their inputs evaluated when they were entered).",
    )
    calendar_years: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Working-day calendar years the case added to its version's snapshot "
        "(its holidays per year as MM-DD, as in the snapshot), recorded when it needed them.",
    )
    audit: list[AuditEntry] = Field(default_factory=list)
    compensable: list[Compensable] = Field(
        default_factory=list,
        description="Installed compensations, oldest completion first (`Compensable`).",
    )
    compensations: dict[str, CompensationRun] = Field(
        default_factory=dict, description="Compensation throws waiting for their handlers."
    )
    migrations: list[MigrationRecord] = Field(
        default_factory=list, description="Every migration the case applied, oldest first."
    )
    ended: bool = False
    outcome: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Stored state of an earlier schema version (carried across continue-as-new, or
        read back from a query) is upgraded before it is read."""
        return upgrade(data) if isinstance(data, dict) else data

    def checkpoint(self) -> InstanceState:
        """A copy of the state to roll a failed step back to.

        Deep, except for the fields whose entries a step only ever adds and never changes
        (the audit trail, completed tasks, delivered messages, participants, children,
        visit counters): those are copied one level deep, sharing their entries. The
        audit trail grows all case long, and copying every entry of it before every step
        made the cost of a step grow with the age of the case.
        """
        shared = {name: getattr(self, name) for name in _ADD_ONLY}
        for name in _ADD_ONLY:
            setattr(self, name, None)
        try:
            copy = self.model_copy(deep=True)
        finally:
            for name, value in shared.items():
                setattr(self, name, value)
        for name, value in shared.items():
            setattr(copy, name, value.copy())
        return copy

    def next_id(self, prefix: str) -> str:
        """A new internal id, unique in the case across continue-as-new (the counter is
        carried). The ``~`` cannot occur in a BPMN id (an XML NCName), so an internal id
        never equals a task id."""
        self.seq += 1
        return f"~{prefix}{self.seq}"


_ADD_ONLY = (
    "audit",
    "completed_tasks",
    "delivered_messages",
    "message_senders",
    "participants",
    "children",
    "visits",
)
"""Fields whose entries are immutable once added (`InstanceState.checkpoint` shares them)."""


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
"""Upgrade functions by the version they upgrade *from*; none yet (version 1)."""


def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """Stored state JSON of any earlier schema version, upgraded step by step to
    `SCHEMA_VERSION` (the input is not changed). `InstanceState` runs it on every load."""
    version = int(raw.get("schema_version", 1))
    if version >= SCHEMA_VERSION:
        return raw
    raw = dict(raw)
    while version < SCHEMA_VERSION:
        raw = MIGRATIONS[version](raw)
        version += 1
        raw["schema_version"] = version
    return raw


def migrate(raw: dict[str, Any]) -> InstanceState:
    """Read stored state of any earlier schema version, upgrading it step by step."""
    return InstanceState.model_validate(raw)
