"""More of a case's limits on the dev server: a detached child that cannot start, buffered
messages inside the variables limit, and corrected variables of a retry that would not fit.
Each ends in an incident an operator sees or a refused request, with the case unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from process_models.limits import EngineLimits
from tests.support.case_waits import cancel, incident, retry, until
from tests.support.in_flight import activities_in_flight
from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn, running_cases


@pytest.fixture
async def cases(client: Client, task_queue: str, tmp_path: Path):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


# --- a detached child whose id is taken -------------------------------------------------------

DETACHED = bpmn("""
<bpmn:process id="limits_detached_parent" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Issue"/>
  <bpmn:callActivity id="Issue">
    <bpmn:extensionElements>
      <niva:calledElement processId="limits_detached_child" detached="true"/>
    </bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="f2" sourceRef="Issue" targetRef="After"/>
  <bpmn:userTask id="After"/>
  <bpmn:sequenceFlow id="f3" sourceRef="After" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
<bpmn:process id="limits_detached_child" isExecutable="true">
  <bpmn:startEvent id="CStart"/>
  <bpmn:sequenceFlow id="c1" sourceRef="CStart" targetRef="Work"/>
  <bpmn:userTask id="Work"/>
  <bpmn:sequenceFlow id="c2" sourceRef="Work" targetRef="CEnd"/>
  <bpmn:endEvent id="CEnd"/>
</bpmn:process>
""")


async def test_a_detached_child_whose_id_is_taken_is_an_incident_and_a_retry_starts_it(
    cases: Cases, client: Client
):
    cases.deploy(DETACHED)
    key = "detached-" + cases.task_queue
    squatter = await cases.start("limits_detached_child", business_key=key)
    handle = await cases.start("limits_detached_parent", business_key=key)
    parked = await incident(handle)
    assert (parked.kind, parked.element_id) == ("child", "Issue")
    assert "taken by another case" in parked.message
    view = await Cases.view(handle)
    # The token waits at the call activity; it did not go on as if the child had started.
    assert view.open_tasks == []
    assert [t.node_id for t in view.tokens] == ["Issue"]

    await cancel(squatter)
    await retry(handle, parked.incident_id)

    async def went_on() -> bool:
        return [t.task_id for t in (await Cases.view(handle)).open_tasks] == ["After"]

    await until(went_on)
    child = client.get_workflow_handle(f"limits_detached_child:{key}")
    assert (await Cases.view(child)).status == "running"
    # Detached: the parent ends, the child lives on.
    assert (await cancel(handle)).status == "cancelled"
    assert (await Cases.view(child)).status == "running"
    await cancel(child)


# --- buffered messages count toward the variables limit ---------------------------------------

KEEPS = bpmn("""
<bpmn:message id="MsgNote" name="note"/>
<bpmn:process id="limits_keeps" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="First"/>
  <bpmn:userTask id="First"/>
  <bpmn:sequenceFlow id="f2" sourceRef="First" targetRef="Note"/>
  <bpmn:intermediateCatchEvent id="Note">
    <bpmn:extensionElements>
      <niva:subscription candidateOrgs="SE-SOS" ttl="P1D"/>
    </bpmn:extensionElements>
    <bpmn:messageEventDefinition messageRef="MsgNote"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="Note" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_buffered_messages_count_toward_the_variables_limit(cases: Cases):
    cases.deploy(KEEPS)
    handle = await cases.start("limits_keeps", limits=EngineLimits(max_variables_bytes=2_048))
    kept = await cases.message(handle, "note", {"a": "x" * 1_200})
    assert kept.buffered
    # A second one would hold more than the case may: refused, not buffered.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await cases.message(handle, "note", {"b": "y" * 1_200})
    assert refused.value.cause.type == "Invalid"
    assert "more than the 2,048 a case may hold" in str(refused.value.cause)
    assert len((await Cases.internal(handle)).buffered) == 1
    assert (await cancel(handle)).status == "cancelled"


# --- corrected variables of a retry -----------------------------------------------------------

GATE = bpmn("""
<bpmn:process id="limits_gate" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Check"/>
  <bpmn:exclusiveGateway id="Check"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="Big">
    <bpmn:conditionExpression>=amount &gt; 100</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f3" sourceRef="Check" targetRef="Small">
    <bpmn:conditionExpression>=amount &lt;= 100</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:endEvent id="Big"/>
  <bpmn:endEvent id="Small"/>
</bpmn:process>
""")


async def test_corrected_variables_beyond_the_limit_are_refused_and_change_nothing(cases: Cases):
    cases.deploy(GATE)
    limits = EngineLimits(max_variables_bytes=2_048)
    handle = await cases.start("limits_gate", {"notes": "n" * 1_000}, limits=limits)
    parked = await incident(handle)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await retry(handle, parked.incident_id, amount=5, more="m" * 1_500)
    assert refused.value.cause.type == "Invalid"
    assert "NIVA_LIMITS_MAX_VARIABLES_BYTES" in str(refused.value.cause)
    view = await Cases.view(handle)
    assert [i.incident_id for i in view.incidents] == [parked.incident_id]
    assert "more" not in view.variables
    assert "amount" not in view.variables
    # Replacing the large value shrinks the case: accepted.
    await retry(handle, parked.incident_id, amount=5, notes="m" * 1_500)
    result = await handle.result()
    assert result.variables["amount"] == 5


# --- service activities in flight, case-wide ---------------------------------------------------

TWO_FANOUTS = bpmn("""
<bpmn:process id="limits_two_fanouts" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:parallelGateway id="Fork"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="NotifyA"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="NotifyB"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Fork" targetRef="Single"/>
  <bpmn:serviceTask id="NotifyA">
    <bpmn:extensionElements>
      <niva:taskDefinition type="echo"/>
      <niva:input target="to" source="=item"/>
    </bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <niva:loop inputCollection="=items" inputElement="item" outputCollection="sentA" outputElement="=result.echoed.to"/>
      </bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:serviceTask>
  <bpmn:serviceTask id="NotifyB">
    <bpmn:extensionElements>
      <niva:taskDefinition type="echo"/>
      <niva:input target="to" source="=item"/>
    </bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <niva:loop inputCollection="=items" inputElement="item" outputCollection="sentB" outputElement="=result.echoed.to"/>
      </bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:serviceTask>
  <bpmn:serviceTask id="Single">
    <bpmn:extensionElements>
      <niva:taskDefinition type="echo"/>
      <niva:input target="to" source="='one'"/>
      <niva:output target="single" source="=result.echoed.to"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f5" sourceRef="NotifyA" targetRef="Join"/>
  <bpmn:sequenceFlow id="f6" sourceRef="NotifyB" targetRef="Join"/>
  <bpmn:sequenceFlow id="f7" sourceRef="Single" targetRef="Join"/>
  <bpmn:parallelGateway id="Join"/>
  <bpmn:sequenceFlow id="f8" sourceRef="Join" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_service_activities_in_flight_are_bounded_per_case_not_per_multi_instance(
    cases: Cases,
):
    cases.deploy(TWO_FANOUTS)
    items = [f"o{i}" for i in range(6)]
    handle = await cases.start(
        "limits_two_fanouts", {"items": items}, limits=EngineLimits(max_in_flight=5)
    )
    result = await handle.result()
    assert result.variables["sentA"] == {item: item for item in items}
    assert result.variables["sentB"] == {item: item for item in items}
    assert result.variables["single"] == "one"
    scheduled, most = await activities_in_flight(handle)
    # Each body alone stays within 5; together, with the single task, they did not.
    assert (scheduled, most) == (13, 5)


MISSING = bpmn("""
<bpmn:process id="limits_calls_missing" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Call"/>
  <bpmn:callActivity id="Call">
    <bpmn:extensionElements>
      <niva:calledElement processId="=target" detached="true"/>
    </bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="f2" sourceRef="Call" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_a_detached_call_of_a_process_not_deployed_is_an_incident(
    cases: Cases, client: Client
):
    cases.deploy(MISSING, DETACHED)
    key = "missing-" + cases.task_queue
    handle = await cases.start(
        "limits_calls_missing", {"target": "limits_not_deployed"}, business_key=key
    )
    parked = await incident(handle)
    assert (parked.kind, parked.element_id) == ("child", "Call")
    assert "limits_not_deployed" in parked.message
    # Corrected, the retry starts the child (detached) and the case goes on to its end.
    await retry(handle, parked.incident_id, target="limits_detached_child")
    assert (await handle.result()).outcome == "End"
    await cancel(client.get_workflow_handle(f"limits_detached_child:{key}"))
