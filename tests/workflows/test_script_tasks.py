"""Script tasks in the niva dialect: ``niva:script expression="=…" resultVariable="…"``, a
CEL expression evaluated in the workflow, its value set as the result variable (the
Camunda 8 dialect's ``zeebe:script`` runs through the same code: test_camunda8_engine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from process_models.bpmn import read_bpmn
from process_models.bpmn.subset import blockers_by_process
from process_models.bpmn.writer import write_bpmn
from process_models.validation import validate
from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, Cases, bpmn, running_cases
from workflows.contract import RetryIncidentInput

FEE = bpmn("""
<bpmn:process id="script_fee" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Compute"/>
  <bpmn:scriptTask id="Compute" name="Compute the fee">
    <bpmn:extensionElements>
      <niva:script expression="=beds * 1200 + (urgent ? 5000 : 0)" resultVariable="fee"/>
    </bpmn:extensionElements>
  </bpmn:scriptTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Compute" targetRef="Pay"/>
  <bpmn:userTask id="Pay"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Pay" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


def test_a_niva_script_task_is_executable_and_written_back():
    definitions = read_bpmn(FEE.encode())
    assert blockers_by_process(definitions) == {"script_fee": []}
    assert validate(definitions) == []
    node = read_bpmn(write_bpmn(definitions)).processes[0].node("Compute")
    assert node is not None
    assert node.niva.script is not None
    assert (node.niva.script.expression, node.niva.script.result_variable) == (
        "=beds * 1200 + (urgent ? 5000 : 0)",
        "fee",
    )


def test_a_niva_script_task_needs_its_script_and_a_result_variable():
    definitions = read_bpmn(
        bpmn("""
    <bpmn:process id="p" isExecutable="true">
      <bpmn:startEvent id="Start"/>
      <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Bare"/>
      <bpmn:scriptTask id="Bare"/>
      <bpmn:sequenceFlow id="f2" sourceRef="Bare" targetRef="Half"/>
      <bpmn:scriptTask id="Half">
        <bpmn:extensionElements><niva:script expression="=1 +"/></bpmn:extensionElements>
      </bpmn:scriptTask>
      <bpmn:sequenceFlow id="f3" sourceRef="Half" targetRef="End"/>
      <bpmn:endEvent id="End"/>
    </bpmn:process>
    """).encode()
    )
    (blocker,) = blockers_by_process(definitions)["p"]
    assert blocker.element_id == "Bare"
    assert '<niva:script expression="=…" resultVariable="…"/>' in blocker.message
    (problem,) = [p for p in validate(definitions) if p.element_id == "Half"]
    assert 'needs <niva:script expression="=…" resultVariable="…"/>' in problem.message
    assert "taskDefinition" not in problem.message  # no job in the niva dialect


def test_niva_script_is_read_on_a_script_task_only():
    misplaced = FEE.replace(
        '<bpmn:userTask id="Pay"/>',
        '<bpmn:userTask id="Pay"><bpmn:extensionElements>'
        '<niva:script expression="=1" resultVariable="x"/></bpmn:extensionElements>'
        "</bpmn:userTask>",
    )
    (problem,) = validate(read_bpmn(misplaced.encode()))
    assert problem.element_id == "Pay"
    assert "niva:script on a userTask is not read" in problem.message


def test_niva_script_rejects_an_unknown_attribute():
    from process_models.errors import BpmnReadError

    with pytest.raises(BpmnReadError, match="resultVariable"):
        read_bpmn(FEE.replace('resultVariable="fee"', 'result="fee"').encode())


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


async def test_a_niva_script_task_sets_its_result_variable(cases: Cases, record_history):
    cases.deploy(FEE)
    handle = await cases.start("script_fee", {"beds": 3, "urgent": True})
    state = await cases.internal(handle)
    assert state.variables["fee"] == 3 * 1200 + 5000
    assert [a.id for a in state.activities.values()] == ["Pay"]
    await cases.complete(handle, "Pay")
    assert (await handle.result()).variables["fee"] == 8600
    await record_history(handle, "engine_niva_script_task")


async def test_a_failing_script_is_an_incident_its_retry_runs_again(cases: Cases):
    cases.deploy(FEE)
    handle = await cases.start("script_fee", {"beds": 3})  # urgent unknown
    (incident,) = (await cases.view(handle)).incidents
    assert incident.element_id == "Compute"
    await handle.execute_update(
        "retry_incident",
        RetryIncidentInput(
            incident_id=incident.incident_id, variables={"urgent": False}, actor=OFFICER
        ),
    )
    state = await cases.internal(handle)
    assert state.variables["fee"] == 3600
    assert state.incidents == {}
