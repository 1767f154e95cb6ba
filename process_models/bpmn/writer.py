"""Write the typed model back to BPMN 2.0 XML with its diagram.

The output is UTF-8, indented, with the conventional prefixes (``bpmn``, ``bpmndi``, ``dc``,
``di``, ``xsi``, ``niva``) plus every namespace the source declared on its root, so that
vendor attributes, kept extension elements and QName values (``xsi:type="semantic:…"``,
``messageRef="tns:…"``) keep resolving. Children are written in the order the BPMN XSD
prescribes for their parent: a tool that validates against the schema (Camunda Modeler,
bpmn-moddle) accepts the file, whatever order the model's lists hold. A node's
``incoming``/``outgoing`` elements are derived from the flows of its container.

A file in the Camunda 8 dialect (`Definitions.dialect`) keeps its dialect: its execution
settings are the zeebe elements it was read with, written back raw, and the writer adds
neither niva elements nor niva's namespace to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lxml import etree

from process_models.bpmn.namespaces import (
    BPMN,
    BPMNDI,
    DC,
    DI,
    NIVA,
    WRITE_PREFIXES,
    bpmn,
    bpmndi,
    dc,
    di,
    niva,
    xsi,
)
from process_models.bpmn.xml import parse_fragment
from process_models.schema import (
    FLOW_NODE_KINDS,
    SUBPROCESS_KINDS,
    BaseElement,
    Bounds,
    Collaboration,
    Definitions,
    Diagram,
    DiLabel,
    Edge,
    EventDefinition,
    Expression,
    FlowNode,
    MultiInstance,
    NivaExtensions,
    Process,
    RawElement,
    SequenceFlow,
    Shape,
)

__all__ = ["write_bpmn"]

_Element = etree._Element

# --- element order ------------------------------------------------------------------------
#
# Each parent type lists the categories of its children in XSD order; a child whose category
# is not listed takes the rank of the parent's catch-all ("*").

_BASE = ("documentation", "extensionElements")
_FLOW_NODE = (*_BASE, "auditing", "monitoring", "categoryValueRef", "incoming", "outgoing")
_ACTIVITY = (
    *_FLOW_NODE,
    "ioSpecification",
    "property",
    "dataInputAssociation",
    "dataOutputAssociation",
    "resourceRole",
    "loopCharacteristics",
    "*",
    "laneSet",
    "flowElement",
    "artifact",
    "completionCondition",
)
_EVENT = (
    *_FLOW_NODE,
    "property",
    "dataOutput",
    "dataOutputAssociation",
    "outputSet",
    "dataInput",
    "dataInputAssociation",
    "inputSet",
    "eventDefinition",
    "eventDefinitionRef",
    "*",
)
_GATEWAY = (*_FLOW_NODE, "activationCondition", "*")
_PROCESS = (
    *_BASE,
    "supportedInterfaceRef",
    "ioSpecification",
    "ioBinding",
    "auditing",
    "monitoring",
    "property",
    "laneSet",
    "flowElement",
    "artifact",
    "*",
    "resourceRole",
    "correlationSubscription",
    "supports",
)
_SEQUENCE_FLOW = (*_BASE, "auditing", "monitoring", "categoryValueRef", "conditionExpression", "*")
_MULTI_INSTANCE = (
    *_BASE,
    "loopCardinality",
    "loopDataInputRef",
    "loopDataOutputRef",
    "inputDataItem",
    "outputDataItem",
    "complexBehaviorDefinition",
    "completionCondition",
    "*",
)
_SIMPLE = (*_BASE, "*")
_PARTICIPANT = (*_BASE, "interfaceRef", "endPointRef", "participantMultiplicity", "*")
_COLLABORATION = (
    *_BASE,
    "participant",
    "messageFlow",
    "artifact",
    "conversationNode",
    "conversationAssociation",
    "participantAssociation",
    "messageFlowAssociation",
    "correlationKey",
    "choreographyRef",
    "conversationLink",
    "*",
)
# tDefinitions has no documentation or extensionElements in the XSD; some tools write them
# anyway, and first is where a reader expects them.
_DEFINITIONS = (*_BASE, "import", "extension", "*", "BPMNDiagram", "relationship")
_DIAGRAM = ("BPMNPlane", "*")
_PLANE = ("extension", "*")
_SHAPE = ("extension", "Bounds", "BPMNLabel", "*")
_EDGE = ("extension", "waypoint", "BPMNLabel", "*")
_LABEL = ("extension", "Bounds", "*")

_FLOW_ELEMENTS = FLOW_NODE_KINDS | {
    "sequenceFlow",
    "dataObject",
    "dataObjectReference",
    "dataStoreReference",
}
_CATEGORIES: Mapping[str, str] = {
    **dict.fromkeys(_FLOW_ELEMENTS, "flowElement"),
    **dict.fromkeys(("textAnnotation", "association", "group"), "artifact"),
    **dict.fromkeys(("performer", "humanPerformer", "potentialOwner"), "resourceRole"),
    **dict.fromkeys(
        ("standardLoopCharacteristics", "multiInstanceLoopCharacteristics"), "loopCharacteristics"
    ),
    **dict.fromkeys(("conversation", "subConversation", "callConversation"), "conversationNode"),
}


def _category(element: _Element) -> str:
    qname = etree.QName(element)
    if qname.namespace not in (BPMN, BPMNDI, DC, DI):
        return "*"
    local = qname.localname
    if local.endswith("EventDefinition"):
        return "eventDefinition"
    return _CATEGORIES.get(local, local)


def _reorder(parent: _Element, sequence: tuple[str, ...]) -> None:
    rank = {category: index for index, category in enumerate(sequence)}
    fallback = rank["*"]
    children = list(parent)
    ordered = sorted(
        children,
        key=lambda child: rank.get(_category(child), fallback) if isinstance(child.tag, str) else 0,
    )
    if ordered != children:
        parent[:] = ordered


# --- helpers ------------------------------------------------------------------------------


def _number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _boolean(value: bool) -> str:
    return "true" if value else "false"


def _set(element: _Element, name: str, value: str | None) -> None:
    if value is not None:
        element.set(name, value)


def _set_attributes(element: _Element, attributes: Mapping[str, str]) -> None:
    # Typed fields are set first and win over a same-named entry in `attributes`.
    for key, value in attributes.items():
        if element.get(key) is None:
            element.set(key, value)


def _append_raw(parent: _Element, raws: Iterable[RawElement]) -> None:
    for raw in raws:
        if raw.xml is None:
            raise ValueError(_not_kept(raw))
        parent.append(parse_fragment(raw.xml))


def _not_kept(raw: RawElement) -> str:
    element = f"{raw.local_name} '{raw.id}'" if raw.id else raw.local_name
    where = f" (line {raw.line})" if raw.line is not None else ""
    return (
        "the model was read for execution (read_bpmn(..., for_execution=True)), which keeps "
        f"neither diagrams nor the XML of {element}{where}: writing it would lose them; "
        "read the file with read_bpmn(source) (for_execution=False, the default) to write "
        "it back"
    )


def _sub(parent: _Element, tag: str, **attributes: str | None) -> _Element:
    element = etree.SubElement(parent, tag)
    for name, value in attributes.items():
        _set(element, name, value)
    return element


def _write_base(
    parent: _Element, tag: str, model: BaseElement, niva_children: Iterable[_Element] = ()
) -> _Element:
    """Create the element with its id, documentation and extension elements.

    ``niva_children`` are detached niva elements to put first into extensionElements.
    """
    element = etree.SubElement(parent, tag)
    if model.id:
        element.set("id", model.id)
    for doc in model.documentation:
        node = _sub(element, bpmn("documentation"), id=doc.id, textFormat=doc.text_format)
        node.text = doc.text
    niva_list = list(niva_children)
    if niva_list or model.foreign_extensions:
        extensions = etree.SubElement(element, bpmn("extensionElements"))
        for child in niva_list:
            extensions.append(child)
        _append_raw(extensions, model.foreign_extensions)
    return element


def _finish(element: _Element, model: BaseElement, sequence: tuple[str, ...]) -> _Element:
    _set_attributes(element, model.attributes)
    _append_raw(element, model.extras)
    _reorder(element, sequence)
    return element


def _niva(local: str, **attributes: str | None) -> _Element:
    element = etree.Element(niva(local))
    for name, value in attributes.items():
        _set(element, name, value)
    return element


def _expression(parent: _Element, tag: str, expression: Expression) -> _Element:
    element = etree.SubElement(parent, tag)
    element.set(xsi("type"), "bpmn:tFormalExpression")
    _set(element, "language", expression.language)
    _set_attributes(element, expression.attributes)
    element.text = expression.body
    return element


# --- niva extensions ----------------------------------------------------------------------


def _node_extensions(ext: NivaExtensions) -> list[_Element]:
    elements: list[_Element] = []
    if ext.task_definition is not None:
        t = ext.task_definition
        elements.append(_niva("taskDefinition", type=t.type, retries=t.retries, timeout=t.timeout))
    if ext.called_element is not None:
        c = ext.called_element
        detached = _boolean(c.detached) if c.detached else None
        elements.append(
            _niva("calledElement", processId=c.process_id, detached=detached, version=c.version)
        )
    if ext.called_decision is not None:
        d = ext.called_decision
        elements.append(
            _niva("calledDecision", decisionId=d.decision_id, resultVariable=d.result_variable)
        )
    if ext.script is not None:
        script = ext.script
        elements.append(
            _niva("script", expression=script.expression, resultVariable=script.result_variable)
        )
    if ext.form is not None:
        elements.append(_niva("form", key=ext.form.key))
    if ext.assignment is not None:
        a = ext.assignment
        elements.append(
            _niva("assignment", candidateGroups=a.candidate_groups, candidateOrgs=a.candidate_orgs)
        )
    if ext.subscription is not None:
        s = ext.subscription
        elements.append(
            _niva(
                "subscription",
                messageName=s.message_name,
                candidateGroups=s.candidate_groups,
                candidateOrgs=s.candidate_orgs,
                ttl=s.ttl,
                correlationKey=s.correlation_key,
            )
        )
    for constraint in ext.constraints:
        elements.append(
            _niva("constraint", expression=constraint.expression, message=constraint.message)
        )
    for mapping in ext.inputs:
        elements.append(_niva("input", target=mapping.target, source=mapping.source))
    for mapping in ext.outputs:
        elements.append(_niva("output", target=mapping.target, source=mapping.source))
    if ext.calendar is not None:
        elements.append(_niva("calendar", value=ext.calendar))
    return elements


# --- flow elements ------------------------------------------------------------------------


def _write_event_definition(parent: _Element, definition: EventDefinition) -> None:
    element = _write_base(parent, bpmn(f"{definition.kind}EventDefinition"), definition)
    _set(element, "messageRef", definition.message_ref)
    _set(element, "errorRef", definition.error_ref)
    timer = definition.timer
    if timer is not None:
        kind, expression = timer
        _expression(element, bpmn(kind), expression)
    if definition.condition is not None:
        _expression(element, bpmn("condition"), definition.condition)
    _finish(element, definition, _SIMPLE)


def _write_multi_instance(parent: _Element, loop: MultiInstance, *, camunda8: bool) -> None:
    extensions: list[_Element] = []
    if loop.niva_loop is not None and not camunda8:
        n = loop.niva_loop
        extensions.append(
            _niva(
                "loop",
                inputCollection=n.input_collection,
                inputElement=n.input_element,
                outputCollection=n.output_collection,
                outputElement=n.output_element,
            )
        )
    element = _write_base(parent, bpmn("multiInstanceLoopCharacteristics"), loop, extensions)
    if loop.is_sequential:
        element.set("isSequential", "true")
    if loop.loop_cardinality is not None:
        _expression(element, bpmn("loopCardinality"), loop.loop_cardinality)
    if loop.completion_condition is not None:
        _expression(element, bpmn("completionCondition"), loop.completion_condition)
    _finish(element, loop, _MULTI_INSTANCE)


def _write_flow(parent: _Element, flow: SequenceFlow) -> None:
    element = _write_base(parent, bpmn("sequenceFlow"), flow)
    _set(element, "name", flow.name)
    _set(element, "sourceRef", flow.source_ref)
    _set(element, "targetRef", flow.target_ref)
    if flow.condition is not None:
        _expression(element, bpmn("conditionExpression"), flow.condition)
    _finish(element, flow, _SEQUENCE_FLOW)


def _node_sequence(kind: str) -> tuple[str, ...]:
    if kind.endswith("Event"):
        return _EVENT
    if kind.endswith("Gateway"):
        return _GATEWAY
    return _ACTIVITY


def _write_node(
    parent: _Element, node: FlowNode, incoming: list[str], outgoing: list[str], *, camunda8: bool
) -> None:
    # In a Camunda 8 file, node.niva was read from zeebe elements kept raw: those are
    # written back, and no niva element is added.
    niva_children = [] if camunda8 else _node_extensions(node.niva)
    element = _write_base(parent, bpmn(node.kind), node, niva_children)
    _set(element, "name", node.name)
    _set(element, "attachedToRef", node.attached_to_ref)
    if not node.cancel_activity:
        element.set("cancelActivity", "false")
    if not node.is_interrupting:
        element.set("isInterrupting", "false")
    if node.triggered_by_event:
        element.set("triggeredByEvent", "true")
    _set(element, "default", node.default_flow)
    _set(element, "calledElement", node.called_element)
    for flow_id in incoming:
        _sub(element, bpmn("incoming")).text = flow_id
    for flow_id in outgoing:
        _sub(element, bpmn("outgoing")).text = flow_id
    for definition in node.event_definitions:
        _write_event_definition(element, definition)
    if node.loop is not None:
        _write_multi_instance(element, node.loop, camunda8=camunda8)
    if node.subprocess is not None and node.kind in SUBPROCESS_KINDS:
        content = node.subprocess
        _write_content(element, content.nodes, content.flows, content.extras, camunda8=camunda8)
    _finish(element, node, _node_sequence(node.kind))


def _write_content(
    parent: _Element,
    nodes: list[FlowNode],
    flows: list[SequenceFlow],
    extras: list[RawElement],
    *,
    camunda8: bool,
) -> None:
    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for flow in flows:
        if flow.id and flow.target_ref:
            incoming.setdefault(flow.target_ref, []).append(flow.id)
        if flow.id and flow.source_ref:
            outgoing.setdefault(flow.source_ref, []).append(flow.id)
    for node in nodes:
        _write_node(
            parent, node, incoming.get(node.id, []), outgoing.get(node.id, []), camunda8=camunda8
        )
    for flow in flows:
        _write_flow(parent, flow)
    _append_raw(parent, extras)


def _write_process(parent: _Element, process: Process, *, camunda8: bool) -> None:
    extensions: list[_Element] = []
    if camunda8:
        pass  # the process settings were read from zeebe elements, written back raw
    elif process.version_tag is not None:
        extensions.append(_niva("versionTag", value=process.version_tag))
    if process.timezone is not None and not camunda8:
        extensions.append(_niva("timezone", value=process.timezone))
    if process.calendar is not None and not camunda8:
        extensions.append(_niva("calendar", value=process.calendar))
    if process.starters is not None and not camunda8:
        s = process.starters
        extensions.append(
            _niva("starters", candidateGroups=s.candidate_groups, candidateOrgs=s.candidate_orgs)
        )
    element = _write_base(parent, bpmn("process"), process, extensions)
    _set(element, "name", process.name)
    if process.is_executable is not None:
        element.set("isExecutable", _boolean(process.is_executable))
    # The container's extras are the process's extras: written once, by _finish.
    _write_content(element, process.nodes, process.flows, [], camunda8=camunda8)
    _finish(element, process, _PROCESS)


def _write_collaboration(parent: _Element, collaboration: Collaboration) -> None:
    element = _write_base(parent, bpmn("collaboration"), collaboration)
    _set(element, "name", collaboration.name)
    for participant in collaboration.participants:
        child = _write_base(element, bpmn("participant"), participant)
        _set(child, "name", participant.name)
        _set(child, "processRef", participant.process_ref)
        _finish(child, participant, _PARTICIPANT)
    for message_flow in collaboration.message_flows:
        child = _write_base(element, bpmn("messageFlow"), message_flow)
        _set(child, "name", message_flow.name)
        _set(child, "sourceRef", message_flow.source_ref)
        _set(child, "targetRef", message_flow.target_ref)
        _set(child, "messageRef", message_flow.message_ref)
        _finish(child, message_flow, _SIMPLE)
    _finish(element, collaboration, _COLLABORATION)


# --- diagram interchange ------------------------------------------------------------------


def _write_bounds(parent: _Element, bounds: Bounds) -> None:
    _sub(
        parent,
        dc("Bounds"),
        x=_number(bounds.x),
        y=_number(bounds.y),
        width=_number(bounds.width),
        height=_number(bounds.height),
    )


def _write_label(parent: _Element, label: DiLabel) -> None:
    element = etree.SubElement(parent, bpmndi("BPMNLabel"))
    _set_attributes(element, label.attributes)
    if label.bounds is not None:
        _write_bounds(element, label.bounds)
    _append_raw(element, label.extras)
    _reorder(element, _LABEL)


def _optional_boolean(value: bool | None) -> str | None:
    return None if value is None else _boolean(value)


def _write_shape(parent: _Element, shape: Shape) -> None:
    element = _sub(
        parent,
        bpmndi("BPMNShape"),
        id=shape.id,
        bpmnElement=shape.bpmn_element,
        isHorizontal=_optional_boolean(shape.is_horizontal),
        isExpanded=_optional_boolean(shape.is_expanded),
        isMarkerVisible=_optional_boolean(shape.is_marker_visible),
    )
    _set_attributes(element, shape.attributes)
    _write_bounds(element, shape.bounds)
    if shape.label is not None:
        _write_label(element, shape.label)
    _append_raw(element, shape.extras)
    _reorder(element, _SHAPE)


def _write_edge(parent: _Element, edge: Edge) -> None:
    element = _sub(
        parent,
        bpmndi("BPMNEdge"),
        id=edge.id,
        bpmnElement=edge.bpmn_element,
        sourceElement=edge.source_element,
        targetElement=edge.target_element,
    )
    _set_attributes(element, edge.attributes)
    for x, y in edge.waypoints:
        _sub(element, di("waypoint"), x=_number(x), y=_number(y))
    if edge.label is not None:
        _write_label(element, edge.label)
    _append_raw(element, edge.extras)
    _reorder(element, _EDGE)


def _write_diagram(parent: _Element, diagram: Diagram) -> None:
    element = _sub(parent, bpmndi("BPMNDiagram"), id=diagram.id, name=diagram.name)
    _set_attributes(element, diagram.attributes)
    plane = _sub(element, bpmndi("BPMNPlane"), id=diagram.plane_id)
    _set(plane, "bpmnElement", diagram.plane_element)
    _set_attributes(plane, diagram.plane_attributes)
    for shape in diagram.shapes:
        _write_shape(plane, shape)
    for edge in diagram.edges:
        _write_edge(plane, edge)
    _append_raw(plane, diagram.plane_extras)
    _reorder(plane, _PLANE)
    _append_raw(element, diagram.extras)
    _reorder(element, _DIAGRAM)


# --- definitions --------------------------------------------------------------------------


def _namespace_map(declared: Mapping[str, str], *, camunda8: bool) -> dict[str | None, str]:
    # A Camunda 8 file holds no niva element the writer adds, so it does not get niva's
    # namespace (it keeps one it declared itself).
    nsmap: dict[str | None, str] = {
        prefix: uri for prefix, uri in WRITE_PREFIXES.items() if not (camunda8 and uri == NIVA)
    }
    for prefix, uri in declared.items():
        key = prefix or None
        # niva's prefixes come first so new elements take them; a source prefix bound to
        # another URI than ours (one MIWG file binds di to BPMN DI) yields to ours.
        if key not in nsmap:
            nsmap[key] = uri
    return nsmap


def write_bpmn(defs: Definitions) -> bytes:
    """Serialize a model as BPMN 2.0 XML with diagram interchange.

    Args:
        defs: The model; its ``namespaces`` are declared again on the root.

    Returns:
        The document, UTF-8 encoded, with an XML declaration.

    Raises:
        ValueError: A text holds characters XML cannot carry (NUL and most control
            characters), or the model was read for execution
            (``read_bpmn(..., for_execution=True)``) and lacks the XML of an element or
            a diagram it would have to write.
    """
    # lxml accepts None for the default namespace; its stubs do not say so.
    camunda8 = defs.dialect == "camunda8"
    nsmap = _namespace_map(defs.namespaces, camunda8=camunda8)
    root = etree.Element(bpmn("definitions"), nsmap=nsmap)  # type: ignore[arg-type]
    _set(root, "id", defs.id)
    _set(root, "name", defs.name)
    _set(root, "targetNamespace", defs.target_namespace)
    _set(root, "exporter", defs.exporter)
    _set(root, "exporterVersion", defs.exporter_version)
    for doc in defs.documentation:
        node = _sub(root, bpmn("documentation"), id=doc.id, textFormat=doc.text_format)
        node.text = doc.text
    if defs.foreign_extensions:
        _append_raw(etree.SubElement(root, bpmn("extensionElements")), defs.foreign_extensions)
    _append_raw(root, defs.extras)
    for message in defs.messages:
        element = _write_base(root, bpmn("message"), message)
        _set(element, "name", message.name)
        _finish(element, message, _SIMPLE)
    for error in defs.errors:
        element = _write_base(root, bpmn("error"), error)
        _set(element, "name", error.name)
        _set(element, "errorCode", error.error_code)
        _finish(element, error, _SIMPLE)
    for escalation in defs.escalations:
        element = _write_base(root, bpmn("escalation"), escalation)
        _set(element, "name", escalation.name)
        _set(element, "escalationCode", escalation.escalation_code)
        _finish(element, escalation, _SIMPLE)
    for signal in defs.signals:
        element = _write_base(root, bpmn("signal"), signal)
        _set(element, "name", signal.name)
        _finish(element, signal, _SIMPLE)
    for collaboration in defs.collaborations:
        _write_collaboration(root, collaboration)
    for process in defs.processes:
        _write_process(root, process, camunda8=camunda8)
    for diagram in defs.diagrams:
        _write_diagram(root, diagram)
    _set_attributes(root, defs.attributes)
    _reorder(root, _DEFINITIONS)
    etree.indent(root, space="  ")
    body = etree.tostring(root, xml_declaration=False, encoding="UTF-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"
