"""Cases on the dev server: incidents seen through search attributes, forms, constraints,
child cases, cancellation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import BaseModel, Field
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError

from process_models.registry import default_registry
from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, Cases, bpmn, running_cases
from workflows.contract import CancelInput, InstanceView, RetryIncidentInput


class UnitsForm(BaseModel):
    """A test form: between one and five units."""

    units: int = Field(ge=1, le=5)
    comment: str | None = None


default_registry.register_form("test.Units", UnitsForm)


@pytest.fixture
async def cases(client: Client, task_queue: str, tmp_path: Path):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


async def until(predicate, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


INCIDENT = bpmn("""
<bpmn:process id="incident" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Check"/>
  <bpmn:exclusiveGateway id="Check" default="f3"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="Big">
    <bpmn:conditionExpression>=amount &gt; 100</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f3" sourceRef="Check" targetRef="Small"/>
  <bpmn:endEvent id="Big" name="Stor"/>
  <bpmn:endEvent id="Small" name="Liten"/>
</bpmn:process>
""")


async def test_expression_failure_is_an_incident_resolved_by_retry(
    cases: Cases, client: Client, record_history
):
    cases.deploy(INCIDENT)
    handle = await cases.start("incident", business_key="incident-1")
    view = await cases.view(handle)
    [incident] = view.incidents
    assert incident.element_id == "Check"
    assert "amount" in incident.message
    assert view.status == "running"

    query = f'WorkflowId = "{handle.id}" AND NivaIncident = true'

    async def listed() -> bool:
        return [w.id async for w in client.list_workflows(query)] == [handle.id]

    await until(listed)
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "**Incidents**" in metadata.current_details
    assert "amount" in metadata.current_details

    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(
            "retry_incident", RetryIncidentInput(incident_id="nope", actor=OFFICER)
        )
    assert caught.value.cause.type == "NotFound"
    await handle.execute_update(
        "retry_incident",
        RetryIncidentInput(
            incident_id=incident.incident_id, variables={"amount": 250}, actor=OFFICER
        ),
    )
    result = await handle.result()
    assert result.outcome == "Stor"

    async def cleared() -> bool:
        return [w.id async for w in client.list_workflows(query)] == []

    await until(cleared)
    await record_history(handle, "engine_incident_retry")


FORM = bpmn("""
<bpmn:process id="form" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Decide"/>
  <bpmn:userTask id="Decide" name="Besluta">
    <bpmn:extensionElements>
      <niva:form key="test.Units"/>
      <niva:constraint expression="=payload.units &lt;= max_units" message="no more units than proposed"/>
      <niva:output target="decided_units" source="=payload.units"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Decide" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_form_and_constraint_reject_with_their_reason(cases: Cases, record_history):
    cases.deploy(FORM)
    handle = await cases.start("form", {"max_units": 3}, business_key="form-1")
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await cases.complete(handle, "Decide", {"units": 9})
    cause = caught.value.cause
    assert cause.type == "Invalid"
    assert cause.details[0]["fields"][0]["loc"] == ["units"]
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await cases.complete(handle, "Decide", {"units": 4})
    assert "no more units than proposed" in str(caught.value.cause)
    await cases.complete(handle, "Decide", {"units": 2, "comment": "two"})
    result = await handle.result()
    # With an output mapping only the mapped value is written.
    assert result.variables == {"max_units": 3, "decided_units": 2}
    history = await handle.fetch_history()
    accepted = [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(accepted) == 1
    await record_history(handle, "engine_form_constraint")


PARENT = bpmn("""
<bpmn:process id="parent" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:callActivity id="Review" name="Granskning">
    <bpmn:extensionElements>
      <niva:calledElement processId="child"/>
      <niva:input target="topic" source="=topic"/>
      <niva:output target="verdict" source="=result.verdict"/>
    </bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Permit"/>
  <bpmn:callActivity id="Permit" name="Tillstånd">
    <bpmn:extensionElements><niva:calledElement processId="permit" detached="true"/></bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="f3" sourceRef="Permit" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
<bpmn:process id="child" isExecutable="true">
  <bpmn:startEvent id="CStart"/>
  <bpmn:sequenceFlow id="c1" sourceRef="CStart" targetRef="Work"/>
  <bpmn:userTask id="Work"/>
  <bpmn:sequenceFlow id="c2" sourceRef="Work" targetRef="CEnd"/>
  <bpmn:endEvent id="CEnd"/>
</bpmn:process>
<bpmn:process id="permit" isExecutable="true">
  <bpmn:startEvent id="PStart"/>
  <bpmn:sequenceFlow id="p1" sourceRef="PStart" targetRef="FollowUp"/>
  <bpmn:userTask id="FollowUp"/>
  <bpmn:sequenceFlow id="p2" sourceRef="FollowUp" targetRef="PEnd"/>
  <bpmn:endEvent id="PEnd"/>
</bpmn:process>
""")


async def test_attached_child_returns_and_detached_child_outlives_parent(
    cases: Cases, client: Client
):
    cases.deploy(PARENT)
    handle = await cases.start("parent", {"topic": "levers"}, business_key="p1")
    child = client.get_workflow_handle("child:p1")

    async def child_waits() -> bool:
        try:
            return [t.task_id for t in (await cases.view(child)).open_tasks] == ["Work"]
        except Exception:
            return False

    await until(child_waits)
    assert (await cases.view(child)).variables == {"topic": "levers"}
    await cases.complete(child, "Work", {"verdict": "ok"})
    result = await handle.result()
    assert result.variables["verdict"] == "ok"
    # The detached child (a permit) lives on after its parent completed.
    detached = client.get_workflow_handle("permit:p1")

    async def detached_runs() -> bool:
        try:
            return (await detached.describe()).status == WorkflowExecutionStatus.RUNNING
        except Exception:
            return False

    await until(detached_runs)
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_cancel_ends_the_case_and_its_attached_child(cases: Cases, client: Client):
    cases.deploy(PARENT)
    handle = await cases.start("parent", {"topic": "x"}, business_key="p2")
    child = client.get_workflow_handle("child:p2")

    async def started() -> bool:
        try:
            await child.describe()
            return True
        except Exception:
            return False

    await until(started)
    view = await handle.execute_update(
        "cancel", CancelInput(reason="withdrawn", actor=OFFICER), result_type=InstanceView
    )
    assert view.status == "cancelled"
    assert (await handle.result()).outcome == "cancelled"

    async def child_cancelled() -> bool:
        return (await child.describe()).status != WorkflowExecutionStatus.RUNNING

    await until(child_cancelled)
    # A closed case takes no more updates: Temporal itself refuses them.
    with pytest.raises(RPCError, match="already completed"):
        await handle.execute_update("cancel", CancelInput(reason="again", actor=OFFICER))
