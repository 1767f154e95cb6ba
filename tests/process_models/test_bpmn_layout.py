"""The left-to-right auto-layout: on plain graphs, on the schema, and on whole files."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from process_models.bpmn.layout import layout_definitions, layout_process
from process_models.bpmn.layout_graph import (
    GraphLayout,
    LayoutFlow,
    LayoutGraph,
    LayoutNode,
    Rect,
    layout_graph,
)
from process_models.bpmn.reader import read_bpmn
from process_models.bpmn.writer import write_bpmn
from process_models.schema import Definitions, Diagram, Process, same_model
from tests.support.bpmn_samples import SAMPLES

MIWG_REFERENCE = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "conformance"
    / "bpmn-miwg"
    / "reference"
)


# --- helpers ------------------------------------------------------------------------------


def _node(node_id: str, kind: str = "task", **fields: object) -> LayoutNode:
    return LayoutNode.model_validate({"id": node_id, "kind": kind, **fields})


def _flow(source: str, target: str, flow_id: str | None = None) -> LayoutFlow:
    return LayoutFlow(id=flow_id or f"{source}->{target}", source=source, target=target)


def _chain(*ids: str) -> list[LayoutFlow]:
    return [_flow(a, b) for a, b in itertools.pairwise(ids)]


def _on_border(point: tuple[float, float], rect: Rect) -> bool:
    x, y = point
    inside_x = rect.x - 0.5 <= x <= rect.right + 0.5
    inside_y = rect.y - 0.5 <= y <= rect.bottom + 0.5
    on_vertical = min(abs(x - rect.x), abs(x - rect.right)) <= 0.5 and inside_y
    on_horizontal = min(abs(y - rect.y), abs(y - rect.bottom)) <= 0.5 and inside_x
    return on_vertical or on_horizontal


def _crosses(a: tuple[float, float], b: tuple[float, float], rect: Rect) -> bool:
    """True when the segment passes through the rectangle's interior (1 px inset)."""
    inner = Rect(x=rect.x + 1, y=rect.y + 1, width=rect.width - 2, height=rect.height - 2)
    segment = Rect(
        x=min(a[0], b[0]), y=min(a[1], b[1]), width=abs(a[0] - b[0]), height=abs(a[1] - b[1])
    )
    return (
        segment.x <= inner.right
        and inner.x <= segment.right
        and segment.y <= inner.bottom
        and inner.y <= segment.bottom
    )


def assert_clean_layout(graph: LayoutGraph, layout: GraphLayout) -> None:
    """Every node and flow drawn; no overlaps; flows orthogonal, attached, clear of shapes."""
    ids = {n.id for n in graph.nodes}
    hosts = {n.id: n.attached_to for n in graph.nodes if n.attached_to in ids}
    for node in graph.nodes:
        assert node.id in layout.shapes, f"{node.id} has no shape"
    shapes = {i: layout.shapes[i] for i in ids}
    ordered = sorted(ids)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if hosts.get(a) == b or hosts.get(b) == a:
                continue
            assert not shapes[a].overlaps(shapes[b]), f"{a} {shapes[a]} overlaps {b} {shapes[b]}"
    for flow in graph.flows:
        if flow.source not in ids or flow.target not in ids:
            assert flow.id not in layout.waypoints
            continue
        points = layout.waypoints[flow.id]
        assert len(points) >= 2, f"{flow.id} has {points}"
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            assert x0 == x1 or y0 == y1, f"{flow.id} is not orthogonal: {points}"
        assert _on_border(points[0], shapes[flow.source]), f"{flow.id} starts off its source"
        assert _on_border(points[-1], shapes[flow.target]), f"{flow.id} ends off its target"
        ends = {flow.source, flow.target, hosts.get(flow.source), hosts.get(flow.target)}
        for other in ids - ends:
            for start, end in itertools.pairwise(points):
                assert not _crosses(start, end, shapes[other]), f"{flow.id} runs through {other}"
    for node in graph.nodes:
        if node.children is None:
            continue
        for child in node.children.nodes:
            assert shapes[node.id].contains(layout.shapes[child.id]), f"{child.id} sticks out"
        for flow in node.children.flows:
            for x, y in layout.waypoints.get(flow.id, []):
                assert shapes[node.id].contains(Rect(x=x, y=y, width=0, height=0))
        assert_clean_layout(node.children, layout)


# --- the graph algorithm ------------------------------------------------------------------


def test_layout_linear_chain_reads_left_to_right() -> None:
    graph = LayoutGraph(
        nodes=[_node("s", "startEvent"), _node("a"), _node("b"), _node("e", "endEvent")],
        flows=_chain("s", "a", "b", "e"),
    )

    layout = layout_graph(graph)

    shapes = [layout.shapes[i] for i in ("s", "a", "b", "e")]
    assert all(left.right < right.x for left, right in itertools.pairwise(shapes))
    assert len({s.cy for s in shapes}) == 1, "a chain is one straight row"
    assert all(len(points) == 2 for points in layout.waypoints.values())
    assert_clean_layout(graph, layout)


def test_layout_default_sizes_follow_bpmn_js() -> None:
    graph = LayoutGraph(
        nodes=[
            _node("s", "startEvent"),
            _node("t", "userTask"),
            _node("g", "exclusiveGateway"),
            _node("big", "task", width=160, height=90),
        ],
        flows=_chain("s", "t", "g", "big"),
    )

    layout = layout_graph(graph)

    sizes = {k: (r.width, r.height) for k, r in layout.shapes.items()}
    assert sizes == {"s": (36, 36), "t": (100, 80), "g": (50, 50), "big": (160, 90)}


def test_layout_origin_is_top_left_of_drawing() -> None:
    graph = LayoutGraph(nodes=[_node("s", "startEvent", name="Start")], flows=[])

    layout = layout_graph(graph, origin=(150, 80))

    box = layout.bounds()
    assert (box.x, box.y) == (150, 80)


def test_layout_gateway_branches_spread_vertically_and_leave_by_corners() -> None:
    graph = LayoutGraph(
        nodes=[
            _node("s", "startEvent"),
            _node("split", "parallelGateway"),
            _node("a"),
            _node("b"),
            _node("c"),
            _node("join", "parallelGateway"),
            _node("e", "endEvent"),
        ],
        flows=[
            _flow("s", "split"),
            *(_flow("split", x) for x in "abc"),
            *(_flow(x, "join") for x in "abc"),
            _flow("join", "e"),
        ],
    )

    layout = layout_graph(graph)

    split, join = layout.shapes["split"], layout.shapes["join"]
    ys = [layout.shapes[x].cy for x in "abc"]
    assert ys == sorted(ys), "the branches keep their order"
    assert len(set(ys)) == 3, "three branches, three heights"
    assert ys[1] == split.cy == join.cy, "the middle branch runs straight through"
    assert layout.waypoints["split->a"][0] == (split.cx, split.y), "upper branch leaves on top"
    assert layout.waypoints["split->c"][0] == (split.cx, split.bottom)
    assert layout.waypoints["a->join"][-1] == (join.cx, join.y), "and joins from the top"
    assert layout.waypoints["c->join"][-1] == (join.cx, join.bottom)
    assert_clean_layout(graph, layout)


def test_layout_boundary_events_sit_on_host_bottom_and_flow_downward() -> None:
    graph = LayoutGraph(
        nodes=[
            _node("s", "startEvent"),
            _node("work", "userTask"),
            _node("timer", "boundaryEvent", attached_to="work", name="10 weeks"),
            _node("reminder", "boundaryEvent", attached_to="work"),
            _node("next"),
            _node("escalate"),
            _node("remind"),
            _node("e", "endEvent"),
        ],
        flows=[
            *_chain("s", "work", "next", "e"),
            _flow("timer", "escalate"),
            _flow("reminder", "remind"),
        ],
    )

    layout = layout_graph(graph)

    host = layout.shapes["work"]
    for event in ("timer", "reminder"):
        rect = layout.shapes[event]
        assert rect.cy == host.bottom, f"{event} is centred on the bottom edge"
        assert host.x <= rect.cx <= host.right
    assert not layout.shapes["timer"].overlaps(layout.shapes["reminder"])
    for flow, target in (("timer->escalate", "escalate"), ("reminder->remind", "remind")):
        (x0, y0), (x1, y1) = layout.waypoints[flow][:2]
        assert x0 == x1, f"{flow} leaves vertically"
        assert y1 > y0, f"{flow} leaves downward"
        assert layout.shapes[target].y > host.bottom, f"{target} is in a row below the host"
    assert "timer" in layout.labels
    assert_clean_layout(graph, layout)


def test_layout_loop_is_drawn_as_back_edge_around_the_shapes() -> None:
    graph = LayoutGraph(
        nodes=[
            _node("s", "startEvent"),
            _node("advertise"),
            _node("wait", "intermediateCatchEvent"),
            _node("enough", "exclusiveGateway"),
            _node("allocate"),
            _node("e", "endEvent"),
        ],
        flows=[
            *_chain("s", "advertise", "wait", "enough", "allocate", "e"),
            _flow("enough", "advertise", "again"),
        ],
    )

    layout = layout_graph(graph)

    order = ["s", "advertise", "wait", "enough", "allocate", "e"]
    xs = [layout.shapes[i].x for i in order]
    assert xs == sorted(xs), "the loop does not disturb the left-to-right order"
    points = layout.waypoints["again"]
    spanned = [layout.shapes[i] for i in ("advertise", "wait", "enough")]
    channel = [y for _, y in points]
    assert max(channel) > max(r.bottom for r in spanned) or min(channel) < min(
        r.y for r in spanned
    ), "the back edge runs outside the shapes it spans"
    assert points[-1][0] < points[0][0], "and goes back to the left"
    assert_clean_layout(graph, layout)


def test_layout_self_loop_and_two_loops_over_one_span() -> None:
    graph = LayoutGraph(
        nodes=[_node("s", "startEvent"), _node("a"), _node("b"), _node("e", "endEvent")],
        flows=[
            *_chain("s", "a", "b", "e"),
            _flow("b", "a", "back1"),
            _flow("b", "a", "back2"),
            _flow("b", "b", "self"),
        ],
    )

    layout = layout_graph(graph)

    assert layout.waypoints["back1"] != layout.waypoints["back2"]
    assert_clean_layout(graph, layout)


def test_layout_nested_subprocess_contains_its_children() -> None:
    inner = LayoutGraph(
        nodes=[_node("is", "startEvent"), _node("it"), _node("ie", "endEvent")],
        flows=_chain("is", "it", "ie"),
    )
    middle = LayoutGraph(
        nodes=[
            _node("ms", "startEvent"),
            _node("inner", "subProcess", children=inner),
            _node("me", "endEvent"),
        ],
        flows=_chain("ms", "inner", "me"),
    )
    graph = LayoutGraph(
        nodes=[
            _node("s", "startEvent"),
            _node("outer", "subProcess", children=middle),
            _node("e", "endEvent"),
        ],
        flows=_chain("s", "outer", "e"),
    )

    layout = layout_graph(graph)

    assert set(layout.expanded) == {"outer", "inner"}
    outer, inner_rect = layout.shapes["outer"], layout.shapes["inner"]
    assert outer.contains(inner_rect)
    assert inner_rect.contains(layout.shapes["it"])
    assert outer.width > inner_rect.width > layout.shapes["it"].width
    assert_clean_layout(graph, layout)


def test_layout_event_subprocess_goes_below_the_flow() -> None:
    handler = LayoutGraph(
        nodes=[_node("hs", "startEvent"), _node("he", "endEvent")], flows=_chain("hs", "he")
    )
    graph = LayoutGraph(
        nodes=[
            _node("s", "startEvent"),
            _node("t"),
            _node("e", "endEvent"),
            _node("handler", "subProcess", children=handler, detached=True),
        ],
        flows=_chain("s", "t", "e"),
    )

    layout = layout_graph(graph)

    lowest = max(layout.shapes[i].bottom for i in ("s", "t", "e"))
    assert layout.shapes["handler"].y > lowest
    assert_clean_layout(graph, layout)


def test_layout_only_an_event_subprocess_is_still_drawn() -> None:
    handler = LayoutGraph(nodes=[_node("hs", "startEvent")], flows=[])
    graph = LayoutGraph(
        nodes=[
            _node("handler", "subProcess", children=handler, detached=True),
            _node("odd", "boundaryEvent", attached_to="handler"),
        ],
        flows=[],
    )

    layout = layout_graph(graph)

    assert set(layout.shapes) == {"handler", "hs", "odd"}
    assert layout.shapes["odd"].cy == layout.shapes["handler"].bottom


def test_layout_leaves_out_flows_to_unknown_nodes() -> None:
    graph = LayoutGraph(
        nodes=[_node("s", "startEvent"), _node("t")],
        flows=[_flow("s", "t"), _flow("t", "ghost", "dangling")],
    )

    layout = layout_graph(graph)

    assert "dangling" not in layout.waypoints
    assert_clean_layout(graph, layout)


def test_layout_empty_graph_is_empty() -> None:
    layout = layout_graph(LayoutGraph())

    assert layout.shapes == {}
    assert layout.waypoints == {}


_KINDS = ["task", "userTask", "exclusiveGateway", "parallelGateway", "intermediateCatchEvent"]


@st.composite
def _graphs(draw: st.DrawFn, depth: int = 0) -> LayoutGraph:
    """Connected process graphs with branches, loops, boundary events and subprocesses."""
    prefix = draw(st.sampled_from("abcdefgh")) + str(depth)
    count = draw(st.integers(min_value=1, max_value=14 if depth == 0 else 5))
    nodes = [_node(f"{prefix}0", "startEvent")]
    for i in range(1, count + 1):
        kind = draw(st.sampled_from([*_KINDS, "endEvent", "subProcess"]))
        children = None
        if kind == "subProcess" and depth < 1:
            children = draw(_graphs(depth=depth + 1))
            # Ids must be unique across the nesting.
            children = _prefixed(children, f"{prefix}{i}_")
        nodes.append(_node(f"{prefix}{i}", kind, children=children))
    flows = [_flow(nodes[i].id, nodes[i + 1].id) for i in range(count)]
    extra = draw(
        st.lists(st.tuples(st.integers(0, count), st.integers(0, count)), max_size=count + 4)
    )
    flows += [_flow(nodes[a].id, nodes[b].id, f"x{k}") for k, (a, b) in enumerate(extra)]
    hosts = [n for n in nodes if n.kind in {"task", "userTask", "subProcess"}]
    if hosts:
        for k, host_index in enumerate(draw(st.lists(st.integers(0, len(hosts) - 1), max_size=5))):
            event = _node(f"{prefix}b{k}", "boundaryEvent", attached_to=hosts[host_index].id)
            nodes.append(event)
            target = draw(st.integers(0, count))
            flows.append(_flow(event.id, nodes[target].id, f"{prefix}bf{k}"))
    return LayoutGraph(nodes=nodes, flows=flows)


def _prefixed(graph: LayoutGraph, prefix: str) -> LayoutGraph:
    return LayoutGraph(
        nodes=[
            n.model_copy(
                update={
                    "id": prefix + n.id,
                    "attached_to": prefix + n.attached_to if n.attached_to else None,
                    "children": _prefixed(n.children, prefix) if n.children else None,
                }
            )
            for n in graph.nodes
        ],
        flows=[
            LayoutFlow(id=prefix + f.id, source=prefix + f.source, target=prefix + f.target)
            for f in graph.flows
        ],
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_graphs())
def test_layout_any_graph_is_clean(graph: LayoutGraph) -> None:
    layout = layout_graph(graph)

    assert_clean_layout(graph, layout)


# --- the schema adapter -------------------------------------------------------------------


def _assert_complete_diagram(process: Process, diagram: Diagram) -> None:
    shapes = [s.bpmn_element or "" for s in diagram.shapes]
    edges = [e.bpmn_element or "" for e in diagram.edges]
    assert sorted(shapes) == sorted(n.id for n in process.all_nodes())
    assert sorted(edges) == sorted(f.id for f in process.all_flows())
    ids = [s.id for s in diagram.shapes] + [e.id for e in diagram.edges]
    assert len(ids) == len(set(ids)), "DI ids are unique"


@pytest.mark.parametrize("name", [n for n in SAMPLES if n != "collaboration"])
def test_layout_definitions_draws_every_node_and_flow(name: str) -> None:
    defs = read_bpmn(SAMPLES[name])
    assert defs.diagrams == []

    result = layout_definitions(defs)

    assert defs.diagrams == [], "the input is not modified"
    (process,) = result.processes
    (diagram,) = result.diagrams
    assert diagram.plane_element == process.id
    _assert_complete_diagram(process, diagram)
    graph_shapes = {s.bpmn_element: s for s in diagram.shapes}
    for node in process.all_nodes():
        if node.kind == "exclusiveGateway":
            assert graph_shapes[node.id].is_marker_visible is True
        if node.subprocess is not None and node.subprocess.nodes:
            assert graph_shapes[node.id].is_expanded is True


def test_layout_definitions_keeps_existing_diagrams() -> None:
    with_di = layout_definitions(read_bpmn(SAMPLES["gateways"]))
    moved = with_di.model_copy(deep=True)
    for shape in moved.diagrams[0].shapes:
        shape.bounds.x += 1000  # a modeller's own placement, which must survive

    result = layout_definitions(moved)

    assert result.diagrams == moved.diagrams


def test_layout_definitions_adds_only_missing_diagrams() -> None:
    first = read_bpmn(SAMPLES["gateways"])
    # Ids are unique across a file: give the second process's elements a prefix.
    second = read_bpmn(SAMPLES["loops"].replace('id="', 'id="l_').replace('Ref="', 'Ref="l_'))
    drawn = layout_definitions(first)
    defs = drawn.model_copy(update={"processes": [*first.processes, *second.processes]})

    result = layout_definitions(defs)

    assert result.diagrams[0] == drawn.diagrams[0]
    assert [d.plane_element for d in result.diagrams] == ["gateways", "l_loops"]
    _assert_complete_diagram(result.processes[1], result.diagrams[1])


def test_layout_definitions_avoids_ids_in_use() -> None:
    xml = (
        SAMPLES["loops"]
        .replace('id="start"', 'id="advertise_di"')
        .replace('sourceRef="start"', 'sourceRef="advertise_di"')
    )
    defs = read_bpmn(xml)

    result = layout_definitions(defs)

    element_ids = {n.id for n in result.processes[0].all_nodes()}
    di_ids = {s.id for s in result.diagrams[0].shapes}
    assert not element_ids & di_ids


def test_layout_definitions_draws_collaboration_as_pools() -> None:
    defs = read_bpmn(SAMPLES["collaboration"])

    result = layout_definitions(defs)

    (diagram,) = result.diagrams
    assert diagram.plane_element == "agencies"
    pools = {
        s.bpmn_element: s for s in diagram.shapes if s.bpmn_element in {"board_pool", "region_pool"}
    }
    assert set(pools) == {"board_pool", "region_pool"}
    assert all(p.is_horizontal for p in pools.values())
    for pool_id, process in (("board_pool", "board"), ("region_pool", "region")):
        pool = pools[pool_id].bounds
        pool_rect = Rect(x=pool.x, y=pool.y, width=pool.width, height=pool.height)
        drawn = result.process(process)
        assert drawn is not None
        for node in drawn.all_nodes():
            shape = diagram.shape(node.id)
            assert shape is not None, f"{node.id} has a shape"
            bounds = shape.bounds
            assert pool_rect.contains(
                Rect(x=bounds.x, y=bounds.y, width=bounds.width, height=bounds.height)
            ), f"{node.id} is inside its pool"
    assert {e.bpmn_element for e in diagram.edges} >= {"mf_request", "mf_answer"}
    assert not Rect(**pools["board_pool"].bounds.model_dump()).overlaps(
        Rect(**pools["region_pool"].bounds.model_dump())
    )


def test_layout_process_diagram_round_trips_through_the_writer() -> None:
    defs = layout_definitions(read_bpmn(SAMPLES["referral"]))

    again = read_bpmn(write_bpmn(defs))

    assert same_model(again.diagrams[0], defs.diagrams[0])
    assert layout_definitions(again).diagrams == again.diagrams


def test_layout_process_standalone_uses_fresh_ids() -> None:
    process = read_bpmn(SAMPLES["boundary_events"]).processes[0]
    taken = {"BPMNDiagram_boundary_events"}

    diagram = layout_process(process, taken_ids=taken)

    assert diagram.id == "BPMNDiagram_boundary_events_2"
    assert diagram.id in taken
    assert "report_di" in taken


def _miwg_files() -> list[Path]:
    return sorted(MIWG_REFERENCE.glob("*.bpmn")) if MIWG_REFERENCE.is_dir() else []


@pytest.mark.skipif(
    not MIWG_REFERENCE.is_dir(),
    reason=f"the MIWG corpus is not at {MIWG_REFERENCE} (shared/ beside the repository)",
)
@pytest.mark.parametrize("path", _miwg_files(), ids=lambda p: p.name)
def test_layout_definitions_redraws_miwg_models_without_di(path: Path) -> None:
    defs = read_bpmn(path)
    bare = defs.model_copy(update={"diagrams": []})

    result = layout_definitions(bare)

    shown: dict[str, Diagram] = {}
    for diagram in result.diagrams:
        for shape in diagram.shapes:
            shown[shape.bpmn_element or ""] = diagram
    for process in result.processes:
        missing = [n.id for n in process.all_nodes() if n.id not in shown]
        assert not missing, f"{path.name}: {process.id}: no shape for {missing}"
        graph_ok = _no_overlaps(process, shown)
        assert graph_ok is None, f"{path.name}: {graph_ok}"


def _no_overlaps(process: Process, shown: dict[str, Diagram]) -> str | None:
    """None, or which two sibling shapes of one container overlap."""

    def rect(node_id: str) -> Rect:
        shape = shown[node_id].shape(node_id)
        assert shape is not None
        bounds = shape.bounds
        return Rect(x=bounds.x, y=bounds.y, width=bounds.width, height=bounds.height)

    containers = [process] + [n.subprocess for n in process.all_nodes() if n.subprocess]
    for container in containers:
        nodes = container.nodes
        for i, a in enumerate(nodes):
            for b in nodes[i + 1 :]:
                if a.attached_to_ref == b.id or b.attached_to_ref == a.id:
                    continue
                if rect(a.id).overlaps(rect(b.id)):
                    return f"{a.id} overlaps {b.id}"
    return None


def test_layout_definitions_returns_definitions() -> None:
    result = layout_definitions(Definitions())

    assert isinstance(result, Definitions)
    assert result.diagrams == []
