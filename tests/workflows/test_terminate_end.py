"""A terminate end event inside a subprocess ends that subprocess only; its parent goes on."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn, running_cases


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


# Inside Sub: a task with a reminder, a timer, a nested subprocess and an event subprocess,
# all under way when Quick reaches the terminate end event.
NESTED = bpmn("""
<bpmn:message id="MQuery" name="query"/>
<bpmn:process id="terminate_sub" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:parallelGateway id="Fork"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="Outside"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="Sub"/>
  <bpmn:userTask id="Outside"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Outside" targetRef="OutsideEnd"/>
  <bpmn:endEvent id="OutsideEnd" name="Utanför klar"/>
  <bpmn:subProcess id="Sub">
    <bpmn:startEvent id="SubStart"/>
    <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="SubFork"/>
    <bpmn:parallelGateway id="SubFork"/>
    <bpmn:sequenceFlow id="s2" sourceRef="SubFork" targetRef="Inner"/>
    <bpmn:sequenceFlow id="s3" sourceRef="SubFork" targetRef="Wait"/>
    <bpmn:sequenceFlow id="s4" sourceRef="SubFork" targetRef="Deep"/>
    <bpmn:sequenceFlow id="s5" sourceRef="SubFork" targetRef="Quick"/>
    <bpmn:userTask id="Inner"/>
    <bpmn:boundaryEvent id="Remind" attachedToRef="Inner" cancelActivity="false">
      <bpmn:timerEventDefinition><bpmn:timeCycle>R/P7D</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:intermediateCatchEvent id="Wait">
      <bpmn:timerEventDefinition><bpmn:timeDuration>P30D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:subProcess id="Deep">
      <bpmn:startEvent id="DeepStart"/>
      <bpmn:sequenceFlow id="d1" sourceRef="DeepStart" targetRef="DeepTask"/>
      <bpmn:userTask id="DeepTask"/>
    </bpmn:subProcess>
    <bpmn:subProcess id="OnQuery" triggeredByEvent="true">
      <bpmn:startEvent id="Query" isInterrupting="false">
        <bpmn:messageEventDefinition messageRef="MQuery"/>
      </bpmn:startEvent>
    </bpmn:subProcess>
    <bpmn:userTask id="Quick"/>
    <bpmn:sequenceFlow id="s6" sourceRef="Quick" targetRef="Stop"/>
    <bpmn:endEvent id="Stop" name="Avbruten"><bpmn:terminateEventDefinition/></bpmn:endEvent>
  </bpmn:subProcess>
  <bpmn:boundaryEvent id="TooLate" attachedToRef="Sub">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P60D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f5" sourceRef="TooLate" targetRef="LateEnd"/>
  <bpmn:endEvent id="LateEnd" name="För sent"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Sub" targetRef="After"/>
  <bpmn:userTask id="After"/>
  <bpmn:sequenceFlow id="f7" sourceRef="After" targetRef="End"/>
  <bpmn:endEvent id="End" name="Klar"/>
</bpmn:process>
""")


async def test_terminate_end_in_a_subprocess_ends_that_scope_and_the_parent_goes_on(
    cases: Cases, record_history
):
    cases.deploy(NESTED)
    handle = await cases.start("terminate_sub")
    view = await cases.view(handle)
    assert sorted(t.task_id for t in view.open_tasks) == ["DeepTask", "Inner", "Outside", "Quick"]
    assert view.accepts_messages == ["query"]
    await cases.complete(handle, "Quick")
    state = await cases.internal(handle)
    # Sub's tasks, timers, nested subprocess and event subprocess are gone, and so is the
    # deadline on Sub (it completed); the parent went on from Sub to After.
    assert sorted(a.element_id for a in state.activities.values()) == ["After", "Outside"]
    assert state.timers == {}
    assert state.subscriptions == {}
    assert sorted(t.node_id for t in state.tokens.values()) == ["After", "Outside"]
    assert not state.ended
    await cases.complete(handle, "After")
    await cases.complete(handle, "Outside")
    assert (await handle.result()).outcome == "Utanför klar"
    await record_history(handle, "engine_terminate_in_subprocess")


# Each instance of a multi-instance subprocess is a scope of its own: a terminate end in one
# ends that instance only.
PER_INSTANCE = bpmn("""
<bpmn:process id="terminate_instance" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Sub"/>
  <bpmn:subProcess id="Sub">
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <niva:loop inputCollection="=regions" inputElement="region"/>
      </bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
    <bpmn:startEvent id="SubStart"/>
    <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="Split"/>
    <bpmn:parallelGateway id="Split"/>
    <bpmn:sequenceFlow id="s2" sourceRef="Split" targetRef="Work"/>
    <bpmn:sequenceFlow id="s3" sourceRef="Split" targetRef="Route"/>
    <bpmn:userTask id="Work"/>
    <bpmn:exclusiveGateway id="Route" default="s5"/>
    <bpmn:sequenceFlow id="s4" sourceRef="Route" targetRef="Stop">
      <bpmn:conditionExpression>=region == "AB"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="s5" sourceRef="Route" targetRef="Fine"/>
    <bpmn:endEvent id="Stop"><bpmn:terminateEventDefinition/></bpmn:endEvent>
    <bpmn:endEvent id="Fine"/>
  </bpmn:subProcess>
  <bpmn:sequenceFlow id="f2" sourceRef="Sub" targetRef="After"/>
  <bpmn:userTask id="After"/>
</bpmn:process>
""")


async def test_terminate_end_in_a_multi_instance_subprocess_ends_its_instance_only(cases: Cases):
    cases.deploy(PER_INSTANCE)
    handle = await cases.start("terminate_instance", {"regions": ["AB", "C"]})
    view = await cases.view(handle)
    # AB's instance terminated at once (its Work with it); C's waits for its Work.
    assert [t.task_id for t in view.open_tasks] == ["Work#2"]
    assert [s.variables.get("region") for s in (await cases.internal(handle)).scopes.values()] == [
        "C",
        None,
    ]
    await cases.complete(handle, "Work#2")
    assert [t.task_id for t in (await cases.view(handle)).open_tasks] == ["After"]
