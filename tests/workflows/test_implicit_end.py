"""What BPMN and Camunda allow, niva runs: implicit ends, and calls of processes deployed later."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client

from process_models.bpmn import read_bpmn
from process_models.validation import check_model
from tests.support.net import until
from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, bpmn, running_cases
from workflows.contract import RetryIncidentInput

# The review ends its token where it stands (no end event); the other branch of the fork,
# and the subprocess whose inner task has no outgoing flow, still decide when the case ends.
IMPLICIT = bpmn("""
<bpmn:process id="implicit_end" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:parallelGateway id="Fork"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="Review"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="Sub"/>
  <bpmn:userTask id="Review"/>
  <bpmn:subProcess id="Sub">
    <bpmn:startEvent id="SubStart"/>
    <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="Sign"/>
    <bpmn:userTask id="Sign"/>
  </bpmn:subProcess>
  <bpmn:sequenceFlow id="f4" sourceRef="Sub" targetRef="Archive"/>
  <bpmn:task id="Archive"/>
</bpmn:process>
""")

CALLER = bpmn("""
<bpmn:process id="caller_first" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Call"/>
  <bpmn:callActivity id="Call">
    <bpmn:extensionElements><niva:calledElement processId="called_later"/></bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="f2" sourceRef="Call" targetRef="End"/>
  <bpmn:endEvent id="End" name="Klar"/>
</bpmn:process>
""")

CALLED = bpmn("""
<bpmn:process id="called_later" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


def test_activities_and_events_without_outgoing_flows_are_valid():
    result = check_model(read_bpmn(IMPLICIT), known_processes=[])
    assert result.problems == []


def test_a_gateway_that_nothing_leaves_is_still_a_dead_end():
    document = bpmn("""
    <bpmn:process id="gateway_end" isExecutable="true">
      <bpmn:startEvent id="Start"/>
      <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Join"/>
      <bpmn:parallelGateway id="Join"/>
    </bpmn:process>
    """)
    [problem] = check_model(read_bpmn(document)).problems
    assert problem.element_id == "Join"
    assert problem.message.startswith("dead end")


def test_a_call_of_a_process_not_deployed_is_a_warning():
    result = check_model(read_bpmn(CALLER), known_processes=["caller_first"])
    assert result.problems == []
    [warning] = result.warnings
    assert warning.element_id == "Call"
    assert "'called_later'" in warning.message
    assert "incident" in warning.message


async def test_tokens_end_where_nothing_leaves(client: Client, task_queue: str, tmp_path: Path):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        cases.deploy(IMPLICIT)
        handle = await cases.start("implicit_end")
        view = await cases.view(handle)
        assert sorted(t.task_id for t in view.open_tasks) == ["Review", "Sign"]
        await cases.complete(handle, "Sign")
        view = await cases.view(handle)
        # The subprocess ended with its inner task's token, and Archive passed through.
        assert [t.task_id for t in view.open_tasks] == ["Review"]
        assert view.status == "running"
        await cases.complete(handle, "Review")
        result = await handle.result()
        assert result.outcome == "completed"


async def test_a_call_before_its_process_is_deployed_waits_in_an_incident(
    client: Client, task_queue: str, tmp_path: Path
):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        cases.deploy(CALLER)  # deployments are often split: the called process comes later
        handle = await cases.start("caller_first")

        async def incident_open() -> bool:
            return bool((await cases.view(handle)).incidents)

        await until(incident_open)
        [incident] = (await cases.view(handle)).incidents
        assert incident.element_id == "Call"
        assert "called_later" in incident.message
        cases.deploy(CALLED)
        await handle.execute_update(
            "retry_incident", RetryIncidentInput(incident_id=incident.incident_id, actor=OFFICER)
        )
        result = await handle.result()
        assert result.outcome == "Klar"
