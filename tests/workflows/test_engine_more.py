"""More element kinds on the time-skipping server: event-based gateway, sequential
multi-instance with a completion condition, interrupting event subprocess, terminate end,
message start, and one case messaging another."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from process_models.registry import default_registry
from tests.workflows import activities_for_tests
from tests.workflows.activities_for_tests import CALLS
from tests.workflows.harness import OFFICER, Cases, bpmn, running_cases
from workflows.contract import RetryIncidentInput


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


EVENT_GATEWAY = bpmn("""
<bpmn:message id="MAnswer" name="answer"/>
<bpmn:message id="MObject" name="objection"/>
<bpmn:process id="event_gateway" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Race"/>
  <bpmn:eventBasedGateway id="Race"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Race" targetRef="Answered"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Race" targetRef="TooLate"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Race" targetRef="Objection"/>
  <bpmn:receiveTask id="Objection" messageRef="MObject"/>
  <bpmn:sequenceFlow id="f7" sourceRef="Objection" targetRef="Objected"/>
  <bpmn:endEvent id="Objected" name="Invändning"/>
  <bpmn:intermediateCatchEvent id="Answered"><bpmn:messageEventDefinition messageRef="MAnswer"/></bpmn:intermediateCatchEvent>
  <bpmn:intermediateCatchEvent id="TooLate">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P14D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f4" sourceRef="Answered" targetRef="Yes"/>
  <bpmn:sequenceFlow id="f5" sourceRef="TooLate" targetRef="No"/>
  <bpmn:endEvent id="Yes" name="Svar"/>
  <bpmn:endEvent id="No" name="Inget svar"/>
</bpmn:process>
""")


async def test_event_based_gateway_takes_the_first_event(cases: Cases):
    cases.deploy(EVENT_GATEWAY)
    answered = await cases.start("event_gateway")
    assert (await cases.view(answered)).accepts_messages == ["answer", "objection"]
    await cases.message(answered, "answer", {"text": "ja"})
    result = await answered.result()
    assert (result.outcome, result.variables) == ("Svar", {"text": "ja"})
    silent = await cases.start("event_gateway")
    assert (await silent.result()).outcome == "Inget svar"
    objecting = await cases.start("event_gateway")
    await cases.message(objecting, "objection", {"why": "too few units"})
    result = await objecting.result()
    assert (result.outcome, result.variables) == ("Invändning", {"why": "too few units"})


SEQUENTIAL = bpmn("""
<bpmn:process id="sequential" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Vote"/>
  <bpmn:userTask id="Vote" name="Rösta">
    <bpmn:multiInstanceLoopCharacteristics isSequential="true">
      <bpmn:extensionElements>
        <niva:loop inputCollection="=members" inputElement="member" outputCollection="votes" outputElement="=vote"/>
      </bpmn:extensionElements>
      <bpmn:completionCondition>=size(votes.filter(k, votes[k] == "yes")) &gt;= 2</bpmn:completionCondition>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Vote" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_sequential_multi_instance_stops_at_its_completion_condition(cases: Cases):
    cases.deploy(SEQUENTIAL)
    members = [{"id": "m1"}, {"id": "m2"}, {"id": "m3"}, {"id": "m4"}]
    handle = await cases.start("sequential", {"members": members})
    for member, vote in (("m1", "yes"), ("m2", "no"), ("m3", "yes")):
        [task] = (await cases.view(handle)).open_tasks
        assert task.task_id == f"Vote:{member}"
        await cases.complete(handle, task.task_id, {"vote": vote})
    result = await handle.result()
    assert result.variables["votes"] == {"m1": "yes", "m2": "no", "m3": "yes"}


WITHDRAWAL = bpmn("""
<bpmn:message id="MWithdraw" name="withdraw"/>
<bpmn:process id="withdrawal" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Split"/>
  <bpmn:parallelGateway id="Split"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Split" targetRef="Review"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Split" targetRef="Wait"/>
  <bpmn:userTask id="Review"/>
  <bpmn:intermediateCatchEvent id="Wait">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P1Y</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f4" sourceRef="Review" targetRef="Join"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Wait" targetRef="Join"/>
  <bpmn:parallelGateway id="Join"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Join" targetRef="Done"/>
  <bpmn:endEvent id="Done" name="Klar"/>
  <bpmn:subProcess id="OnWithdrawal" triggeredByEvent="true">
    <bpmn:startEvent id="Withdrawn"><bpmn:messageEventDefinition messageRef="MWithdraw"/></bpmn:startEvent>
    <bpmn:sequenceFlow id="w1" sourceRef="Withdrawn" targetRef="Ack"/>
    <bpmn:serviceTask id="Ack"><bpmn:extensionElements><niva:taskDefinition type="echo"/></bpmn:extensionElements></bpmn:serviceTask>
    <bpmn:sequenceFlow id="w2" sourceRef="Ack" targetRef="WEnd"/>
    <bpmn:endEvent id="WEnd" name="Återkallad"/>
  </bpmn:subProcess>
</bpmn:process>
""")


async def test_interrupting_event_subprocess_ends_everything_else(cases: Cases):
    CALLS.clear()
    cases.deploy(WITHDRAWAL)
    handle = await cases.start("withdrawal")
    result = await cases.message(handle, "withdraw", {"reason": "merged with another area"})
    assert result.received_by == ["Withdrawn"]
    outcome = await handle.result()
    assert outcome.variables["reason"] == "merged with another area"
    assert [c.element_id for c in CALLS] == ["Ack"]
    state = await cases.internal(handle)
    assert state.timers == {}
    assert state.activities == {}


TERMINATE = bpmn("""
<bpmn:process id="terminate" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Split"/>
  <bpmn:parallelGateway id="Split"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Split" targetRef="Slow"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Split" targetRef="Quick"/>
  <bpmn:userTask id="Slow"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Slow" targetRef="Normal"/>
  <bpmn:endEvent id="Normal"/>
  <bpmn:userTask id="Quick"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Quick" targetRef="Stop"/>
  <bpmn:endEvent id="Stop" name="Avslutad"><bpmn:terminateEventDefinition/></bpmn:endEvent>
</bpmn:process>
""")


async def test_terminate_end_ends_every_branch(cases: Cases):
    cases.deploy(TERMINATE)
    handle = await cases.start("terminate")
    await cases.complete(handle, "Quick")
    assert (await handle.result()).outcome == "Avslutad"


MESSAGE_START = bpmn("""
<bpmn:message id="MRequest" name="request_application"/>
<bpmn:process id="message_start" isExecutable="true">
  <bpmn:startEvent id="Ordinary"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Ordinary" targetRef="Apply"/>
  <bpmn:startEvent id="Requested"><bpmn:messageEventDefinition messageRef="MRequest"/></bpmn:startEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Requested" targetRef="Consider"/>
  <bpmn:userTask id="Consider"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Consider" targetRef="Apply"/>
  <bpmn:userTask id="Apply"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Apply" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_message_start_event_starts_at_its_own_path(cases: Cases):
    cases.deploy(MESSAGE_START)
    requested = await cases.start("message_start", start_event="Requested")
    assert [t.task_id for t in (await cases.view(requested)).open_tasks] == ["Consider"]
    ordinary = await cases.start("message_start")
    assert [t.task_id for t in (await cases.view(ordinary)).open_tasks] == ["Apply"]


SENDER = bpmn("""
<bpmn:message id="MPing" name="ping"/>
<bpmn:process id="receiver" isExecutable="true">
  <bpmn:startEvent id="RStart"/>
  <bpmn:sequenceFlow id="r1" sourceRef="RStart" targetRef="Ping"/>
  <bpmn:receiveTask id="Ping" messageRef="MPing"/>
  <bpmn:sequenceFlow id="r2" sourceRef="Ping" targetRef="REnd"/>
  <bpmn:endEvent id="REnd"/>
</bpmn:process>
<bpmn:process id="sender" isExecutable="true">
  <bpmn:startEvent id="SStart"/>
  <bpmn:sequenceFlow id="s1" sourceRef="SStart" targetRef="Send"/>
  <bpmn:sendTask id="Send">
    <bpmn:extensionElements>
      <niva:taskDefinition type="send_message" retries="2"/>
      <niva:input target="instance_id" source="=target"/>
      <niva:input target="message" source="ping"/>
      <niva:input target="payload" source="={'from': 'sender'}"/>
    </bpmn:extensionElements>
  </bpmn:sendTask>
  <bpmn:boundaryEvent id="Undeliverable" attachedToRef="Send"><bpmn:errorEventDefinition/></bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="s2" sourceRef="Send" targetRef="Sent"/>
  <bpmn:sequenceFlow id="s3" sourceRef="Undeliverable" targetRef="Failed"/>
  <bpmn:endEvent id="Sent" name="Skickat"/>
  <bpmn:endEvent id="Failed" name="Mottagaren finns inte"/>
</bpmn:process>
""")


async def test_one_case_messages_another_and_an_ended_target_is_a_bpmn_error(cases: Cases):
    cases.deploy(SENDER)
    receiver = await cases.start("receiver")
    sender = await cases.start("sender", {"target": receiver.id})
    assert (await sender.result()).outcome == "Skickat"
    assert (await receiver.result()).variables == {"from": "sender"}
    again = await cases.start("sender", {"target": receiver.id})
    assert (await again.result()).outcome == "Mottagaren finns inte"
    nobody = await cases.start("sender", {"target": "receiver:nobody"})
    assert (await nobody.result()).outcome == "Mottagaren finns inte"


FAILING_TIMER = bpmn("""
<bpmn:process id="failing_timer" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review"/>
  <bpmn:boundaryEvent id="Remind" cancelActivity="false" attachedToRef="Review">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:boundaryEvent id="Deadline" attachedToRef="Review">
    <bpmn:timerEventDefinition><bpmn:timeDate>=deadline</bpmn:timeDate></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Deadline" targetRef="End"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Remind" targetRef="Reminded"/>
  <bpmn:endEvent id="Reminded"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_a_step_that_fails_half_way_leaves_nothing_behind(cases: Cases):
    cases.deploy(FAILING_TIMER)
    handle = await cases.start("failing_timer")
    state = await cases.internal(handle)
    # The task was entered, its first boundary timer armed, the second failed: all undone.
    assert state.activities == {}
    assert state.timers == {}
    [incident] = state.incidents.values()
    assert incident.element_id == "Review"
    await handle.execute_update(
        "retry_incident",
        RetryIncidentInput(
            incident_id=incident.id, variables={"deadline": "2999-01-01"}, actor=OFFICER
        ),
    )
    state = await cases.internal(handle)
    assert list(state.activities) == ["Review"]
    assert sorted(t.element_id for t in state.timers.values()) == ["Deadline", "Remind"]


async def test_unknown_start_event_fails_the_case_once(cases: Cases):
    cases.deploy(MESSAGE_START)
    handle = await cases.start("message_start", start_event="Nope")
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    assert "cannot start" in str(caught.value.cause)


SERVICE_END = bpmn("""
<bpmn:process id="service_end" isExecutable="true">
  <bpmn:startEvent id="Start">
    <bpmn:extensionElements><niva:form key="test.More.Start"/></bpmn:extensionElements>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Told"/>
  <bpmn:endEvent id="Told" name="Varslet och avslutat">
    <bpmn:extensionElements><niva:taskDefinition type="echo"/></bpmn:extensionElements>
    <bpmn:messageEventDefinition/>
  </bpmn:endEvent>
</bpmn:process>
""")


class _StartForm(BaseModel):
    care_area: str


default_registry.register_form("test.More.Start", _StartForm)


async def test_message_end_runs_its_task_and_names_the_outcome(cases: Cases):
    CALLS.clear()
    cases.deploy(SERVICE_END)
    handle = await cases.start("service_end", {"care_area": "Svår leversvikt"})
    assert (await handle.result()).outcome == "Varslet och avslutat"
    assert [c.element_id for c in CALLS] == ["Told"]


async def test_start_variables_must_satisfy_the_start_form(cases: Cases):
    cases.deploy(SERVICE_END)
    handle = await cases.start("service_end", {"care_area": 7})
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    assert "test.More.Start" in str(caught.value.cause)
