"""A case messaging another through ``send_message`` is held to the message's registered
payload model (``request_revocation``: `process_models.forms.se_nhv.RevocationRequest`), as
the API is: a payload the model refuses parks the sending case in an incident naming the
message, the field and the rule, and the receiver gets nothing until an operator retries
with corrected variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.case_waits import until_state
from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, Cases, bpmn, running_cases
from workflows.contract import RetryIncidentInput


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


MODELS = bpmn("""
<bpmn:message id="MRevoke" name="request_revocation"/>
<bpmn:process id="permit" isExecutable="true">
  <bpmn:startEvent id="PStart"/>
  <bpmn:sequenceFlow id="p1" sourceRef="PStart" targetRef="Revoke"/>
  <bpmn:receiveTask id="Revoke" messageRef="MRevoke"/>
  <bpmn:sequenceFlow id="p2" sourceRef="Revoke" targetRef="PEnd"/>
  <bpmn:endEvent id="PEnd"/>
</bpmn:process>
<bpmn:process id="holder" isExecutable="true">
  <bpmn:startEvent id="HStart"/>
  <bpmn:sequenceFlow id="h1" sourceRef="HStart" targetRef="Ask"/>
  <bpmn:sendTask id="Ask">
    <bpmn:extensionElements>
      <niva:taskDefinition type="send_message" retries="2"/>
      <niva:input target="instance_id" source="=target"/>
      <niva:input target="message" source="request_revocation"/>
      <niva:input target="payload" source="=request"/>
    </bpmn:extensionElements>
  </bpmn:sendTask>
  <bpmn:boundaryEvent id="Undeliverable" attachedToRef="Ask"><bpmn:errorEventDefinition/></bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="h2" sourceRef="Ask" targetRef="Asked"/>
  <bpmn:sequenceFlow id="h3" sourceRef="Undeliverable" targetRef="Failed"/>
  <bpmn:endEvent id="Asked" name="Begärt"/>
  <bpmn:endEvent id="Failed" name="Ej levererat"/>
</bpmn:process>
""")


async def test_a_valid_payload_is_delivered(cases: Cases):
    cases.deploy(MODELS)
    permit = await cases.start("permit")
    holder = await cases.start("holder", {"target": permit.id, "request": {"reason": "Closing"}})
    assert (await holder.result()).outcome == "Begärt"
    assert (await permit.result()).variables == {"reason": "Closing"}


async def test_a_refused_payload_parks_the_sender_and_leaves_the_receiver_untouched(
    cases: Cases,
):
    cases.deploy(MODELS)
    permit = await cases.start("permit")
    holder = await cases.start("holder", {"target": permit.id, "request": {"grounds": "x"}})

    state = await until_state(cases, holder, lambda s: s.incidents)
    [incident] = state.incidents.values()
    assert incident.element_id == "Ask"
    # Not a BPMN error: the catch-all boundary event does not take it.
    assert "request_revocation" in incident.message
    assert "RevocationRequest" in incident.message
    assert "grounds: Extra inputs are not permitted" in incident.message
    receiver = await cases.internal(permit)
    assert list(receiver.activities) == ["Revoke"]
    assert receiver.variables == {}

    await holder.execute_update(
        "retry_incident",
        RetryIncidentInput(
            incident_id=incident.id, variables={"request": {"reason": "Closing"}}, actor=OFFICER
        ),
    )
    assert (await holder.result()).outcome == "Begärt"
    assert (await permit.result()).variables == {"reason": "Closing"}
