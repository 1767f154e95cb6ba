"""Give diagram interchange (BPMN DI) to processes that have none.

Process owners read and change niva's models in bpmn.io and Camunda Modeler, which show
only what the file's diagram places. A model written by hand or by a program often has no
diagram at all; `layout_definitions` adds one, laid out left to right by
`process_models.bpmn.layout_graph`, and leaves every existing diagram exactly as it was.

A process gets its own diagram (plane = the process). When the file has no diagram at all
and a collaboration names pools, the collaboration gets one diagram instead: one pool per
participant, stacked, each holding its process, with the message flows between them, as
bpmn.io shows a collaboration. Lanes are left without shapes (bpmn.io draws the pool
without them).

An edge names its flow by id, so a sequence or message flow without one could not be drawn:
each such flow of a process being laid out gets an id, ``Flow_<source>_<target>`` (made
unique), and `unnamed_flows` tells the caller which flows those were.
"""

from __future__ import annotations

from collections.abc import Iterable

from process_models.bpmn.layout_graph import (
    GraphLayout,
    LayoutFlow,
    LayoutGraph,
    LayoutNode,
    Rect,
    layout_graph,
)
from process_models.bpmn.namespaces import BPMNDI, clark
from process_models.schema import (
    Bounds,
    Collaboration,
    Definitions,
    Diagram,
    DiLabel,
    Edge,
    FlowContainer,
    Process,
    Shape,
    local_ref,
)

__all__ = [
    "container_graph",
    "has_diagram",
    "layout_definitions",
    "layout_process",
    "unnamed_flows",
]

ORIGIN = (150.0, 80.0)
"""Where a new diagram starts, as bpmn.io places a new model's first element."""
POOL_BAND = 30.0
"""Width of a pool's name band on its left."""
POOL_PADDING = 40.0
POOL_GAP = 60.0
EMPTY_POOL_SIZE = (600.0, 100.0)

_DIAGRAM = clark(BPMNDI, "BPMNDiagram")


def container_graph(container: FlowContainer) -> LayoutGraph:
    """The plain graph of a process or subprocess: its flow nodes and sequence flows.

    Embedded subprocesses with content become nested graphs (drawn expanded); an event
    subprocess is marked detached, since no sequence flow reaches it.
    """
    nodes: list[LayoutNode] = []
    seen: set[str] = set()
    for node in container.nodes:
        if not node.id or node.id in seen:
            continue
        seen.add(node.id)
        children = (
            container_graph(node.subprocess)
            if node.subprocess is not None and node.subprocess.nodes
            else None
        )
        nodes.append(
            LayoutNode(
                id=node.id,
                kind=node.kind,
                name=node.name,
                attached_to=node.attached_to_ref if node.kind == "boundaryEvent" else None,
                children=children,
                detached=node.triggered_by_event,
            )
        )
    flows = [
        LayoutFlow(id=f.id, source=f.source_ref, target=f.target_ref, name=f.name)
        for f in container.flows
        if f.id and f.source_ref and f.target_ref
    ]
    return LayoutGraph(nodes=nodes, flows=flows)


def layout_process(process: Process, *, taken_ids: set[str] | None = None) -> Diagram:
    """A new diagram showing ``process`` laid out left to right.

    Args:
        process: The process to draw (its nested subprocesses included).
        taken_ids: Ids already used in the document; the diagram's ids avoid them and are
            added to the set.

    Returns:
        A diagram whose plane is the process, with one shape per flow node and one edge
        per sequence flow.
    """
    taken = taken_ids if taken_ids is not None else set()
    layout = layout_graph(container_graph(process), origin=ORIGIN)
    diagram = Diagram(
        id=_unique(f"BPMNDiagram_{process.id}", taken),
        plane_id=_unique(f"BPMNPlane_{process.id}", taken),
        plane_element=process.id,
    )
    _add_process_di(diagram, process, layout, taken)
    return diagram


def has_diagram(defs: Definitions, process: Process) -> bool:
    """True when some diagram of the file shows the process (its plane, pool or a node)."""
    participant = defs.participant_for(process.id)
    shown = {node.id for node in process.all_nodes()} | {process.id}
    if participant is not None and participant.id:
        shown.add(participant.id)
    return any(
        diagram.plane_element == process.id or any(s.bpmn_element in shown for s in diagram.shapes)
        for diagram in defs.diagrams
    )


def layout_definitions(defs: Definitions) -> Definitions:
    """A copy of ``defs`` with a diagram for every process that has none.

    Existing diagrams are kept untouched. A file without any diagram whose collaboration
    has pools gets one diagram of that collaboration (pools stacked, message flows drawn);
    otherwise each process without a diagram gets its own.

    Args:
        defs: The model as read; it is not modified.

    Returns:
        The model with diagrams added where they were missing.

    Raises:
        ValueError: The model was read for execution (``read_bpmn(..., for_execution=True)``),
            which does not read diagrams: which process has one is unknown.
    """
    unread = next((r for r in defs.extras if r.tag == _DIAGRAM and r.xml is None), None)
    if unread is not None:
        # Laying out as if the file had no diagram would draw over the modeller's own.
        raise ValueError(
            f"BPMNDiagram '{unread.id}' (line {unread.line}) was not read: the model was "
            "read for execution, so which process has a diagram is unknown; read the file "
            "with read_bpmn(source) (for_execution=False, the default) to lay it out"
        )
    result = defs.model_copy(deep=True)
    taken = _ids_in(result)
    collaboration = result.collaboration
    for process in result.processes:
        if not has_diagram(result, process):
            for flow in process.all_flows():
                if not flow.id:
                    flow.id = _unique(f"Flow_{flow.source_ref}_{flow.target_ref}", taken)
    if not result.diagrams and collaboration is not None:
        for message_flow in collaboration.message_flows:
            if not message_flow.id:
                message_flow.id = _unique(
                    f"MessageFlow_{message_flow.source_ref}_{message_flow.target_ref}", taken
                )
    if not result.diagrams and collaboration is not None and collaboration.participants:
        result.diagrams.append(_layout_collaboration(result, collaboration, taken))
        drawn = {local_ref(p.process_ref) for p in collaboration.participants}
    else:
        drawn = set()
    for process in result.processes:
        if process.id in drawn or has_diagram(result, process):
            continue
        result.diagrams.append(layout_process(process, taken_ids=taken))
    return result


def unnamed_flows(defs: Definitions) -> list[tuple[int | None, str | None, str | None]]:
    """The sequence and message flows without an id: (line, source, target) of each.

    `layout_definitions` gives these an id when it draws their process or collaboration.
    """
    flows: list[tuple[int | None, str | None, str | None]] = [
        (f.line, f.source_ref, f.target_ref)
        for process in defs.processes
        for f in process.all_flows()
        if not f.id
    ]
    flows += [
        (m.line, m.source_ref, m.target_ref)
        for c in defs.collaborations
        for m in c.message_flows
        if not m.id
    ]
    return flows


def _layout_collaboration(
    defs: Definitions, collaboration: Collaboration, taken: set[str]
) -> Diagram:
    diagram = Diagram(
        id=_unique(f"BPMNDiagram_{collaboration.id}", taken),
        plane_id=_unique(f"BPMNPlane_{collaboration.id}", taken),
        plane_element=collaboration.id,
    )
    rects: dict[str, Rect] = {}
    pool_rects: list[tuple[str, Rect, Process | None, GraphLayout | None]] = []
    layouts: list[tuple[str, Process | None, GraphLayout | None]] = []
    for participant in collaboration.participants:
        if not participant.id:
            continue
        process = defs.process(local_ref(participant.process_ref) or "")
        layout = layout_graph(container_graph(process)) if process is not None else None
        layouts.append((participant.id, process, layout))
    content_width = max(
        [layout.bounds().width for _, _, layout in layouts if layout is not None and layout.shapes]
        + [EMPTY_POOL_SIZE[0] - POOL_BAND - 2 * POOL_PADDING]
    )
    y = ORIGIN[1]
    for participant_id, process, layout in layouts:
        if layout is not None and layout.shapes:
            box = layout.bounds()
            height = box.height + 2 * POOL_PADDING
            layout = layout.translated(
                ORIGIN[0] + POOL_BAND + POOL_PADDING - box.x, y + POOL_PADDING - box.y
            )
        else:
            height = EMPTY_POOL_SIZE[1]
        pool = Rect(
            x=ORIGIN[0],
            y=y,
            width=POOL_BAND + 2 * POOL_PADDING + content_width,
            height=height,
        )
        pool_rects.append((participant_id, pool, process, layout))
        y += height + POOL_GAP
    for participant_id, pool, process, layout in pool_rects:
        diagram.shapes.append(
            Shape(
                id=_unique(f"{participant_id}_di", taken),
                bpmn_element=participant_id,
                bounds=_bounds(pool),
                is_horizontal=True,
            )
        )
        rects[participant_id] = pool
        if process is not None and layout is not None:
            _add_process_di(diagram, process, layout, taken)
            rects.update(layout.shapes)
    for flow in collaboration.message_flows:
        source = rects.get(flow.source_ref or "")
        target = rects.get(flow.target_ref or "")
        if not flow.id or source is None or target is None:
            continue
        diagram.edges.append(
            Edge(
                id=_unique(f"{flow.id}_di", taken),
                bpmn_element=flow.id,
                waypoints=_message_route(source, target),
            )
        )
    return diagram


def _message_route(source: Rect, target: Rect) -> list[tuple[float, float]]:
    """A message flow leaves a shape's bottom (or top) and enters the other's top (or bottom)."""
    down = source.cy <= target.cy
    x0 = source.cx
    x1 = target.cx
    # Between two pools, a straight drop reads best; a pool as an end is wide, so the line
    # meets it above or below the node at the other end.
    if source.width > 2 * target.width:
        x0 = min(max(x1, source.x + 10), source.right - 10)
    elif target.width > 2 * source.width:
        x1 = min(max(x0, target.x + 10), target.right - 10)
    y0 = source.bottom if down else source.y
    y1 = target.y if down else target.bottom
    if abs(x0 - x1) < 0.5:
        return [(x0, y0), (x1, y1)]
    middle = (y0 + y1) / 2
    return [(x0, y0), (x0, middle), (x1, middle), (x1, y1)]


def _add_process_di(
    diagram: Diagram, process: Process, layout: GraphLayout, taken: set[str]
) -> None:
    """Append a shape per flow node and an edge per sequence flow, in document order."""
    expanded = set(layout.expanded)
    for node in process.all_nodes():
        rect = layout.shapes.get(node.id)
        if rect is None or diagram.shape(node.id) is not None:
            continue
        label = layout.labels.get(node.id)
        diagram.shapes.append(
            Shape(
                id=_unique(f"{node.id}_di", taken),
                bpmn_element=node.id,
                bounds=_bounds(rect),
                is_expanded=True if node.id in expanded else None,
                # bpmn-js draws an exclusive gateway's "X" only when the DI asks for it.
                is_marker_visible=True if node.kind == "exclusiveGateway" else None,
                label=DiLabel(bounds=_bounds(label)) if label is not None else None,
            )
        )
    for flow in process.all_flows():
        points = layout.waypoints.get(flow.id)
        if not points or diagram.edge(flow.id) is not None:
            continue
        label = layout.labels.get(flow.id)
        diagram.edges.append(
            Edge(
                id=_unique(f"{flow.id}_di", taken),
                bpmn_element=flow.id,
                waypoints=list(points),
                label=DiLabel(bounds=_bounds(label)) if label is not None else None,
            )
        )


def _bounds(rect: Rect) -> Bounds:
    return Bounds(x=rect.x, y=rect.y, width=rect.width, height=rect.height)


def _unique(base: str, taken: set[str]) -> str:
    candidate = base
    counter = 2
    while candidate in taken:
        candidate = f"{base}_{counter}"
        counter += 1
    taken.add(candidate)
    return candidate


def _ids_in(defs: Definitions) -> set[str]:
    """Every id the document already uses, so new DI ids never collide with one."""
    ids: set[str] = set()

    def add(values: Iterable[str | None]) -> None:
        ids.update(v for v in values if v)

    add([defs.id])
    for process in defs.processes:
        add([process.id])
        add(n.id for n in process.all_nodes())
        add(f.id for f in process.all_flows())
        add(r.id for n in process.all_nodes() for r in n.extras)
        add(r.id for r in process.extras)
    for collaboration in defs.collaborations:
        add([collaboration.id])
        add(p.id for p in collaboration.participants)
        add(m.id for m in collaboration.message_flows)
    add(m.id for m in defs.messages)
    add(e.id for e in defs.errors)
    add(r.id for r in defs.extras)
    for diagram in defs.diagrams:
        add([diagram.id, diagram.plane_id])
        add(s.id for s in diagram.shapes)
        add(e.id for e in diagram.edges)
    return ids
