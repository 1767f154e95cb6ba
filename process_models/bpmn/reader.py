"""Read BPMN 2.0 XML into the typed model of `process_models.schema`.

The reader goes by namespace URI, never by prefix, so ``bpmn:``, ``bpmn2:``, ``semantic:``
and a default namespace read the same. It keeps everything: what niva models becomes typed
fields, everything else becomes a `RawElement` the writer puts back unchanged. It does not
judge the model: duplicate ids, flows to missing nodes and elements outside the executable
subset are represented as they are, for validation and `subset.blockers` to report.
Comments and processing instructions between modelled elements are not kept (inside a
kept raw element they are).

The ``niva:`` extensions are niva's own vocabulary, so they are read strictly: an unknown
attribute on a known niva element is an error rather than ignored, because a misspelt
``candidateGroup`` that is silently dropped would let anyone complete the task.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from lxml import etree

from process_models.bpmn.namespaces import BPMN, BPMNDI, DC, DI, NIVA, XSI, bpmn, clark
from process_models.bpmn.xml import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    load_source,
    parse_document,
)
from process_models.errors import BpmnReadError
from process_models.schema import (
    FLOW_NODE_KINDS,
    SUBPROCESS_KINDS,
    Assignment,
    Bounds,
    CalledElement,
    Collaboration,
    Constraint,
    Definitions,
    Diagram,
    DiLabel,
    Documentation,
    Edge,
    ErrorDef,
    EventDefinition,
    Expression,
    FlowContainer,
    FlowNode,
    Form,
    IoMapping,
    LoopExtension,
    MessageDef,
    MessageFlow,
    MultiInstance,
    NivaExtensions,
    Participant,
    Process,
    RawElement,
    SequenceFlow,
    Shape,
    Subscription,
    TaskDefinition,
)

__all__ = ["read_bpmn"]

_Element = etree._Element

#: Children of a process or subprocess that belong to its content, not to the activity.
CONTAINER_CONTENT: frozenset[str] = frozenset(
    {
        "laneSet",
        "dataObject",
        "dataObjectReference",
        "dataStoreReference",
        "textAnnotation",
        "association",
        "group",
    }
)

#: Attribute names (in the XML) of each niva extension element, mapped to schema fields.
NIVA_ATTRIBUTES: dict[str, dict[str, str]] = {
    "taskDefinition": {"type": "type", "retries": "retries", "timeout": "timeout"},
    "input": {"target": "target", "source": "source"},
    "output": {"target": "target", "source": "source"},
    "form": {"key": "key"},
    "assignment": {"candidateGroups": "candidate_groups", "candidateOrgs": "candidate_orgs"},
    "constraint": {"expression": "expression", "message": "message"},
    "loop": {
        "inputCollection": "input_collection",
        "inputElement": "input_element",
        "outputCollection": "output_collection",
        "outputElement": "output_element",
    },
    "calledElement": {"processId": "process_id", "detached": "detached", "version": "version"},
    "subscription": {
        "messageName": "message_name",
        "candidateGroups": "candidate_groups",
        "candidateOrgs": "candidate_orgs",
        "ttl": "ttl",
    },
    "versionTag": {"value": "value"},
    "timezone": {"value": "value"},
}

# An attribute value that starts with a declared prefix ("tns:Msg_1",
# "semantic:tFormalExpression") needs that prefix kept in a raw element's XML.
_QNAME_PREFIX = re.compile(r"^\s*([A-Za-z_][\w.\-]*):(?!//)")


def read_bpmn(
    source: bytes | str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Definitions:
    """Read a BPMN 2.0 document.

    Args:
        source: The document as bytes (its declared encoding applies), as XML text (a
            ``str`` starting with ``<``), or a `Path` to a file.
        max_bytes: Refuse larger input before parsing it.
        max_depth: Refuse deeper element nesting.

    Returns:
        The model, every element carrying its source line.

    Raises:
        BpmnReadError: The input is not a readable BPMN 2.0 document (not XML, hostile XML,
            too large or deep, wrong root element, a malformed value niva must interpret).
    """
    data = load_source(source, max_bytes=max_bytes)
    root = parse_document(
        data,
        text=isinstance(source, str),
        max_bytes=max_bytes,
        max_depth=max_depth,
        expected_root=bpmn("definitions"),
    )
    return _read_definitions(root)


# --- helpers ------------------------------------------------------------------------------


def _line(element: _Element) -> int | None:
    """The element's source line (lxml-stubs type it loosely)."""
    line = element.sourceline
    return line if isinstance(line, int) else None


def _children(element: _Element) -> list[_Element]:
    # Comments and processing instructions between elements carry no model content.
    return [child for child in element if isinstance(child.tag, str)]


def _is(element: _Element, namespace: str, *locals_: str) -> bool:
    qname = etree.QName(element)
    return qname.namespace == namespace and qname.localname in locals_


def _local(element: _Element) -> str:
    return etree.QName(element).localname


def _other_attributes(element: _Element, known: tuple[str, ...]) -> dict[str, str]:
    return {str(k): str(v) for k, v in element.attrib.items() if k not in known}


def _describe(element: _Element) -> str:
    element_id = element.get("id")
    name = _local(element)
    return f"{name} '{element_id}'" if element_id else name


def _bool(element: _Element, attribute: str, default: bool) -> bool:
    value = element.get(attribute)
    if value is None:
        return default
    text = value.strip()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise BpmnReadError(
        f"{_describe(element)}: attribute {attribute}={value!r} is not a boolean; "
        "write true or false",
        line=_line(element),
    )


def _optional_bool(element: _Element, attribute: str) -> bool | None:
    if element.get(attribute) is None:
        return None
    return _bool(element, attribute, False)


def raw_element(element: _Element) -> RawElement:
    """Serialize an element niva does not model, with the namespaces it needs."""
    clone = copy.deepcopy(element)
    clone.tail = None
    nsmap = element.nsmap
    keep: set[str] = set()
    for node in clone.iter():
        if not isinstance(node.tag, str):
            continue
        for value in node.attrib.values():
            match = _QNAME_PREFIX.match(str(value))
            if match and match.group(1) in nsmap:
                keep.add(match.group(1))
    # The clone declares every namespace in scope; keep only those it uses.
    etree.cleanup_namespaces(clone, keep_ns_prefixes=sorted(keep))
    return RawElement(
        tag=str(element.tag),
        id=element.get("id"),
        line=_line(element),
        xml=etree.tostring(clone, encoding="unicode"),
    )


def _documentation(element: _Element) -> Documentation | None:
    if _children(element):
        return None  # rich (XHTML) documentation is kept raw instead
    return Documentation(
        text=element.text or "",
        text_format=element.get("textFormat"),
        id=element.get("id"),
        line=_line(element),
    )


def _expression(element: _Element) -> Expression:
    return Expression(
        body="".join(str(text) for text in element.itertext()),
        language=element.get("language"),
        line=_line(element),
        attributes=_other_attributes(element, ("language", clark(XSI, "type"))),
    )


class _Base:
    """The common parts of a BPMN element, collected while its children are walked."""

    def __init__(self, element: _Element, known_attributes: tuple[str, ...]) -> None:
        self.element = element
        self.documentation: list[Documentation] = []
        self.extensions: list[_Element] = []
        self.extras: list[RawElement] = []
        self.attributes = _other_attributes(element, ("id", *known_attributes))
        self.rest: list[_Element] = []
        for child in _children(element):
            if _is(child, BPMN, "documentation"):
                doc = _documentation(child)
                if doc is None:
                    self.extras.append(raw_element(child))
                else:
                    self.documentation.append(doc)
            elif _is(child, BPMN, "extensionElements"):
                self.extensions.extend(_children(child))
            else:
                self.rest.append(child)

    def fields(self) -> dict[str, Any]:
        return {
            "id": self.element.get("id"),
            "line": _line(self.element),
            "documentation": self.documentation,
            "attributes": self.attributes,
            "extras": self.extras,
        }


# --- niva extensions ----------------------------------------------------------------------


def _niva_fields(element: _Element) -> dict[str, Any]:
    name = _local(element)
    allowed = NIVA_ATTRIBUTES[name]
    unknown = [str(k) for k in element.attrib if k not in allowed]
    if unknown:
        raise BpmnReadError(
            f"niva:{name} has unknown attribute(s) {', '.join(sorted(unknown))}; "
            f"niva:{name} takes {', '.join(allowed)}",
            line=_line(element),
        )
    fields: dict[str, Any] = {"line": _line(element)}
    for attribute, field in allowed.items():
        value = element.get(attribute)
        if value is not None:
            fields[field] = value
    return fields


class _NodeExtensions:
    """Sorts a flow node's extension elements into typed niva fields and raw ones."""

    def __init__(self, elements: list[_Element]) -> None:
        self.niva = NivaExtensions()
        self.foreign: list[RawElement] = []
        for element in elements:
            if _is(element, NIVA, "ioMapping"):
                for child in _children(element):
                    self._add(child)
            else:
                self._add(element)

    def _add(self, element: _Element) -> None:
        niva = self.niva
        name = _local(element) if etree.QName(element).namespace == NIVA else ""
        if name in ("input", "output"):
            mapping = IoMapping(**_niva_fields(element))
            (niva.inputs if name == "input" else niva.outputs).append(mapping)
        elif name == "constraint":
            niva.constraints.append(Constraint(**_niva_fields(element)))
        elif name == "taskDefinition" and niva.task_definition is None:
            niva.task_definition = TaskDefinition(**_niva_fields(element))
        elif name == "form" and niva.form is None:
            niva.form = Form(**_niva_fields(element))
        elif name == "assignment" and niva.assignment is None:
            niva.assignment = Assignment(**_niva_fields(element))
        elif name == "calledElement" and niva.called_element is None:
            fields = _niva_fields(element)
            fields["detached"] = _bool(element, "detached", False)
            niva.called_element = CalledElement(**fields)
        elif name == "subscription" and niva.subscription is None:
            niva.subscription = Subscription(**_niva_fields(element))
        else:
            # Foreign vocabularies, unknown niva elements and repeats of a single-valued
            # niva element are kept as written (validation may report the repeats).
            self.foreign.append(raw_element(element))


# --- flow elements ------------------------------------------------------------------------


def _event_definition(element: _Element) -> EventDefinition:
    kind = _local(element).removesuffix("EventDefinition")
    base = _Base(element, ("messageRef", "errorRef"))
    timers: dict[str, Expression] = {}
    for child in base.rest:
        if kind == "timer" and _is(child, BPMN, "timeDate", "timeDuration", "timeCycle"):
            timers.setdefault(_local(child), _expression(child))
        else:
            base.extras.append(raw_element(child))
    return EventDefinition(
        **base.fields(),
        foreign_extensions=[raw_element(e) for e in base.extensions],
        kind=kind,
        message_ref=element.get("messageRef"),
        error_ref=element.get("errorRef"),
        time_date=timers.get("timeDate"),
        time_duration=timers.get("timeDuration"),
        time_cycle=timers.get("timeCycle"),
    )


def _multi_instance(element: _Element) -> MultiInstance:
    base = _Base(element, ("isSequential",))
    expressions: dict[str, Expression] = {}
    for child in base.rest:
        if _is(child, BPMN, "loopCardinality", "completionCondition"):
            expressions.setdefault(_local(child), _expression(child))
        else:
            base.extras.append(raw_element(child))
    niva_loop: LoopExtension | None = None
    foreign: list[RawElement] = []
    for extension in base.extensions:
        if niva_loop is None and _is(extension, NIVA, "loop"):
            niva_loop = LoopExtension(**_niva_fields(extension))
        else:
            foreign.append(raw_element(extension))
    return MultiInstance(
        **base.fields(),
        foreign_extensions=foreign,
        is_sequential=_bool(element, "isSequential", False),
        loop_cardinality=expressions.get("loopCardinality"),
        completion_condition=expressions.get("completionCondition"),
        niva_loop=niva_loop,
    )


def _sequence_flow(element: _Element) -> SequenceFlow:
    base = _Base(element, ("name", "sourceRef", "targetRef"))
    condition: Expression | None = None
    for child in base.rest:
        if condition is None and _is(child, BPMN, "conditionExpression"):
            condition = _expression(child)
        else:
            base.extras.append(raw_element(child))
    fields = base.fields()
    fields["id"] = fields["id"] or ""
    return SequenceFlow(
        **fields,
        foreign_extensions=[raw_element(e) for e in base.extensions],
        name=element.get("name"),
        source_ref=element.get("sourceRef"),
        target_ref=element.get("targetRef"),
        condition=condition,
    )


_NODE_ATTRIBUTES = (
    "name",
    "attachedToRef",
    "cancelActivity",
    "isInterrupting",
    "default",
    "triggeredByEvent",
    "calledElement",
)


def _flow_node(element: _Element) -> FlowNode:
    kind = _local(element)
    base = _Base(element, _NODE_ATTRIBUTES)
    event_definitions: list[EventDefinition] = []
    loop: MultiInstance | None = None
    content: list[_Element] = []
    for child in base.rest:
        if etree.QName(child).namespace != BPMN:
            base.extras.append(raw_element(child))
            continue
        local = _local(child)
        if local in ("incoming", "outgoing"):
            continue  # derived from the flows when writing
        if local.endswith("EventDefinition"):
            event_definitions.append(_event_definition(child))
        elif local == "multiInstanceLoopCharacteristics" and loop is None:
            loop = _multi_instance(child)
        elif kind in SUBPROCESS_KINDS and (
            local in FLOW_NODE_KINDS or local == "sequenceFlow" or local in CONTAINER_CONTENT
        ):
            content.append(child)
        else:
            base.extras.append(raw_element(child))
    extensions = _NodeExtensions(base.extensions)
    fields = base.fields()
    fields["id"] = fields["id"] or ""
    return FlowNode(
        **fields,
        foreign_extensions=extensions.foreign,
        kind=kind,
        name=element.get("name"),
        event_definitions=event_definitions,
        attached_to_ref=element.get("attachedToRef"),
        cancel_activity=_bool(element, "cancelActivity", True),
        is_interrupting=_bool(element, "isInterrupting", True),
        default_flow=element.get("default"),
        loop=loop,
        subprocess=_container(content) if kind in SUBPROCESS_KINDS else None,
        triggered_by_event=_bool(element, "triggeredByEvent", False),
        called_element=element.get("calledElement"),
        niva=extensions.niva,
    )


def _container(children: list[_Element]) -> FlowContainer:
    container = FlowContainer()
    _fill_container(container, children)
    return container


def _fill_container(container: FlowContainer, children: list[_Element]) -> None:
    for child in children:
        if etree.QName(child).namespace == BPMN:
            local = _local(child)
            if local in FLOW_NODE_KINDS:
                container.nodes.append(_flow_node(child))
                continue
            if local == "sequenceFlow":
                container.flows.append(_sequence_flow(child))
                continue
        container.extras.append(raw_element(child))


def _process(element: _Element) -> Process:
    base = _Base(element, ("name", "isExecutable"))
    values: dict[str, str | None] = {"versionTag": None, "timezone": None}
    seen: set[str] = set()
    foreign: list[RawElement] = []
    for extension in base.extensions:
        local = _local(extension)
        if etree.QName(extension).namespace == NIVA and local in values and local not in seen:
            seen.add(local)
            values[local] = _niva_fields(extension).get("value")
        else:
            foreign.append(raw_element(extension))
    fields = base.fields()
    fields["id"] = fields["id"] or ""
    process = Process(
        **fields,
        foreign_extensions=foreign,
        name=element.get("name"),
        is_executable=_optional_bool(element, "isExecutable"),
        version_tag=values["versionTag"],
        timezone=values["timezone"],
    )
    _fill_container(process, base.rest)
    return process


# --- root elements ------------------------------------------------------------------------


def _simple_root(element: _Element, known: tuple[str, ...]) -> dict[str, Any]:
    base = _Base(element, known)
    base.extras.extend(raw_element(child) for child in base.rest)
    return {
        **base.fields(),
        "foreign_extensions": [raw_element(e) for e in base.extensions],
        **{_snake(name): element.get(name) for name in known},
    }


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _collaboration(element: _Element) -> Collaboration:
    base = _Base(element, ("name",))
    participants: list[Participant] = []
    message_flows: list[MessageFlow] = []
    for child in base.rest:
        if _is(child, BPMN, "participant"):
            participants.append(Participant(**_simple_root(child, ("name", "processRef"))))
        elif _is(child, BPMN, "messageFlow"):
            fields = _simple_root(child, ("name", "sourceRef", "targetRef", "messageRef"))
            message_flows.append(MessageFlow(**fields))
        else:
            base.extras.append(raw_element(child))
    return Collaboration(
        **base.fields(),
        foreign_extensions=[raw_element(e) for e in base.extensions],
        name=element.get("name"),
        participants=participants,
        message_flows=message_flows,
    )


def _read_definitions(root: _Element) -> Definitions:
    known = ("name", "targetNamespace", "exporter", "exporterVersion")
    base = _Base(root, known)
    definitions = Definitions(
        **base.fields(),
        foreign_extensions=[raw_element(e) for e in base.extensions],
        name=root.get("name"),
        target_namespace=root.get("targetNamespace"),
        exporter=root.get("exporter"),
        exporter_version=root.get("exporterVersion"),
        namespaces={prefix or "": uri for prefix, uri in root.nsmap.items()},
    )
    for child in base.rest:
        if _is(child, BPMN, "process"):
            definitions.processes.append(_process(child))
        elif _is(child, BPMN, "message"):
            definitions.messages.append(MessageDef(**_simple_root(child, ("name",))))
        elif _is(child, BPMN, "error"):
            definitions.errors.append(ErrorDef(**_simple_root(child, ("name", "errorCode"))))
        elif _is(child, BPMN, "collaboration"):
            definitions.collaborations.append(_collaboration(child))
        elif _is(child, BPMNDI, "BPMNDiagram"):
            definitions.diagrams.append(_diagram(child))
        else:
            definitions.extras.append(raw_element(child))
    return definitions


# --- diagram interchange ------------------------------------------------------------------


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    # NaN and infinities would draw nothing and break equality; keep such shapes raw.
    return number if number - number == 0 else None


def _bounds(element: _Element) -> Bounds | None:
    values = [_number(element.get(name)) for name in ("x", "y", "width", "height")]
    if any(v is None for v in values):
        return None
    x, y, width, height = (float(v or 0) for v in values)
    return Bounds(x=x, y=y, width=width, height=height)


class _Unreadable(Exception):
    """A shape or edge whose geometry cannot be read: it is kept raw."""


def _label(element: _Element) -> DiLabel:
    bounds: Bounds | None = None
    extras: list[RawElement] = []
    for child in _children(element):
        if bounds is None and _is(child, DC, "Bounds"):
            bounds = _bounds(child)
            if bounds is None:
                raise _Unreadable
        else:
            extras.append(raw_element(child))
    return DiLabel(bounds=bounds, attributes=_other_attributes(element, ()), extras=extras)


def _shape(element: _Element) -> Shape:
    bounds: Bounds | None = None
    label: DiLabel | None = None
    extras: list[RawElement] = []
    for child in _children(element):
        if bounds is None and _is(child, DC, "Bounds"):
            bounds = _bounds(child)
        elif label is None and _is(child, BPMNDI, "BPMNLabel"):
            label = _label(child)
        else:
            extras.append(raw_element(child))
    if bounds is None:
        raise _Unreadable
    known = ("id", "bpmnElement", "isHorizontal", "isExpanded", "isMarkerVisible")
    return Shape(
        id=element.get("id"),
        bpmn_element=element.get("bpmnElement"),
        bounds=bounds,
        is_horizontal=_optional_bool(element, "isHorizontal"),
        is_expanded=_optional_bool(element, "isExpanded"),
        is_marker_visible=_optional_bool(element, "isMarkerVisible"),
        label=label,
        attributes=_other_attributes(element, known),
        extras=extras,
        line=_line(element),
    )


def _edge(element: _Element) -> Edge:
    waypoints: list[tuple[float, float]] = []
    label: DiLabel | None = None
    extras: list[RawElement] = []
    for child in _children(element):
        if _is(child, DI, "waypoint"):
            x, y = _number(child.get("x")), _number(child.get("y"))
            if x is None or y is None:
                raise _Unreadable
            waypoints.append((x, y))
        elif label is None and _is(child, BPMNDI, "BPMNLabel"):
            label = _label(child)
        else:
            extras.append(raw_element(child))
    known = ("id", "bpmnElement", "sourceElement", "targetElement")
    return Edge(
        id=element.get("id"),
        bpmn_element=element.get("bpmnElement"),
        waypoints=waypoints,
        label=label,
        source_element=element.get("sourceElement"),
        target_element=element.get("targetElement"),
        attributes=_other_attributes(element, known),
        extras=extras,
        line=_line(element),
    )


def _diagram(element: _Element) -> Diagram:
    diagram = Diagram(
        id=element.get("id"),
        name=element.get("name"),
        attributes=_other_attributes(element, ("id", "name")),
        line=_line(element),
    )
    plane: _Element | None = None
    for child in _children(element):
        if plane is None and _is(child, BPMNDI, "BPMNPlane"):
            plane = child
        else:
            diagram.extras.append(raw_element(child))
    if plane is None:
        return diagram
    diagram.plane_id = plane.get("id")
    diagram.plane_element = plane.get("bpmnElement")
    diagram.plane_attributes = _other_attributes(plane, ("id", "bpmnElement"))
    for child in _children(plane):
        try:
            if _is(child, BPMNDI, "BPMNShape"):
                diagram.shapes.append(_shape(child))
                continue
            if _is(child, BPMNDI, "BPMNEdge"):
                diagram.edges.append(_edge(child))
                continue
        except _Unreadable:
            pass
        diagram.plane_extras.append(raw_element(child))
    return diagram
