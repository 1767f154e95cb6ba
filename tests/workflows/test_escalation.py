"""Escalations: thrown by end and intermediate throw events, caught by the innermost
escalation boundary or escalation-start event subprocess, interrupting or not; an uncaught
escalation is no error (BPMN's rule): the trail records it and the thrower goes on."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn, running_cases
from workflows.state import InstanceState


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


ESCALATIONS = """
<bpmn:escalation id="EscLate" name="Late" escalationCode="LATE"/>
<bpmn:escalation id="EscCost" name="Cost" escalationCode="COST"/>
"""


def _opened(state: InstanceState) -> list[str]:
    return sorted(a.id for a in state.activities.values() if a.kind == "userTask")


def _trail(state: InstanceState, kind: str) -> list[tuple[str | None, str | None]]:
    return [(e.element_id, e.detail) for e in state.audit if e.kind == kind]


# The review escalates "late" half-way and goes on; the process's non-interrupting
# boundary tells the head of unit. A second escalation ("cost") ends the subprocess at
# its escalation end event and is caught by an interrupting boundary naming it, before
# the catch-all one.
REVIEW = bpmn(f"""
{ESCALATIONS}
<bpmn:process id="escalate_review" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:subProcess id="Review">
    <bpmn:startEvent id="RStart"/>
    <bpmn:sequenceFlow id="r1" sourceRef="RStart" targetRef="Fork"/>
    <bpmn:parallelGateway id="Fork"/>
    <bpmn:sequenceFlow id="r2" sourceRef="Fork" targetRef="Read"/>
    <bpmn:sequenceFlow id="r3" sourceRef="Fork" targetRef="Other"/>
    <bpmn:userTask id="Other"/>
    <bpmn:userTask id="Read"/>
    <bpmn:sequenceFlow id="r4" sourceRef="Read" targetRef="RaiseLate"/>
    <bpmn:intermediateThrowEvent id="RaiseLate">
      <bpmn:escalationEventDefinition escalationRef="EscLate"/>
    </bpmn:intermediateThrowEvent>
    <bpmn:sequenceFlow id="r5" sourceRef="RaiseLate" targetRef="Price"/>
    <bpmn:userTask id="Price"/>
    <bpmn:sequenceFlow id="r6" sourceRef="Price" targetRef="TooDear"/>
    <bpmn:endEvent id="TooDear"><bpmn:escalationEventDefinition escalationRef="EscCost"/>
    </bpmn:endEvent>
  </bpmn:subProcess>
  <bpmn:boundaryEvent id="AnyEscalation" attachedToRef="Review">
    <bpmn:escalationEventDefinition/>
  </bpmn:boundaryEvent>
  <bpmn:boundaryEvent id="Late" attachedToRef="Review" cancelActivity="false">
    <bpmn:escalationEventDefinition escalationRef="EscLate"/>
  </bpmn:boundaryEvent>
  <bpmn:boundaryEvent id="Cost" attachedToRef="Review">
    <bpmn:escalationEventDefinition escalationRef="EscCost"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Late" targetRef="TellHead"/>
  <bpmn:userTask id="TellHead"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Cost" targetRef="Budget"/>
  <bpmn:userTask id="Budget"/>
  <bpmn:sequenceFlow id="f4" sourceRef="AnyEscalation" targetRef="Other2"/>
  <bpmn:userTask id="Other2"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Review" targetRef="Done"/>
  <bpmn:endEvent id="Done"/>
</bpmn:process>
""")


async def test_escalation_boundaries_interrupting_or_not_and_named_before_catch_all(
    cases: Cases, record_history
):
    cases.deploy(REVIEW)
    handle = await cases.start("escalate_review")
    await cases.complete(handle, "Read")
    state = await cases.internal(handle)
    # Non-interrupting: the review goes on past the throw, and the head of unit is told.
    assert _opened(state) == ["Other", "Price", "TellHead"]
    assert _trail(state, "escalation_caught") == [("Late", "LATE")]
    await cases.complete(handle, "Price")
    state = await cases.internal(handle)
    # Interrupting, named before catch-all: the review (Other with it) ends, Budget opens.
    assert _opened(state) == ["Budget", "TellHead"]
    assert _trail(state, "escalation_caught") == [("Late", "LATE"), ("Cost", "COST")]
    assert "Review" not in {t.node_id for t in state.tokens.values()}
    await cases.complete(handle, "Budget")
    await cases.complete(handle, "TellHead")
    await handle.result()
    await record_history(handle, "engine_escalation_boundaries")


# The escalation-start event subprocess inside the subprocess is nearer than the
# boundary on the subprocess, and catches first; the interrupting one at the root catches
# what the inner one does not.
INNERMOST = bpmn(f"""
{ESCALATIONS}
<bpmn:process id="escalate_inner" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Sub"/>
  <bpmn:subProcess id="Sub">
    <bpmn:startEvent id="SStart"/>
    <bpmn:sequenceFlow id="s1" sourceRef="SStart" targetRef="Work"/>
    <bpmn:userTask id="Work"/>
    <bpmn:sequenceFlow id="s2" sourceRef="Work" targetRef="RaiseLate"/>
    <bpmn:intermediateThrowEvent id="RaiseLate">
      <bpmn:escalationEventDefinition escalationRef="EscLate"/>
    </bpmn:intermediateThrowEvent>
    <bpmn:sequenceFlow id="s3" sourceRef="RaiseLate" targetRef="More"/>
    <bpmn:userTask id="More"/>
    <bpmn:sequenceFlow id="s4" sourceRef="More" targetRef="RaiseCost"/>
    <bpmn:intermediateThrowEvent id="RaiseCost">
      <bpmn:escalationEventDefinition escalationRef="EscCost"/>
    </bpmn:intermediateThrowEvent>
    <bpmn:sequenceFlow id="s5" sourceRef="RaiseCost" targetRef="Never"/>
    <bpmn:userTask id="Never"/>
    <bpmn:subProcess id="OnLate" triggeredByEvent="true">
      <bpmn:startEvent id="OnLateStart" isInterrupting="false">
        <bpmn:escalationEventDefinition escalationRef="EscLate"/>
      </bpmn:startEvent>
      <bpmn:sequenceFlow id="l1" sourceRef="OnLateStart" targetRef="Note"/>
      <bpmn:userTask id="Note"/>
    </bpmn:subProcess>
  </bpmn:subProcess>
  <bpmn:boundaryEvent id="SubLate" attachedToRef="Sub" cancelActivity="false">
    <bpmn:escalationEventDefinition escalationRef="EscLate"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="SubLate" targetRef="NotHere"/>
  <bpmn:userTask id="NotHere"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Sub" targetRef="End"/>
  <bpmn:endEvent id="End"/>
  <bpmn:subProcess id="OnAny" triggeredByEvent="true">
    <bpmn:startEvent id="OnAnyStart"><bpmn:escalationEventDefinition/></bpmn:startEvent>
    <bpmn:sequenceFlow id="a1" sourceRef="OnAnyStart" targetRef="Handle"/>
    <bpmn:userTask id="Handle"/>
    <bpmn:sequenceFlow id="a2" sourceRef="Handle" targetRef="Handled"/>
    <bpmn:endEvent id="Handled" name="Eskalerad"/>
  </bpmn:subProcess>
</bpmn:process>
""")


async def test_escalation_is_caught_by_the_innermost_event_subprocess_first(cases: Cases):
    cases.deploy(INNERMOST)
    handle = await cases.start("escalate_inner")
    await cases.complete(handle, "Work")
    state = await cases.internal(handle)
    assert _opened(state) == ["More", "Note"]
    assert _trail(state, "escalation_caught") == [("OnLateStart", "LATE")]
    await cases.complete(handle, "More")
    state = await cases.internal(handle)
    # COST: nothing in Sub or on it catches it; the root's interrupting catch-all ends all.
    assert _opened(state) == ["Handle"]
    assert _trail(state, "escalation_caught")[-1] == ("OnAnyStart", "COST")
    await cases.complete(handle, "Handle")
    assert (await handle.result()).outcome == "Eskalerad"


UNCAUGHT = bpmn(f"""
{ESCALATIONS}
<bpmn:process id="escalate_uncaught" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Raise"/>
  <bpmn:intermediateThrowEvent id="Raise">
    <bpmn:escalationEventDefinition escalationRef="EscLate"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Raise" targetRef="Work"/>
  <bpmn:userTask id="Work"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Work" targetRef="EndCost"/>
  <bpmn:endEvent id="EndCost" name="Dyr"><bpmn:escalationEventDefinition escalationRef="EscCost"/>
  </bpmn:endEvent>
  <bpmn:subProcess id="OnAny" triggeredByEvent="true">
    <bpmn:startEvent id="OnAnyStart" isInterrupting="false">
      <bpmn:escalationEventDefinition escalationRef="EscCost"/>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="a1" sourceRef="OnAnyStart" targetRef="Again"/>
    <bpmn:intermediateThrowEvent id="Again">
      <bpmn:escalationEventDefinition escalationRef="EscCost"/>
    </bpmn:intermediateThrowEvent>
  </bpmn:subProcess>
</bpmn:process>
""")


async def test_an_uncaught_escalation_is_recorded_and_the_thrower_goes_on(cases: Cases):
    cases.deploy(UNCAUGHT)
    handle = await cases.start("escalate_uncaught")
    state = await cases.internal(handle)
    assert _opened(state) == ["Work"]
    assert _trail(state, "escalation_uncaught") == [("Raise", "LATE")]
    assert state.incidents == {}
    await cases.complete(handle, "Work")
    # COST is caught by the event subprocess beside the end event; the escalation thrown
    # inside that event subprocess is not caught by it again, and goes uncaught.
    assert (await handle.result()).outcome == "Dyr"
    state = await cases.internal(handle)
    assert _trail(state, "escalation_caught") == [("OnAnyStart", "COST")]
    assert _trail(state, "escalation_uncaught") == [("Raise", "LATE"), ("Again", "COST")]


MULTI = bpmn(f"""
{ESCALATIONS}
<bpmn:process id="escalate_multi" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="PerRegion"/>
  <bpmn:subProcess id="PerRegion">
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <niva:loop inputCollection="=regions" inputElement="region"/>
      </bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
    <bpmn:startEvent id="PStart"/>
    <bpmn:sequenceFlow id="p1" sourceRef="PStart" targetRef="Route"/>
    <bpmn:exclusiveGateway id="Route" default="p3"/>
    <bpmn:sequenceFlow id="p2" sourceRef="Route" targetRef="Raise">
      <bpmn:conditionExpression>=region == "AB"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="p3" sourceRef="Route" targetRef="Answer"/>
    <bpmn:intermediateThrowEvent id="Raise">
      <bpmn:escalationEventDefinition escalationRef="EscLate"/>
    </bpmn:intermediateThrowEvent>
    <bpmn:sequenceFlow id="p4" sourceRef="Raise" targetRef="Answer"/>
    <bpmn:userTask id="Answer"/>
  </bpmn:subProcess>
  <bpmn:boundaryEvent id="Late" attachedToRef="PerRegion" cancelActivity="false">
    <bpmn:escalationEventDefinition escalationRef="EscLate"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Late" targetRef="Remind"/>
  <bpmn:userTask id="Remind"/>
</bpmn:process>
""")


async def test_an_escalation_in_a_multi_instance_instance_reaches_its_body_boundary(
    cases: Cases,
):
    cases.deploy(MULTI)
    handle = await cases.start("escalate_multi", {"regions": ["AB", "C"]})
    state = await cases.internal(handle)
    assert _trail(state, "escalation_caught") == [("Late", "LATE")]
    # Non-interrupting: both instances still answer.
    assert _opened(state) == ["Answer", "Answer#2", "Remind"]


CAMUNDA8 = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0"
    modeler:executionPlatform="Camunda Cloud" id="defs" targetNamespace="urn:niva:test">
<bpmn:escalation id="Escalation_1" name="Overdue" escalationCode="overdue"/>
<bpmn:process id="c8_escalation" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Sub"/>
  <bpmn:subProcess id="Sub">
    <bpmn:startEvent id="SubStart"/>
    <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="Check"/>
    <bpmn:exclusiveGateway id="Check" default="s3"/>
    <bpmn:sequenceFlow id="s2" sourceRef="Check" targetRef="Overdue">
      <bpmn:conditionExpression>=days &gt; 30</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="s3" sourceRef="Check" targetRef="InTime"/>
    <bpmn:endEvent id="Overdue">
      <bpmn:escalationEventDefinition escalationRef="Escalation_1"/>
    </bpmn:endEvent>
    <bpmn:endEvent id="InTime"/>
  </bpmn:subProcess>
  <bpmn:boundaryEvent id="Escalated" attachedToRef="Sub">
    <bpmn:escalationEventDefinition escalationRef="Escalation_1"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Escalated" targetRef="Late"/>
  <bpmn:endEvent id="Late" name="Late"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Sub" targetRef="OnTime"/>
  <bpmn:endEvent id="OnTime" name="On time"/>
</bpmn:process>
</bpmn:definitions>
"""


async def test_camunda8_escalation_end_event_is_caught_by_its_code(cases: Cases):
    cases.deploy(CAMUNDA8)
    late = await cases.start("c8_escalation", {"days": 45})
    assert (await late.result()).outcome == "Late"
    in_time = await cases.start("c8_escalation", {"days": 3})
    assert (await in_time.result()).outcome == "On time"
