"""Camunda 8 user task listeners on the time-skipping server, served by a test job worker.

A user task's creating listeners run after its start listeners, before the task opens:
their jobs see the task's assignment in Zeebe's headers and may correct it (the task opens
with the correction). Its completing listeners run once a completion is accepted, before
the outputs are mapped and the end listeners run; one that denies reopens the task, and the
trail keeps the denied submission. A failing task listener is an incident whose retry runs
it again; a task listener's job that returns variables is an incident too (Camunda's rule).
An interrupting event ends a running completing listener with the task, and the trail keeps
the submission it discards.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio.client import Client

from service_contract import JobCall
from tests.support.case_waits import ended, retry, until_state
from tests.support.job_worker import (  # noqa: F401 (the fixtures)
    JobWorker,
    job_worker_cases,
    jobs_queue_fixture,
    returning,
    running_job_worker,
    time_skipping_client,
)
from tests.workflows.harness import OFFICER, Cases
from workflows.listeners import LISTENER_KIND

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_task_listeners"
    targetNamespace="http://bpmn.io/schema/bpmn">
"""


def camunda8(body: str) -> str:
    return HEADER + body + "\n</bpmn:definitions>\n"


# Written after camunda/camunda-platform-tutorials' quick-start task listener model (that
# repository states no license at its root, so it is not copied): a user task without an
# assignee, assigned by its creating listener.
REVIEW = camunda8("""
  <bpmn:process id="c8-task-listeners" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
    <bpmn:userTask id="Review" name="Assigned by creating task listener">
      <bpmn:extensionElements>
        <zeebe:userTask/>
        <zeebe:assignmentDefinition candidateGroups="registrator"/>
        <zeebe:taskHeaders><zeebe:header key="team" value="permits"/></zeebe:taskHeaders>
        <zeebe:ioMapping><zeebe:output source="=decision" target="outcome"/></zeebe:ioMapping>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="prepare-review"/>
          <zeebe:executionListener eventType="end" type="archive"/>
        </zeebe:executionListeners>
        <zeebe:taskListeners>
          <zeebe:taskListener eventType="creating" type="assign_new_task"/>
          <zeebe:taskListener eventType="complete" type="check-decision"/>
          <zeebe:taskListener eventType="completing" type="stamp-decision"/>
        </zeebe:taskListeners>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
""")


async def assign_new_task(job: JobCall) -> dict[str, Any]:
    # The task's assignment so far is in Zeebe's headers; the listener assigns it.
    assert json.loads(job.headers["io.camunda.zeebe:candidateGroups"]) == ["registrator"]
    assert "io.camunda.zeebe:assignee" not in job.headers
    return {"corrections": {"assignee": job.variables["reviewer"]}}


async def check_decision(job: JobCall) -> dict[str, Any]:
    if job.variables.get("decision") not in ("granted", "refused"):
        return {"denied": True, "deniedReason": "a decision is granted or refused"}
    return {}


async def archive(job: JobCall) -> dict[str, Any]:
    return {"archived": job.variables["outcome"]}


async def test_task_listeners_assign_the_task_and_deny_a_bad_completion(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker(
        {
            "prepare-review": returning(reviewer=OFFICER.subject),
            "assign_new_task": assign_new_task,
            "check-decision": check_decision,
            "stamp-decision": returning(),
            "archive": archive,
        }
    )
    cases.deploy(REVIEW)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-task-listeners")
        state = await until_state(cases, handle, lambda s: "Review" in s.activities)
        # The creating listener's correction: the task is the officer's alone.
        task = state.activities["Review"]
        assert (task.candidate_users, task.candidate_groups) == ([OFFICER.subject], [])
        assert [call.type for call in jobs.calls] == ["prepare-review", "assign_new_task"]
        await cases.complete(handle, "Review", {"decision": "maybe"})
        state = await until_state(
            cases, handle, lambda s: any(e.kind == "task_completion_denied" for e in s.audit)
        )
        # Denied: the task is open again, the next completing listener did not run, and
        # the trail says what was denied and why.
        assert "Review" in state.activities
        assert "Review" not in state.completed_tasks
        assert jobs.attempts("stamp-decision") == 0
        [denied] = [e for e in state.audit if e.kind == "task_completion_denied"]
        assert (denied.task_id, denied.actor) == ("Review", OFFICER.subject)
        assert denied.detail == "a decision is granted or refused"
        assert denied.payload_digest is not None
        await cases.complete(handle, "Review", {"decision": "granted"})
        result = await ended(handle)
    assert [call.type for call in jobs.calls] == [
        "prepare-review",
        "assign_new_task",
        "check-decision",
        "check-decision",
        "stamp-decision",
        "archive",
    ]
    check = [call for call in jobs.calls if call.type == "check-decision"][-1]
    # A task listener's job is told about the task, with the task's own headers.
    assert check.headers["io.camunda.zeebe:action"] == "complete"
    assert check.headers["io.camunda.zeebe:userTaskKey"] == "Review"
    assert check.headers["io.camunda.zeebe:assignee"] == OFFICER.subject
    assert check.headers["team"] == "permits"
    # The outputs were mapped after the completing listeners, before the end listener.
    assert result.variables == {"outcome": "granted", "archived": "granted"}


# --- failures -----------------------------------------------------------------------------

FLAKY = camunda8("""
  <bpmn:process id="c8-flaky-task-listener" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
    <bpmn:userTask id="Review">
      <bpmn:extensionElements>
        <zeebe:taskListeners>
          <zeebe:taskListener eventType="creating" type="directory" retries="2"/>
          <zeebe:taskListener eventType="completing" type="chatty"/>
        </zeebe:taskListeners>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
""")


async def directory(job: JobCall) -> dict[str, Any]:
    if not job.variables.get("directory_up"):
        raise RuntimeError("the staff directory is down")
    return {"corrections": {"candidateUsers": [OFFICER.subject]}}


async def chatty(job: JobCall) -> dict[str, Any]:
    if job.variables.get("quiet"):
        return {}
    return {"note": "task listeners return no variables"}


async def test_failing_task_listeners_are_incidents_whose_retry_runs_them_again(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker({"directory": directory, "chatty": chatty})
    cases.deploy(FLAKY)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-flaky-task-listener")
        state = await until_state(cases, handle, lambda s: s.incidents)
        [incident] = state.incidents.values()
        # The listener's retries (2), then an incident on it; the task has not opened.
        assert jobs.attempts("directory") == 2
        assert "Review" not in state.activities
        assert state.activities[incident.activity_id or ""].kind == LISTENER_KIND
        assert "the staff directory is down" in incident.message
        await retry(handle, incident.id, directory_up=True)
        state = await until_state(cases, handle, lambda s: "Review" in s.activities)
        assert state.activities["Review"].candidate_users == [OFFICER.subject]
        await cases.complete(handle, "Review", {})
        state = await until_state(cases, handle, lambda s: s.incidents)
        # A task listener that returns variables: an incident (Camunda refuses it too).
        [incident] = state.incidents.values()
        assert "returns no variables" in incident.message
        assert "note" in incident.message
        await retry(handle, incident.id, quiet=True)
        result = await ended(handle)
    assert result.outcome == "End"
    assert jobs.attempts("chatty") == 2
    assert "note" not in result.variables


# --- interrupted while completing ---------------------------------------------------------

WITHDRAWN = camunda8("""
  <bpmn:message id="MWithdraw" name="withdraw"/>
  <bpmn:process id="c8-withdrawn-while-completing" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
    <bpmn:userTask id="Review">
      <bpmn:extensionElements>
        <zeebe:taskListeners>
          <zeebe:taskListener eventType="completing" type="no-worker-serves-this"/>
        </zeebe:taskListeners>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="Withdraw" attachedToRef="Review">
      <bpmn:messageEventDefinition messageRef="MWithdraw"/>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
    <bpmn:endEvent id="End"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Withdraw" targetRef="Withdrawn"/>
    <bpmn:endEvent id="Withdrawn"/>
  </bpmn:process>
""")


async def test_interrupting_event_ends_a_completing_listener_and_keeps_the_submission(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker({"unused": returning()})
    cases.deploy(WITHDRAWN)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-withdrawn-while-completing")
        await until_state(cases, handle, lambda s: "Review" in s.activities)
        await cases.complete(handle, "Review", {"decision": "granted"})
        state = await until_state(
            cases, handle, lambda s: any(a.kind == LISTENER_KIND for a in s.activities.values())
        )
        # The completion is accepted: the task is no one's to complete any more.
        assert (await cases.view(handle)).open_tasks == []
        await cases.message(handle, "withdraw")
        result = await ended(handle)
        state = await cases.internal(handle)
    assert result.outcome == "Withdrawn"
    assert "decision" not in result.variables
    [discarded] = [e for e in state.audit if e.kind == "submission_discarded"]
    assert (discarded.task_id, discarded.actor) == ("Review", OFFICER.subject)
