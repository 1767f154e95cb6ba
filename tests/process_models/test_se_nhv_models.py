"""The shipped Swedish NHV models: they validate, follow the house rules for every step,
read their meeting calendar right, carry a diagram, and render in bpmn-js.

The browser test needs Debian's chromium and ``npm ci`` at the repository root; without
them it is skipped with the reason. Screenshots land in ``tests/artifacts/se/``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from process_models.bpmn import read_bpmn
from process_models.expressions import compile_expression
from process_models.forms.se_nhv import FORMS
from process_models.reference import load_reference
from process_models.schema import FlowNode, Process
from process_models.se.diagrams import DIAGRAMS, draw
from starter.cli import app
from tests.support.bpmn_render import bpmn_js_bundle, find_chromium, render_bpmn

REPO = Path(__file__).resolve().parents[2]
SE = REPO / "process_models" / "se"
TEMPLATES = REPO / "activities" / "templates"
ARTIFACTS = REPO / "tests" / "artifacts" / "se"
FILES = sorted(SE.glob("*.bpmn"))
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def process_of(path: Path) -> Process:
    [process] = read_bpmn(path.read_bytes()).processes
    return process


def nodes(path: Path) -> list[FlowNode]:
    return list(process_of(path).all_nodes())


def stem(path: Path) -> str:
    """The process id a file is named for (``se_nhv_permit.v2.bpmn``: ``se_nhv_permit``)."""
    return path.name.split(".")[0]


def test_the_three_processes_are_shipped():
    # se_nhv_permit in two versions: v2 (2027) adds the follow-up's completeness check.
    assert [p.name for p in FILES] == [
        "se_nhv_designation.bpmn",
        "se_nhv_permit.bpmn",
        "se_nhv_permit.v2.bpmn",
        "se_nhv_permit_allocation.bpmn",
    ]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_niva_models_validate_accepts_the_file(path: Path):
    result = CliRunner().invoke(app, ["models", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert f"valid ({stem(path)})" in result.output


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_process_id_is_the_file_stem_and_it_is_executable(path: Path):
    process = process_of(path)
    assert process.id == stem(path)
    assert process.is_executable
    assert process.doc_text.strip()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_user_task_has_form_candidates_and_a_deadline_from_a_variable(path: Path):
    process = process_of(path)
    for task in (n for n in process.all_nodes() if n.kind == "userTask"):
        assert task.niva.form is not None, task.id
        assert task.niva.form.key in FORMS, task.id
        assignment = task.niva.assignment
        assert assignment is not None, task.id
        assert assignment.candidate_groups or assignment.candidate_orgs, task.id
        deadlines = [
            b
            for b in process.all_nodes()
            if b.kind == "boundaryEvent" and b.attached_to_ref == task.id and b.cancel_activity
        ]
        assert deadlines, f"{task.id} has no deadline"
        for deadline in deadlines:
            [definition] = deadline.event_definitions
            assert definition.timer is not None
            assert definition.timer[1].body.strip().startswith("="), deadline.id


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_step_has_a_swedish_name(path: Path):
    unnamed = [
        n.id
        for n in nodes(path)
        if not n.name and n.kind != "exclusiveGateway"  # merging gateways stay unnamed
    ]
    assert unnamed == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_task_and_event_is_documented(path: Path):
    undocumented = [
        n.id
        for n in nodes(path)
        if not n.doc_text.strip() and n.kind not in ("endEvent", "exclusiveGateway")
    ]
    assert undocumented == []


def _literal_input(node: FlowNode, target: str) -> str:
    [mapping] = [m for m in node.niva.inputs if m.target == target]
    assert mapping.source is not None
    return mapping.source


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_notifications_and_documents_use_shipped_templates(path: Path):
    for node in nodes(path):
        definition = node.niva.task_definition
        if definition is None or definition.type == "record_follow_up":
            continue  # record_follow_up renders nothing: it writes statistics
        template = _literal_input(node, "template")
        if definition.type == "notify":
            assert node.kind == "sendTask", node.id
            for part in ("subject", "txt", "html"):
                assert (TEMPLATES / "notifications" / "sv" / f"{template}.{part}.j2").is_file()
        else:
            assert definition.type == "render_document", node.id
            assert node.kind == "serviceTask", node.id
            assert (TEMPLATES / "documents" / "sv" / f"{template}.html.j2").is_file()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_element_has_one_shape_and_every_flow_one_edge(path: Path):
    defs = read_bpmn(path.read_bytes())
    [diagram] = defs.diagrams
    [process] = defs.processes
    shapes = [s.bpmn_element for s in diagram.shapes]
    edges = [e.bpmn_element for e in diagram.edges]
    assert sorted(shapes) == sorted(n.id for n in process.all_nodes())
    assert sorted(edges) == sorted(f.id for f in process.all_flows())


def test_diagram_script_still_places_every_element():
    # python -m process_models.se.diagrams redraws the files; it must know every element.
    for layout in DIAGRAMS:
        defs = read_bpmn((SE / layout.file).read_bytes())
        drawn = draw(defs.model_copy(update={"diagrams": []}), layout)
        [diagram] = drawn.diagrams
        assert len(diagram.shapes) == len(list(defs.processes[0].all_nodes())), layout.file


def test_designation_starts_allocation_detached_and_allocation_one_permit_per_grant():
    designation = {n.id: n for n in nodes(SE / "se_nhv_designation.bpmn")}
    called = designation["StartAllocation"].niva.called_element
    assert called is not None
    assert (called.process_id, called.detached) == ("se_nhv_permit_allocation", True)
    allocation = {n.id: n for n in nodes(SE / "se_nhv_permit_allocation.bpmn")}
    grant = allocation["GrantPermits"]
    assert grant.niva.called_element is not None
    assert grant.niva.called_element.process_id == "se_nhv_permit"
    assert grant.niva.called_element.detached
    assert grant.loop is not None
    assert not grant.loop.is_sequential


def test_referral_is_a_parallel_multi_instance_with_deadline_reminder_and_extension():
    process = process_of(SE / "se_nhv_designation.bpmn")
    referral = next(n for n in process.all_nodes() if n.id == "ReferralResponse")
    assert referral.loop is not None
    assert not referral.loop.is_sequential
    boundaries = {
        n.id: n
        for n in process.all_nodes()
        if n.kind == "boundaryEvent" and n.attached_to_ref == "ReferralResponse"
    }
    assert boundaries["ReferralDeadline"].cancel_activity
    assert not boundaries["ReferralReminder"].cancel_activity
    extension = boundaries["ReferralExtended"]
    assert not extension.cancel_activity
    assert extension.niva.subscription is not None
    assert extension.niva.subscription.message_name == "extend_referral_deadline"
    outputs = {m.target for m in boundaries["ReferralDeadline"].niva.outputs}
    assert outputs == {"referral_no_answer"}


# --- reference data --------------------------------------------------------------------------


def next_meeting(now: datetime) -> datetime:
    """The allocation's "next meeting" timer, evaluated against the shipped calendar."""
    node = next(n for n in nodes(SE / "se_nhv_permit_allocation.bpmn") if n.id == "NextMeeting")
    [definition] = node.event_definitions
    assert definition.timer is not None
    expression = compile_expression(definition.timer[1].body, element_id=node.id)
    return expression.evaluate_timer(
        {}, now=now, tz=STOCKHOLM, reference=load_reference()
    ).astimezone(STOCKHOLM)


@pytest.mark.parametrize(
    ("now", "meeting"),
    [
        (datetime(2024, 1, 10, 12, tzinfo=UTC), (2024, 3, 13)),
        (datetime(2024, 3, 13, 12, tzinfo=UTC), (2024, 6, 12)),
        (datetime(2024, 6, 20, 12, tzinfo=UTC), (2024, 9, 18)),
        (datetime(2024, 10, 1, 12, tzinfo=UTC), (2024, 12, 18)),
        # After the last decided day the calendar's rule applies.
        (datetime(2024, 12, 18, 12, tzinfo=UTC), (2025, 3, 12)),
        (datetime(2025, 3, 12, 12, tzinfo=UTC), (2025, 6, 11)),
        (datetime(2030, 11, 1, 12, tzinfo=UTC), (2030, 12, 17)),
    ],
)
def test_next_meeting_follows_the_calendar(now: datetime, meeting: tuple[int, int, int]):
    fires = next_meeting(now)
    assert (fires.year, fires.month, fires.day, fires.hour, fires.minute) == (*meeting, 0, 0)


def test_permit_and_allocation_wait_for_the_same_meeting_rule():
    def timer(path: Path, node_id: str) -> str:
        node = next(n for n in nodes(path) if n.id == node_id)
        [definition] = node.event_definitions
        assert definition.timer is not None
        return definition.timer[1].body

    assert timer(SE / "se_nhv_permit.bpmn", "RevocationMeeting") == timer(
        SE / "se_nhv_permit_allocation.bpmn", "NextMeeting"
    )


def test_care_areas_are_the_nine_of_the_first_round():
    reference = load_reference()
    areas = reference["nhv_care_areas"]
    assert [a["name"] for a in areas] == [
        "Glomustumörer",
        "Könsdysfori",
        "Neuroendokrina tumörer",
        "Osteogenesis Imperfecta / Dysplastiska skelettsjukdomar",
        "Svår leversvikt",
        "Svårbehandlat självskadebeteende",
        "Svårbehandlade ätstörningar",
        "Vissa kateteringrepp hjärta",
        "Vissa neuromuskulära sjukdomar",
    ]
    assert len({a["id"] for a in areas}) == 9
    npos = {o["id"] for o in reference["organisations"] if o["kind"] == "npo"}
    for area in areas:
        assert set(area["nominating_npos"]) <= npos, area["id"]


# --- bpmn-js ---------------------------------------------------------------------------------


def _browser_missing() -> str | None:
    if find_chromium() is None:
        return "chromium is not installed (apt-get install -y chromium)"
    if bpmn_js_bundle() is None:
        return "bpmn-js is not installed (run `npm ci` at the repository root)"
    return None


_MISSING = _browser_missing()


@pytest.mark.browser
@pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_renders_in_bpmn_js_with_one_shape_per_flow_node(path: Path):
    screenshot = ARTIFACTS / f"{path.stem}.png"
    result = render_bpmn(path.read_bytes(), screenshot=screenshot)
    assert result.error is None
    assert result.warnings == []
    process = process_of(path)
    assert result.shapes == {n.id: 1 for n in process.all_nodes()}
    assert result.connections == {f.id: 1 for f in process.all_flows()}
    assert screenshot.stat().st_size > 0
