"""Camunda 8 execution listeners on the time-skipping server, served by a test job worker.

Start listeners run one after another before the element's own work, their variables
local to the element (its job and its assignee see them, the case does not; a gateway's
conditions and a subprocess's inner elements see them too); end listeners run after the
element completed and its outputs were mapped, their variables the case's; the process's
run before its start event is left and before the case ends. They run where Camunda's
table has them: around tasks, catch, throw and end events, subprocesses and call
activities, after start and boundary events, before gateways (a parallel or inclusive
join's once each time it fires: tokens that arrive while its listener runs wait for its
next firing), and for each instance of a multi-instance activity, never for its body. A
failing listener is an incident whose retry runs that listener again (not the ones before
it); an interrupting event cancels a listener that is running. Some tests drive the
interpreter alone: end listeners follow the output mappings, the process's end listeners
also run when the case's last token ends where no flow leads on, interrupting a
multi-instance ends the listeners its instances run, two tokens at a gateway are each
routed by their own listener, and an inclusive join forks by its listener's variables.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
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


def _started(tmp_path: Path, xml: str, process_id: str) -> Interpreter:
    """An interpreter of ``process_id`` deployed from ``xml``, its case started (not run)."""
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name=f"{process_id}.bpmn", content=xml.encode())])
    state = InstanceState(process_id=process_id, version=1, business_key="k", title="C")
    interpreter = Interpreter(load_model(store.source(process_id)), state)
    interpreter.start(NOW, start_event=None, actor=None)
    return interpreter


def test_end_listeners_follow_the_outputs_and_the_case_ends_after_its_own(tmp_path: Path):
    interpreter = _started(tmp_path, IMPLICIT, "c8-implicit-end")
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


# --- events and gateways ------------------------------------------------------------------

EVENTS = camunda8("""
  <bpmn:message id="MGo" name="go"/>
  <bpmn:process id="c8-event-listeners" isExecutable="true">
    <bpmn:extensionElements>
      <zeebe:executionListeners>
        <zeebe:executionListener eventType="end" type="closed"/>
      </zeebe:executionListeners>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="end" type="started"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Route"/>
    <bpmn:exclusiveGateway id="Route" default="toSlow">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="route"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="toFast" sourceRef="Route" targetRef="Fork">
      <bpmn:conditionExpression>=lane = "fast"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="toSlow" sourceRef="Route" targetRef="Slow"/>
    <bpmn:endEvent id="Slow"/>
    <bpmn:parallelGateway id="Fork">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="fork"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:parallelGateway>
    <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="Mark"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="Wait"/>
    <bpmn:intermediateThrowEvent id="Mark">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="mark-start"/>
          <zeebe:executionListener eventType="end" type="mark-end"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:intermediateThrowEvent>
    <bpmn:intermediateCatchEvent id="Wait">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="wait-start"/>
          <zeebe:executionListener eventType="end" type="wait-end"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
      <bpmn:messageEventDefinition messageRef="MGo"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f4" sourceRef="Mark" targetRef="Join"/>
    <bpmn:sequenceFlow id="f5" sourceRef="Wait" targetRef="Join"/>
    <bpmn:parallelGateway id="Join">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="join"/>
          <zeebe:executionListener eventType="start" type="join-again"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:parallelGateway>
    <bpmn:sequenceFlow id="f6" sourceRef="Join" targetRef="Done"/>
    <bpmn:endEvent id="Done">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="done-start"/>
          <zeebe:executionListener eventType="end" type="done-end"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:endEvent>
  </bpmn:process>
""")


async def test_listeners_run_around_events_and_at_gateways(
    cases: Cases, client: Client, jobs_queue: str
):
    names = (
        "started",
        "fork",
        "mark-start",
        "mark-end",
        "wait-start",
        "wait-end",
        "join",
        "join-again",
        "done-start",
        "closed",
    )
    jobs = JobWorker(
        {
            **{name: returning(**{name.replace("-", "_"): True}) for name in names},
            # The gateway's start listener decides its way: a local variable of the gateway.
            "route": returning(lane="fast"),
            "done-end": returning(outcome_seen=True),
        }
    )
    cases.deploy(EVENTS)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-event-listeners")
        # The catch event subscribes once its start listener has run.
        await until_state(cases, handle, lambda s: s.subscriptions and jobs.attempts("mark-end"))
        assert jobs.attempts("wait-start") == 1
        assert jobs.attempts("wait-end") == 0
        await cases.message(handle, "go")
        result = await ended(handle)
    order = [call.type for call in jobs.calls]
    # Every listener ran once: the join's only when it fired, not for each arriving token.
    assert sorted(order) == sorted([*names, "route", "done-end"])
    assert order[:3] == ["started", "route", "fork"]
    assert order.index("mark-start") < order.index("mark-end")
    assert order[-6:] == ["wait-end", "join", "join-again", "done-start", "done-end", "closed"]
    assert result.outcome == "Done"
    variables = result.variables
    # A start event's, a throw's, a catch's and an end event's end listeners write to the
    # case; start listeners of events and gateways only to the element.
    for written in ("started", "mark_end", "wait_end", "outcome_seen", "closed"):
        assert variables[written] is True
    for local in ("lane", "fork", "mark_start", "wait_start", "join", "join_again", "done_start"):
        assert local not in variables


# --- subprocesses, call activities, boundary events -----------------------------------------

SCOPES = camunda8("""
  <bpmn:message id="MWithdraw2" name="withdraw"/>
  <bpmn:process id="c8-scope-listeners" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Sub"/>
    <bpmn:subProcess id="Sub">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="sub-start"/>
          <zeebe:executionListener eventType="end" type="sub-end"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
      <bpmn:startEvent id="SubStart"/>
      <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="Inner"/>
      <bpmn:serviceTask id="Inner">
        <bpmn:extensionElements>
          <zeebe:taskDefinition type="inner"/>
        </bpmn:extensionElements>
      </bpmn:serviceTask>
      <bpmn:sequenceFlow id="s2" sourceRef="Inner" targetRef="SubEnd"/>
      <bpmn:endEvent id="SubEnd"/>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f2" sourceRef="Sub" targetRef="Call"/>
    <bpmn:callActivity id="Call">
      <bpmn:extensionElements>
        <zeebe:calledElement processId="c8-listener-child"/>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="call-start"/>
          <zeebe:executionListener eventType="end" type="call-end"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:callActivity>
    <bpmn:sequenceFlow id="f3" sourceRef="Call" targetRef="Review"/>
    <bpmn:userTask id="Review"/>
    <bpmn:boundaryEvent id="Withdraw" attachedToRef="Review">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="end" type="withdrawn"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
      <bpmn:messageEventDefinition messageRef="MWithdraw2"/>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f4" sourceRef="Review" targetRef="End"/>
    <bpmn:endEvent id="End"/>
    <bpmn:sequenceFlow id="f5" sourceRef="Withdraw" targetRef="Withdrawn"/>
    <bpmn:endEvent id="Withdrawn"/>
  </bpmn:process>
""")

CHILD = camunda8("""
  <bpmn:process id="c8-listener-child" isExecutable="true">
    <bpmn:startEvent id="ChildStart"/>
    <bpmn:sequenceFlow id="c1" sourceRef="ChildStart" targetRef="ChildWork"/>
    <bpmn:serviceTask id="ChildWork">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="child-work"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="c2" sourceRef="ChildWork" targetRef="ChildEnd"/>
    <bpmn:endEvent id="ChildEnd"/>
  </bpmn:process>
""")


async def child_work(job: JobCall) -> dict[str, Any]:
    return {"child_saw": job.variables.get("ticket")}


async def inner(job: JobCall) -> dict[str, Any]:
    return {"inner_saw": job.variables.get("region")}


async def test_listeners_run_around_subprocesses_calls_and_boundary_events(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker(
        {
            "sub-start": returning(region="north"),
            "inner": inner,
            "sub-end": returning(sub_done=True),
            "call-start": returning(ticket="T-7"),
            "child-work": child_work,
            "call-end": returning(call_done=True),
            "withdrawn": returning(withdrawn=True),
        }
    )
    cases.deploy(SCOPES, CHILD)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-scope-listeners")
        await until_state(cases, handle, lambda s: "Review" in s.activities)
        await cases.message(handle, "withdraw")
        result = await ended(handle)
    assert [call.type for call in jobs.calls] == [
        "sub-start",
        "inner",
        "sub-end",
        "call-start",
        "child-work",
        "call-end",
        "withdrawn",
    ]
    assert result.outcome == "Withdrawn"
    variables = result.variables
    # A subprocess's start listener's variables are its scope's: its inner task sees them,
    # the case does not; a call activity's reach its child.
    assert variables["inner_saw"] == "north"
    assert "region" not in variables
    assert variables["child_saw"] == "T-7"
    assert "ticket" not in variables
    for written in ("sub_done", "call_done", "withdrawn"):
        assert variables[written] is True


# --- multi-instance: each instance, not the body ---------------------------------------------

EACH = camunda8("""
  <bpmn:process id="c8-each-listeners" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Handle"/>
    <bpmn:serviceTask id="Handle">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="handle"/>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="before-item"/>
          <zeebe:executionListener eventType="end" type="after-item"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
      <bpmn:multiInstanceLoopCharacteristics isSequential="true">
        <bpmn:extensionElements>
          <zeebe:loopCharacteristics inputCollection="=items" inputElement="item"
              outputCollection="handled" outputElement="=handled_item"/>
        </bpmn:extensionElements>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Handle" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
""")


async def before_item(job: JobCall) -> dict[str, Any]:
    return {"prepared": f"{job.variables['item']}-prepared"}


async def handle_item(job: JobCall) -> dict[str, Any]:
    return {"handled_item": job.variables["prepared"]}


async def test_multi_instance_runs_its_listeners_for_each_instance(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker({"before-item": before_item, "handle": handle_item, "after-item": returning()})
    cases.deploy(EACH)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-each-listeners", {"items": ["a", "b"]})
        result = await ended(handle)
    assert [(call.type, call.variables.get("item")) for call in jobs.calls] == [
        ("before-item", "a"),
        ("handle", "a"),
        ("after-item", "a"),
        ("before-item", "b"),
        ("handle", "b"),
        ("after-item", "b"),
    ]
    assert result.variables["handled"] == ["a-prepared", "b-prepared"]
    assert "prepared" not in result.variables


# --- the public models: an end listener on a (message) start event, failing once --------------

# Written after camunda-community-hub/camunda-8-examples' ProcessMetadataListener and
# event-processing test models (that repository states no license, so they are not copied):
# an end listener on the start event, on a none start and on a message start.
METADATA = camunda8("""
  <bpmn:message id="MRandom" name="random"/>
  <bpmn:process id="c8-start-listener" isExecutable="true">
    <bpmn:startEvent id="Started">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="end" type="metadata" retries="1"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Started" targetRef="Complete"/>
    <bpmn:endEvent id="Complete"/>
    <bpmn:startEvent id="Received">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="end" type="correlated"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
      <bpmn:messageEventDefinition messageRef="MRandom"/>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="Received" targetRef="Service1"/>
    <bpmn:serviceTask id="Service1">
      <bpmn:extensionElements><zeebe:taskDefinition type="service1"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f3" sourceRef="Service1" targetRef="Handled"/>
    <bpmn:endEvent id="Handled"/>
  </bpmn:process>
""")


async def flaky_metadata(job: JobCall) -> dict[str, Any]:
    if not job.variables.get("metadata_store_up"):
        raise RuntimeError("the metadata store is down")
    return {"metadata": {"element": job.element_id}}


async def test_start_event_end_listener_runs_and_its_failure_is_an_incident_retry_repairs(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker(
        {
            "metadata": flaky_metadata,
            "correlated": returning(acknowledged=True),
            "service1": returning(served=True),
        }
    )
    cases.deploy(METADATA)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-start-listener")
        state = await until_state(cases, handle, lambda s: s.incidents)
        [incident] = state.incidents.values()
        assert incident.element_id == "Started"
        assert state.activities[incident.activity_id or ""].kind == LISTENER_KIND
        assert "the metadata store is down" in incident.message
        await retry(handle, incident.id, metadata_store_up=True)
        result = await ended(handle)
        assert result.outcome == "Complete"
        assert result.variables["metadata"] == {"element": "Started"}
        by_message = await cases.start("c8-start-listener", start_event="Received")
        received = await ended(by_message)
    assert received.outcome == "Handled"
    assert [call.type for call in jobs.calls][-2:] == ["correlated", "service1"]
    assert received.variables["acknowledged"] is True
    assert received.variables["served"] is True


PARALLEL_EACH = camunda8("""
  <bpmn:message id="MStop" name="stop"/>
  <bpmn:process id="c8-parallel-each" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Handle"/>
    <bpmn:serviceTask id="Handle">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="handle"/>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="before-item"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:extensionElements>
          <zeebe:loopCharacteristics inputCollection="=items" inputElement="item"/>
        </bpmn:extensionElements>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:serviceTask>
    <bpmn:boundaryEvent id="Stop" attachedToRef="Handle">
      <bpmn:messageEventDefinition messageRef="MStop"/>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="Handle" targetRef="End"/>
    <bpmn:endEvent id="End"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Stop" targetRef="Stopped"/>
    <bpmn:endEvent id="Stopped"/>
  </bpmn:process>
""")


def test_interrupting_a_multi_instance_ends_the_listeners_its_instances_run(tmp_path: Path):
    interpreter = _started(tmp_path, PARALLEL_EACH, "c8-parallel-each")
    interpreter.state.variables["items"] = ["a", "b"]
    interpreter.run(NOW)
    # Each instance runs its start listener; the body none.
    started = interpreter.take_effects()
    assert [(e.type, e.inputs) for e in started if isinstance(e, StartService)] == [
        ("before-item", {}),
        ("before-item", {}),
    ]
    first, second = started
    assert isinstance(first, StartService)
    assert isinstance(second, StartService)
    interpreter.service_succeeded(first.activity_id, {}, NOW, merge=True)
    interpreter.run(NOW)
    [job] = interpreter.take_effects()
    assert isinstance(job, StartService)
    assert job.type == "handle"
    interpreter.correlate("stop", {}, actor="bo", org=None, now=NOW)
    interpreter.run(NOW)
    # The running job and the second instance's listener are cancelled, with every
    # instance's token and scope: only the boundary's way is left, and the case ends.
    cancelled = {e.activity_id for e in interpreter.take_effects() if e.kind == "cancel_service"}
    assert cancelled == {job.activity_id, second.activity_id}
    assert interpreter.state.ended
    assert interpreter.state.outcome == "Stopped"
    assert interpreter.state.scopes == {}
    assert interpreter.state.activities == {}


ESCALATED = camunda8("""
  <bpmn:escalation id="Esc" escalationCode="late"/>
  <bpmn:process id="c8-escalated" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Sub"/>
    <bpmn:subProcess id="Sub">
      <bpmn:startEvent id="SubStart"/>
      <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="Late"/>
      <bpmn:endEvent id="Late">
        <bpmn:extensionElements>
          <zeebe:executionListeners>
            <zeebe:executionListener eventType="start" type="before-escalating"/>
            <zeebe:executionListener eventType="end" type="never-runs"/>
          </zeebe:executionListeners>
        </bpmn:extensionElements>
        <bpmn:escalationEventDefinition escalationRef="Esc"/>
      </bpmn:endEvent>
    </bpmn:subProcess>
    <bpmn:boundaryEvent id="Caught" attachedToRef="Sub">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="end" type="after-catching"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
      <bpmn:escalationEventDefinition escalationRef="Esc"/>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="Sub" targetRef="End"/>
    <bpmn:endEvent id="End"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Caught" targetRef="Escalated"/>
    <bpmn:endEvent id="Escalated"/>
  </bpmn:process>
""")


def test_an_escalation_an_interrupting_catcher_caught_runs_no_end_listeners(tmp_path: Path):
    interpreter = _started(tmp_path, ESCALATED, "c8-escalated")
    interpreter.run(NOW)
    before = _only_job(interpreter)
    assert (before.type, before.element_id) == ("before-escalating", "Late")
    interpreter.service_succeeded(before.activity_id, {}, NOW, merge=True)
    interpreter.run(NOW)
    # The boundary caught the escalation and ended the subprocess with its end event: the
    # event's end listener does not run (Camunda's rule), the boundary's does.
    after = _only_job(interpreter)
    assert (after.type, after.element_id) == ("after-catching", "Caught")
    interpreter.service_succeeded(after.activity_id, {}, NOW, merge=True)
    interpreter.run(NOW)
    assert interpreter.state.ended
    assert interpreter.state.outcome == "Escalated"


# --- a join whose start listener runs while the next wave of tokens arrives --------------------


def _waves(join: str) -> str:
    """Three branches into a join (parallel or inclusive) with a start listener, each
    branch with two user tasks: the first of each completes one wave of tokens, the
    second the next."""
    flows = []
    for branch in "ABC":
        flows += [
            f'<bpmn:sequenceFlow id="to{branch}{wave}" sourceRef="Fork" targetRef="{branch}"/>'
            for wave in (1, 2)
        ]
        flows += [
            f'<bpmn:userTask id="{branch}"/>',
            f'<bpmn:sequenceFlow id="from{branch}" sourceRef="{branch}" targetRef="Join"/>',
        ]
    branches = "\n    ".join(flows)
    return camunda8(f"""
  <bpmn:process id="c8-join-waves" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
    <bpmn:parallelGateway id="Fork"/>
    {branches}
    <bpmn:{join} id="Join">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="join"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:{join}>
    <bpmn:sequenceFlow id="f2" sourceRef="Join" targetRef="After"/>
    <bpmn:userTask id="After"/>
    <bpmn:sequenceFlow id="f3" sourceRef="After" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
""")


class Gate:
    """A job handler that holds every job until the test opens the gate."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()

    async def __call__(self, job: JobCall) -> dict[str, Any]:
        await self.opened.wait()
        return {"joined": True}


@pytest.mark.parametrize("join", ["parallelGateway", "inclusiveGateway"])
async def test_tokens_reaching_a_join_while_its_start_listener_runs_wait_for_its_next_firing(
    join: str, cases: Cases, client: Client, jobs_queue: str
):
    gate = Gate()
    jobs = JobWorker({"join": gate})
    cases.deploy(_waves(join))
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-join-waves")
        for task_id in ("A", "B", "C"):
            await cases.complete(handle, task_id)
        # The first wave fired the join; its listener's job is held.
        await until_state(cases, handle, lambda s: jobs.attempts("join") == 1)
        # The second wave arrives while it runs: its tokens are not merged with the token
        # the first firing made, they fire the join a second time.
        for task_id in ("A#2", "B#2", "C#2"):
            await cases.complete(handle, task_id)
        state = await until_state(cases, handle, lambda s: jobs.attempts("join") == 2)
        at_join = [t.id for t in state.tokens.values() if t.node_id == "Join"]
        listening = sorted(a.token_id for a in state.activities.values() if a.kind == LISTENER_KIND)
        assert sorted(at_join) == listening
        assert len(listening) == 2
        gate.opened.set()
        # Each firing leaves once its own listener has run: nothing waits at the join.
        state = await until_state(
            cases, handle, lambda s: not any(a.kind == LISTENER_KIND for a in s.activities.values())
        )
        assert sorted(a.element_id for a in state.activities.values()) == ["After", "After"]
        assert not [t for t in state.tokens.values() if t.node_id == "Join"]
        for task_id in ("After", "After#2"):
            await cases.complete(handle, task_id)
        result = await ended(handle)
    assert result.outcome == "End"
    # The join's start listener ran once for each firing; its variables were the join's.
    assert jobs.attempts("join") == 2
    assert "joined" not in result.variables


# --- the interpreter alone: two tokens at a gateway whose start listener runs -----------------


def _routed(kind: str) -> str:
    """Two tokens reach a forking gateway with a start listener one after the other (the
    second while the first one's listener runs); the listener's ``lane`` routes each."""
    return camunda8(f"""
  <bpmn:process id="c8-routed-twice" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
    <bpmn:parallelGateway id="Fork"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="Merge"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="Prepare"/>
    <bpmn:userTask id="Prepare"/>
    <bpmn:sequenceFlow id="f4" sourceRef="Prepare" targetRef="Merge"/>
    <bpmn:exclusiveGateway id="Merge"/>
    <bpmn:sequenceFlow id="f5" sourceRef="Merge" targetRef="Route"/>
    <bpmn:{kind} id="Route" default="toSlow">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="route"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:{kind}>
    <bpmn:sequenceFlow id="toFast" sourceRef="Route" targetRef="Fast">
      <bpmn:conditionExpression>=lane = "fast"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="toSlow" sourceRef="Route" targetRef="Slow"/>
    <bpmn:userTask id="Fast"/>
    <bpmn:userTask id="Slow"/>
  </bpmn:process>
""")


@pytest.mark.parametrize("kind", ["exclusiveGateway", "inclusiveGateway"])
def test_each_token_at_a_gateway_is_routed_by_its_own_start_listener(kind: str, tmp_path: Path):
    interpreter = _started(tmp_path, _routed(kind), "c8-routed-twice")
    interpreter.run(NOW)
    first = _only_job(interpreter)
    assert (first.type, first.element_id) == ("route", "Route")
    interpreter.complete_task("Prepare", {}, actor="bo", org=None, idempotency_key=None, now=NOW)
    interpreter.run(NOW)
    second = _only_job(interpreter)
    assert (second.type, second.element_id) == ("route", "Route")
    # The later token's listener returns first; each token goes its own listener's way.
    interpreter.service_succeeded(second.activity_id, {"lane": "fast"}, NOW, merge=True)
    interpreter.run(NOW)
    assert [a.element_id for a in interpreter.open_tasks()] == ["Fast"]
    interpreter.service_succeeded(first.activity_id, {"lane": "slow"}, NOW, merge=True)
    interpreter.run(NOW)
    assert [a.element_id for a in interpreter.open_tasks()] == ["Fast", "Slow"]
    assert "lane" not in interpreter.state.variables


INCLUSIVE_JOIN = camunda8("""
  <bpmn:process id="c8-inclusive-join" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Split"/>
    <bpmn:inclusiveGateway id="Split"/>
    <bpmn:sequenceFlow id="toA" sourceRef="Split" targetRef="A">
      <bpmn:conditionExpression>=true</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="toB" sourceRef="Split" targetRef="B">
      <bpmn:conditionExpression>=false</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:userTask id="A"/>
    <bpmn:userTask id="B"/>
    <bpmn:sequenceFlow id="fromA" sourceRef="A" targetRef="Join"/>
    <bpmn:sequenceFlow id="fromB" sourceRef="B" targetRef="Join"/>
    <bpmn:inclusiveGateway id="Join" default="toSlow">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="route"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:inclusiveGateway>
    <bpmn:sequenceFlow id="toFast" sourceRef="Join" targetRef="Fast">
      <bpmn:conditionExpression>=lane = "fast"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="toSlow" sourceRef="Join" targetRef="Slow"/>
    <bpmn:userTask id="Fast"/>
    <bpmn:userTask id="Slow"/>
  </bpmn:process>
""")


def test_an_inclusive_join_runs_its_start_listener_when_it_fires_and_forks_by_its_variables(
    tmp_path: Path,
):
    interpreter = _started(tmp_path, INCLUSIVE_JOIN, "c8-inclusive-join")
    interpreter.run(NOW)
    assert interpreter.take_effects() == []
    interpreter.complete_task("A", {}, actor="bo", org=None, idempotency_key=None, now=NOW)
    interpreter.run(NOW)
    # No token can reach the flow from B: the join fires, and its listener runs first.
    route = _only_job(interpreter)
    assert (route.type, route.element_id) == ("route", "Join")
    assert interpreter.open_tasks() == []
    interpreter.service_succeeded(route.activity_id, {"lane": "fast"}, NOW, merge=True)
    interpreter.run(NOW)
    # The listener's variable, the join's own, chose the way out; it ran once.
    assert [a.element_id for a in interpreter.open_tasks()] == ["Fast"]
    assert interpreter.take_effects() == []
    assert "lane" not in interpreter.state.variables


def test_an_inclusive_join_with_no_way_out_after_its_listener_is_an_incident_retry_repairs(
    tmp_path: Path,
):
    no_default = INCLUSIVE_JOIN.replace(' default="toSlow"', "").replace(
        '<bpmn:sequenceFlow id="toSlow" sourceRef="Join" targetRef="Slow"/>',
        '<bpmn:sequenceFlow id="toSlow" sourceRef="Join" targetRef="Slow">'
        "<bpmn:conditionExpression>=slow_ok = true</bpmn:conditionExpression>"
        "</bpmn:sequenceFlow>",
    )
    interpreter = _started(tmp_path, no_default, "c8-inclusive-join")
    interpreter.run(NOW)
    interpreter.complete_task("A", {}, actor="bo", org=None, idempotency_key=None, now=NOW)
    interpreter.run(NOW)
    route = _only_job(interpreter)
    interpreter.service_succeeded(route.activity_id, {"lane": "none"}, NOW, merge=True)
    interpreter.run(NOW)
    # No condition holds: the joined token is parked at the join in an incident.
    [incident] = interpreter.state.incidents.values()
    [token] = interpreter.state.tokens.values()
    assert (incident.kind, incident.element_id, incident.token_id) == ("gateway", "Join", token.id)
    assert token.status == "incident"
    interpreter.retry_incident(incident.id, {"slow_ok": True}, actor="bo", now=NOW)
    interpreter.run(NOW)
    # The retry forks again with the listener's variables; the listener does not run again.
    assert interpreter.take_effects() == []
    assert [a.element_id for a in interpreter.open_tasks()] == ["Slow"]
    assert interpreter.state.incidents == {}
