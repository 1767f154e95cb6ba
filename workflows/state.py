"""The state of one process instance: one pydantic model, carried across continue-as-new.

Everything the interpreter knows about a case lives here: tokens, scopes (subprocess and
multi-instance instances with their local variables), open activities (user tasks, service
calls, children), armed timers with absolute fire times, message subscriptions and buffered
messages, incidents, visit counters and the audit trail of the current run. Collections
are dicts keyed by id: their order is insertion order, so iteration is deterministic.

Schema changes are additive (new fields with defaults). When one cannot be, bump
`SCHEMA_VERSION` and add a function to `MIGRATIONS` that upgrades the previous version's
JSON, so every recorded history still replays: `InstanceState` runs the migrations whenever
it is read from JSON, including the state a case carries across continue-as-new.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, JsonValue, model_validator

__all__ = [
    "MIGRATIONS",
    "ROOT_SCOPE",
    "SCHEMA_VERSION",
    "Activity",
    "AuditEntry",
    "BufferedMessage",
    "CompletedTask",
    "Incident",
    "IncidentKind",
    "InstanceState",
    "MultiInstanceState",
    "Scope",
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
    phase: Literal["enter", "complete"] = Field(
        default="enter",
        description="enter: run the node; complete: its activity finished, map the outputs "
        "and leave. A failure in either parks the token in an incident at that phase.",
    )
    activity_id: str | None = Field(default=None, description="The activity it waits in.")
    payload: Json | None = Field(default=None, description="Submitted payload to map out.")
    result: JsonValue = Field(default=None, description="Activity or child result to map out.")
    actor: str | None = None


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
    form_key: str | None = None
    due: datetime | None = None
    # service tasks
    attempt: int = 0
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
    visits: dict[str, int] = Field(default_factory=dict)
    participants: list[str] = Field(default_factory=list)
    children: list[str] = Field(
        default_factory=list, description="Workflow ids of every child case ever started."
    )
    seq: int = 0
    audit: list[AuditEntry] = Field(default_factory=list)
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
