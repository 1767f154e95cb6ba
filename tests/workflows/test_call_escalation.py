"""Escalations that leave a called case (Camunda 8's rule): one the child does not catch
passes to the call activity in its caller, where an escalation boundary (its code, or a
catch-all) takes it: an interrupting one cancels the child, a non-interrupting one lets it
go on. Caught nowhere in the caller either, it goes on up to the caller's caller; caught
nowhere at all, or with no caller left to tell, the trail records it and the thrower goes
on, as in a case that no call activity started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.service import RPCError

from tests.support.case_waits import ended, until, until_state
from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn, running_cases
from workflows.state import InstanceState


@pytest.fixture
async def cases(client: Client, task_queue: str, tmp_path: Path):
    # The local dev server, not the time-skipping one: it carries out the parent close
    # policy that cancels a cancelled case's own children (the two-level test).
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


ESCALATIONS = """
<bpmn:escalation id="EscLate" name="Late" escalationCode="LATE"/>
<bpmn:escalation id="EscCost" name="Cost" escalationCode="COST"/>
<bpmn:escalation id="EscOther" name="Other" escalationCode="OTHER"/>
"""

# The called review throws LATE and goes on to price the work, then throws COST and goes
# on again; nothing in it catches either.
CHILD = """
<bpmn:process id="esc_review" isExecutable="true">
  <bpmn:startEvent id="RStart"/>
  <bpmn:sequenceFlow id="r1" sourceRef="RStart" targetRef="Read"/>
  <bpmn:userTask id="Read"/>
  <bpmn:sequenceFlow id="r2" sourceRef="Read" targetRef="RaiseLate"/>
  <bpmn:intermediateThrowEvent id="RaiseLate">
    <bpmn:escalationEventDefinition escalationRef="EscLate"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="r3" sourceRef="RaiseLate" targetRef="Price"/>
  <bpmn:userTask id="Price"/>
  <bpmn:sequenceFlow id="r4" sourceRef="Price" targetRef="RaiseCost"/>
  <bpmn:intermediateThrowEvent id="RaiseCost">
    <bpmn:escalationEventDefinition escalationRef="EscCost"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="r5" sourceRef="RaiseCost" targetRef="Sign"/>
  <bpmn:userTask id="Sign"/>
  <bpmn:sequenceFlow id="r6" sourceRef="Sign" targetRef="REnd"/>
  <bpmn:endEvent id="REnd"/>
</bpmn:process>
"""

# LATE: the head of unit is told while the review goes on; COST: the review is cancelled
# and the budget is reviewed instead.
CATCHING = bpmn(f"""
{ESCALATIONS}
<bpmn:process id="esc_case" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Call"/>
  <bpmn:callActivity id="Call">
    <bpmn:extensionElements><niva:calledElement processId="esc_review"/></bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:boundaryEvent id="Late" attachedToRef="Call" cancelActivity="false">
    <bpmn:escalationEventDefinition escalationRef="EscLate"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Late" targetRef="TellHead"/>
  <bpmn:userTask id="TellHead"/>
  <bpmn:boundaryEvent id="Cost" attachedToRef="Call">
    <bpmn:escalationEventDefinition escalationRef="EscCost"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="Cost" targetRef="Budget"/>
  <bpmn:userTask id="Budget"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Budget" targetRef="OverBudget"/>
  <bpmn:endEvent id="OverBudget" name="Over budget"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Call" targetRef="Done"/>
  <bpmn:endEvent id="Done" name="Done"/>
</bpmn:process>
{CHILD}
""")

# Its call activity catches only OTHER: LATE and COST pass it by.
MISMATCH = bpmn(f"""
{ESCALATIONS}
<bpmn:process id="esc_other" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Call"/>
  <bpmn:callActivity id="Call">
    <bpmn:extensionElements><niva:calledElement processId="esc_review"/></bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:boundaryEvent id="Other" attachedToRef="Call">
    <bpmn:escalationEventDefinition escalationRef="EscOther"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Other" targetRef="OtherEnd"/>
  <bpmn:endEvent id="OtherEnd" name="Other"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Call" targetRef="Done"/>
  <bpmn:endEvent id="Done" name="Done"/>
</bpmn:process>
{CHILD}
""")

# Two levels: the top case calls esc_other, which calls the review; the top's catch-all
# takes what the middle does not catch.
TOP = bpmn(f"""
{ESCALATIONS}
<bpmn:process id="esc_top" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="CallMiddle"/>
  <bpmn:callActivity id="CallMiddle">
    <bpmn:extensionElements><niva:calledElement processId="esc_other"/></bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:boundaryEvent id="AnyEscalation" attachedToRef="CallMiddle">
    <bpmn:escalationEventDefinition/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="AnyEscalation" targetRef="Escalated"/>
  <bpmn:userTask id="Escalated"/>
  <bpmn:sequenceFlow id="f3" sourceRef="CallMiddle" targetRef="Done"/>
  <bpmn:endEvent id="Done"/>
</bpmn:process>
""")

# The permit outlives the case that started it (detached): when it escalates, nobody
# is left to tell.
DETACHED = bpmn(f"""
{ESCALATIONS}
<bpmn:process id="esc_detaching" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Call"/>
  <bpmn:callActivity id="Call">
    <bpmn:extensionElements>
      <niva:calledElement processId="esc_review" detached="true"/>
    </bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:boundaryEvent id="Late" attachedToRef="Call">
    <bpmn:escalationEventDefinition escalationRef="EscLate"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Late" targetRef="LateEnd"/>
  <bpmn:endEvent id="LateEnd" name="Late"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Call" targetRef="Done"/>
  <bpmn:endEvent id="Done" name="Done"/>
</bpmn:process>
""")

C8_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0"
    modeler:executionPlatform="Camunda Cloud" id="defs" targetNamespace="urn:niva:test">
"""

CAMUNDA8 = f"""{C8_HEADER}
<bpmn:escalation id="Escalation_1" name="Overdue" escalationCode="overdue"/>
<bpmn:process id="c8_esc_case" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Call"/>
  <bpmn:callActivity id="Call">
    <bpmn:extensionElements><zeebe:calledElement processId="c8_esc_check"/></bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:boundaryEvent id="Overdue" attachedToRef="Call">
    <bpmn:escalationEventDefinition escalationRef="Escalation_1"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Overdue" targetRef="Late"/>
  <bpmn:endEvent id="Late" name="Late"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Call" targetRef="OnTime"/>
  <bpmn:endEvent id="OnTime" name="On time"/>
</bpmn:process>
<bpmn:process id="c8_esc_check" isExecutable="true">
  <bpmn:startEvent id="CStart"/>
  <bpmn:sequenceFlow id="c1" sourceRef="CStart" targetRef="Check"/>
  <bpmn:exclusiveGateway id="Check" default="c3"/>
  <bpmn:sequenceFlow id="c2" sourceRef="Check" targetRef="Raise">
    <bpmn:conditionExpression>=days &gt; 30</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="c3" sourceRef="Check" targetRef="InTime"/>
  <bpmn:endEvent id="Raise">
    <bpmn:escalationEventDefinition escalationRef="Escalation_1"/>
  </bpmn:endEvent>
  <bpmn:endEvent id="InTime"/>
</bpmn:process>
</bpmn:definitions>
"""


def _opened(state: InstanceState) -> list[str]:
    return sorted(a.id for a in state.activities.values() if a.kind == "userTask")


def _trail(state: InstanceState, kind: str) -> list[tuple[str | None, str | None]]:
    return [(e.element_id, e.detail) for e in state.audit if e.kind == kind]


async def _child(cases: Cases, handle: WorkflowHandle[Any, Any]) -> WorkflowHandle[Any, Any]:
    """The case's (first) child case, once it has started and answers queries (the
    parent names it before the server has started it)."""
    state = await until_state(cases, handle, lambda s: s.children)
    child = cases.client.get_workflow_handle(state.children[0])

    async def answers() -> bool:
        try:
            await Cases.internal(child)
        except RPCError:
            return False
        return True

    await until(answers)
    return child


async def _opens(cases: Cases, handle: WorkflowHandle[Any, Any], task: str) -> InstanceState:
    return await until_state(cases, handle, lambda s: task in _opened(s))


async def _cancelled(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the case ended cancelled (waits for it to end)."""
    with pytest.raises(WorkflowFailureError) as failure:
        await ended(handle)
    return isinstance(failure.value.cause, CancelledError)


async def test_a_non_interrupting_boundary_on_the_call_takes_the_childs_escalation(
    cases: Cases,
):
    cases.deploy(CATCHING)
    handle = await cases.start("esc_case")
    child = await _child(cases, handle)
    await _opens(cases, child, "Read")
    await cases.complete(child, "Read")
    state = await _opens(cases, handle, "TellHead")
    assert _trail(state, "escalation_caught") == [("Late", "LATE")]
    assert _trail(state, "escalation_from_child") == [("Call", "LATE")]
    # Both go on: the review prices the work, the call activity still waits on it.
    assert "Call" in {a.element_id for a in state.activities.values()}
    child_state = await _opens(cases, child, "Price")
    assert _trail(child_state, "escalation_to_caller") == [("RaiseLate", "LATE")]
    assert _trail(child_state, "escalation_uncaught") == []


async def test_an_interrupting_boundary_on_the_call_cancels_the_child(cases: Cases):
    cases.deploy(CATCHING)
    handle = await cases.start("esc_case")
    child = await _child(cases, handle)
    await _opens(cases, child, "Read")
    await cases.complete(child, "Read")
    await _opens(cases, child, "Price")
    await _opens(cases, handle, "TellHead")
    await cases.complete(child, "Price")
    state = await _opens(cases, handle, "Budget")
    assert _trail(state, "escalation_caught") == [("Late", "LATE"), ("Cost", "COST")]
    assert "Call" not in {a.element_id for a in state.activities.values()}
    assert _opened(state) == ["Budget", "TellHead"]
    # The review is cancelled: its Sign task never gets done.
    assert await _cancelled(child)
    await cases.complete(handle, "Budget")
    await cases.complete(handle, "TellHead")
    assert (await ended(handle)).outcome == "Over budget"


async def test_an_escalation_the_call_does_not_catch_leaves_the_child_going_on(
    cases: Cases,
):
    cases.deploy(MISMATCH)
    handle = await cases.start("esc_other")
    child = await _child(cases, handle)
    await _opens(cases, child, "Read")
    await cases.complete(child, "Read")
    await _opens(cases, child, "Price")
    await cases.complete(child, "Price")
    child_state = await _opens(cases, child, "Sign")
    assert _trail(child_state, "escalation_to_caller") == [
        ("RaiseLate", "LATE"),
        ("RaiseCost", "COST"),
    ]
    # The caller has no caller of its own: uncaught there, as in a case nobody called.
    state = await until_state(cases, handle, lambda s: len(_trail(s, "escalation_uncaught")) == 2)
    assert _trail(state, "escalation_uncaught") == [("Call", "LATE"), ("Call", "COST")]
    assert _trail(state, "escalation_caught") == []
    await cases.complete(child, "Sign")
    assert (await ended(handle)).outcome == "Done"


async def test_an_escalation_passes_up_two_levels_to_the_first_catcher(cases: Cases):
    cases.deploy(MISMATCH, TOP)
    top = await cases.start("esc_top")
    middle = await _child(cases, top)
    child = await _child(cases, middle)
    await _opens(cases, child, "Read")
    await cases.complete(child, "Read")
    state = await _opens(cases, top, "Escalated")
    assert _trail(state, "escalation_from_child") == [("CallMiddle", "LATE")]
    assert _trail(state, "escalation_caught") == [("AnyEscalation", "LATE")]
    middle_state = await Cases.internal(middle)
    assert _trail(middle_state, "escalation_from_child") == [("Call", "LATE")]
    assert _trail(middle_state, "escalation_to_caller") == [("Call", "LATE")]
    # The top's interrupting catch-all cancels the middle case, and with it the review.
    assert await _cancelled(middle)
    assert await _cancelled(child)


async def test_a_child_whose_caller_has_ended_records_the_escalation_and_goes_on(
    cases: Cases,
):
    cases.deploy(bpmn(f"{ESCALATIONS}{CHILD}"), DETACHED)
    handle = await cases.start("esc_detaching")
    assert (await ended(handle)).outcome == "Done"
    child = await _child(cases, handle)
    await _opens(cases, child, "Read")
    await cases.complete(child, "Read")
    # The review goes on at once; the failed signal to its ended caller comes back later.
    child_state = await until_state(
        cases, child, lambda s: "Price" in _opened(s) and _trail(s, "escalation_uncaught")
    )
    [(element_id, detail)] = _trail(child_state, "escalation_uncaught")
    assert element_id == "RaiseLate"
    assert (detail or "").startswith("LATE (caller esc_detaching:")
    assert child_state.incidents == {}


async def test_camunda8_call_activity_catches_the_called_case_escalation(cases: Cases):
    # The called case ends at its escalation end event; its caller hears of the
    # escalation before it hears of that end, and takes the boundary.
    cases.deploy(CAMUNDA8)
    late = await cases.start("c8_esc_case", {"days": 45})
    assert (await ended(late)).outcome == "Late"
    state = await Cases.internal(late)
    assert _trail(state, "escalation_caught") == [("Overdue", "overdue")]
    on_time = await cases.start("c8_esc_case", {"days": 3})
    assert (await ended(on_time)).outcome == "On time"
