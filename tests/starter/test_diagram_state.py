"""What the diagram pages mark, computed from a case's state and from visibility rows."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from process_models.bpmn.reader import read_bpmn
from process_models.schema import Process
from starter.diagram_state import (
    VersionCase,
    case_diagram_state,
    element_of_task,
    process_diagram_state,
)
from tests.support.diagram_case import MODEL, PROCESS_ID
from tests.workflows.harness import bpmn
from workflows.contract import InstanceView
from workflows.state import (
    ROOT_SCOPE,
    Activity,
    AuditEntry,
    Incident,
    InstanceState,
    MultiInstanceState,
    Token,
)

AT = datetime(2027, 1, 4, 9, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


def _process() -> Process:
    process = read_bpmn(MODEL).process(PROCESS_ID)
    assert process is not None
    return process


def _view(state: InstanceState) -> InstanceView:
    return InstanceView(
        process_id=state.process_id,
        version=state.version,
        business_key=state.business_key,
        title=state.title,
        status="running",
        outcome=None,
        variables={},
        open_tasks=[],
        tokens=[],
        incidents=[],
        accepts_messages=[],
        participants=[],
    )


def _referring(completed: int) -> InstanceState:
    """At the referral, after a continue-as-new: the trail of this run is empty."""
    body = Activity(
        id="Referral",
        element_id="Referral",
        kind="multiInstanceBody",
        scope_id=ROOT_SCOPE,
        token_id="~t1",
        created=AT,
        multi=MultiInstanceState(
            keys=["SE-AB", "SE-C", "SE-D"], items=[], sequential=False, completed=completed
        ),
    )
    return InstanceState(
        process_id=PROCESS_ID,
        version=1,
        business_key="k",
        title="t",
        tokens={
            "~t1": Token(
                id="~t1",
                node_id="Referral",
                scope_id=ROOT_SCOPE,
                via_flow="f3",
                status="waiting",
                activity_id="Referral",
            )
        },
        activities={"Referral": body},
        visits={"Intake": 1, "Referral": 1, "Referral:SE-AB": 1, "Referral:SE-C": 1},
    )


def test_case_state_after_continue_as_new_infers_start_and_gateway():
    state = _referring(completed=2)

    diagram = case_diagram_state("c", _view(state), state, _process(), UTC_ZONE)

    elements = diagram.elements
    assert {e for e, s in elements.items() if s.completed} == {"Start", "Intake", "Route"}
    assert elements["Referral"].active == 1
    assert elements["Referral"].progress is not None
    assert (elements["Referral"].progress.completed, elements["Referral"].progress.total) == (2, 3)
    assert diagram.flows_taken == ["f3", "f1", "f2"]


def test_case_state_incident_on_gateway_is_active_with_message():
    state = InstanceState(
        process_id=PROCESS_ID,
        version=1,
        business_key="k",
        title="t",
        tokens={"~t1": Token(id="~t1", node_id="Route", scope_id=ROOT_SCOPE, status="incident")},
        incidents={
            "~i2": Incident(
                id="~i2",
                element_id="Route",
                token_id="~t1",
                kind="gateway",
                message="no outgoing flow",
                created=AT,
            )
        },
        visits={"Intake": 1},
    )

    diagram = case_diagram_state("c", _view(state), state, _process(), UTC_ZONE)

    route = diagram.elements["Route"]
    assert route.active == 1
    assert not route.completed
    assert [i.message for i in route.incidents] == ["no outgoing flow"]
    assert set(diagram.flows_taken) == {"f1", "f2"}
    assert "Referral" not in diagram.elements


def test_element_of_task_reads_task_ids():
    assert element_of_task("ReferralResponse:SE-AB") == "ReferralResponse"
    assert element_of_task("AnnualFollowUp#3") == "AnnualFollowUp"
    assert element_of_task("Answer:SE-AB#2") == "Answer"
    assert element_of_task("Decision") == "Decision"
    assert element_of_task("~more") is None


def test_process_state_counts_each_case_once_per_element():
    cases = [
        VersionCase(open_tasks=["Referral:SE-AB", "Referral:SE-C", "Referral", "Decide"]),
        VersionCase(
            open_tasks=["Referral", "~more"], has_incident=True, incident_elements=["Route"]
        ),
        VersionCase(open_tasks=["Intake"], has_incident=True),
    ]

    state = process_diagram_state(PROCESS_ID, 1, cases)

    assert state.elements["Referral"].waiting == 2
    assert state.elements["Decide"].waiting == 1
    assert state.elements["Intake"].waiting == 1
    assert state.elements["Route"].incidents == 1
    assert (state.running, state.with_incident, state.incidents_unplaced) == (3, 2, 1)
    assert state.partial is True


BRANCHES = bpmn("""
<bpmn:process id="branches" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Split"/>
  <bpmn:exclusiveGateway id="Split" default="f3"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Split" targetRef="Taken">
    <bpmn:conditionExpression>=true</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f3" sourceRef="Split" targetRef="Skipped"/>
  <bpmn:task id="Taken"/>
  <bpmn:task id="Skipped"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Taken" targetRef="Merge"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Skipped" targetRef="Merge"/>
  <bpmn:exclusiveGateway id="Merge"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Merge" targetRef="Wait"/>
  <bpmn:userTask id="Wait"/>
</bpmn:process>
""")


def test_case_state_branch_not_taken_stays_unmarked():
    process = read_bpmn(BRANCHES).process("branches")
    assert process is not None
    wait = Activity(
        id="Wait",
        element_id="Wait",
        kind="userTask",
        scope_id=ROOT_SCOPE,
        token_id="~t1",
        created=AT,
    )
    state = InstanceState(
        process_id="branches",
        version=1,
        business_key="k",
        title="t",
        tokens={
            "~t1": Token(
                id="~t1",
                node_id="Wait",
                scope_id=ROOT_SCOPE,
                via_flow="f6",
                status="waiting",
                activity_id="Wait",
            )
        },
        activities={"Wait": wait},
        visits={"Taken": 1, "Wait": 1},
    )

    diagram = case_diagram_state("c", _view(state), state, process, UTC_ZONE)

    done = {e for e, s in diagram.elements.items() if s.completed}
    assert done == {"Start", "Split", "Taken", "Merge"}
    assert set(diagram.flows_taken) == {"f1", "f2", "f4", "f6"}


def test_events_passed_by_a_signal_or_a_condition_are_marked_completed():
    state = _referring(completed=2)
    state.audit = [
        AuditEntry(at=AT, kind="signal", element_id="Deadline", model_version=1),
        AuditEntry(at=AT, kind="condition", element_id="Rejected", model_version=1),
    ]

    diagram = case_diagram_state("c", _view(state), state, _process(), UTC_ZONE)

    assert diagram.elements["Deadline"].completed
    assert diagram.elements["Rejected"].completed
