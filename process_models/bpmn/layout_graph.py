"""Lay out a flow graph left to right: the geometry behind generated BPMN diagrams.

The graph is plain data (`LayoutGraph`: nodes with a BPMN kind, flows between them,
boundary events on their hosts, nested graphs for expanded subprocesses), so the algorithm
can be read and tested without the BPMN schema; `process_models.bpmn.layout` adapts it.

The method is a small layered ("Sugiyama") layout on a grid:

1. **Cycles** are broken by a depth-first search from the start events: a flow into a node
   still on the search stack is a back edge (a loop such as "advertise again" or a yearly
   report) and is drawn around the other shapes instead of ordering them.
2. **Layers** (columns) are the longest path from the sources over the remaining flows, so
   every forward flow points right. A flow leaving a boundary event counts as leaving its
   host. Flows spanning several columns get a placeholder in each column between, which
   reserves a free cell for the line to pass.
3. **Rows** are assigned column by column: a node wants the row of its predecessors (the
   median, when it joins several), shifted by its place among its predecessor's successors
   so a gateway's branches spread above and below (for two, straight on and below);
   targets of boundary events go below their host's other successors. Nodes of a column
   are sorted by the row they want, with the barycentre of their predecessors' positions
   breaking ties, and never share a row.
4. **Geometry**: each column is as wide as its widest shape (and the boundary events under
   it), with a fixed gap between columns. Within a column shapes keep their row order, a
   fixed gap apart, as near as possible to the height their predecessors want (a weighted
   isotonic regression); shapes straight on from the first start event weigh most, so the
   main line is one straight row and branches give way. Shapes therefore never overlap,
   and a tall subprocess stretches only its own column.
5. **Routing** is orthogonal: a gateway's branches leave from its top or bottom corner and
   joins enter that way when the way is free; other bends sit in the gaps between columns,
   which hold no shape, each flow in a lane of its own; flows from boundary events go down
   from the event; back edges run in a channel below (or above) every shape of the columns
   they span.

Sizes follow bpmn-js's defaults (tasks 100×80, events 36×36, gateways 50×50); an expanded
subprocess is laid out first, recursively, and sized to hold its content.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "GraphLayout",
    "LayoutFlow",
    "LayoutGraph",
    "LayoutNode",
    "Point",
    "Rect",
    "default_size",
    "layout_graph",
]

Point = tuple[float, float]

TASK_SIZE = (100.0, 80.0)
EVENT_SIZE = (36.0, 36.0)
GATEWAY_SIZE = (50.0, 50.0)
COLUMN_GAP = 60.0
"""Horizontal room between columns: bends, flow labels and the next arrowhead live there."""
ROW_GAP = 60.0
"""Vertical room between rows: event and gateway labels and boundary events hang into it."""
SUBPROCESS_PADDING = 30.0
SUBPROCESS_TOP = 40.0
"""Room above a subprocess's content for its name, which bpmn-js draws top left."""
MIN_SUBPROCESS_SIZE = (350.0, 200.0)
CHANNEL_GAP = 30.0
"""Distance between the lowest (or highest) shape and the first back-edge channel."""
CHANNEL_STEP = 14.0
STRAIGHT_WEIGHT = 1000.0
"""How much more a shape straight on from its predecessor resists being moved."""
LANE_STEP = 10.0
"""Distance between flows that bend side by side in one column gap."""
BOUNDARY_SPACING = 46.0
"""Least distance between the centres of two boundary events on one host."""
LABEL_WIDTH = 90.0
LABEL_LINE_HEIGHT = 14.0
CHAR_WIDTH = 6.5
"""Average width of a character in bpmn-js's 11 px label font, for sizing labels."""


class Rect(BaseModel):
    """An axis-aligned rectangle in diagram coordinates (y grows downwards)."""

    model_config = ConfigDict(frozen=True)

    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        """The x of the right edge."""
        return self.x + self.width

    @property
    def bottom(self) -> float:
        """The y of the bottom edge."""
        return self.y + self.height

    @property
    def cx(self) -> float:
        """The x of the centre."""
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        """The y of the centre."""
        return self.y + self.height / 2

    def translated(self, dx: float, dy: float) -> Rect:
        """The same rectangle moved by ``(dx, dy)``."""
        return Rect(x=self.x + dx, y=self.y + dy, width=self.width, height=self.height)

    def overlaps(self, other: Rect) -> bool:
        """True when the two rectangles share interior area (touching edges do not count)."""
        return (
            self.x < other.right
            and other.x < self.right
            and self.y < other.bottom
            and other.y < self.bottom
        )

    def contains(self, other: Rect) -> bool:
        """True when ``other`` lies entirely inside this rectangle (edges included)."""
        return (
            self.x <= other.x
            and self.y <= other.y
            and other.right <= self.right
            and other.bottom <= self.bottom
        )


class LayoutNode(BaseModel):
    """A node to place: an event, gateway or activity.

    Attributes:
        id: Unique within the whole graph, nested graphs included.
        kind: The BPMN local tag name (``"userTask"``, ``"exclusiveGateway"``, ...); it
            decides the default size and how flows attach.
        name: The label text, used to size external labels.
        width: Explicit width; the kind's default when None.
        height: Explicit height; the kind's default when None.
        attached_to: For a boundary event, the id of its host activity.
        children: For an expanded subprocess, its content, laid out inside it.
        detached: Not part of the sequence flow (an event subprocess): placed below it.
    """

    id: str
    kind: str
    name: str | None = None
    width: float | None = None
    height: float | None = None
    attached_to: str | None = None
    children: LayoutGraph | None = None
    detached: bool = False


class LayoutFlow(BaseModel):
    """A sequence flow from ``source`` to ``target`` (node ids of the same graph)."""

    id: str
    source: str
    target: str
    name: str | None = None


class LayoutGraph(BaseModel):
    """The nodes and flows of one process or subprocess."""

    nodes: list[LayoutNode] = Field(default_factory=list)
    flows: list[LayoutFlow] = Field(default_factory=list)


class GraphLayout(BaseModel):
    """Where everything goes.

    Attributes:
        shapes: Bounds per node id, nested subprocess content included.
        waypoints: The orthogonal polyline per flow id, from source to target.
        labels: Bounds of external labels per node or flow id (named events, gateways
            and flows); tasks and subprocesses show their names inside.
        expanded: Ids of the subprocesses drawn expanded, with their content inside.
    """

    shapes: dict[str, Rect] = Field(default_factory=dict)
    waypoints: dict[str, list[Point]] = Field(default_factory=dict)
    labels: dict[str, Rect] = Field(default_factory=dict)
    expanded: list[str] = Field(default_factory=list)

    def bounds(self) -> Rect:
        """The smallest rectangle holding every shape, label and waypoint."""
        xs: list[float] = []
        ys: list[float] = []
        for rect in [*self.shapes.values(), *self.labels.values()]:
            xs += [rect.x, rect.right]
            ys += [rect.y, rect.bottom]
        for points in self.waypoints.values():
            xs += [p[0] for p in points]
            ys += [p[1] for p in points]
        if not xs:
            return Rect(x=0, y=0, width=0, height=0)
        return Rect(x=min(xs), y=min(ys), width=max(xs) - min(xs), height=max(ys) - min(ys))

    def translated(self, dx: float, dy: float) -> GraphLayout:
        """The same layout moved by ``(dx, dy)``."""
        return GraphLayout(
            shapes={k: r.translated(dx, dy) for k, r in self.shapes.items()},
            waypoints={k: [(x + dx, y + dy) for x, y in pts] for k, pts in self.waypoints.items()},
            labels={k: r.translated(dx, dy) for k, r in self.labels.items()},
            expanded=list(self.expanded),
        )


def is_event_kind(kind: str) -> bool:
    """True for BPMN event kinds (``startEvent``, ``boundaryEvent``, ...)."""
    return kind.endswith("Event")


def is_gateway_kind(kind: str) -> bool:
    """True for BPMN gateway kinds."""
    return kind.endswith("Gateway")


def default_size(kind: str) -> tuple[float, float]:
    """The (width, height) bpmn-js gives a new element of this kind."""
    if is_event_kind(kind):
        return EVENT_SIZE
    if is_gateway_kind(kind):
        return GATEWAY_SIZE
    return TASK_SIZE


def layout_graph(graph: LayoutGraph, *, origin: Point = (0.0, 0.0)) -> GraphLayout:
    """Lay out a graph left to right with its top-left corner at ``origin``.

    Flows whose source or target is not a node of the graph are left out (validation
    reports them); everything else gets a shape or a polyline.

    Args:
        graph: The nodes and flows; nested graphs of expanded subprocesses included.
        origin: Where the top-left corner of the drawing (labels included) goes.

    Returns:
        Bounds for every node, waypoints for every flow, and external label bounds.
    """
    layout = _Layouter(graph).run()
    box = layout.bounds()
    return layout.translated(origin[0] - box.x, origin[1] - box.y)


@dataclass
class _Edge:
    """A flow as the layering sees it: between main nodes (boundary events map to hosts)."""

    flow: LayoutFlow
    u: str
    v: str
    boundary: str | None
    """The boundary event the flow leaves from, if any."""


@dataclass
class _Hop:
    """A successor of a vertex in the layered graph (one column to the right)."""

    vertex: str
    from_boundary: bool


class _Layouter:
    """One run of the layout over one graph (nested graphs get their own run)."""

    def __init__(self, graph: LayoutGraph) -> None:
        self.nodes: dict[str, LayoutNode] = {}
        for node in graph.nodes:
            self.nodes.setdefault(node.id, node)
        self.flows = graph.flows
        self.out = GraphLayout()
        self.size: dict[str, tuple[float, float]] = {}
        self.content: dict[str, GraphLayout] = {}
        for node in self.nodes.values():
            self.size[node.id] = self._measure(node)
        self.host: dict[str, str] = {
            n.id: n.attached_to
            for n in self.nodes.values()
            if n.attached_to
            and n.attached_to != n.id
            and n.attached_to in self.nodes
            and not self.nodes[n.attached_to].attached_to
        }
        self.detached = [n.id for n in self.nodes.values() if n.detached and n.id not in self.host]
        skip = set(self.host) | set(self.detached)
        self.main = [n for n in self.nodes if n not in skip]
        self.edges: list[_Edge] = []
        self.loose: list[LayoutFlow] = []
        for flow in self.flows:
            if flow.source not in self.nodes or flow.target not in self.nodes:
                continue
            u = self.host.get(flow.source, flow.source)
            v = self.host.get(flow.target, flow.target)
            if u in self.detached or v in self.detached:
                self.loose.append(flow)
                continue
            boundary = flow.source if flow.source in self.host else None
            self.edges.append(_Edge(flow, u, v, boundary))
        # Filled by the phases below.
        self.back: list[_Edge] = []
        self.forward: list[_Edge] = []
        self.layer: dict[str, int] = {}
        self.chains: dict[str, list[str]] = {}
        self.succ: dict[str, list[_Hop]] = defaultdict(list)
        self.pred: dict[str, list[str]] = defaultdict(list)
        self.row: dict[str, int] = {}
        self.col_x: list[float] = []
        self.col_w: list[float] = []
        self.columns: dict[int, list[str]] = {}
        self.y: dict[str, float] = {}
        self.position: dict[str, int] = {}
        self.offsets: dict[tuple[str, str], int] = {}
        self.spine: set[str] = set()
        self.rect: dict[str, Rect] = {}
        self.ports: dict[str, set[str]] = defaultdict(set)
        self.boundary_left: dict[str, bool] = {}

    # --- phases ---------------------------------------------------------------------------

    def run(self) -> GraphLayout:
        if not self.main and not self.detached:
            return self.out
        self._break_cycles()
        self._assign_layers()
        self._build_layered_graph()
        self._assign_rows()
        if self.main:
            self._place()
        self._place_detached()
        for edge in self.forward:
            self.out.waypoints[edge.flow.id] = _simplify(self._route_forward(edge))
        channels: list[tuple[str, int, int]] = []
        for edge in self.back:
            self.out.waypoints[edge.flow.id] = _simplify(self._route_back(edge, channels))
        for flow in self.loose:
            self.out.waypoints[flow.id] = _simplify(self._route_loose(flow))
        self._separate_gap_lanes()
        self._place_labels()
        return self.out

    def _measure(self, node: LayoutNode) -> tuple[float, float]:
        if node.children is not None and node.children.nodes:
            inner = layout_graph(node.children)
            box = inner.bounds()
            width = max(math.ceil(box.width + 2 * SUBPROCESS_PADDING), MIN_SUBPROCESS_SIZE[0])
            height = max(
                math.ceil(box.height + SUBPROCESS_TOP + SUBPROCESS_PADDING), MIN_SUBPROCESS_SIZE[1]
            )
            self.content[node.id] = inner
            return width, height
        default_w, default_h = default_size(node.kind)
        return node.width or default_w, node.height or default_h

    def _break_cycles(self) -> None:
        """Depth-first from the start events; a flow into a node on the stack is a loop."""
        outgoing: dict[str, list[int]] = defaultdict(list)
        # A node's ordinary flows are followed before those of its boundary events, so the
        # main path is the spine of the search.
        for index, edge in sorted(enumerate(self.edges), key=lambda ie: ie[1].boundary is not None):
            outgoing[edge.u].append(index)
        has_incoming = {e.v for e in self.edges if e.u != e.v}
        roots = (
            [n for n in self.main if self.nodes[n].kind == "startEvent"]
            + [n for n in self.main if n not in has_incoming]
            + self.main
        )
        state: dict[str, int] = {}  # 1: on the stack, 2: done
        back: set[int] = set()
        for root in roots:
            if root in state:
                continue
            state[root] = 1
            stack: list[tuple[str, int]] = [(root, 0)]
            while stack:
                node, position = stack[-1]
                if position < len(outgoing[node]):
                    stack[-1] = (node, position + 1)
                    index = outgoing[node][position]
                    target = self.edges[index].v
                    if state.get(target) == 1:
                        back.add(index)
                    elif target not in state:
                        state[target] = 1
                        stack.append((target, 0))
                else:
                    state[node] = 2
                    stack.pop()
        self.back = [e for i, e in enumerate(self.edges) if i in back]
        self.forward = [e for i, e in enumerate(self.edges) if i not in back]

    def _assign_layers(self) -> None:
        """Longest path from the sources over the forward flows (Kahn's order)."""
        indegree = {n: 0 for n in self.main}
        outgoing: dict[str, list[str]] = defaultdict(list)
        for edge in self.forward:
            indegree[edge.v] += 1
            outgoing[edge.u].append(edge.v)
        self.layer = {n: 0 for n in self.main}
        ready = [n for n in self.main if indegree[n] == 0]
        while ready:
            node = ready.pop(0)
            for target in outgoing[node]:
                self.layer[target] = max(self.layer[target], self.layer[node] + 1)
                indegree[target] -= 1
                if indegree[target] == 0:
                    ready.append(target)

    def _build_layered_graph(self) -> None:
        """Split long flows into one-column hops with a placeholder in each column between."""
        for edge in self.forward:
            chain = [edge.u]
            for step in range(self.layer[edge.u] + 1, self.layer[edge.v]):
                dummy = f"\x00{edge.flow.id}\x00{step}"
                self.layer[dummy] = step
                chain.append(dummy)
            chain.append(edge.v)
            self.chains[edge.flow.id] = chain
        ordinary = [e for e in self.forward if e.boundary is None]
        from_boundary = [e for e in self.forward if e.boundary is not None]
        for edge in ordinary + from_boundary:
            chain = self.chains[edge.flow.id]
            for i, (a, b) in enumerate(itertools.pairwise(chain)):
                self.succ[a].append(_Hop(b, from_boundary=i == 0 and edge.boundary is not None))
                self.pred[b].append(a)

    def _assign_rows(self) -> None:
        """Order each column and give every vertex an integer row (see the module doc)."""
        layers: dict[int, list[str]] = defaultdict(list)
        for vertex in self._preorder():
            layers[self.layer[vertex]].append(vertex)
        self.position = {v: i for vs in layers.values() for i, v in enumerate(vs)}
        for index in sorted(layers):
            wanted: dict[str, float | None] = {}
            for vertex in layers[index]:
                rows = []
                for parent in self.pred[vertex]:
                    # Frozen now, so that placing the column later wants the same fan-out.
                    offset = self.offsets.setdefault((parent, vertex), self._offset(parent, vertex))
                    rows.append(self.row[parent] + offset)
                rows.sort()
                wanted[vertex] = rows[(len(rows) - 1) // 2] if rows else None

            def key(vertex: str, wanted: dict[str, float | None] = wanted) -> tuple[float, float]:
                preds = self.pred[vertex]
                barycentre = (
                    sum(self.position[p] for p in preds) / len(preds)
                    if preds
                    else self.position[vertex]
                )
                want = wanted[vertex]
                return (math.inf if want is None else want, barycentre)

            ordered = sorted(layers[index], key=key)
            previous: int | None = None
            for i, vertex in enumerate(ordered):
                self.position[vertex] = i
                want = wanted[vertex]
                row = int(want) if want is not None else (0 if previous is None else previous + 1)
                if previous is not None:
                    row = max(row, previous + 1)
                self.row[vertex] = row
                previous = row
            self.columns[index] = ordered

    def _preorder(self) -> list[str]:
        """Every vertex once, depth first from the start events: the initial order."""
        starts = [n for n in self.main if self.nodes[n].kind == "startEvent"]
        sources = [n for n in self.main if not self.pred[n]]
        seen: set[str] = set()
        order: list[str] = []
        for root in [*starts, *sources, *self.main]:
            stack = [root]
            while stack:
                vertex = stack.pop()
                if vertex in seen:
                    continue
                seen.add(vertex)
                order.append(vertex)
                stack.extend(reversed([hop.vertex for hop in self.succ[vertex]]))
        return order

    def _offset(self, parent: str, child: str) -> int:
        """Row offset of ``child`` among ``parent``'s successors: branches fan out."""
        hops = self.succ[parent]
        plain = sorted(
            (h.vertex for h in hops if not h.from_boundary), key=lambda v: self.position.get(v, 0)
        )
        if child in plain:
            return plain.index(child) - (len(plain) - 1) // 2
        below = [h.vertex for h in hops if h.from_boundary]
        first = len(plain) - (len(plain) - 1) // 2 if plain else 1
        return first + below.index(child)

    def _place(self) -> None:
        """Turn columns and rows into coordinates.

        Columns are as wide as their widest shape and shapes are centred in them. Within a
        column the shapes keep the order of their rows, at least `ROW_GAP` apart, as close
        as possible to where their predecessors want them (`_settle`), so a row's shapes
        line up where nothing pushes them apart and a tall subprocess does not stretch
        every other column.
        """
        columns = max(self.layer[v] for v in self.row) + 1
        self.col_w = [0.0] * columns
        attached: dict[str, int] = defaultdict(int)
        for host in self.host.values():
            attached[host] += 1
        for vertex in self.row:
            if vertex in self.nodes:
                col = self.layer[vertex]
                # Boundary events that do not fit under their host stick out on both
                # sides: the column makes room, so the gaps stay free for the flows.
                reach = attached[vertex] * BOUNDARY_SPACING
                self.col_w[col] = max(self.col_w[col], self.size[vertex][0], reach)
        x = 0.0
        for col in range(columns):
            self.col_x.append(x)
            x += self.col_w[col] + COLUMN_GAP
        for col in range(columns):
            self._settle(self.columns[col])
        for vertex in self.main:
            width, height = self.size[vertex]
            col = self.layer[vertex]
            rect = Rect(
                x=self.col_x[col] + (self.col_w[col] - width) / 2,
                y=self.y[vertex] - height / 2,
                width=width,
                height=height,
            )
            self._put(vertex, rect)
        hosted: dict[str, list[str]] = defaultdict(list)
        for event, host in self.host.items():
            hosted[host].append(event)
        for host, events in hosted.items():
            if host in self.rect:
                self._place_boundary_events(self.rect[host], events)

    def _place_detached(self) -> None:
        """Event subprocesses go in a row of their own below everything else."""
        bottom = max([r.bottom for r in self.rect.values()] + list(self.y.values()), default=0.0)
        top = bottom + ROW_GAP if self.rect else 0.0
        x = 0.0
        for node_id in self.detached:
            width, height = self.size[node_id]
            self._put(node_id, Rect(x=x, y=top, width=width, height=height))
            x += width + COLUMN_GAP
        for event, host in self.host.items():
            # Not valid BPMN, but drawn all the same: an event on an event subprocess.
            if host in self.detached and event not in self.rect:
                self._place_boundary_events(
                    self.rect[host], [e for e, h in self.host.items() if h == host]
                )

    def _height(self, vertex: str) -> float:
        return self.size[vertex][1] if vertex in self.nodes else 0.0

    def _settle(self, column: list[str]) -> None:
        """Place one column's centres: ordered, spaced, nearest to what they want.

        Each vertex wants its predecessors' height, moved by its place among their
        successors (a gateway's branches fan out by one shape and gap each). Keeping the
        order and the gaps while staying nearest (least squares) to those wishes is an
        isotonic regression after subtracting the gaps, solved by pool-adjacent-violators.
        """
        wants: list[float] = []
        weights: list[float] = []
        gaps: list[float] = []
        previous: str | None = None
        for vertex in column:
            height = self._height(vertex)
            wishes = sorted(
                self.y[p] + self.offsets[(p, vertex)] * (self._height(p) / 2 + ROW_GAP + height / 2)
                for p in self.pred[vertex]
            )
            if wishes:
                wants.append(wishes[(len(wishes) - 1) // 2])
            else:
                wants.append(wants[-1] + ROW_GAP + height if wants else 0.0)
            # A vertex straight on from a predecessor weighs more, and one on the spine
            # (straight on from the first start event all the way) most: the main line
            # stays straight and the branches beside it give way.
            straight = [p for p in self.pred[vertex] if self.offsets[(p, vertex)] == 0]
            if not self.spine and not self.pred[vertex]:
                self.spine.add(vertex)
            if any(p in self.spine for p in straight):
                self.spine.add(vertex)
            if vertex in self.spine:
                weights.append(STRAIGHT_WEIGHT**2)
            else:
                weights.append(STRAIGHT_WEIGHT if straight else 1.0)
            if previous is None:
                gaps.append(0.0)
            else:
                both_real = previous in self.nodes and vertex in self.nodes
                gap = ROW_GAP if both_real or previous in self.host.values() else ROW_GAP / 2
                gaps.append(self._height(previous) / 2 + gap + height / 2)
            previous = vertex
        offsets = [sum(gaps[: i + 1]) for i in range(len(gaps))]
        settled = _isotonic([w - o for w, o in zip(wants, offsets, strict=True)], weights)
        for vertex, z, offset in zip(column, settled, offsets, strict=True):
            # Whole pixels: a shape straight on from its predecessor lands exactly level
            # with it (its weight keeps it within a fraction of a pixel), and the gaps,
            # far larger than a pixel, still hold.
            self.y[vertex] = float(round(z + offset))

    def _place_boundary_events(self, box: Rect, events: list[str]) -> None:
        """Spread the events along the host's bottom edge, centred on the edge.

        The event whose flow goes to the highest row sits rightmost, so the flows dropping
        from the events to their rows below do not cross each other.
        """

        def target_height(event: str) -> float:
            ys = [self.y[self.chains[e.flow.id][1]] for e in self.forward if e.boundary == event]
            return -min(ys) if ys else -math.inf

        ordered = sorted(events, key=target_height)
        count = len(ordered)
        spacing = box.width / (count + 1)
        if spacing < BOUNDARY_SPACING:
            spacing = BOUNDARY_SPACING
        first = box.cx - spacing * (count - 1) / 2
        for i, event in enumerate(ordered):
            width, height = self.size[event]
            centre = first + i * spacing
            self._put(
                event,
                Rect(x=centre - width / 2, y=box.bottom - height / 2, width=width, height=height),
            )
            # The flows turn right below the events; the leftmost label goes left of its
            # flow, clear of them all.
            self.boundary_left[event] = i == 0

    def _put(self, node_id: str, rect: Rect) -> None:
        self.rect[node_id] = rect
        self.out.shapes[node_id] = rect
        inner = self.content.get(node_id)
        if inner is not None:
            box = inner.bounds()
            # Centre the content below the band that holds the subprocess's name.
            room = rect.height - SUBPROCESS_TOP - SUBPROCESS_PADDING
            dx = rect.x + (rect.width - box.width) / 2 - box.x
            dy = rect.y + SUBPROCESS_TOP + (room - box.height) / 2 - box.y
            moved = inner.translated(dx, dy)
            self.out.shapes.update(moved.shapes)
            self.out.waypoints.update(moved.waypoints)
            self.out.labels.update(moved.labels)
            self.out.expanded += [node_id, *moved.expanded]

    # --- routing --------------------------------------------------------------------------

    def _vertex_y(self, vertex: str) -> float:
        return self.y[vertex]

    def _gap_x(self, col: int) -> float:
        """The middle of the gap right of column ``col`` (left of column 0 for ``-1``)."""
        if col < 0:
            return self.col_x[0] - COLUMN_GAP / 2
        return self.col_x[col] + self.col_w[col] + COLUMN_GAP / 2

    def _gap_below(self, vertex: str) -> float:
        """A height between the shape and whatever is next below it in its column."""
        box = self.rect[vertex]
        column = self.columns[self.layer[vertex]]
        index = column.index(vertex)
        if index + 1 < len(column):
            following = column[index + 1]
            top = self.y[following] - self._height(following) / 2
            return (box.bottom + top) / 2
        return box.bottom + ROW_GAP / 2

    def _blocked(self, a: Point, b: Point, ignore: set[str]) -> bool:
        """True when the axis-parallel segment a-b passes through a shape not in ``ignore``."""
        segment = Rect(
            x=min(a[0], b[0]) - 1,
            y=min(a[1], b[1]) - 1,
            width=abs(a[0] - b[0]) + 2,
            height=abs(a[1] - b[1]) + 2,
        )
        return any(rect.overlaps(segment) for key, rect in self.rect.items() if key not in ignore)

    def _route_forward(self, edge: _Edge) -> list[Point]:
        chain = self.chains[edge.flow.id]
        u, v = chain[0], chain[-1]
        source, target = self.rect[u], self.rect[v]
        ignore = {u, v}
        first_y = self._vertex_y(chain[1])
        points: list[Point] = []
        if edge.boundary is not None:
            event = self.rect[edge.boundary]
            ignore.add(edge.boundary)
            start = (event.cx, event.bottom)
            points.append(start)
            if first_y > event.bottom and not self._blocked(start, (event.cx, first_y), ignore):
                points.append((event.cx, first_y))
            else:
                gap_y = self._gap_below(u)
                gap_x = self._gap_x(self.layer[u])
                points += [(event.cx, gap_y), (gap_x, gap_y), (gap_x, first_y)]
        elif self._is_gateway(u) and abs(first_y - source.cy) > 0.5:
            down = first_y > source.cy
            corner = (source.cx, source.bottom if down else source.y)
            if not self._blocked(corner, (source.cx, first_y), ignore):
                points += [corner, (source.cx, first_y)]
                self.ports[u].add("bottom" if down else "top")
            else:
                points.append((source.right, source.cy))
        else:
            points.append((source.right, source.cy))
        current_y = points[-1][1]
        for step, vertex in enumerate(chain[1:], start=1):
            y = self._vertex_y(vertex)
            if abs(y - current_y) <= 0.5:
                continue
            last = step == len(chain) - 1
            if last and self._is_gateway(v):
                down = current_y < target.cy
                corner = (target.cx, target.y if down else target.bottom)
                here = points[-1]
                if not self._blocked(here, (target.cx, current_y), ignore) and not self._blocked(
                    (target.cx, current_y), corner, ignore
                ):
                    points += [(target.cx, current_y), corner]
                    self.ports[v].add("top" if down else "bottom")
                    return points
            gap_x = self._gap_x(self.layer[vertex] - 1)
            points += [(gap_x, current_y), (gap_x, y)]
            current_y = y
        points.append((target.x, target.cy))
        return points

    def _route_back(self, edge: _Edge, channels: list[tuple[str, int, int]]) -> list[Point]:
        """A loop: out of the source, along a channel clear of every shape, into the target."""
        u, v = edge.u, edge.v
        source, target = self.rect[u], self.rect[v]
        lo, hi = sorted((self.layer[u], self.layer[v]))
        span = [
            rect
            for key, rect in self.rect.items()
            if self.layer.get(self.host.get(key, key), -1) in range(lo, hi + 1)
        ]
        below_y = max(r.bottom for r in span) + CHANNEL_GAP
        above_y = min(r.y for r in span) - CHANNEL_GAP
        exit_from = self.rect[edge.boundary] if edge.boundary is not None else source
        cost_below = (below_y - exit_from.cy) + (below_y - target.cy)
        cost_above = (exit_from.cy - above_y) + (target.cy - above_y)
        direction = "below" if cost_below <= cost_above else "above"
        level = sum(1 for d, a, b in channels if d == direction and a <= hi and lo <= b)
        channels.append((direction, lo, hi))
        down = direction == "below"
        channel = below_y + level * CHANNEL_STEP if down else above_y - level * CHANNEL_STEP
        ignore = {u, v} | ({edge.boundary} if edge.boundary else set())

        points: list[Point] = []
        if edge.boundary is not None:
            event = self.rect[edge.boundary]
            start = (event.cx, event.bottom)
            points.append(start)
            if not down or self._blocked(start, (start[0], channel), ignore):
                gap_y = self._gap_below(u)
                gap_x = self._gap_x(self.layer[u])
                points += [(start[0], gap_y), (gap_x, gap_y)]
        else:
            side = self._free_side(source, channel, ignore, leaving=True)
            if side is not None and (u != v or source.width > GATEWAY_SIZE[0]):
                points.append(side)
                self._note_port(u, side)
            else:
                gap_x = self._gap_x(self.layer[u])
                points += [(source.right, source.cy), (gap_x, source.cy)]
        points.append((points[-1][0], channel))
        entry = self._free_side(target, channel, ignore, leaving=False)
        if entry is not None and abs(entry[0] - points[0][0]) > 0.5:
            points += [(entry[0], channel), entry]
            self._note_port(v, entry)
        else:
            gap_x = self._gap_x(self.layer[v] - 1)
            points += [(gap_x, channel), (gap_x, target.cy), (target.x, target.cy)]
        return points

    def _separate_gap_lanes(self) -> None:
        """Give flows that bend in the same column gap their own vertical lanes.

        Two flows running down the same gap line would merge into one line that seems to
        lead to either target. Flows that share a source or a target may share a lane (they
        read as a fork or a merge); others get lanes side by side, centred in the gap.
        """
        if not self.col_x:
            return
        ends = {f.id: (f.source, f.target) for f in self.flows}
        for col in range(-1, len(self.col_x)):
            middle = self._gap_x(col)
            segments: list[tuple[float, float, str, int]] = []
            for flow_id, points in self.out.waypoints.items():
                for i in range(len(points) - 1):
                    (x0, y0), (x1, y1) = points[i], points[i + 1]
                    if abs(x0 - middle) < 0.05 and abs(x1 - middle) < 0.05:
                        segments.append((min(y0, y1), max(y0, y1), flow_id, i))
            if len(segments) < 2:
                continue
            segments.sort()
            lanes: list[list[tuple[float, float, str, int]]] = []
            chosen: list[int] = []
            for segment in segments:
                lo, hi, flow_id, _ = segment
                for index, lane in enumerate(lanes):
                    clash = any(
                        lo <= other_hi + LANE_STEP
                        and other_lo <= hi + LANE_STEP
                        and ends[flow_id][0] != ends[other_id][0]
                        and ends[flow_id][1] != ends[other_id][1]
                        for other_lo, other_hi, other_id, _ in lane
                    )
                    if not clash:
                        lane.append(segment)
                        chosen.append(index)
                        break
                else:
                    lanes.append([segment])
                    chosen.append(len(lanes) - 1)
            if len(lanes) < 2:
                continue
            step = min(LANE_STEP, (COLUMN_GAP - 20) / (len(lanes) - 1))
            for (_, _, flow_id, i), lane_index in zip(segments, chosen, strict=True):
                x = middle + (lane_index - (len(lanes) - 1) / 2) * step
                points = self.out.waypoints[flow_id]
                points[i] = (x, points[i][1])
                points[i + 1] = (x, points[i + 1][1])

    def _note_port(self, node_id: str, point: Point) -> None:
        """Remember that a flow touches a shape's top or bottom (labels keep clear of it)."""
        rect = self.rect[node_id]
        self.ports[node_id].add("bottom" if point[1] >= rect.cy else "top")

    def _free_side(
        self, rect: Rect, channel: float, ignore: set[str], *, leaving: bool
    ) -> Point | None:
        """A point on the bottom (or top) of ``rect`` with a clear way to the channel."""
        down = channel > rect.cy
        edge_y = rect.bottom if down else rect.y
        if rect.width > GATEWAY_SIZE[0]:
            third = rect.width / 3
            # Leave on the right third, arrive on the left third: the loop reads as "back".
            near, far = (rect.x + 2 * third, rect.x + third)
            edge_near, edge_far = (rect.right - 10, rect.x + 10)
            if not leaving:
                near, far, edge_near, edge_far = far, near, edge_far, edge_near
            candidates = [near, rect.cx, far, edge_near, edge_far]
        else:
            candidates = [rect.cx]
        for x in candidates:
            if not self._blocked((x, edge_y), (x, channel), ignore):
                return (x, edge_y)
        return None

    def _route_loose(self, flow: LayoutFlow) -> list[Point]:
        source, target = self.rect[flow.source], self.rect[flow.target]
        middle = (source.right + target.x) / 2
        return [
            (source.right, source.cy),
            (middle, source.cy),
            (middle, target.cy),
            (target.x, target.cy),
        ]

    def _is_gateway(self, node_id: str) -> bool:
        node = self.nodes.get(node_id)
        return node is not None and is_gateway_kind(node.kind)

    # --- labels ---------------------------------------------------------------------------

    def _place_labels(self) -> None:
        for node_id, rect in self.rect.items():
            node = self.nodes[node_id]
            if not node.name or not (is_event_kind(node.kind) or is_gateway_kind(node.kind)):
                continue
            width, height = _label_size(node.name)
            if node_id in self.host:
                # The boundary event's flow leaves straight down and turns right: keep its
                # label beside it, on the left of the leftmost one.
                x = rect.cx - 6 - width if self.boundary_left.get(node_id) else rect.cx + 6
                self.out.labels[node_id] = Rect(x=x, y=rect.bottom + 2, width=width, height=height)
                continue
            ports = self.ports.get(node_id, set())
            if "bottom" not in ports:
                y = rect.bottom + 5
            elif "top" not in ports:
                y = rect.y - 5 - height
            else:
                self.out.labels[node_id] = Rect(
                    x=rect.x - width - 2, y=rect.y - height, width=width, height=height
                )
                continue
            self.out.labels[node_id] = Rect(x=rect.cx - width / 2, y=y, width=width, height=height)
        for flow in self.flows:
            points = self.out.waypoints.get(flow.id)
            if not flow.name or not points or len(points) < 2:
                continue
            width, height = _label_size(flow.name)
            (x0, y0), (_x1, y1) = points[0], points[1]
            if abs(y0 - y1) < 0.5:
                label = Rect(x=x0 + 6, y=y0 - height - 3, width=width, height=height)
            else:
                top = y0 + 4 if y1 > y0 else y0 - height - 4
                label = Rect(x=x0 + 5, y=top, width=width, height=height)
            self.out.labels[flow.id] = label


def _label_size(text: str) -> tuple[float, float]:
    """Width and height bpmn-js needs for an external label of this text (an estimate)."""
    longest = max((len(line) for line in text.splitlines()), default=0)
    width = min(max(longest * CHAR_WIDTH + 4, 20.0), LABEL_WIDTH)
    lines = sum(
        max(1, math.ceil(len(line) * CHAR_WIDTH / (LABEL_WIDTH - 4))) for line in text.splitlines()
    )
    return width, max(lines, 1) * LABEL_LINE_HEIGHT


def _simplify(points: list[Point]) -> list[Point]:
    """Drop repeated points and points in the middle of a straight run."""
    result: list[Point] = []
    for point in points:
        rounded = (round(point[0], 1), round(point[1], 1))
        if result and result[-1] == rounded:
            continue
        if len(result) >= 2:
            (ax, ay), (bx, by) = result[-2], result[-1]
            if (ax == bx == rounded[0]) or (ay == by == rounded[1]):
                result[-1] = rounded
                continue
        result.append(rounded)
    return result


def _isotonic(values: list[float], weights: list[float]) -> list[float]:
    """The non-decreasing sequence nearest to ``values`` in weighted least squares (PAVA)."""
    blocks: list[tuple[float, float, int]] = []  # (mean, weight, size)
    for value, weight in zip(values, weights, strict=True):
        mean, total, size = value, weight, 1
        while blocks and blocks[-1][0] > mean:
            last_mean, last_total, last_size = blocks.pop()
            mean = (last_mean * last_total + mean * total) / (last_total + total)
            total += last_total
            size += last_size
        blocks.append((mean, total, size))
    return [mean for mean, _, size in blocks for _ in range(size)]
