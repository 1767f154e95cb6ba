"""Whole scenarios on the time-skipping server: deadlines, reminders, fan-out to 21 regions,
messages, joins, children and errors."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.workflows import activities_for_tests
from tests.workflows.activities_for_tests import CALLS
from tests.workflows.harness import Cases, bpmn, running_cases
from workflows.candidates import Actor

REGIONS = [
    "SE-AB", "SE-C", "SE-D", "SE-E", "SE-F", "SE-G", "SE-H", "SE-I", "SE-K", "SE-M", "SE-N",
    "SE-O", "SE-S", "SE-T", "SE-U", "SE-W", "SE-X", "SE-Y", "SE-Z", "SE-AC", "SE-BD",
]  # fmt: skip


def region(org: str) -> Actor:
    return Actor(subject=f"registrator@{org}", org=org, roles=["registrator"])


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


REFERRAL = bpmn("""
<bpmn:message id="MExtend" name="extend_deadline"/>
<bpmn:process id="referral" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Answer"/>
  <bpmn:userTask id="Answer" name="Remissvar">
    <bpmn:extensionElements>
      <niva:assignment candidateOrgs="=region"/>
    </bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <niva:loop inputCollection="=regions" inputElement="region"
                   outputCollection="answers" outputElement="=supports"/>
      </bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:boundaryEvent id="Deadline" name="Remisstiden löper ut" attachedToRef="Answer">
    <bpmn:timerEventDefinition><bpmn:timeDate>=deadline</bpmn:timeDate></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:boundaryEvent id="Reminder" name="Påminnelse" cancelActivity="false" attachedToRef="Answer">
    <bpmn:timerEventDefinition>
      <bpmn:timeDate>=timestamp(deadline) - duration("336h")</bpmn:timeDate>
    </bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:boundaryEvent id="Extend" cancelActivity="false" attachedToRef="Answer">
    <bpmn:messageEventDefinition messageRef="MExtend"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Answer" targetRef="Closed"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Deadline" targetRef="Closed"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Reminder" targetRef="Remind"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Extend" targetRef="Extended"/>
  <bpmn:serviceTask id="Remind" name="Skicka påminnelse">
    <bpmn:extensionElements>
      <niva:taskDefinition type="echo"/>
      <niva:input target="deadline" source="=deadline"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f6" sourceRef="Remind" targetRef="Reminded"/>
  <bpmn:endEvent id="Reminded"/>
  <bpmn:endEvent id="Extended"/>
  <bpmn:exclusiveGateway id="Closed"/>
  <bpmn:sequenceFlow id="f7" sourceRef="Closed" targetRef="End"/>
  <bpmn:endEvent id="End" name="Remissen stängd"/>
</bpmn:process>
""")


async def test_referral_deadline_extension_moves_reminder_and_closes_with_answers_so_far(
    cases: Cases, time_skipping_env: WorkflowEnvironment, record_history
):
    CALLS.clear()
    cases.deploy(REFERRAL)
    start = await time_skipping_env.get_current_time()
    deadline = (start + timedelta(weeks=10)).astimezone(UTC)
    handle = await cases.start("referral", {"regions": REGIONS, "deadline": deadline.isoformat()})
    view = await cases.view(handle)
    assert sorted(t.task_id for t in view.open_tasks) == sorted(f"Answer:{r}" for r in REGIONS)
    assert {t.due for t in view.open_tasks} == {deadline}

    # A region may answer only its own task.
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await cases.complete(handle, "Answer:SE-AB", {"supports": True}, actor=region("SE-C"))
    assert caught.value.cause.type == "Forbidden"

    for org in REGIONS[:15]:
        await cases.complete(
            handle, f"Answer:{org}", {"supports": org != "SE-M"}, actor=region(org)
        )

    extended = deadline + timedelta(weeks=2)
    result = await cases.message(handle, "extend_deadline", {"deadline": extended.isoformat()})
    assert result.received_by == ["Extend"]
    state = await cases.internal(handle)
    fire_times = {t.element_id: t.fire_at for t in state.timers.values()}
    assert fire_times == {"Deadline": extended, "Reminder": extended - timedelta(days=14)}
    assert any(e.kind == "deadline_moved" and e.element_id == "Deadline" for e in state.audit)
    view = await cases.view(handle)
    assert len(view.open_tasks) == 6
    assert {t.due for t in view.open_tasks} == {extended}

    outcome = await handle.result()
    assert outcome.outcome == "Remissen stängd"
    answers = outcome.variables["answers"]
    assert sorted(answers) == sorted(REGIONS[:15])
    assert answers["SE-M"] is False
    assert answers["SE-AB"] is True
    reminders = [c for c in CALLS if c.element_id == "Remind"]
    assert len(reminders) == 1
    assert reminders[0].inputs["deadline"] == extended.isoformat()
    assert reminders[0].now >= extended - timedelta(days=14)
    # The wait timer survives the 15 completions; only the extension moves it.
    history = await handle.fetch_history()
    kinds = [EventType.Name(e.event_type) for e in history.events]
    assert kinds.count("EVENT_TYPE_TIMER_CANCELED") <= 1
    assert kinds.count("EVENT_TYPE_TIMER_STARTED") <= 4
    await record_history(handle, "engine_referral_21_regions_kept_timer")
    await record_history(handle, "engine_referral_21_regions")


REMINDERS = bpmn("""
<bpmn:process id="reminders" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Report"/>
  <bpmn:userTask id="Report" name="Rapportera"/>
  <bpmn:boundaryEvent id="Weekly" cancelActivity="false" attachedToRef="Report">
    <bpmn:timerEventDefinition><bpmn:timeCycle>R/P1W</bpmn:timeCycle></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Weekly" targetRef="Remind"/>
  <bpmn:serviceTask id="Remind"><bpmn:extensionElements><niva:taskDefinition type="echo"/></bpmn:extensionElements></bpmn:serviceTask>
  <bpmn:sequenceFlow id="f3" sourceRef="Remind" targetRef="Reminded"/>
  <bpmn:endEvent id="Reminded"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Report" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_reminder_cycle_runs_while_the_task_stays_open(
    cases: Cases, time_skipping_env: WorkflowEnvironment, record_history
):
    CALLS.clear()
    cases.deploy(REMINDERS)
    handle = await cases.start("reminders")
    await time_skipping_env.sleep(timedelta(weeks=3, days=3))
    reminders = [c.task_id for c in CALLS if c.element_id == "Remind"]
    assert reminders == ["Remind", "Remind#2", "Remind#3"]
    await cases.complete(handle, "Report", {"done": True})
    await handle.result()
    await time_skipping_env.sleep(timedelta(weeks=2))
    assert len([c for c in CALLS if c.element_id == "Remind"]) == 3
    await record_history(handle, "engine_reminder_cycle")


JOIN = bpmn("""
<bpmn:process id="join" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:parallelGateway id="Fork"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="Wait"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="Work"/>
  <bpmn:intermediateCatchEvent id="Wait" name="Vänta 30 dagar">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P30D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:userTask id="Work"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Wait" targetRef="Join"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Work" targetRef="Join"/>
  <bpmn:parallelGateway id="Join"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Join" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_parallel_join_waits_for_the_timer_branch(
    cases: Cases, time_skipping_env: WorkflowEnvironment, record_history
):
    cases.deploy(JOIN)
    started = await time_skipping_env.get_current_time()
    handle = await cases.start("join")
    await cases.complete(handle, "Work")
    view = await cases.view(handle)
    assert view.status == "running"
    assert sorted(t.node_id for t in view.tokens) == ["Join", "Wait"]
    await handle.result()
    assert await time_skipping_env.get_current_time() >= started + timedelta(days=30)
    await record_history(handle, "engine_parallel_join_timer")


MESSAGES = bpmn("""
<bpmn:message id="MApprove" name="approve"/>
<bpmn:process id="messages" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Prepare"/>
  <bpmn:userTask id="Prepare"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Prepare" targetRef="Approval"/>
  <bpmn:intermediateCatchEvent id="Approval">
    <bpmn:extensionElements><niva:subscription messageName="approve" ttl="P30D" candidateGroups="board"/></bpmn:extensionElements>
    <bpmn:messageEventDefinition messageRef="MApprove"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="Approval" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_message_without_subscription_is_rejected_and_ttl_buffers(
    cases: Cases, record_history
):
    cases.deploy(MESSAGES)
    handle = await cases.start("messages")
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await cases.message(handle, "withdraw")
    assert caught.value.cause.type == "Conflict"
    assert "no message" in str(caught.value.cause)
    # Nothing waits for it yet: only the candidates the model declares may send it.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await cases.message(handle, "approve", {"approved_by": "officer"})
    assert refused.value.cause.type == "Forbidden"
    board = Actor(subject="chair", org="SE-NHV-NAMND", roles=["board"])
    buffered = await cases.message(handle, "approve", {"approved_by": "board"}, actor=board)
    assert buffered.buffered
    assert buffered.received_by == []
    await cases.complete(handle, "Prepare")
    result = await handle.result()
    assert result.variables["approved_by"] == "board"
    await record_history(handle, "engine_message_buffered")


async def test_message_sender_must_be_a_candidate(cases: Cases):
    cases.deploy(MESSAGES)
    handle = await cases.start("messages")
    await cases.complete(handle, "Prepare")
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await cases.message(handle, "approve", actor=region("SE-AB"))
    assert caught.value.cause.type == "Forbidden"
    board = Actor(subject="chair", org="SE-NHV-NAMND", roles=["board"])
    delivered = await cases.message(handle, "approve", actor=board)
    assert delivered.received_by == ["Approval"]
    await handle.result()


ERRORS = bpmn("""
<bpmn:error id="ENotSuitable" name="not suitable" errorCode="NOT_SUITABLE"/>
<bpmn:process id="errors" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:subProcess id="Review" name="Genomlysning">
    <bpmn:startEvent id="RStart"/>
    <bpmn:sequenceFlow id="r1" sourceRef="RStart" targetRef="Report"/>
    <bpmn:userTask id="Report"/>
    <bpmn:sequenceFlow id="r2" sourceRef="Report" targetRef="Suitable"/>
    <bpmn:exclusiveGateway id="Suitable" default="r4"/>
    <bpmn:sequenceFlow id="r3" sourceRef="Suitable" targetRef="Unsuitable">
      <bpmn:conditionExpression>=!suitable</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="r4" sourceRef="Suitable" targetRef="REnd"/>
    <bpmn:endEvent id="Unsuitable"><bpmn:errorEventDefinition errorRef="ENotSuitable"/></bpmn:endEvent>
    <bpmn:endEvent id="REnd"/>
  </bpmn:subProcess>
  <bpmn:boundaryEvent id="Caught" attachedToRef="Review">
    <bpmn:errorEventDefinition errorRef="ENotSuitable"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Referral"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Caught" targetRef="NoReferral"/>
  <bpmn:serviceTask id="Referral">
    <bpmn:extensionElements>
      <niva:taskDefinition type="bpmn_fail"/>
      <niva:input target="code" source="=code"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:boundaryEvent id="ReferralFailed" attachedToRef="Referral">
    <bpmn:errorEventDefinition/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f4" sourceRef="Referral" targetRef="Done"/>
  <bpmn:sequenceFlow id="f5" sourceRef="ReferralFailed" targetRef="Failed"/>
  <bpmn:endEvent id="NoReferral" name="Olämplig"/>
  <bpmn:endEvent id="Done" name="Klar"/>
  <bpmn:endEvent id="Failed" name="Remiss misslyckades"/>
</bpmn:process>
""")


async def test_error_end_in_subprocess_is_caught_by_its_boundary(cases: Cases, record_history):
    cases.deploy(ERRORS)
    handle = await cases.start("errors")
    await cases.complete(handle, "Report", {"suitable": False})
    assert (await handle.result()).outcome == "Olämplig"
    await record_history(handle, "engine_error_end_subprocess")


async def test_bpmn_error_from_activity_is_caught_by_catch_all_boundary(cases: Cases):
    cases.deploy(ERRORS)
    handle = await cases.start("errors", {"code": "RECIPIENT_UNKNOWN"})
    await cases.complete(handle, "Report", {"suitable": True})
    assert (await handle.result()).outcome == "Remiss misslyckades"
