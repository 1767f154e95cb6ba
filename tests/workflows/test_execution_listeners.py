"""Camunda 8 execution listeners on the time-skipping server, served by a test job worker.

Start listeners run one after another before the element's own work, their variables
local to the element (its job and its assignee see them, the case does not); end
listeners run after the element completed and its outputs were mapped, their variables
the case's; the process's run before its start event is left and before the case ends. A
failing listener is an incident whose retry runs that listener again (not the ones before
it); an interrupting event cancels a listener that is running. The last test drives the
interpreter alone: end listeners follow the output mappings, and the process's end
listeners also run when the case's last token ends where no flow leads on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client

from process_models.deployments import ModelFile, ModelStore
from process_models.store import FileBlobStore
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
from tests.workflows.harness import OFFICER, Cases, registry_with_test_types
from workflows.effects import StartService
from workflows.interpreter import Interpreter
from workflows.listeners import LISTENER_KIND
from workflows.model import load_model
from workflows.state import InstanceState

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_listeners"
    targetNamespace="http://bpmn.io/schema/bpmn">
"""


def camunda8(body: str) -> str:
    return HEADER + body + "\n</bpmn:definitions>\n"


# --- order, variables, process listeners --------------------------------------------------

PERMIT = camunda8("""
  <bpmn:process id="c8-listeners" isExecutable="true">
    <bpmn:extensionElements>
      <zeebe:executionListeners>
        <zeebe:executionListener eventType="start" type="open-case"/>
        <zeebe:executionListener eventType="end" type="close-case"/>
      </zeebe:executionListeners>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fetch"/>
    <bpmn:serviceTask id="Fetch">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="fetch-register"/>
        <zeebe:taskHeaders><zeebe:header key="register" value="SE"/></zeebe:taskHeaders>
        <zeebe:ioMapping><zeebe:input source="=amount * 2" target="limit"/></zeebe:ioMapping>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="prepare"/>
          <zeebe:executionListener eventType="start" type="stamp"/>
          <zeebe:executionListener eventType="end" type="audit"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Fetch" targetRef="Review"/>
    <bpmn:userTask id="Review">
      <bpmn:extensionElements>
        <zeebe:assignmentDefinition assignee="=reviewer"/>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="pick-reviewer"/>
          <zeebe:executionListener eventType="end" type="archive"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="Review" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
""")


async def prepare(job: JobCall) -> dict[str, Any]:
    # A start listener sees the element's input mappings.
    return {"ticket": f"T-{job.variables['limit']}", "step": 1}


async def fetch_register(job: JobCall) -> dict[str, Any]:
    return {"fetched": job.variables["ticket"], "fetched_at_step": job.variables["step"]}


async def archive(job: JobCall) -> dict[str, Any]:
    return {"archived": job.variables["decision"]}


async def test_listeners_run_in_order_around_tasks_and_the_process(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker(
        {
            "open-case": returning(opened=True),
            "prepare": prepare,
            "stamp": returning(step=2),
            "fetch-register": fetch_register,
            "audit": returning(audited=True),
            "pick-reviewer": returning(reviewer=OFFICER.subject),
            "archive": archive,
            "close-case": returning(closed=True),
        }
    )
    cases.deploy(PERMIT)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-listeners", {"amount": 21})
        state = await until_state(cases, handle, lambda s: "Review" in s.activities)
        # The start listener's variable ``reviewer`` made the task the officer's; it is
        # the task's own, not the case's.
        assert state.activities["Review"].candidate_users == [OFFICER.subject]
        assert "reviewer" not in state.variables
        await cases.complete(handle, "Review", {"decision": "granted"})
        result = await ended(handle)
    assert [call.type for call in jobs.calls] == [
        "open-case",
        "prepare",
        "stamp",
        "fetch-register",
        "audit",
        "pick-reviewer",
        "archive",
        "close-case",
    ]
    by_type = {call.type: call for call in jobs.calls}
    # Each listener's job is told which element it listens to, with the element's headers.
    assert by_type["prepare"].element_id == "Fetch"
    assert by_type["prepare"].headers == {"register": "SE"}
    assert by_type["prepare"].variables["opened"] is True
    # The second start listener sees the first's variables, the task's job both.
    assert by_type["stamp"].variables["ticket"] == "T-42"
    assert by_type["fetch-register"].variables["step"] == 2
    # The end listener runs after the job's result merged, before the token leaves.
    assert by_type["audit"].variables["fetched"] == "T-42"
    assert "audited" not in by_type["fetch-register"].variables
    assert by_type["close-case"].variables["archived"] == "granted"
    variables = result.variables
    assert variables["fetched"] == "T-42"
    assert variables["fetched_at_step"] == 2
    # End listeners write to the case, start listeners of a task only to the task.
    assert (variables["opened"], variables["audited"], variables["closed"]) == (True,) * 3
    assert variables["archived"] == "granted"
    for local in ("ticket", "step", "limit", "reviewer"):
        assert local not in variables


# --- a failing listener -------------------------------------------------------------------

FLAKY = camunda8("""
  <bpmn:process id="c8-flaky-listener" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Register"/>
    <bpmn:serviceTask id="Register">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="register-permit"/>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="first"/>
          <zeebe:executionListener eventType="start" type="flaky" retries="2"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Register" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
""")


async def flaky(job: JobCall) -> dict[str, Any]:
    if not job.variables.get("register_up"):
        raise RuntimeError("the register is down")
    return {}


async def test_failing_listener_is_an_incident_whose_retry_runs_that_listener(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker(
        {"first": returning(), "flaky": flaky, "register-permit": returning(permit="P-1")}
    )
    cases.deploy(FLAKY)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-flaky-listener")
        state = await until_state(cases, handle, lambda s: s.incidents)
        [incident] = state.incidents.values()
        # The listener's retries (2), then an incident on it; the task has not started.
        assert jobs.attempts("flaky") == 2
        assert jobs.attempts("register-permit") == 0
        assert incident.element_id == "Register"
        assert incident.activity_id is not None
        assert state.activities[incident.activity_id].kind == LISTENER_KIND
        assert "the register is down" in incident.message
        await retry(handle, incident.id, register_up=True)
        result = await ended(handle)
    # Only the failed listener ran again, then the task.
    assert jobs.attempts("first") == 1
    assert jobs.attempts("flaky") == 3
    assert result.variables["permit"] == "P-1"


# --- interrupted ----------------------------------------------------------------------------

WITHDRAWN = camunda8("""
  <bpmn:message id="MWithdraw" name="withdraw"/>
  <bpmn:process id="c8-withdrawn" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Register"/>
    <bpmn:serviceTask id="Register">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="register-permit"/>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="no-worker-serves-this"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Register" targetRef="End"/>
    <bpmn:endEvent id="End"/>
    <bpmn:subProcess id="Withdrawal" triggeredByEvent="true">
      <bpmn:startEvent id="WithdrawStart" isInterrupting="true">
        <bpmn:messageEventDefinition messageRef="MWithdraw"/>
      </bpmn:startEvent>
      <bpmn:sequenceFlow id="w1" sourceRef="WithdrawStart" targetRef="Withdrawn"/>
      <bpmn:endEvent id="Withdrawn"/>
    </bpmn:subProcess>
  </bpmn:process>
""")


async def test_interrupting_event_cancels_a_running_listener(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker({"register-permit": returning()})
    cases.deploy(WITHDRAWN)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-withdrawn")
        state = await until_state(
            cases, handle, lambda s: any(a.kind == LISTENER_KIND for a in s.activities.values())
        )
        [listener] = state.activities.values()
        assert listener.element_id == "Register"
        await cases.message(handle, "withdraw")
        result = await ended(handle)
    assert result.outcome == "Withdrawn"
    assert jobs.attempts("register-permit") == 0


# --- the interpreter alone: outputs before end listeners, an implicit end ------------------

IMPLICIT = camunda8("""
  <bpmn:process id="c8-implicit-end" isExecutable="true">
    <bpmn:extensionElements>
      <zeebe:executionListeners>
        <zeebe:executionListener eventType="end" type="close-case"/>
      </zeebe:executionListeners>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Decide"/>
    <bpmn:userTask id="Decide">
      <bpmn:extensionElements>
        <zeebe:ioMapping><zeebe:output source="=decision" target="outcome"/></zeebe:ioMapping>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="end" type="notify-applicant"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:userTask>
  </bpmn:process>
""")


def _only_job(interpreter: Interpreter) -> StartService:
    [effect] = interpreter.take_effects()
    assert isinstance(effect, StartService)
    return effect


def test_end_listeners_follow_the_outputs_and_the_case_ends_after_its_own(tmp_path: Path):
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="implicit.bpmn", content=IMPLICIT.encode())])
    state = InstanceState(process_id="c8-implicit-end", version=1, business_key="k", title="C")
    interpreter = Interpreter(load_model(store.source("c8-implicit-end")), state)
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    interpreter.complete_task(
        "Decide", {"decision": "granted"}, actor="bo", org=None, idempotency_key=None, now=NOW
    )
    interpreter.run(NOW)
    # The task's outputs are mapped before its end listener runs.
    assert interpreter.state.variables == {"outcome": "granted"}
    notify = _only_job(interpreter)
    assert (notify.type, notify.element_id) == ("notify-applicant", "Decide")
    interpreter.service_succeeded(notify.activity_id, {"notified": True}, NOW, merge=True)
    interpreter.run(NOW)
    # The task has no outgoing flow: its token ends there, the last of the case, so the
    # process's end listener runs before the case ends.
    assert not interpreter.state.ended
    close = _only_job(interpreter)
    assert close.type == "close-case"
    interpreter.service_succeeded(close.activity_id, {"closed": True}, NOW, merge=True)
    interpreter.run(NOW)
    assert interpreter.state.ended
    assert interpreter.state.variables == {"outcome": "granted", "notified": True, "closed": True}
