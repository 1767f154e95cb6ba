"""The process model as typed data: what the BPMN reader produces and the writer consumes.

A `Definitions` is one BPMN 2.0 file. Everything niva executes is typed (flow nodes, sequence
flows, event definitions, multi-instance, the ``niva:`` extensions, diagram shapes and edges);
everything else (lanes, artifacts, data objects, vendor extensions, elements outside the
executable subset) is kept as a `RawElement` so the writer puts it back unchanged.

Every element records the line it was read from (``line``; ``None`` when the model was built
in code). Two models are compared without those lines through `same_model`, which is what a
read → write → read round trip preserves.

The names follow BPMN's where BPMN has one (``kind`` is the element's local tag name, such as
``"userTask"`` or ``"exclusiveGateway"``); attribute values that may hold an expression (a
value starting with ``=``) stay strings, because they are checked by validation, not here.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as StdET
from collections.abc import Iterator
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ACTIVITY_KINDS",
    "EVENT_KINDS",
    "FLOW_NODE_KINDS",
    "GATEWAY_KINDS",
    "SUBPROCESS_KINDS",
    "Assignment",
    "BaseElement",
    "Bounds",
    "CalledDecision",
    "CalledElement",
    "Collaboration",
    "Constraint",
    "Definitions",
    "DiLabel",
    "Diagram",
    "Dialect",
    "Documentation",
    "Edge",
    "ErrorDef",
    "EscalationDef",
    "EventDefinition",
    "ExecutionListener",
    "Expression",
    "FlowContainer",
    "FlowNode",
    "Form",
    "IoMapping",
    "LoopExtension",
    "MessageDef",
    "MessageFlow",
    "MultiInstance",
    "NivaExtensions",
    "Participant",
    "Process",
    "RawElement",
    "SchemaModel",
    "Script",
    "SequenceFlow",
    "Shape",
    "SignalDef",
    "Starters",
    "Subscription",
    "TaskDefinition",
    "TaskListener",
    "local_ref",
    "same_model",
    "without_lines",
]

#: Events, by BPMN local tag name.
EVENT_KINDS: frozenset[str] = frozenset(
    {
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "implicitThrowEvent",
    }
)
#: Gateways, by BPMN local tag name.
GATEWAY_KINDS: frozenset[str] = frozenset(
    {
        "exclusiveGateway",
        "parallelGateway",
        "inclusiveGateway",
        "complexGateway",
        "eventBasedGateway",
    }
)
#: Activities that hold their own flow elements.
SUBPROCESS_KINDS: frozenset[str] = frozenset({"subProcess", "transaction", "adHocSubProcess"})
#: Activities (tasks, subprocesses, call activities, choreography activities).
ACTIVITY_KINDS: frozenset[str] = frozenset(
    {
        "task",
        "userTask",
        "serviceTask",
        "sendTask",
        "receiveTask",
        "manualTask",
        "scriptTask",
        "businessRuleTask",
        "callActivity",
        "callChoreography",
        "choreographyTask",
        "subChoreography",
    }
    | SUBPROCESS_KINDS
)
#: Every BPMN flow node; anything else inside a process is a flow, an artifact or data.
FLOW_NODE_KINDS: frozenset[str] = EVENT_KINDS | GATEWAY_KINDS | ACTIVITY_KINDS


ZEEBE_NAMESPACE = "http://camunda.org/schema/zeebe/1.0"
"""The zeebe namespace (`process_models.bpmn.namespaces.ZEEBE`, which reads it from here:
the bpmn package imports this module, and a function-level import in a property that
workflow code reads would load the module afresh in every run's sandbox)."""


class SchemaModel(BaseModel):
    """Base of every schema type: unknown fields are an error, values stay mutable."""

    model_config = ConfigDict(extra="forbid")


def local_ref(ref: str | None) -> str | None:
    """The local part of a QName reference (``"tns:Msg_1"`` → ``"Msg_1"``).

    BPMN references such as ``messageRef`` and ``processRef`` are QNames; in practice the
    prefix (when present) names the file's own target namespace, so the id is the local part.
    """
    if ref is None:
        return None
    return ref.rsplit(":", 1)[-1]


@functools.lru_cache(maxsize=4096)
def _canonical_xml(xml: str) -> str:
    # C14N 2.0 with prefixes rewritten makes a fragment's identity independent of the prefix
    # a file used (``semantic:lane`` and ``bpmn:lane`` are the same element) and of the
    # indentation a writer chose.
    try:
        return StdET.canonicalize(xml, rewrite_prefixes=True, strip_text=True)
    except StdET.ParseError:
        return xml


class RawElement(SchemaModel):
    """An element niva does not model, kept verbatim so it is written back unchanged.

    A model read for execution (``read_bpmn(..., for_execution=True)``) keeps where such an
    element is and what it is (tag, id, line) but not its XML: ``xml`` is None, and the
    writer refuses the model rather than drop the element.

    Equality ignores namespace prefixes and whitespace between elements: the same element
    written with another prefix (``semantic:laneSet`` / ``bpmn:laneSet``) is equal. An
    element whose XML was not kept equals only another one not kept with the same tag, id
    and line, never a kept one: its content is unknown.
    """

    tag: str = Field(description="Tag in Clark notation, '{namespace}localName'.")
    id: str | None = Field(default=None, description="The element's id attribute, if any.")
    line: int | None = Field(default=None, description="Source line, None if built in code.")
    xml: str | None = Field(
        description="The element serialized as XML, with its namespaces; None when the "
        "model was read for execution, which does not keep it."
    )

    @property
    def local_name(self) -> str:
        """The tag without its namespace."""
        return self.tag.rsplit("}", 1)[-1]

    @property
    def namespace(self) -> str | None:
        """The tag's namespace URI, or None for an element in no namespace."""
        return self.tag[1:].split("}", 1)[0] if self.tag.startswith("{") else None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RawElement):
            return NotImplemented
        if self.tag != other.tag or self.id != other.id or self.line != other.line:
            return False
        if self.xml is None or other.xml is None:
            return self.xml is other.xml
        return _canonical_xml(self.xml) == _canonical_xml(other.xml)

    __hash__ = None  # type: ignore[assignment]


class Documentation(SchemaModel):
    """One ``bpmn:documentation`` element."""

    text: str
    text_format: str | None = Field(default=None, description="The textFormat attribute.")
    id: str | None = None
    line: int | None = None


class BaseElement(SchemaModel):
    """What every BPMN element carries besides its own fields."""

    id: str | None = None
    line: int | None = Field(default=None, description="Source line, None if built in code.")
    documentation: list[Documentation] = Field(default_factory=list)
    attributes: dict[str, str] = Field(
        default_factory=dict,
        description="Attributes niva does not model, Clark-notation keys (foreign ones too).",
    )
    foreign_extensions: list[RawElement] = Field(
        default_factory=list,
        description="extensionElements children niva does not model (camunda:, signavio:, "
        "unknown niva: elements), in source order.",
    )
    extras: list[RawElement] = Field(
        default_factory=list,
        description="Child elements niva does not model (ioSpecification, laneSet, "
        "artifacts, data objects, ...), in source order.",
    )

    @property
    def doc_text(self) -> str:
        """All documentation texts joined by blank lines ('' when there is none)."""
        return "\n\n".join(d.text for d in self.documentation)


# --- expressions and the niva extensions --------------------------------------------------


class Expression(SchemaModel):
    """A ``tFormalExpression`` body: a condition, a timer value, a cardinality.

    ``language`` is None when the element has no ``language`` attribute; niva executes only
    that and ``"cel"``.
    """

    body: str
    language: str | None = None
    line: int | None = None
    attributes: dict[str, str] = Field(
        default_factory=dict, description="Other attributes (id, evaluatesToTypeRef, ...)."
    )


class TaskDefinition(SchemaModel):
    """``niva:taskDefinition``: which registered activity type runs a service or send task."""

    type: str | None = None
    retries: str | None = Field(default=None, description="Raw value; validation checks it.")
    timeout: str | None = Field(default=None, description="ISO 8601 duration, e.g. PT5M.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="zeebe:taskHeaders, verbatim strings for the job."
    )
    line: int | None = None


class IoMapping(SchemaModel):
    """``niva:input`` / ``niva:output``: one variable mapping."""

    target: str | None = None
    source: str | None = None
    line: int | None = None


class Form(SchemaModel):
    """``niva:form``: the form a user task's completion (or a start's variables) must satisfy."""

    key: str | None = None
    form_id: str | None = Field(
        default=None, description="zeebe:formDefinition formId: a Camunda Form deployed with it."
    )
    external_reference: str | None = Field(
        default=None, description="zeebe:formDefinition externalReference, passed through."
    )
    line: int | None = None


class Assignment(SchemaModel):
    """``niva:assignment``: who may complete a user task (comma lists or ``=`` expressions).

    From ``zeebe:assignmentDefinition`` the reader writes Camunda's candidate groups as
    niva's groups and organisations (``org:SE-AB`` an organisation, ``org:SE-AB/registrator``
    a role in it, a plain name a role); when that needs the case's variables (an ``=``
    expression) or a mix niva's rule cannot express, ``candidate_groups`` keeps the value
    as written and ``org_candidates`` says to split it when the task opens.
    """

    candidate_groups: str | None = None
    candidate_orgs: str | None = None
    org_candidates: bool = Field(
        default=False,
        description="candidate_groups holds Camunda's org: forms, split when evaluated.",
    )
    candidate_users: str | None = Field(default=None, description="Principals by subject.")
    assignee: str | None = Field(default=None, description="One principal by subject.")
    line: int | None = None


class Starters(SchemaModel):
    """``niva:starters`` on a process: who may start its cases from outside (comma lists,
    read like `Assignment`'s). Child cases started by a call activity are not checked."""

    candidate_groups: str | None = None
    candidate_orgs: str | None = None
    line: int | None = None


class Constraint(SchemaModel):
    """``niva:constraint``: an extra rule on a submitted payload."""

    expression: str | None = None
    message: str | None = None
    line: int | None = None


class LoopExtension(SchemaModel):
    """``niva:loop`` inside a multiInstanceLoopCharacteristics: the collection to fan out over."""

    input_collection: str | None = None
    input_element: str | None = None
    output_collection: str | None = None
    output_element: str | None = None
    line: int | None = None


class CalledElement(SchemaModel):
    """``niva:calledElement``: the process a call activity starts."""

    process_id: str | None = None
    detached: bool = False
    version: str | None = None
    propagate_all_child_variables: bool | None = Field(
        default=None, description="zeebe: the child's end variables merge into the parent."
    )
    propagate_all_parent_variables: bool | None = Field(
        default=None, description="zeebe: the child starts with all the parent's variables."
    )
    line: int | None = None


class Subscription(SchemaModel):
    """``niva:subscription``: the message an event or receive task waits for, and its senders."""

    message_name: str | None = None
    candidate_groups: str | None = None
    candidate_orgs: str | None = None
    ttl: str | None = Field(default=None, description="ISO 8601 duration, e.g. P30D.")
    correlation_key: str | None = Field(
        default=None, description="Expression evaluated when the subscription opens."
    )
    line: int | None = None


class Script(SchemaModel):
    """A script task's expression and the variable its result goes to (``zeebe:script``)."""

    expression: str | None = None
    result_variable: str | None = None
    line: int | None = None


class CalledDecision(SchemaModel):
    """A business rule task's DMN decision and the variable its result goes to
    (``zeebe:calledDecision`` / ``niva:calledDecision``)."""

    decision_id: str | None = None
    result_variable: str | None = None
    line: int | None = None


class ExecutionListener(SchemaModel):
    """``zeebe:executionListener``: a job run at an element's start or end (Camunda 8)."""

    event_type: str | None = Field(default=None, description="``start`` or ``end``.")
    type: str | None = Field(default=None, description="The job type.")
    retries: str | None = Field(default=None, description="Raw value; validation checks it.")
    line: int | None = None


class TaskListener(ExecutionListener):
    """``zeebe:taskListener``: a job run at a user task's lifecycle event (Camunda 8):
    ``eventType`` ``creating``, ``assigning``, ``updating``, ``completing`` or ``canceling``
    (older Modelers write ``create``, ``assignment``, ``update``, ``complete``, ``cancel``)."""


class NivaExtensions(SchemaModel):
    """The typed ``niva:`` extensions of one flow node (all empty when it has none)."""

    task_definition: TaskDefinition | None = None
    inputs: list[IoMapping] = Field(default_factory=list)
    outputs: list[IoMapping] = Field(default_factory=list)
    form: Form | None = None
    assignment: Assignment | None = None
    constraints: list[Constraint] = Field(default_factory=list)
    called_element: CalledElement | None = None
    subscription: Subscription | None = None
    calendar: str | None = Field(
        default=None, description="niva:calendar value on a timer event ('none' opts out)."
    )
    script: Script | None = None
    called_decision: CalledDecision | None = None
    properties: dict[str, str] = Field(
        default_factory=dict, description="zeebe:properties, kept as written."
    )
    execution_listeners: list[ExecutionListener] = Field(
        default_factory=list, description="zeebe:executionListeners, in model order."
    )
    task_listeners: list[TaskListener] = Field(
        default_factory=list, description="zeebe:taskListeners of a user task, in model order."
    )


# --- flow elements ------------------------------------------------------------------------


TimerKind = Literal["timeDate", "timeDuration", "timeCycle"]
Dialect = Literal["niva", "camunda8"]


class EventDefinition(BaseElement):
    """One event definition of an event, e.g. ``bpmn:timerEventDefinition``.

    ``kind`` is the tag's local name without ``EventDefinition``: ``"message"``, ``"timer"``,
    ``"error"``, ``"terminate"``, ``"signal"``, ``"escalation"``, ``"conditional"``, ``"link"``,
    ``"compensate"``, ``"cancel"``. Kinds niva does not run keep their attributes and children
    in ``attributes`` / ``extras``.
    """

    kind: str
    message_ref: str | None = None
    error_ref: str | None = None
    time_date: Expression | None = None
    time_duration: Expression | None = None
    time_cycle: Expression | None = None
    condition: Expression | None = Field(
        default=None, description="A conditional event's ``bpmn:condition``."
    )
    variable_names: list[str] | None = Field(
        default=None,
        description="A conditional event's ``zeebe:conditionalFilter variableNames``: only a "
        "change of one of these re-evaluates the condition (None: any change).",
    )

    @property
    def timer(self) -> tuple[TimerKind, Expression] | None:
        """The timer's one value and its kind, or None (also for a timer without a value)."""
        if self.time_date is not None:
            return "timeDate", self.time_date
        if self.time_duration is not None:
            return "timeDuration", self.time_duration
        if self.time_cycle is not None:
            return "timeCycle", self.time_cycle
        return None


class MultiInstance(BaseElement):
    """``bpmn:multiInstanceLoopCharacteristics``; other children (inputDataItem, ...) are extras."""

    is_sequential: bool = False
    loop_cardinality: Expression | None = None
    completion_condition: Expression | None = None
    niva_loop: LoopExtension | None = None


class SequenceFlow(BaseElement):
    """``bpmn:sequenceFlow``. ``source_ref``/``target_ref`` may name missing nodes (validation
    reports those); ``None`` when the attribute is absent."""

    id: str = ""
    name: str | None = None
    source_ref: str | None = None
    target_ref: str | None = None
    condition: Expression | None = None


class FlowContainer(SchemaModel):
    """The content of a process or an embedded subprocess.

    ``nodes`` and ``flows`` are in source order, duplicates (same id) included so validation
    can report them; lookups return the first match.
    """

    nodes: list[FlowNode] = Field(default_factory=list)
    flows: list[SequenceFlow] = Field(default_factory=list)
    extras: list[RawElement] = Field(
        default_factory=list,
        description="laneSet, artifacts (textAnnotation, association, group), data objects "
        "and stores, property, ioSpecification, ... in source order.",
    )

    def node(self, node_id: str) -> FlowNode | None:
        """The first node with this id directly in this container, or None."""
        return next((n for n in self.nodes if n.id == node_id), None)

    def flow(self, flow_id: str) -> SequenceFlow | None:
        """The first sequence flow with this id directly in this container, or None."""
        return next((f for f in self.flows if f.id == flow_id), None)

    def outgoing(self, node_id: str) -> list[SequenceFlow]:
        """Flows of this container leaving the node, in source order."""
        return [f for f in self.flows if f.source_ref == node_id]

    def incoming(self, node_id: str) -> list[SequenceFlow]:
        """Flows of this container entering the node, in source order."""
        return [f for f in self.flows if f.target_ref == node_id]

    def boundary_events(self, attached_to: str) -> list[FlowNode]:
        """Boundary events attached to the activity with this id, in source order."""
        return [
            n for n in self.nodes if n.kind == "boundaryEvent" and n.attached_to_ref == attached_to
        ]

    def start_events(self) -> list[FlowNode]:
        """Start events directly in this container, in source order."""
        return [n for n in self.nodes if n.kind == "startEvent"]

    def all_nodes(self) -> Iterator[FlowNode]:
        """Every node of this container and, depth first, of its nested subprocesses."""
        for node in self.nodes:
            yield node
            if node.subprocess is not None:
                yield from node.subprocess.all_nodes()

    def all_flows(self) -> Iterator[SequenceFlow]:
        """Every sequence flow of this container and of its nested subprocesses."""
        yield from self.flows
        for node in self.nodes:
            if node.subprocess is not None:
                yield from node.subprocess.all_flows()

    def find_node(self, node_id: str) -> FlowNode | None:
        """The first node with this id at any depth, or None."""
        return next((n for n in self.all_nodes() if n.id == node_id), None)

    def container_of(self, node_id: str) -> FlowContainer | None:
        """The container (this one or a nested subprocess) that directly holds the node."""
        if self.node(node_id) is not None:
            return self
        for node in self.nodes:
            if node.subprocess is not None:
                found = node.subprocess.container_of(node_id)
                if found is not None:
                    return found
        return None


class FlowNode(BaseElement):
    """An event, gateway or activity; ``kind`` is its BPMN local tag name.

    Kinds outside niva's executable subset (``inclusiveGateway``, ``scriptTask``, ...) are
    FlowNodes too, so flows and diagram shapes that point at them resolve; what they hold
    beyond the common fields is in ``attributes`` and ``extras``. ``incoming``/``outgoing``
    elements are not stored: the writer derives them from the flows.
    """

    id: str = ""
    kind: str
    name: str | None = None
    event_definitions: list[EventDefinition] = Field(default_factory=list)
    attached_to_ref: str | None = Field(default=None, description="boundaryEvent only.")
    cancel_activity: bool = Field(default=True, description="boundaryEvent only.")
    is_interrupting: bool = Field(default=True, description="startEvent only.")
    default_flow: str | None = Field(default=None, description="The 'default' attribute.")
    loop: MultiInstance | None = None
    subprocess: FlowContainer | None = Field(
        default=None, description="Content of a subProcess / transaction / adHocSubProcess."
    )
    triggered_by_event: bool = Field(default=False, description="An event subprocess.")
    called_element: str | None = Field(
        default=None, description="callActivity's standard calledElement attribute."
    )
    niva: NivaExtensions = Field(default_factory=NivaExtensions)

    @property
    def is_activity(self) -> bool:
        """True for tasks, subprocesses and call activities."""
        return self.kind in ACTIVITY_KINDS

    def event_kinds(self) -> list[str]:
        """The kinds of this event's definitions (``[]`` for a none event)."""
        return [d.kind for d in self.event_definitions]


class Process(BaseElement, FlowContainer):
    """``bpmn:process``.

    ``is_executable`` is the modeller's ``isExecutable`` flag (None when absent); whether
    niva can run the process is `process_models.bpmn.subset.is_executable`.
    """

    id: str = ""
    name: str | None = None
    is_executable: bool | None = None
    version_tag: str | None = Field(default=None, description="niva:versionTag value.")
    timezone: str | None = Field(default=None, description="niva:timezone value.")
    calendar: str | None = Field(
        default=None, description="niva:calendar value: the working-day calendar, SE or NO."
    )
    starters: Starters | None = Field(
        default=None, description="niva:starters: who may start the process's cases."
    )
    user_task_forms: dict[str, str] = Field(
        default_factory=dict,
        description="Camunda 8 embedded forms: each zeebe:userTaskForm's form-js JSON by "
        "its id, which a task's formKey names as camunda-forms:bpmn:<id>.",
    )
    execution_listeners: list[ExecutionListener] = Field(
        default_factory=list, description="zeebe:executionListeners of the process."
    )


# --- root elements ------------------------------------------------------------------------


class MessageDef(BaseElement):
    """``bpmn:message``."""

    name: str | None = None


class ErrorDef(BaseElement):
    """``bpmn:error``."""

    name: str | None = None
    error_code: str | None = None


class EscalationDef(BaseElement):
    """``bpmn:escalation``: what an escalation event throws or catches, by its code."""

    name: str | None = None
    escalation_code: str | None = None


class SignalDef(BaseElement):
    """``bpmn:signal``: what a signal event broadcasts or waits for, by its name."""

    name: str | None = None


class Participant(BaseElement):
    """``bpmn:participant``: a pool; ``process_ref`` names the process it shows."""

    name: str | None = None
    process_ref: str | None = None


class MessageFlow(BaseElement):
    """``bpmn:messageFlow`` between pools (modelling only)."""

    name: str | None = None
    source_ref: str | None = None
    target_ref: str | None = None
    message_ref: str | None = None


class Collaboration(BaseElement):
    """``bpmn:collaboration``; artifacts and conversations are extras."""

    name: str | None = None
    participants: list[Participant] = Field(default_factory=list)
    message_flows: list[MessageFlow] = Field(default_factory=list)


# --- diagram interchange ------------------------------------------------------------------


class Bounds(SchemaModel):
    """``dc:Bounds``."""

    x: float
    y: float
    width: float
    height: float


class DiLabel(SchemaModel):
    """``bpmndi:BPMNLabel``; ``attributes`` holds e.g. ``labelStyle``."""

    bounds: Bounds | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    extras: list[RawElement] = Field(default_factory=list)


class Shape(SchemaModel):
    """``bpmndi:BPMNShape``; ``attributes`` holds colour attributes (bioc:, color:) and more."""

    id: str | None = None
    bpmn_element: str | None = None
    bounds: Bounds
    is_horizontal: bool | None = None
    is_expanded: bool | None = None
    is_marker_visible: bool | None = None
    label: DiLabel | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    extras: list[RawElement] = Field(default_factory=list)
    line: int | None = None


class Edge(SchemaModel):
    """``bpmndi:BPMNEdge``; waypoints are ``(x, y)`` pairs in order."""

    id: str | None = None
    bpmn_element: str | None = None
    waypoints: list[tuple[float, float]] = Field(default_factory=list)
    label: DiLabel | None = None
    source_element: str | None = None
    target_element: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    extras: list[RawElement] = Field(default_factory=list)
    line: int | None = None


class Diagram(SchemaModel):
    """``bpmndi:BPMNDiagram`` with its one plane.

    A shape or edge that cannot be read as one (no bounds, a non-numeric coordinate) is
    kept in ``plane_extras``; ``extras`` holds the diagram's other children (BPMNLabelStyle).
    """

    id: str | None = None
    name: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    plane_id: str | None = None
    plane_element: str | None = Field(default=None, description="The plane's bpmnElement.")
    plane_attributes: dict[str, str] = Field(default_factory=dict)
    shapes: list[Shape] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)
    plane_extras: list[RawElement] = Field(default_factory=list)
    extras: list[RawElement] = Field(default_factory=list)
    line: int | None = None

    def shape(self, bpmn_element: str) -> Shape | None:
        """The first shape showing this element, or None."""
        return next((s for s in self.shapes if s.bpmn_element == bpmn_element), None)

    def edge(self, bpmn_element: str) -> Edge | None:
        """The first edge showing this element, or None."""
        return next((e for e in self.edges if e.bpmn_element == bpmn_element), None)


class Definitions(BaseElement):
    """``bpmn:definitions``: one BPMN file.

    ``namespaces`` maps each prefix declared on the root to its URI ('' is the default
    namespace); the writer declares them again so foreign attributes, extension elements
    and QName values keep resolving. ``extras`` holds the other root elements (imports,
    itemDefinition, signal, dataStore, category, ...) in source order.
    """

    name: str | None = None
    target_namespace: str | None = None
    exporter: str | None = None
    exporter_version: str | None = None
    namespaces: dict[str, str] = Field(default_factory=dict)
    processes: list[Process] = Field(default_factory=list)
    messages: list[MessageDef] = Field(default_factory=list)
    errors: list[ErrorDef] = Field(default_factory=list)
    escalations: list[EscalationDef] = Field(default_factory=list)
    signals: list[SignalDef] = Field(default_factory=list)
    collaborations: list[Collaboration] = Field(default_factory=list)
    diagrams: list[Diagram] = Field(default_factory=list)

    @property
    def dialect(self) -> Dialect:
        """``"camunda8"`` when the file uses the zeebe namespace (Camunda Modeler's Camunda 8
        files), else ``"niva"``. The reader declares the namespace on the root when only an
        inner element did, so this tells every file that uses it."""
        return "camunda8" if ZEEBE_NAMESPACE in self.namespaces.values() else "niva"

    @property
    def collaboration(self) -> Collaboration | None:
        """The first collaboration, or None (most files have at most one)."""
        return self.collaborations[0] if self.collaborations else None

    def process(self, process_id: str) -> Process | None:
        """The first process with this id, or None."""
        return next((p for p in self.processes if p.id == process_id), None)

    def executable_processes(self) -> list[Process]:
        """Processes whose ``isExecutable`` flag is true (the subset is checked elsewhere)."""
        return [p for p in self.processes if p.is_executable]

    def message(self, ref: str | None) -> MessageDef | None:
        """The message a ``messageRef`` (a QName) points at, or None."""
        key = local_ref(ref)
        return next((m for m in self.messages if m.id == key), None)

    def error(self, ref: str | None) -> ErrorDef | None:
        """The error an ``errorRef`` (a QName) points at, or None."""
        key = local_ref(ref)
        return next((e for e in self.errors if e.id == key), None)

    def escalation(self, ref: str | None) -> EscalationDef | None:
        """The escalation an ``escalationRef`` (a QName) points at, or None."""
        key = local_ref(ref)
        return next((e for e in self.escalations if e.id == key), None)

    def signal(self, ref: str | None) -> SignalDef | None:
        """The signal a ``signalRef`` (a QName) points at, or None."""
        key = local_ref(ref)
        return next((s for s in self.signals if s.id == key), None)

    def participants(self) -> list[Participant]:
        """Every participant (pool) of every collaboration."""
        return [p for c in self.collaborations for p in c.participants]

    def participant_for(self, process_id: str) -> Participant | None:
        """The pool that shows this process, or None."""
        return next(
            (p for p in self.participants() if local_ref(p.process_ref) == process_id), None
        )


FlowContainer.model_rebuild()
FlowNode.model_rebuild()
Process.model_rebuild()

_M = TypeVar("_M", bound=BaseModel)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, BaseModel):
        updates = {name: _strip_lines(getattr(value, name)) for name in type(value).model_fields}
        if "line" in updates:
            updates["line"] = None
        return value.model_copy(update=updates)
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_strip_lines(v) for v in value)
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items()}
    return value


def without_lines(model: _M) -> _M:
    """A copy of the model with every ``line`` set to None (the original is unchanged)."""
    result: _M = _strip_lines(model)
    return result


def same_model(a: BaseModel, b: BaseModel) -> bool:
    """True when two models are equal apart from source lines."""
    return without_lines(a) == without_lines(b)
