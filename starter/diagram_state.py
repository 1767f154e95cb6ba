"""Where a case stands, and where the cases of a process version pile up, per BPMN element.

The diagram pages (`starter.api.routes.diagrams`) draw a model with bpmn-js and put
markers on its shapes; this module computes what to mark, as pure functions of data read
elsewhere: a case's internal state (the ``instance_state`` query) and its model, or the
search attributes of the running cases of one version.

**A case** (`case_diagram_state`):

- *active*: how many tokens stand at an element (an open task, a multi-instance body, a
  running service task or call activity, a catch event or an incident); a multi-instance
  element also carries its progress, instances done of all (``2/3``).
- *completed*: the path taken. An activity counts when the case entered it more often than
  it is open now (the visit counters, carried across continue-as-new); an event when the
  trail of the current run records it (start, timer, message, caught error); a gateway,
  intermediate or start event that no record names when it lies on a chain of such nodes
  from a completed element (or a start) to a reached one; the end event whose name (or
  id) is the case's outcome.
- *flows_taken* is approximate: the flows a token now stands behind (``via_flow``), and
  every flow from a completed element to a reached (completed or active) one. Where two
  branches lead to the same elements, or a loop runs back to an element reached before, a
  flow between two reached elements counts although the case may have gone another way.
  Events before the last continue-as-new (a timer that fired years ago) are found by that
  chain rule when they lie between reached elements; a catch event on a branch not taken
  that rejoins the path is marked too.

**A process version** (`process_diagram_state`): per element the running cases that wait
there with an open user task (``NivaOpenTasks`` holds task ids such as
``ReferralResponse:SE-AB`` and ``AnnualFollowUp#3``; each is counted at its element, once
per case) and the open incidents of the cases flagged ``NivaIncident``, placed at their
elements by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from process_models.schema import FlowContainer, FlowNode, Process, SequenceFlow
from workflows.contract import InstanceView
from workflows.state import InstanceState
from workflows.visibility import _moment as moment  # the details' way of writing dates

__all__ = [
    "CASE_EVENT_KINDS",
    "CaseDiagramState",
    "CaseElementState",
    "DiagramIncident",
    "DiagramTask",
    "ProcessDiagramState",
    "ProcessElementState",
    "Progress",
    "VersionCase",
    "case_diagram_state",
    "element_of_task",
    "process_diagram_state",
]

CASE_EVENT_KINDS = frozenset(
    {"started", "timer", "message", "signal", "condition", "error_caught", "escalation_caught"}
)
"""Audit entry kinds whose element (an event) the case has passed. Completed tasks are
found by the visit counters instead: those outlive continue-as-new, and an instance of a
multi-instance that is done leaves its element running."""

_NOT_INFERRED = frozenset({"endEvent", "boundaryEvent"})
"""Nodes the gateway rule never marks: an end event has no way out, a boundary event
no way in."""

_TRUNCATED_PREFIX = "~"
"""Entries of a keyword list that are no task id (`workflows.visibility.TRUNCATED`)."""


class Progress(BaseModel):
    """The instances of a multi-instance element: ``completed`` of ``total`` done."""

    completed: int
    total: int


class DiagramIncident(BaseModel):
    """An open incident at an element, with the error as the case shows it."""

    incident_id: str
    kind: str
    message: str
    created: datetime


class CaseElementState(BaseModel):
    """What a case's diagram shows on one element."""

    active: int = Field(default=0, description="Tokens standing here now.")
    completed: bool = Field(default=False, description="On the path taken.")
    incidents: list[DiagramIncident] = Field(default_factory=list)
    progress: Progress | None = Field(
        default=None, description="A running multi-instance element: instances done of all."
    )


class DiagramTask(BaseModel):
    """An open user task, as the diagram labels it (its due date on the shape)."""

    task_id: str
    element_id: str
    name: str | None
    due: datetime | None
    due_text: str | None = Field(
        default=None,
        description="The due date as people read it, in the process's time zone: a date-only "
        "deadline as that date, else date and time.",
    )
    candidates: list[str]


class CaseDiagramState(BaseModel):
    """``GET /instances/{id}/diagram/state``: where one case stands on its own model."""

    instance_id: str
    process_id: str
    version: int
    timezone: str = Field(description="The process's time zone, of every due_text.")
    status: str = Field(description="running, completed or cancelled.")
    outcome: str | None
    elements: dict[str, CaseElementState]
    flows_taken: list[str] = Field(
        description="Sequence flows the case took, approximately (see the module's notes)."
    )
    tasks: list[DiagramTask]


class ProcessElementState(BaseModel):
    """What a process version's diagram shows on one element."""

    waiting: int = Field(default=0, description="Running cases with an open task here.")
    incidents: int = Field(default=0, description="Open incidents here, over all cases.")


class ProcessDiagramState(BaseModel):
    """``GET /process-models/{id}/versions/{v}/diagram/state``: the running cases of one
    version, per element."""

    process_id: str
    version: int
    running: int = Field(description="Running cases of this version.")
    with_incident: int = Field(description="Running cases flagged NivaIncident.")
    incidents_unplaced: int = Field(
        default=0,
        description="Cases with an incident whose elements were not read (past the limit "
        "of cases read per request); they are in with_incident but on no element.",
    )
    partial: bool = Field(
        default=False,
        description="True when some case's open-task list was cut to fit (NivaOpenTasks "
        "ends with ~more), or there were more running cases than read per request.",
    )
    elements: dict[str, ProcessElementState]


class VersionCase(BaseModel):
    """One running case of a version, as visibility lists it."""

    open_tasks: list[str] = Field(default_factory=list)
    incident_elements: list[str] | None = Field(
        default=None,
        description="Elements of its open incidents, when read (None: not flagged, or not read).",
    )
    has_incident: bool = False


def element_of_task(task_id: str) -> str | None:
    """The element id in a task id (``ReferralResponse:SE-AB`` → ``ReferralResponse``,
    ``AnnualFollowUp#3`` → ``AnnualFollowUp``); None for the truncation marker.

    An element id is an XML NCName, which holds neither ``:`` nor ``#``, so the first of
    them ends it.
    """
    if not task_id or task_id.startswith(_TRUNCATED_PREFIX):
        return None
    return task_id.split(":", 1)[0].split("#", 1)[0]


# --- one case ---------------------------------------------------------------------------------


def case_diagram_state(
    instance_id: str, view: InstanceView, state: InstanceState, process: Process, tz: ZoneInfo
) -> CaseDiagramState:
    """Mark where the case stands and the path it took (see the module's notes).

    Args:
        instance_id: the case's workflow id.
        view: the case as the ``state`` query shows it (status, open tasks).
        state: the case's internal state (the ``instance_state`` query).
        process: the case's own model version.
        tz: the process's time zone, in which due dates are written out.
    """
    elements: dict[str, CaseElementState] = {}

    def at(element_id: str) -> CaseElementState:
        return elements.setdefault(element_id, CaseElementState())

    open_count: dict[str, int] = {}
    for activity in state.activities.values():
        if activity.parent_activity is not None:
            continue  # an instance of a multi-instance: summed up in the body's progress
        open_count[activity.element_id] = open_count.get(activity.element_id, 0) + 1
        element = at(activity.element_id)
        element.active += 1
        if activity.multi is not None:
            element.progress = Progress(
                completed=activity.multi.completed, total=len(activity.multi.keys)
            )
    for token in state.tokens.values():
        if token.activity_id is None and token.status in ("waiting", "incident"):
            at(token.node_id).active += 1
    for incident in state.incidents.values():
        at(incident.element_id).incidents.append(
            DiagramIncident(
                incident_id=incident.id,
                kind=incident.kind,
                message=incident.message,
                created=incident.created,
            )
        )

    completed = _completed_elements(state, open_count)
    active = {element_id for element_id, e in elements.items() if e.active}
    # The end event that named the outcome is reached; whether the path led to it is known
    # once the gateways before it are.
    ends = _outcome_ends(process, state)
    completed |= _passed_between(process, completed, active | ends)
    completed |= {
        end for end in ends if any(f.source_ref in completed for f in _incoming(process, end))
    }
    for element_id in completed:
        at(element_id).completed = True

    flows = [t.via_flow for t in state.tokens.values() if t.via_flow]
    reached = completed | active
    for flow in process.all_flows():
        if flow.source_ref in completed and flow.target_ref in reached:
            flows.append(flow.id)
    tasks = [
        DiagramTask(
            task_id=t.task_id,
            element_id=t.element_id,
            name=t.name,
            due=t.due,
            due_text=moment(t.due, tz) if t.due is not None else None,
            candidates=t.candidates,
        )
        for t in view.open_tasks
    ]
    return CaseDiagramState(
        instance_id=instance_id,
        process_id=state.process_id,
        version=state.version,
        timezone=tz.key,
        status=view.status,
        outcome=state.outcome,
        elements=elements,
        flows_taken=list(dict.fromkeys(flows)),
        tasks=tasks,
    )


def _completed_elements(state: InstanceState, open_count: dict[str, int]) -> set[str]:
    """Activities entered more often than open now, and the events the trail records."""
    visits: dict[str, int] = {}
    for counter, count in state.visits.items():
        if ":" in counter:
            continue  # one instance of a multi-instance: its body has the plain counter
        visits[counter] = visits.get(counter, 0) + count
    done = {e for e, count in visits.items() if count > open_count.get(e, 0)}
    done |= {
        entry.element_id
        for entry in state.audit
        if entry.kind in CASE_EVENT_KINDS and entry.element_id is not None
    }
    return done


def _containers(container: FlowContainer) -> Iterable[FlowContainer]:
    yield container
    for node in container.nodes:
        if node.subprocess is not None:
            yield from _containers(node.subprocess)


def _passed_between(process: Process, completed: set[str], active: set[str]) -> set[str]:
    """Unrecorded nodes (gateways, intermediate and start events) the case went through.

    Such a node lies on a chain of unrecorded nodes that begins at a completed node or a
    start event and ends at a reached (completed or active) node.
    """
    unrecorded: dict[str, tuple[FlowContainer, FlowNode]] = {
        # Activities are known from the visit counters, boundary events from the trail: the
        # rule would mark a branch not taken that rejoins the path.
        node.id: (container, node)
        for container in _containers(process)
        for node in container.nodes
        if node.id not in completed and not node.is_activity and node.kind not in _NOT_INFERRED
    }
    reached = completed | active
    entered: set[str] = set()  # reachable from a completed node or a start event
    leaves: set[str] = set()  # leads to a reached node
    changed = True
    while changed:
        changed = False
        for node_id, (container, node) in unrecorded.items():
            if node_id not in entered:
                incoming = container.incoming(node_id)
                if any(f.source_ref in completed or f.source_ref in entered for f in incoming) or (
                    not incoming and node.kind == "startEvent"
                ):
                    entered.add(node_id)
                    changed = True
            if node_id not in leaves and any(
                f.target_ref in reached or f.target_ref in leaves
                for f in container.outgoing(node_id)
            ):
                leaves.add(node_id)
                changed = True
    return entered & leaves


def _outcome_ends(process: Process, state: InstanceState) -> set[str]:
    """The end events whose name (or id) is the outcome: the last end event reached names it."""
    if not state.outcome:
        return set()
    return {
        node.id
        for container in _containers(process)
        for node in container.nodes
        if node.kind == "endEvent" and (node.name or node.id) == state.outcome
    }


def _incoming(process: Process, node_id: str) -> list[SequenceFlow]:
    container = process.container_of(node_id)
    return container.incoming(node_id) if container is not None else []


# --- a process version ------------------------------------------------------------------------


def process_diagram_state(
    process_id: str,
    version: int,
    cases: Sequence[VersionCase],
    *,
    partial: bool = False,
) -> ProcessDiagramState:
    """Count the running ``cases`` of one version per element.

    A case with several open tasks at one element (the instances of a multi-instance) is
    counted there once; an incident is counted at its element for every case whose
    incidents were read.
    """
    elements: dict[str, ProcessElementState] = {}
    truncated = partial
    unplaced = 0
    for case in cases:
        seen: set[str] = set()
        for task_id in case.open_tasks:
            element_id = element_of_task(task_id)
            if element_id is None:
                truncated = True
                continue
            if element_id not in seen:
                seen.add(element_id)
                elements.setdefault(element_id, ProcessElementState()).waiting += 1
        if case.has_incident and case.incident_elements is None:
            unplaced += 1
        for element_id in case.incident_elements or []:
            elements.setdefault(element_id, ProcessElementState()).incidents += 1
    return ProcessDiagramState(
        process_id=process_id,
        version=version,
        running=len(cases),
        with_incident=sum(1 for c in cases if c.has_incident),
        incidents_unplaced=unplaced,
        partial=truncated,
        elements=elements,
    )
