"""Link events: a throw link event jumps to the catch link event of its name, in its scope."""

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


def _link(kind: str, element_id: str, name: str) -> str:
    return f'<bpmn:{kind} id="{element_id}"><bpmn:linkEventDefinition name="{name}"/></bpmn:{kind}>'


# The review page ends in a link to the decision page; inside the subprocess, a link with
# the same name jumps within the subprocess only. Asking again loops back by a link.
PAGES = bpmn(f"""
<bpmn:process id="pages" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Begin"/>
  {_link("intermediateThrowEvent", "Begin", "again")}
  {_link("intermediateCatchEvent", "AgainCatch", "again")}
  <bpmn:sequenceFlow id="f2" sourceRef="AgainCatch" targetRef="Review"/>
  <bpmn:userTask id="Review"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Review" targetRef="ToDecision"/>
  {_link("intermediateThrowEvent", "ToDecision", "decision")}
  {_link("intermediateCatchEvent", "Decision", "decision")}
  <bpmn:sequenceFlow id="f4" sourceRef="Decision" targetRef="Sub"/>
  <bpmn:subProcess id="Sub">
    <bpmn:startEvent id="SubStart"/>
    <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="InnerThrow"/>
    {_link("intermediateThrowEvent", "InnerThrow", "decision")}
    {_link("intermediateCatchEvent", "InnerCatch", "decision")}
    <bpmn:sequenceFlow id="s2" sourceRef="InnerCatch" targetRef="Decide"/>
    <bpmn:userTask id="Decide"/>
  </bpmn:subProcess>
  <bpmn:sequenceFlow id="f5" sourceRef="Sub" targetRef="Route"/>
  <bpmn:exclusiveGateway id="Route" default="fDone"/>
  <bpmn:sequenceFlow id="fAgain" sourceRef="Route" targetRef="AgainThrow">
    <bpmn:conditionExpression>=again</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="fDone" sourceRef="Route" targetRef="End"/>
  {_link("intermediateThrowEvent", "AgainThrow", "again")}
  <bpmn:endEvent id="End" name="Beslutat"/>
</bpmn:process>
""")


async def test_a_throw_link_jumps_to_the_catch_of_its_name_in_its_own_scope(
    cases: Cases, record_history
):
    cases.deploy(PAGES)
    handle = await cases.start("pages")
    assert [t.task_id for t in (await cases.view(handle)).open_tasks] == ["Review"]
    await cases.complete(handle, "Review")
    view = await cases.view(handle)
    # The process's link led into the subprocess, whose own link led to Decide.
    assert [t.task_id for t in view.open_tasks] == ["Decide"]
    await cases.complete(handle, "Decide", {"again": True})
    # Back to the start by the link "again": the review is asked a second time.
    assert [t.task_id for t in (await cases.view(handle)).open_tasks] == ["Review#2"]
    await cases.complete(handle, "Review#2")
    await cases.complete(handle, "Decide#2", {"again": False})
    assert (await handle.result()).outcome == "Beslutat"
    await record_history(handle, "engine_link_events")
