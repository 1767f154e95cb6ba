"""The interpreter on a real Temporal dev server: the basic element kinds."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, bpmn, running_cases

LINEAR = bpmn("""
<bpmn:process id="linear" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review" name="Granska">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Echo"/>
  <bpmn:serviceTask id="Echo" name="Eko">
    <bpmn:extensionElements>
      <niva:taskDefinition type="echo"/>
      <niva:input target="verdict" source="=verdict"/>
      <niva:output target="echoed" source="=result.echoed.verdict"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f3" sourceRef="Echo" targetRef="Decide"/>
  <bpmn:exclusiveGateway id="Decide" default="f5"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Decide" targetRef="Approved">
    <bpmn:conditionExpression>=echoed == "yes"</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f5" sourceRef="Decide" targetRef="Rejected"/>
  <bpmn:endEvent id="Approved" name="Beviljad"/>
  <bpmn:endEvent id="Rejected" name="Avslagen"/>
</bpmn:process>
""")


TWO_TASKS = bpmn("""
<bpmn:process id="two_tasks" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review" name="Granska">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Sign"/>
  <bpmn:userTask id="Sign" name="Signera"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Sign" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_linear_case_runs_to_the_chosen_end(client: Client, task_queue: str, tmp_path: Path):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        cases.deploy(LINEAR)
        handle = await cases.start("linear", {"applicant": "x"})
        view = await cases.view(handle)
        assert [t.task_id for t in view.open_tasks] == ["Review"]
        assert view.open_tasks[0].candidates == ["org:SE-SOS/group:officer"]
        await cases.complete(handle, "Review", {"verdict": "yes"})
        result = await handle.result()
        assert result.outcome == "Beviljad"
        assert result.variables["echoed"] == "yes"
        assert result.variables["verdict"] == "yes"


async def test_complete_task_rejections_never_reach_history(
    client: Client, task_queue: str, tmp_path: Path
):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        cases.deploy(TWO_TASKS)
        handle = await cases.start("two_tasks")
        stranger = OFFICER.model_copy(update={"org": "SE-AB"})
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await cases.complete(handle, "Review", {"verdict": "no"}, actor=stranger)
        assert caught.value.cause.type == "Forbidden"
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await cases.complete(handle, "Nope", {})
        assert caught.value.cause.type == "NotFound"
        first = await cases.complete(handle, "Review", {"verdict": "no"}, idempotency_key="k1")
        again = await cases.complete(handle, "Review", {"verdict": "no"}, idempotency_key="k1")
        assert again.duplicate
        assert again.completed == first.completed
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await cases.complete(handle, "Review", {"verdict": "no"}, idempotency_key="k2")
        assert caught.value.cause.type == "Conflict"
        await cases.complete(handle, "Sign")
        assert (await handle.result()).variables == {"verdict": "no"}
        history = await handle.fetch_history()
        rejected = [
            e
            for e in history.events
            if e.HasField("workflow_execution_update_rejected_event_attributes")
        ]
        assert rejected == []
