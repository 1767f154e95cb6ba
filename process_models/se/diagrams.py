"""The hand-placed diagrams (BPMN DI) of the Swedish NHV models.

The ``.bpmn`` files are the source of truth, diagram included: a process owner may move
shapes in bpmn.io or Camunda Modeler and save. This module is how their first diagrams
were drawn, and how to draw them again after elements are added in a text editor: each
element has a place on a grid (column, row), each boundary event a side of its host, and
each flow leaves and enters shapes at named ports, with bends on grid lines. The main
path runs along row 0 from left to right; reminders sit above their task, escalations
that reopen a task below it, branches and the revocation lane further down.

Run ``python -m process_models.se.diagrams`` from the repository root to rewrite the
three files' diagrams (everything else in them is kept as it is); ``--check`` only
reports elements without a place.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from process_models.bpmn import read_bpmn, write_bpmn
from process_models.schema import Bounds, Definitions, Diagram, DiLabel, Edge, Shape

__all__ = ["DIAGRAMS", "Port", "ProcessDiagram", "Route", "draw", "main"]

Port = Literal["l", "r", "t", "b"]
"""Where a flow meets a shape: left or right middle, or a point on the top or bottom."""

LabelPlace = Literal["above", "below", "right", "above_left"]
"""Where a name goes beside its event or gateway."""

COLUMN = 180.0
ROW = 130.0
ORIGIN = (150.0, 80.0)
TASK = (120.0, 80.0)
EVENT = (36.0, 36.0)
GATEWAY = (50.0, 50.0)
LABEL = (110.0, 40.0)


@dataclass(frozen=True)
class Route:
    """How one sequence flow is drawn.

    Args:
        exit: the port it leaves its source by (a boundary event always leaves by its
            outer side).
        enter: the port it enters its target by.
        exit_dx: for ``t``/``b`` exits, the point's distance from the shape's left edge
            (default: the middle).
        enter_dx: the same for ``t``/``b`` entries.
        via: bends in grid units (column, row) between the two ports; without them one
            bend (or two, half-way) joins the ports.
    """

    exit: Port = "r"
    enter: Port = "l"
    exit_dx: float | None = None
    enter_dx: float | None = None
    via: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class ProcessDiagram:
    """The placement of one process's elements.

    Args:
        file: the model's file name in this folder.
        places: every flow node's grid cell (column, row); a cell's centre is where the
            shape's centre goes.
        boundaries: each boundary event's side of its host and its distance from the
            host's left edge.
        routes: flows not drawn the default way (right port to left port).
        expanded: subprocesses drawn open, with their rectangle in grid units
            (left column, top row, right column, bottom row).
        labels: where an event's or gateway's name goes when not in its usual place
            (below the shape; left of a boundary event): ``above``, ``right``,
            ``above_left``, or for a boundary event ``right``.
    """

    file: str
    places: Mapping[str, tuple[float, float]]
    boundaries: Mapping[str, tuple[Literal["top", "bottom"], float]] = field(default_factory=dict)
    routes: Mapping[str, Route] = field(default_factory=dict)
    expanded: Mapping[str, tuple[float, float, float, float]] = field(default_factory=dict)
    labels: Mapping[str, LabelPlace] = field(default_factory=dict)


@dataclass
class _Box:
    x: float
    y: float
    w: float
    h: float
    kind: str

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


def _size(kind: str) -> tuple[float, float]:
    if kind.endswith("Gateway"):
        return GATEWAY
    if kind.endswith("Event"):
        return EVENT
    return TASK


def draw(defs: Definitions, layout: ProcessDiagram) -> Definitions:
    """A copy of ``defs`` whose first process is drawn as ``layout`` places it.

    Raises:
        ValueError: a flow node has no place, or a flow's route is not orthogonal.
    """
    process = defs.processes[0]
    nodes = {node.id: node for node in process.all_nodes()}
    top = min(row for _, row in layout.places.values())
    for _, upper, _, _ in layout.expanded.values():
        top = min(top, upper)

    def x_of(column: float) -> float:
        return ORIGIN[0] + column * COLUMN + TASK[0] / 2

    def y_of(row: float) -> float:
        return ORIGIN[1] + (row - top) * ROW + TASK[1] / 2

    boxes: dict[str, _Box] = {}
    for node_id, node in nodes.items():
        if node.kind == "boundaryEvent":
            continue
        if node_id in layout.expanded:
            left, upper, right, lower = layout.expanded[node_id]
            x0, y0 = x_of(left) - TASK[0] / 2 - 20, y_of(upper) - TASK[1] / 2 - 30
            x1, y1 = x_of(right) + TASK[0] / 2 + 20, y_of(lower) + TASK[1] / 2 + 20
            boxes[node_id] = _Box(x0, y0, x1 - x0, y1 - y0, node.kind)
            continue
        if node_id not in layout.places:
            raise ValueError(f"{layout.file}: {node_id} has no place in the diagram")
        column, row = layout.places[node_id]
        w, h = _size(node.kind)
        boxes[node_id] = _Box(x_of(column) - w / 2, y_of(row) - h / 2, w, h, node.kind)
    for node_id, node in nodes.items():
        if node.kind != "boundaryEvent":
            continue
        host = boxes[node.attached_to_ref or ""]
        side, dx = layout.boundaries.get(node_id, ("bottom", host.w / 2))
        cy = host.y if side == "top" else host.y + host.h
        boxes[node_id] = _Box(host.x + dx - EVENT[0] / 2, cy - EVENT[1] / 2, *EVENT, node.kind)

    diagram = Diagram(
        id=f"BPMNDiagram_{process.id}",
        plane_id=f"BPMNPlane_{process.id}",
        plane_element=process.id,
    )
    for node_id, node in nodes.items():
        box = boxes[node_id]
        label = None
        if (node.kind.endswith("Event") or node.kind.endswith("Gateway")) and node.name:
            label = _event_label(node_id, node.name, box, layout, node.kind == "boundaryEvent")
        diagram.shapes.append(
            Shape(
                id=f"{node_id}_di",
                bpmn_element=node_id,
                bounds=Bounds(x=box.x, y=box.y, width=box.w, height=box.h),
                is_expanded=True if node_id in layout.expanded else None,
                is_marker_visible=True if node.kind == "exclusiveGateway" else None,
                label=label,
            )
        )
    for flow in process.all_flows():
        if not (flow.id and flow.source_ref and flow.target_ref):
            continue
        route = layout.routes.get(flow.id, Route())
        source, target = boxes[flow.source_ref], boxes[flow.target_ref]
        exit_port: Port = route.exit
        if source.kind == "boundaryEvent":
            side = layout.boundaries.get(flow.source_ref, ("bottom", 0.0))[0]
            exit_port = "t" if side == "top" else "b"
        points = _route(source, exit_port, route.exit_dx, target, route, x_of, y_of)
        label = None
        if flow.name:
            label = _flow_label(points)
        diagram.edges.append(
            Edge(
                id=f"{flow.id}_di",
                bpmn_element=flow.id,
                waypoints=points,
                label=label,
            )
        )
    return defs.model_copy(update={"diagrams": [diagram]})


def _port(box: _Box, port: Port, dx: float | None) -> tuple[float, float]:
    if port == "l":
        return (box.x, box.cy)
    if port == "r":
        return (box.x + box.w, box.cy)
    x = box.x + (box.w / 2 if dx is None else dx)
    return (x, box.y) if port == "t" else (x, box.y + box.h)


def _route(
    source: _Box,
    exit_port: Port,
    exit_dx: float | None,
    target: _Box,
    route: Route,
    x_of: Callable[[float], float],
    y_of: Callable[[float], float],
) -> list[tuple[float, float]]:
    start = _port(source, exit_port, exit_dx)
    end = _port(target, route.enter, route.enter_dx)
    leaves_sideways = exit_port in ("l", "r")
    enters_sideways = route.enter in ("l", "r")
    bends = [(x_of(c), y_of(r)) for c, r in route.via]
    if bends:
        # The first bend lies on the line out of the exit port, the last on the line into
        # the entry port; the bends between are given on grid lines already.
        x, y = bends[0]
        bends[0] = (x, start[1]) if leaves_sideways else (start[0], y)
        x, y = bends[-1]
        bends[-1] = (end[0], y) if not enters_sideways else (x, end[1])
    elif leaves_sideways and enters_sideways:
        if start[1] != end[1]:
            middle = (start[0] + end[0]) / 2
            bends = [(middle, start[1]), (middle, end[1])]
    elif leaves_sideways:
        bends = [(end[0], start[1])]
    elif enters_sideways:
        bends = [(start[0], end[1])]
    elif start[0] != end[0]:
        middle = (start[1] + end[1]) / 2
        bends = [(start[0], middle), (end[0], middle)]
    points = [start]
    for point in [*bends, end]:
        if point != points[-1]:
            points.append(point)
    for a, b in itertools.pairwise(points):
        if a[0] != b[0] and a[1] != b[1]:
            raise ValueError(f"a route is not orthogonal: {points}")
    return [(round(x, 1), round(y, 1)) for x, y in points]


def _event_label(
    node_id: str, name: str, box: _Box, layout: ProcessDiagram, boundary: bool
) -> DiLabel:
    width = LABEL[0]
    # bpmn-js writes an external label from the top of its bounds; about 7 px a character
    # allows for its word wrapping.
    height = 14.0 * max(1, math.ceil(len(name) * 7.0 / width))
    place = layout.labels.get(node_id)
    if boundary:
        side = layout.boundaries.get(node_id, ("bottom", 0.0))[0]
        x = box.x + box.w + 2 if place == "right" else box.x - width - 2
        y = box.y - height + 2 if side == "top" else box.y + box.h - 6
    elif place == "above":
        x, y = box.cx - width / 2, box.y - height - 2
    elif place == "right":
        x, y = box.x + box.w + 4, box.cy - height / 2
    elif place == "above_left":
        x, y = box.x - width + 10, box.y - height
    else:
        x, y = box.cx - width / 2, box.y + box.h + 4
    return DiLabel(bounds=Bounds(x=x, y=y, width=width, height=height))


def _flow_label(points: Sequence[tuple[float, float]]) -> DiLabel:
    (x0, y0), (_, y1) = points[0], points[1]
    if y0 == y1:  # leaves sideways: the label sits above the first stretch
        return DiLabel(bounds=Bounds(x=x0 + 6, y=y0 - 20, width=70, height=14))
    return DiLabel(
        bounds=Bounds(x=x0 + 6, y=(y0 + 4) if y1 > y0 else (y0 - 20), width=70, height=14)
    )


_UP = Route(exit="t", enter="b", exit_dx=95.0, enter_dx=95.0)
"""An escalation below its task returns straight up into it."""
_DOWN = Route(enter="t", enter_dx=25.0)
"""A boundary event on a task's bottom drops straight into the escalation below."""
_UP_FROM_ABOVE = Route(exit="b", enter="t", exit_dx=95.0, enter_dx=95.0)
_DOWN_FROM_ABOVE = Route(enter="b", enter_dx=50.0)

DESIGNATION = ProcessDiagram(
    file="se_nhv_designation.bpmn",
    places={
        "Nominated": (0, 0),
        "SetTimeLimits": (1, 0),
        "Prioritise": (2, 0),
        "EscalatePrioritise": (2, 1),
        "IsPrioritised": (3, 0),
        "NotifyNotPrioritised": (4, 2),
        "EndNotPrioritised": (5, 2),
        "AppointExpertGroup": (4, 0),
        "EscalateAppoint": (4, 1),
        "NotifyReviewStart": (5, 0),
        "ExpertReport": (6, 0),
        "EscalateReview": (6, 1),
        "RemindReview": (7, -1),
        "ReviewReminded": (8, -1),
        "IsSuitable": (7, 0),
        "NotifyUnsuitable": (8, 1),
        "EndUnsuitable": (9, 1),
        "RenderReferralPackage": (8, 0),
        "SendReferral": (9, 0),
        "ReferralResponse": (10, 0),
        "NotifyExtension": (11, -2),
        "ExtensionSent": (12, -2),
        "RemindReferral": (11, -1),
        "ReferralReminded": (12, -1),
        "NotifyNoAnswer": (11, 1),
        "ReferralClosed": (11, 0),
        "HandOverToB1": (12, 0),
        "B1Analysis": (13, 0),
        "EscalateB1": (13, 1),
        "Decide": (14, 0),
        "EscalateDecide": (14, 1),
        "RenderDecision": (15, 0),
        "PublishDecision": (16, 0),
        "NotifyNpo": (17, 0),
        "IsNhv": (18, 0),
        "StartAllocation": (19, 0),
        "EndNhv": (20, 0),
        "EndNotNhv": (19, 1),
        "WithdrawalReceived": (0.3, 3.2),
        "NotifyWithdrawal": (1.3, 3.2),
        "EndWithdrawn": (2.3, 3.2),
    },
    boundaries={
        "PrioritiseOverdue": ("bottom", 25.0),
        "AppointOverdue": ("bottom", 25.0),
        "ReviewOverdue": ("bottom", 25.0),
        "ReviewReminder": ("top", 60.0),
        "ReferralExtended": ("top", 45.0),
        "ReferralReminder": ("top", 85.0),
        "ReferralDeadline": ("bottom", 30.0),
        "B1Overdue": ("bottom", 25.0),
        "DecideOverdue": ("bottom", 25.0),
    },
    routes={
        "Flow_PrioritiseOverdue_EscalatePrioritise": _DOWN,
        "Flow_EscalatePrioritise_Prioritise": _UP,
        "Flow_AppointOverdue_EscalateAppoint": _DOWN,
        "Flow_EscalateAppoint_AppointExpertGroup": _UP,
        "Flow_ReviewOverdue_EscalateReview": _DOWN,
        "Flow_EscalateReview_ExpertReport": _UP,
        "Flow_B1Overdue_EscalateB1": _DOWN,
        "Flow_EscalateB1_B1Analysis": _UP,
        "Flow_DecideOverdue_EscalateDecide": _DOWN,
        "Flow_EscalateDecide_Decide": _UP,
        "Flow_IsPrioritised_NotifyNotPrioritised": Route(exit="b"),
        "Flow_IsSuitable_NotifyUnsuitable": Route(exit="b"),
        "Flow_IsNhv_EndNotNhv": Route(exit="b"),
        "Flow_NotifyNoAnswer_ReferralClosed": Route(exit="t", enter="b"),
    },
    expanded={"Withdrawal": (0.3, 3.2, 2.3, 3.2)},
    labels={
        "IsPrioritised": "above",
        "IsSuitable": "above",
        "ReferralClosed": "above",
        "IsNhv": "above",
        "ReferralReminder": "right",
        "ReviewReminder": "right",
    },
)

ALLOCATION = ProcessDiagram(
    file="se_nhv_permit_allocation.bpmn",
    places={
        "Designated": (0, 0),
        "SetTimeLimits": (1, 0),
        "OpenRound": (2, 0),
        "RenderCall": (3, 0),
        "SendCall": (4, 0),
        "Apply": (5, 0),
        "RemindApplicants": (6, -1),
        "ApplicantsReminded": (7, -1),
        "ApplicationsClosed": (6, 0),
        "AnyApplications": (7, 0),
        "DecideReadvertise": (8, 2),
        "EscalateReadvertise": (8, 3),
        "ReadvertiseChosen": (9, 2),
        "NotifyClosed": (10, 2),
        "EndClosed": (11, 2),
        "HandOverToB2": (8, 0),
        "B2Statement": (9, 0),
        "EscalateB2": (9, -1),
        "NextMeeting": (10, 0),
        "DecidePermits": (11, 0),
        "RenderPermitDecision": (12, 0),
        "NotifyPermitDecision": (13, 0),
        "GrantPermits": (14, 0),
        "VacanciesLeft": (15, 0),
        "EndAllocated": (16, 0),
    },
    boundaries={
        "ApplyReminder": ("top", 60.0),
        "ApplicationDeadline": ("bottom", 30.0),
        "ReadvertiseOverdue": ("bottom", 25.0),
        "B2Overdue": ("top", 50.0),
        "PermitsTabled": ("bottom", 50.0),
    },
    routes={
        "Flow_ApplicationDeadline_ApplicationsClosed": Route(enter="b", via=((5, 0.65), (6, 0.65))),
        "Flow_AnyApplications_DecideReadvertise": Route(exit="b"),
        "Flow_ReadvertiseOverdue_EscalateReadvertise": _DOWN,
        "Flow_EscalateReadvertise_DecideReadvertise": _UP,
        "Flow_B2Overdue_EscalateB2": _DOWN_FROM_ABOVE,
        "Flow_EscalateB2_B2Statement": _UP_FROM_ABOVE,
        "Flow_ReadvertiseChosen_OpenRound": Route(exit="b", enter="b", via=((9, 3.75), (2, 3.75))),
        "Flow_PermitsTabled_NextMeeting": Route(enter="b", via=((11, 1.0), (10, 1.0))),
        "Flow_VacanciesLeft_OpenRound": Route(exit="t", enter="t", via=((15, -1.75), (2, -1.75))),
    },
    labels={"AnyApplications": "above", "ReadvertiseChosen": "above", "NextMeeting": "above"},
)

PERMIT = ProcessDiagram(
    file="se_nhv_permit.bpmn",
    places={
        "Granted": (0, 0),
        "SetTimeLimits": (1, 0),
        "RenderPermit": (2, 0),
        "SendPermit": (3, 0),
        "PermitStarts": (4, 0),
        "AwaitEvent": (5, 0),
        "FollowUpOpens": (6, 0),
        "RequestFollowUp": (7, 0),
        "AnnualFollowUp": (8, 0),
        "RemindFollowUp": (9, -1),
        "FollowUpReminded": (10, -1),
        "EscalateFollowUp": (8, 1),
        "FollowUpReceipt": (9, 0),
        "ReviewFollowUp": (10, 0),
        "EscalateReviewFollowUp": (10, 1),
        "EvaluationLetter": (11, 0),
        "PublishFollowUp": (12, 0),
        "RecordFollowUp": (13, 0),
        "ConditionsMet": (14, 0),
        "RevocationRequested": (6, 2.3),
        "RevocationInitiated": (6, 3.3),
        "RevocationCase": (7, 2.3),
        "RevocationMeeting": (8, 2.3),
        "DecideRevocation": (9, 2.3),
        "IsRevoked": (10, 2.3),
        "NotifyNotRevoked": (11, 3.3),
        "RenderRevocation": (11, 2.3),
        "NotifyRevocation": (12, 2.3),
        "ReadvertisePlace": (13, 2.3),
        "Readvertise": (14, 2.3),
        "EndRevoked": (15, 2.3),
    },
    boundaries={
        "FollowUpReminder": ("top", 60.0),
        "FollowUpOverdue": ("bottom", 25.0),
        "ReviewFollowUpOverdue": ("bottom", 25.0),
        "RevocationTabled": ("bottom", 50.0),
    },
    routes={
        "Flow_FollowUpOverdue_EscalateFollowUp": _DOWN,
        "Flow_EscalateFollowUp_AnnualFollowUp": _UP,
        "Flow_ReviewFollowUpOverdue_EscalateReviewFollowUp": _DOWN,
        "Flow_EscalateReviewFollowUp_ReviewFollowUp": _UP,
        "Flow_AwaitEvent_RevocationRequested": Route(exit="b"),
        "Flow_AwaitEvent_RevocationInitiated": Route(exit="b"),
        "Flow_RevocationInitiated_RevocationCase": Route(enter="b"),
        "Flow_ConditionsMet_AwaitEvent": Route(exit="t", enter="t", via=((14, -1.75), (5, -1.75))),
        "Flow_ConditionsMet_RevocationCase": Route(
            exit="b", enter="t", via=((14, 1.65), (7, 1.65))
        ),
        "Flow_RevocationTabled_RevocationMeeting": Route(enter="b", via=((9, 3.0), (8, 3.0))),
        "Flow_IsRevoked_NotifyNotRevoked": Route(exit="b"),
        "Flow_NotifyNotRevoked_AwaitEvent": Route(
            exit="b", via=((11, 3.85), (4.5, 3.85), (4.5, 0))
        ),
        "Flow_ReadvertisePlace_EndRevoked": Route(exit="b", enter="b", via=((13, 3.0), (15, 3.0))),
    },
    labels={
        "AwaitEvent": "above_left",
        "ConditionsMet": "right",
        "IsRevoked": "above",
        "ReadvertisePlace": "above",
        "RevocationMeeting": "above",
        "EndRevoked": "above",
    },
)

DIAGRAMS: tuple[ProcessDiagram, ...] = (DESIGNATION, ALLOCATION, PERMIT)
"""The placement of every NHV model."""

HERE = Path(__file__).resolve().parent


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the diagrams of the NHV models (``--check``: only check the placements)."""
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    for layout in DIAGRAMS:
        path = HERE / layout.file
        drawn = draw(read_bpmn(path.read_bytes()), layout)
        if not check:
            path.write_bytes(write_bpmn(drawn))
        print(f"{layout.file}: {'placed' if check else 'drawn'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
