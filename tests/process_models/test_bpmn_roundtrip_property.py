"""Property: any model of executable kinds, written and read back, equals itself.

The generated models carry random text (unicode, XML-special characters, whitespace) in
names, documentation, conditions, timers and every niva extension, random diagram
geometry, and vendor extensions, so escaping, attribute normalisation, number formatting
and element order are all exercised.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from process_models.bpmn import read_bpmn, write_bpmn
from process_models.bpmn.namespaces import WRITE_PREFIXES
from process_models.schema import (
    Assignment,
    Bounds,
    CalledElement,
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
    MultiInstance,
    NivaExtensions,
    Process,
    RawElement,
    SequenceFlow,
    Shape,
    Subscription,
    TaskDefinition,
    same_model,
    without_lines,
)

CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
NAMESPACES = {**WRITE_PREFIXES, "camunda": CAMUNDA}


def _xml_char(c: str) -> bool:
    # The characters XML 1.0 can carry at all.
    code = ord(c)
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or (code >= 0x10000)
    )


TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("<>&\"' \t\n\r=]]>;åäöÅÆØ€𝄞")),
        st.characters(codec="utf-8").filter(_xml_char),
    ),
    max_size=12,
)
OPTIONAL_TEXT = st.none() | TEXT
ID_SUFFIX = st.text(alphabet="abcXYZ019_-.", max_size=4)
NUMBER = st.floats(allow_nan=False, allow_infinity=False, width=64)
LANGUAGE = st.none() | st.sampled_from(["cel", "http://www.w3.org/1999/XPath"]) | TEXT

EVENT_KINDS = ["startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent"]
ACTIVITY_KINDS = ["task", "userTask", "serviceTask", "sendTask", "receiveTask", "manualTask"]
GATEWAY_KINDS = ["exclusiveGateway", "parallelGateway", "eventBasedGateway"]
NODE_KINDS = [*EVENT_KINDS, *ACTIVITY_KINDS, *GATEWAY_KINDS, "callActivity", "subProcess"]


class Ids:
    """Unique element ids for one generated model, with a random readable suffix."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.count = 0

    def __call__(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}{self.draw(ID_SUFFIX)}"


def expressions() -> st.SearchStrategy[Expression]:
    return st.builds(Expression, body=TEXT, language=LANGUAGE)


def documentation() -> st.SearchStrategy[list[Documentation]]:
    return st.lists(
        st.builds(Documentation, text=TEXT, text_format=st.none() | st.just("text/plain")),
        max_size=2,
    )


def foreign_extensions() -> st.SearchStrategy[list[RawElement]]:
    raw = TEXT.map(
        lambda value: RawElement(
            tag=f"{{{CAMUNDA}}}property",
            xml=f'<camunda:property xmlns:camunda="{CAMUNDA}" value={quoteattr(value)}/>',
        )
    )
    return st.lists(raw, max_size=2)


def mappings() -> st.SearchStrategy[list[IoMapping]]:
    return st.lists(st.builds(IoMapping, target=OPTIONAL_TEXT, source=OPTIONAL_TEXT), max_size=3)


def niva_extensions() -> st.SearchStrategy[NivaExtensions]:
    return st.builds(
        NivaExtensions,
        task_definition=st.none()
        | st.builds(
            TaskDefinition, type=OPTIONAL_TEXT, retries=OPTIONAL_TEXT, timeout=OPTIONAL_TEXT
        ),
        inputs=mappings(),
        outputs=mappings(),
        form=st.none() | st.builds(Form, key=OPTIONAL_TEXT),
        assignment=st.none()
        | st.builds(Assignment, candidate_groups=OPTIONAL_TEXT, candidate_orgs=OPTIONAL_TEXT),
        constraints=st.lists(
            st.builds(Constraint, expression=OPTIONAL_TEXT, message=OPTIONAL_TEXT), max_size=2
        ),
        called_element=st.none()
        | st.builds(
            CalledElement, process_id=OPTIONAL_TEXT, detached=st.booleans(), version=OPTIONAL_TEXT
        ),
        subscription=st.none()
        | st.builds(
            Subscription,
            message_name=OPTIONAL_TEXT,
            candidate_groups=OPTIONAL_TEXT,
            candidate_orgs=OPTIONAL_TEXT,
            ttl=OPTIONAL_TEXT,
        ),
    )


@st.composite
def event_definitions(draw: st.DrawFn, ids: Ids) -> list[EventDefinition]:
    kind = draw(st.sampled_from(["none", "message", "timer", "error", "terminate"]))
    if kind == "none":
        return []
    definition = EventDefinition(
        kind=kind, id=draw(st.none() | st.just(ids("Def"))), documentation=draw(documentation())
    )
    if kind == "message":
        definition.message_ref = draw(OPTIONAL_TEXT)
    elif kind == "error":
        definition.error_ref = draw(OPTIONAL_TEXT)
    elif kind == "timer":
        which = draw(st.sampled_from(["time_date", "time_duration", "time_cycle"]))
        setattr(definition, which, draw(expressions()))
    return [definition]


@st.composite
def multi_instances(draw: st.DrawFn) -> MultiInstance:
    return MultiInstance(
        is_sequential=draw(st.booleans()),
        loop_cardinality=draw(st.none() | expressions()),
        completion_condition=draw(st.none() | expressions()),
        niva_loop=draw(
            st.none()
            | st.builds(
                LoopExtension,
                input_collection=OPTIONAL_TEXT,
                input_element=OPTIONAL_TEXT,
                output_collection=OPTIONAL_TEXT,
                output_element=OPTIONAL_TEXT,
            )
        ),
        foreign_extensions=draw(foreign_extensions()),
    )


@st.composite
def containers(draw: st.DrawFn, ids: Ids, depth: int) -> FlowContainer:
    nodes: list[FlowNode] = []
    for _ in range(draw(st.integers(0, 5 if depth == 0 else 3))):
        kinds = NODE_KINDS if depth == 0 else [k for k in NODE_KINDS if k != "subProcess"]
        nodes.append(draw(flow_nodes(ids, draw(st.sampled_from(kinds)), depth)))
    node_ids = [n.id for n in nodes] or ["Nowhere"]
    with_boundary = draw(st.booleans())
    if nodes and with_boundary:
        nodes.append(
            FlowNode(
                id=ids("Boundary"),
                kind="boundaryEvent",
                attached_to_ref=draw(st.sampled_from(node_ids)),
                cancel_activity=draw(st.booleans()),
                event_definitions=draw(event_definitions(ids)),
            )
        )
    flows = [
        SequenceFlow(
            id=ids("Flow"),
            name=draw(OPTIONAL_TEXT),
            source_ref=draw(st.sampled_from(node_ids)),
            target_ref=draw(st.sampled_from([*node_ids, "Missing"])),
            condition=draw(st.none() | expressions()),
            documentation=draw(documentation()),
        )
        for _ in range(draw(st.integers(0, 5)))
    ]
    return FlowContainer(nodes=nodes, flows=flows)


@st.composite
def flow_nodes(draw: st.DrawFn, ids: Ids, kind: str, depth: int) -> FlowNode:
    node = FlowNode(
        id=ids(kind[:1].upper()),
        kind=kind,
        name=draw(OPTIONAL_TEXT),
        documentation=draw(documentation()),
        niva=draw(niva_extensions()),
        foreign_extensions=draw(foreign_extensions()),
        attributes=draw(
            st.dictionaries(
                st.sampled_from([f"{{{CAMUNDA}}}asyncBefore", "custom"]), TEXT, max_size=2
            )
        ),
    )
    if kind in EVENT_KINDS:
        node.event_definitions = draw(event_definitions(ids))
        node.is_interrupting = draw(st.booleans()) if kind == "startEvent" else True
    if kind in GATEWAY_KINDS:
        node.default_flow = draw(OPTIONAL_TEXT)
    if kind in (*ACTIVITY_KINDS, "callActivity", "subProcess"):
        node.loop = draw(st.none() | multi_instances())
    if kind == "callActivity":
        node.called_element = draw(OPTIONAL_TEXT)
    if kind == "subProcess":
        node.triggered_by_event = draw(st.booleans())
        node.subprocess = draw(containers(ids, depth + 1))
    return node


@st.composite
def labels(draw: st.DrawFn) -> DiLabel | None:
    if not draw(st.booleans()):
        return None
    bounds = draw(st.none() | st.builds(Bounds, x=NUMBER, y=NUMBER, width=NUMBER, height=NUMBER))
    return DiLabel(bounds=bounds)


@st.composite
def diagrams(draw: st.DrawFn, ids: Ids, process: Process) -> Diagram:
    optional_bool = st.none() | st.booleans()
    shapes = [
        Shape(
            id=ids("Shape"),
            bpmn_element=node.id,
            bounds=draw(st.builds(Bounds, x=NUMBER, y=NUMBER, width=NUMBER, height=NUMBER)),
            is_horizontal=draw(optional_bool),
            is_expanded=draw(optional_bool),
            is_marker_visible=draw(optional_bool),
            label=draw(labels()),
        )
        for node in process.all_nodes()
    ]
    edges = [
        Edge(
            id=ids("Edge"),
            bpmn_element=flow.id,
            waypoints=draw(st.lists(st.tuples(NUMBER, NUMBER), min_size=2, max_size=4)),
            label=draw(labels()),
        )
        for flow in process.all_flows()
    ]
    return Diagram(
        id=ids("Diagram"),
        name=draw(OPTIONAL_TEXT),
        plane_id=ids("Plane"),
        plane_element=process.id,
        shapes=shapes,
        edges=edges,
    )


@st.composite
def models(draw: st.DrawFn) -> Definitions:
    ids = Ids(draw)
    processes: list[Process] = []
    for _ in range(draw(st.integers(1, 2))):
        content = draw(containers(ids, 0))
        processes.append(
            Process(
                id=ids("Process"),
                name=draw(OPTIONAL_TEXT),
                is_executable=draw(st.none() | st.booleans()),
                version_tag=draw(OPTIONAL_TEXT),
                timezone=draw(OPTIONAL_TEXT),
                documentation=draw(documentation()),
                foreign_extensions=draw(foreign_extensions()),
                nodes=content.nodes,
                flows=content.flows,
            )
        )
    return Definitions(
        id=ids("Definitions"),
        name=draw(OPTIONAL_TEXT),
        target_namespace=draw(OPTIONAL_TEXT),
        exporter=draw(OPTIONAL_TEXT),
        exporter_version=draw(OPTIONAL_TEXT),
        namespaces=dict(NAMESPACES),
        processes=processes,
        messages=[
            MessageDef(id=ids("Message"), name=draw(OPTIONAL_TEXT))
            for _ in range(draw(st.integers(0, 2)))
        ],
        errors=[
            ErrorDef(id=ids("Error"), name=draw(OPTIONAL_TEXT), error_code=draw(OPTIONAL_TEXT))
            for _ in range(draw(st.integers(0, 2)))
        ],
        diagrams=[draw(diagrams(ids, p)) for p in processes],
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_roundtrip_property_generated_model_equals_itself(model: Definitions) -> None:
    data = write_bpmn(model)
    back = read_bpmn(data)
    assert without_lines(back) == model
    assert same_model(back, model)
    # The output is well-formed for any other XML tool too.
    etree.fromstring(data, etree.XMLParser(resolve_entities=False))
