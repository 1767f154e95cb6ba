"""Rows of the semantics table in docs/MODELLING.md that no other test proves: pass-through
tasks, an exclusive gateway with no way out, a non-interrupting message boundary event and
an intermediate timer catch, on the time-skipping server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, Cases, bpmn, running_cases
from workflows.contract import RetryIncidentInput


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


PASS_THROUGH = bpmn("""
<bpmn:process id="pass_through" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Sign"/>
  <bpmn:manualTask id="Sign" name="Signera på papper"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Sign" targetRef="Note"/>
  <bpmn:task id="Note" name="Anteckna"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Note" targetRef="Thrown"/>
  <bpmn:intermediateThrowEvent id="Thrown"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Thrown" targetRef="End"/>
  <bpmn:endEvent id="End" name="Klar"/>
</bpmn:process>
""")


async def test_manual_task_plain_task_and_none_throw_pass_straight_through(cases: Cases):
    cases.deploy(PASS_THROUGH)
    handle = await cases.start("pass_through")
    result = await handle.result()
    assert result.outcome == "Klar"
    trail = [e.kind for e in (await cases.internal(handle)).audit]
    assert trail[0] == "started"
    assert trail[-1] == "ended"


NO_WAY_OUT = bpmn("""
<bpmn:process id="no_way_out" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Route"/>
  <bpmn:exclusiveGateway id="Route"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Route" targetRef="Big">
    <bpmn:conditionExpression>=amount &gt; 100</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f3" sourceRef="Route" targetRef="Small">
    <bpmn:conditionExpression>=amount &lt; 10</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:endEvent id="Big" name="Stor"/>
  <bpmn:endEvent id="Small" name="Liten"/>
</bpmn:process>
""")


async def test_exclusive_gateway_with_no_way_out_parks_its_token_until_a_retry(cases: Cases):
    cases.deploy(NO_WAY_OUT)
    handle = await cases.start("no_way_out", {"amount": 50})
    state = await cases.internal(handle)
    [incident] = state.incidents.values()
    assert incident.kind == "gateway"
    assert incident.element_id == "Route"
    # The incident holds the token: the case waits for an operator, not for nothing.
    assert state.tokens[incident.token_id or ""].status == "incident"
    await handle.execute_update(
        "retry_incident",
        RetryIncidentInput(incident_id=incident.id, variables={"amount": 5}, actor=OFFICER),
    )
    assert (await handle.result()).outcome == "Liten"


NUDGE = bpmn("""
<bpmn:message id="MQuestion" name="question"/>
<bpmn:process id="nudge" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review" name="Granska"/>
  <bpmn:boundaryEvent id="Asked" cancelActivity="false" attachedToRef="Review">
    <bpmn:messageEventDefinition messageRef="MQuestion"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Asked" targetRef="Answer"/>
  <bpmn:userTask id="Answer" name="Besvara fråga"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Answer" targetRef="Answered"/>
  <bpmn:endEvent id="Answered"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Review" targetRef="Pause"/>
  <bpmn:intermediateCatchEvent id="Pause" name="Karens">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P3D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f5" sourceRef="Pause" targetRef="Done"/>
  <bpmn:endEvent id="Done" name="Granskad"/>
</bpmn:process>
""")


async def test_non_interrupting_message_boundary_keeps_the_task_and_a_catch_timer_waits(
    cases: Cases, time_skipping_env: WorkflowEnvironment
):
    cases.deploy(NUDGE)
    handle = await cases.start("nudge")
    await cases.message(handle, "question", {"text": "hur?"})
    view = await cases.view(handle)
    assert sorted(t.task_id for t in view.open_tasks) == ["Answer", "Review"]
    assert view.variables["text"] == "hur?"
    await cases.complete(handle, "Answer", {})
    await cases.complete(handle, "Review", {})
    state = await cases.internal(handle)
    [timer] = state.timers.values()
    assert timer.element_id == "Pause"
    assert timer.fire_at - timer.armed_at == timedelta(days=3)
    result = await handle.result()
    assert result.outcome == "Granskad"
