"""The decision trail of a case, read from its histories.

Everything comes from the recorded events, so the trail of an archived or exported case
needs no server: the model (id, version, content hash, element names) from each workflow's
first event, each decision from the accepted update's input (task completions, messages,
incident retries, cancellations) and its outcome, each document from the result of a
``render_document`` activity, each timer from the fired timer and the summary its start
carries (the element's name). Deadlines are the interrupting boundary timers of the model;
their outcome is read from the same events, and the engine's own ``deadline_moved`` entries
(`workflows.state.AuditEntry`, from the ``instance_state`` query of a run that a worker can
still answer) are added when given.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, JsonValue, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.document_store import DocumentStore
from activities.documents import RenderDocumentResult
from service_contract import RENDER_DOCUMENT
from starter.audit.histories import CaseHistory, RunHistory
from starter.payload_store import default_document_store, restore_payloads
from workflows.contract import (
    CancelInput,
    CompleteTaskInput,
    CorrelateMessageInput,
    CorrelateMessageResult,
    InstanceResult,
    RetryIncidentInput,
    StartInstanceInput,
)
from workflows.migration import (
    MIGRATE_UPDATE,
    MODIFY_UPDATE,
    MigrateInput,
    MigrateResult,
    ModifyInput,
    ModifyResult,
)
from workflows.model import ExecutableModel
from workflows.state import AuditEntry

__all__ = [
    "CaseModel",
    "DeadlineOutcome",
    "Decision",
    "DecisionTrail",
    "TrailDocument",
    "build_trail",
]

_converter = pydantic_data_converter.payload_converter
_SHA256 = re.compile(r"\b[0-9a-f]{64}\b")

DecisionKind = Literal[
    "started",
    "task_completed",
    "message",
    "incident_retried",
    "cancelled",
    "document",
    "timer",
    "child_started",
    "ended",
    "terminated",
    "rejected",
    "migrated",
    "modified",
]


class CaseModel(BaseModel):
    """The model version a workflow of the case ran."""

    workflow_id: str
    process_id: str
    version: int
    content_hash: str
    name: str | None = None
    business_key: str
    title: str
    parent_workflow_id: str | None = None
    runs: list[str] = Field(description="Run ids, first to last.")


class TrailDocument(BaseModel):
    """A document as the history records it."""

    id: str
    sha256: str
    name: str | None = None
    media_type: str | None = None
    size: int | None = None


class Decision(BaseModel):
    """One entry of the trail, in the order it happened."""

    seq: int
    at: datetime
    kind: DecisionKind
    workflow_id: str
    run_id: str
    event_id: int
    element_id: str | None = None
    element_name: str | None = None
    task_id: str | None = None
    actor: str | None = None
    org: str | None = None
    roles: list[str] = Field(default_factory=list)
    payload: dict[str, JsonValue] | None = None
    detail: str | None = None
    documents: list[TrailDocument] = Field(default_factory=list)
    process_id: str
    version: int
    content_hash: str


class DeadlineOutcome(BaseModel):
    """What became of one deadline (an interrupting boundary timer)."""

    workflow_id: str
    element_id: str
    element_name: str | None = None
    attached_to: str
    due: datetime | None = Field(default=None, description="The last armed fire time.")
    outcome: Literal["closed_by_timer", "met", "overdue", "pending", "not_reached"]
    extended: bool = False
    moves: list[str] = Field(default_factory=list, description="'old -> new' fire times.")


class DecisionTrail(BaseModel):
    """The decision trail of a case and its child cases."""

    case_id: str
    generated_at: datetime
    models: list[CaseModel]
    decisions: list[Decision]
    deadlines: list[DeadlineOutcome]
    documents: list[TrailDocument]


def _decode(payloads: Iterable[Payload], kind: type[Any], store: DocumentStore) -> Any:
    listed = list(payloads)
    if not listed:
        return None
    # Model sources and large payloads are references into the document store.
    return _converter.from_payloads(restore_payloads(listed, store), [kind])[0]


def _element_of(task_id: str) -> str:
    """The element id of a task id ``<element>[:<key>][#<n>][~retry<k>]``."""
    return re.split(r"[:#~]", task_id, maxsplit=1)[0]


class _Walk:
    """Reads one workflow's chain of runs into decisions."""

    def __init__(
        self, chain: Sequence[RunHistory], trail: list[Decision], store: DocumentStore
    ) -> None:
        self.chain = chain
        self.trail = trail
        self.store = store
        first = chain[0]
        started = first.first.workflow_execution_started_event_attributes
        self.start: StartInstanceInput = _decode(started.input.payloads, StartInstanceInput, store)
        self.model = ExecutableModel(self.start.model)
        self.workflow_id = first.workflow_id
        self.timer_fires: dict[str, list[datetime]] = {}
        self.timers_fired: dict[str, datetime] = {}
        self.completed_elements: dict[str, datetime] = {}
        self.ended: datetime | None = None

    def case_model(self) -> CaseModel:
        source = self.start.model
        return CaseModel(
            workflow_id=self.workflow_id,
            process_id=source.process_id,
            version=source.version,
            content_hash=source.content_hash,
            name=source.name,
            business_key=self.start.business_key,
            title=self.start.title,
            parent_workflow_id=self.start.parent_workflow_id,
            runs=[run.run_id for run in self.chain],
        )

    def _name(self, element_id: str | None) -> str | None:
        if element_id is None or element_id not in self.model.nodes:
            return None
        return self.model.node(element_id).name

    def _add(self, run: RunHistory, event: HistoryEvent, kind: DecisionKind, **fields: Any) -> None:
        source = self.start.model
        element_id = fields.get("element_id")
        self.trail.append(
            Decision(
                seq=0,
                at=event.event_time.ToDatetime(tzinfo=UTC),
                kind=kind,
                workflow_id=run.workflow_id,
                run_id=run.run_id,
                event_id=event.event_id,
                element_name=self._name(element_id),
                process_id=source.process_id,
                version=source.version,
                content_hash=source.content_hash,
                **fields,
            )
        )

    def _timer_element(self, summary: str | None) -> str | None:
        """The timer event a wait timer's summary names (its name, or its id)."""
        if summary is None:
            return None
        timers = [n for n in self.model.nodes.values() if "timer" in n.event_kinds()]
        for node in timers:
            if node.id == summary:
                return node.id
        for node in timers:
            if node.name == summary:
                return node.id
        return None

    def walk(self) -> None:
        for index, run in enumerate(self.chain):
            self._walk_run(run, first=index == 0)

    def _walk_run(self, run: RunHistory, *, first: bool) -> None:
        updates: dict[str, tuple[HistoryEvent, str, Any]] = {}
        activities: dict[int, tuple[str, str]] = {}
        timers: dict[int, str | None] = {}
        for event in run.history.events:
            if first and event.HasField("workflow_execution_started_event_attributes"):
                start = self.start
                start_node = start.start_event or next(
                    (n.id for n in self.model.process.start_events() if not n.event_definitions),
                    None,
                )
                self._add(
                    run,
                    event,
                    "started",
                    element_id=start_node,
                    actor=start.actor.subject if start.actor else None,
                    org=start.actor.org if start.actor else None,
                    roles=list(start.actor.roles) if start.actor else [],
                    payload=dict(start.variables),
                    detail=start.title,
                )
            elif event.HasField("workflow_execution_update_accepted_event_attributes"):
                request = event.workflow_execution_update_accepted_event_attributes.accepted_request
                name = request.input.name
                kind = _UPDATE_INPUTS.get(name)
                value = _decode(request.input.args.payloads, kind, self.store) if kind else None
                updates[request.meta.update_id] = (event, name, value)
            elif event.HasField("workflow_execution_update_completed_event_attributes"):
                attrs = event.workflow_execution_update_completed_event_attributes
                accepted = updates.pop(attrs.meta.update_id, None)
                if accepted is not None:
                    self._update(run, accepted, attrs.outcome)
            elif event.HasField("activity_task_scheduled_event_attributes"):
                attrs_s = event.activity_task_scheduled_event_attributes
                activities[event.event_id] = (attrs_s.activity_type.name, attrs_s.activity_id)
            elif event.HasField("activity_task_completed_event_attributes"):
                attrs_c = event.activity_task_completed_event_attributes
                activity_type, activity_id = activities.get(attrs_c.scheduled_event_id, ("", ""))
                if activity_type == RENDER_DOCUMENT:
                    self._document(run, event, activity_id, attrs_c.result.payloads)
            elif event.HasField("timer_started_event_attributes"):
                summary = (
                    _converter.from_payload(event.user_metadata.summary, str)
                    if event.HasField("user_metadata") and event.user_metadata.HasField("summary")
                    else None
                )
                element_id = self._timer_element(summary)
                timers[event.event_id] = element_id
                if element_id is not None:
                    timeout = event.timer_started_event_attributes.start_to_fire_timeout
                    fire_at = event.event_time.ToDatetime(tzinfo=UTC) + timedelta(
                        seconds=timeout.seconds, microseconds=timeout.nanos // 1000
                    )
                    fires = self.timer_fires.setdefault(element_id, [])
                    # A wait timer is re-armed after every change; only a new time is a move.
                    if not fires or abs((fires[-1] - fire_at).total_seconds()) > 1:
                        fires.append(fire_at)
            elif event.HasField("timer_fired_event_attributes"):
                element_id = timers.get(event.timer_fired_event_attributes.started_event_id)
                if element_id is not None:
                    self.timers_fired.setdefault(
                        element_id, event.event_time.ToDatetime(tzinfo=UTC)
                    )
                    self._add(run, event, "timer", element_id=element_id)
            elif event.HasField("child_workflow_execution_started_event_attributes"):
                attrs_ch = event.child_workflow_execution_started_event_attributes
                self._add(
                    run,
                    event,
                    "child_started",
                    detail=attrs_ch.workflow_execution.workflow_id,
                )
            elif event.HasField("workflow_execution_completed_event_attributes"):
                result = _decode(
                    event.workflow_execution_completed_event_attributes.result.payloads,
                    InstanceResult,
                    self.store,
                )
                self.ended = event.event_time.ToDatetime(tzinfo=UTC)
                self._add(run, event, "ended", detail=result.outcome if result else None)
            elif event.HasField("workflow_execution_terminated_event_attributes"):
                attrs_t = event.workflow_execution_terminated_event_attributes
                self.ended = event.event_time.ToDatetime(tzinfo=UTC)
                self._add(
                    run, event, "terminated", actor=attrs_t.identity or None, detail=attrs_t.reason
                )
            elif event.HasField("workflow_execution_failed_event_attributes") or event.HasField(
                "workflow_execution_canceled_event_attributes"
            ):
                self.ended = event.event_time.ToDatetime(tzinfo=UTC)

    def _update(
        self, run: RunHistory, accepted: tuple[HistoryEvent, str, Any], outcome: Any
    ) -> None:
        event, name, request = accepted
        if request is None:
            return
        actor = request.actor
        common: dict[str, Any] = {
            "actor": actor.subject,
            "org": actor.org,
            "roles": list(actor.roles),
        }
        if outcome.HasField("failure"):
            self._add(
                run,
                event,
                "rejected",
                detail=f"{name}: {outcome.failure.message}",
                **common,
            )
            return
        if isinstance(request, CompleteTaskInput):
            element_id = _element_of(request.task_id)
            self.completed_elements.setdefault(element_id, event.event_time.ToDatetime(tzinfo=UTC))
            self._add(
                run,
                event,
                "task_completed",
                element_id=element_id,
                task_id=request.task_id,
                payload=dict(request.payload),
                **common,
            )
        elif isinstance(request, CorrelateMessageInput):
            result = _decode(outcome.success.payloads, CorrelateMessageResult, self.store)
            received = result.received_by if result else []
            self._add(
                run,
                event,
                "message",
                element_id=received[0] if received else None,
                payload=dict(request.payload),
                detail=request.name + (f" → {', '.join(received)}" if received else " (buffered)"),
                **common,
            )
        elif isinstance(request, RetryIncidentInput):
            self._add(
                run,
                event,
                "incident_retried",
                payload=dict(request.variables),
                detail=request.incident_id,
                **common,
            )
        elif isinstance(request, CancelInput):
            self._add(run, event, "cancelled", detail=request.reason, **common)
        elif isinstance(request, MigrateInput):
            answer = _decode(outcome.success.payloads, MigrateResult, self.store)
            if answer is not None and answer.duplicate:
                # A batch that lost the first answer (its worker died) asked again, and
                # the case, migrated in an earlier run, changed nothing: not a decision.
                return
            plan = request.plan
            detail = f"{plan.source} -> {plan.target}, plan {plan.digest()}"
            payload = dict(plan.variables) or None
            self._add(run, event, "migrated", detail=detail, payload=payload, **common)
        elif isinstance(request, ModifyInput):
            done = _decode(outcome.success.payloads, ModifyResult, self.store)
            changes = "; ".join(done.changes) if done else ""
            detail = f"{request.reason} ({changes})"
            payload = dict(request.variables) or None
            self._add(run, event, "modified", detail=detail, payload=payload, **common)

    def _document(
        self, run: RunHistory, event: HistoryEvent, activity_id: str, payloads: Iterable[Payload]
    ) -> None:
        try:
            result = _decode(payloads, RenderDocumentResult, self.store)
        except (ValidationError, ValueError, TypeError):
            return
        if result is None:
            return
        task_id = activity_id.split("~retry", 1)[0]
        self._add(
            run,
            event,
            "document",
            element_id=_element_of(task_id),
            task_id=task_id,
            documents=[
                TrailDocument(
                    id=d.id, sha256=d.sha256, name=d.name, media_type=d.media_type, size=d.size
                )
                for d in result.documents
            ],
        )

    def deadlines(self, moved: Sequence[AuditEntry], now: datetime) -> list[DeadlineOutcome]:
        outcomes = []
        for node in self.model.nodes.values():
            if not (
                node.kind == "boundaryEvent"
                and node.cancel_activity
                and node.attached_to_ref
                and "timer" in node.event_kinds()
            ):
                continue
            fires = self.timer_fires.get(node.id, [])
            moves = [f"{a.isoformat()} -> {b.isoformat()}" for a, b in itertools.pairwise(fires)]
            for entry in moved:
                if entry.element_id == node.id and entry.detail and entry.detail not in moves:
                    moves.append(entry.detail)
            due = fires[-1] if fires else None
            outcome: Literal["closed_by_timer", "met", "overdue", "pending", "not_reached"]
            if node.id in self.timers_fired:
                outcome = "closed_by_timer"
            elif node.attached_to_ref in self.completed_elements:
                outcome = "met"
            elif due is not None and self.ended is None:
                outcome = "overdue" if due < now else "pending"
            else:
                outcome = "not_reached"
            outcomes.append(
                DeadlineOutcome(
                    workflow_id=self.workflow_id,
                    element_id=node.id,
                    element_name=node.name,
                    attached_to=node.attached_to_ref,
                    due=due,
                    outcome=outcome,
                    extended=bool(moves),
                    moves=moves,
                )
            )
        return outcomes


_UPDATE_INPUTS: dict[str, type[Any]] = {
    "complete_task": CompleteTaskInput,
    "correlate_message": CorrelateMessageInput,
    "retry_incident": RetryIncidentInput,
    "cancel": CancelInput,
    MIGRATE_UPDATE: MigrateInput,
    MODIFY_UPDATE: ModifyInput,
}


def _link_documents(decisions: list[Decision], known: Mapping[str, TrailDocument]) -> None:
    """Attach to each decision the documents its payload refers to by id."""
    for decision in decisions:
        if decision.payload is None or decision.documents:
            continue
        text = repr(decision.payload)
        for document_id in dict.fromkeys(_SHA256.findall(text)):
            decision.documents.append(
                known.get(document_id) or TrailDocument(id=document_id, sha256=document_id)
            )


def build_trail(
    case: CaseHistory,
    *,
    audit: Mapping[str, Sequence[AuditEntry]] | None = None,
    now: datetime | None = None,
    store: DocumentStore | None = None,
) -> DecisionTrail:
    """The decision trail of ``case``, from its histories.

    Args:
        case: every run of the case and its children.
        audit: the engine's audit entries by workflow id (from ``instance_state``), when a
            worker could answer; only ``deadline_moved`` entries are used.
        now: the instant that decides whether an open deadline is overdue.
        store: the document store the histories' model sources and large payloads are
            read from; default: the configured one.
    """
    now = now or datetime.now(UTC)
    store = store or default_document_store()
    decisions: list[Decision] = []
    models: list[CaseModel] = []
    deadlines: list[DeadlineOutcome] = []
    for workflow_id in case.workflows():
        walk = _Walk(case.chain(workflow_id), decisions, store)
        walk.walk()
        models.append(walk.case_model())
        moved = [e for e in (audit or {}).get(workflow_id, []) if e.kind == "deadline_moved"]
        deadlines += walk.deadlines(moved, now)
    order = {w: i for i, w in enumerate(case.workflows())}
    decisions.sort(key=lambda d: (d.at, order[d.workflow_id], d.event_id))
    for seq, decision in enumerate(decisions, start=1):
        decision.seq = seq
    documents: dict[str, TrailDocument] = {}
    for decision in decisions:
        for document in decision.documents:
            documents.setdefault(document.id, document)
    _link_documents(decisions, documents)
    return DecisionTrail(
        case_id=case.case_id,
        generated_at=now,
        models=models,
        decisions=decisions,
        deadlines=deadlines,
        documents=list(documents.values()),
    )
