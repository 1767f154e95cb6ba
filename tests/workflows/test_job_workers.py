"""Job workers on a real Temporal server: a task type niva does not implement runs as an
activity named by the type on the job workers' task queue (``NIVA_WORKER_JOBS_TASK_QUEUE``),
served here by a test job worker.

The envelope carries the variables the task sees and its inputs; result variables merge
into the process unless the task maps outputs; a BPMN error's variables reach the catching
event; other failures retry (3 attempts by default) and then park the task in an incident
that an operator's retry resolves, as does a result that is not an object of variables; a
job no worker takes waits, or with a schedule-to-start timeout becomes an incident. The
README's job worker, run with the SDK's default data converter, serves jobs as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.worker import Worker

from service_contract import JobCall
from tests.support.case_waits import ended, retry, until_state
from tests.support.job_worker import (  # noqa: F401 (the fixtures)
    JobWorker,
    job_bpmn_error,
    job_worker_cases,
    jobs_queue_fixture,
    running_job_worker,
    time_skipping_client,
)
from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn

# --- result variables ---------------------------------------------------------------------

CREDIT = bpmn("""
<bpmn:message id="MNotice" name="notice"/>
<bpmn:process id="credit" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Check"/>
  <bpmn:serviceTask id="Check" name="Check credit">
    <bpmn:extensionElements>
      <niva:taskDefinition type="check-credit"/>
      <niva:input target="amount" source="=requested * 2"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="Score"/>
  <bpmn:serviceTask id="Score">
    <bpmn:extensionElements>
      <niva:taskDefinition type="score"/>
      <niva:output target="score" source="=result.value"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f3" sourceRef="Score" targetRef="Echo"/>
  <bpmn:serviceTask id="Echo">
    <bpmn:extensionElements><niva:taskDefinition type="echo"/></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f4" sourceRef="Echo" targetRef="Notice"/>
  <bpmn:intermediateThrowEvent id="Notice">
    <bpmn:extensionElements><niva:taskDefinition type="publish-notice"/></bpmn:extensionElements>
    <bpmn:messageEventDefinition messageRef="MNotice"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f5" sourceRef="Notice" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def check_credit(job: JobCall) -> dict[str, Any]:
    amount = job.variables["amount"]
    assert isinstance(amount, int)
    return {"approved": amount <= 1000, "limit": 1000}


async def score(job: JobCall) -> dict[str, Any]:
    return {"value": 7, "unmapped": "not written"}


async def publish_notice(job: JobCall) -> None:
    return None


async def test_job_runs_on_the_jobs_queue_and_its_result_variables_merge(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker(
        {"check-credit": check_credit, "score": score, "publish-notice": publish_notice}
    )
    cases.deploy(CREDIT)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("credit", {"requested": 400, "applicant": "A. Berg"})
        result = await ended(handle)
    check, scored, notice = jobs.calls
    # The envelope, plus what the task sees: the variables, its inputs shadowing them.
    assert (check.type, check.element_id, check.task_id) == ("check-credit", "Check", "Check")
    assert check.case_id == handle.id
    assert check.process_id == "credit"
    assert check.inputs == {"amount": 800}
    assert check.variables == {"requested": 400, "applicant": "A. Berg", "amount": 800}
    assert check.headers == {}
    # Without outputs the result variables merge into the process; with outputs, only the
    # mapped ones are written; a niva type (echo) on the case's queue merges nothing.
    assert result.variables["approved"] is True
    assert result.variables["limit"] == 1000
    assert result.variables["score"] == 7
    assert "unmapped" not in result.variables
    assert "echoed" not in result.variables
    assert "amount" not in result.variables
    assert scored.variables["approved"] is True
    # A message throw event with a task definition runs as a job too (as in Zeebe).
    assert (notice.type, notice.element_id) == ("publish-notice", "Notice")
    assert activities_for_tests.CALLS[-1].task_id == "Echo"


# --- BPMN errors --------------------------------------------------------------------------

VERIFY = bpmn("""
<bpmn:error id="ERefused" errorCode="IdentityRefused"/>
<bpmn:process id="verify" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Verify"/>
  <bpmn:serviceTask id="Verify">
    <bpmn:extensionElements><niva:taskDefinition type="verify-identity"/></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Verify" targetRef="Done"/>
  <bpmn:endEvent id="Done"/>
  <bpmn:boundaryEvent id="Refused" attachedToRef="Verify">
    <bpmn:errorEventDefinition errorRef="ERefused"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="Refused" targetRef="Explain"/>
  <bpmn:userTask id="Explain"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Explain" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def verify_identity(job: JobCall) -> dict[str, Any]:
    raise job_bpmn_error(
        "IdentityRefused", "the register has no such person", {"reason": "no-match", "hits": 0}
    )


async def test_job_bpmn_error_is_caught_by_its_boundary_with_the_error_variables(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker({"verify-identity": verify_identity})
    cases.deploy(VERIFY)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("verify")
        state = await until_state(cases, handle, lambda s: "Explain" in s.activities)
    # Thrown once (a BPMN error is not retried), caught with its variables and message.
    assert jobs.attempts("verify-identity") == 1
    assert state.variables["reason"] == "no-match"
    assert state.variables["hits"] == 0
    [caught] = [e for e in state.audit if e.kind == "error_caught"]
    assert caught.element_id == "Refused"
    assert caught.detail == "IdentityRefused: the register has no such person"
    await cases.complete(handle, "Explain")
    assert (await ended(handle)).outcome == "End"


# --- failures, retries, incidents ---------------------------------------------------------

REGISTER = bpmn("""
<bpmn:process id="register" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Register"/>
  <bpmn:serviceTask id="Register">
    <bpmn:extensionElements><niva:taskDefinition type="register-permit"/></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Register" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def register_permit(job: JobCall) -> dict[str, Any]:
    if not job.variables.get("register_up"):
        raise RuntimeError("the permit register is down")
    return {"permit_no": "P-1"}


async def test_failing_job_retries_then_is_an_incident_that_a_retry_resolves(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker({"register-permit": register_permit})
    cases.deploy(REGISTER)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("register")
        state = await until_state(cases, handle, lambda s: s.incidents)
        [incident] = state.incidents.values()
        # The task's retries (none given: 3, Zeebe's default), then an incident on it.
        assert jobs.attempts("register-permit") == 3
        assert (incident.kind, incident.element_id, incident.activity_id) == (
            "activity",
            "Register",
            "Register",
        )
        assert "the permit register is down" in incident.message
        await retry(handle, incident.id, register_up=True)
        result = await ended(handle)
    assert jobs.attempts("register-permit") == 4
    assert jobs.calls[-1].task_id == "Register"
    assert result.variables["permit_no"] == "P-1"


async def list_permits(job: JobCall) -> Any:
    return ["P-1", "P-2"]


async def test_job_whose_result_is_not_an_object_of_variables_is_an_incident(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker({"register-permit": list_permits})
    cases.deploy(REGISTER)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("register")
        state = await until_state(cases, handle, lambda s: s.incidents)
    [incident] = state.incidents.values()
    assert incident.element_id == "Register"
    assert incident.message == (
        "job register-permit returned list, not a JSON object of result variables"
    )


async def test_job_no_worker_takes_waits_as_a_pending_activity(
    cases: Cases, client: Client, jobs_queue: str
):
    cases.deploy(REGISTER)
    handle = await cases.start("register", {"register_up": True})
    state = await until_state(cases, handle, lambda s: "Register" in s.activities)
    assert not state.incidents
    # What an operator sees in the Web UI: the job, pending on the job workers' queue.
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
        )
    )
    pending = described.pending_activities
    assert [(p.activity_id, p.activity_type.name) for p in pending] == [
        ("Register", "register-permit")
    ]
    jobs = JobWorker({"register-permit": register_permit})
    async with running_job_worker(client, jobs_queue, jobs):
        result = await ended(handle)
    assert result.variables["permit_no"] == "P-1"


async def test_job_no_worker_takes_in_time_is_an_incident_with_a_schedule_to_start_timeout(
    cases: Cases, client: Client, jobs_queue: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NIVA_WORKER_JOBS_SCHEDULE_TO_START_SECONDS", "1")
    cases.deploy(REGISTER)
    handle = await cases.start("register", {"register_up": True})
    state = await until_state(cases, handle, lambda s: s.incidents)
    [incident] = state.incidents.values()
    assert incident.element_id == "Register"
    assert incident.message == (
        f"no job worker took register-permit from task queue {jobs_queue} within 1 s: "
        "start one that registers that activity, then retry"
    )
    jobs = JobWorker({"register-permit": register_permit})
    async with running_job_worker(client, jobs_queue, jobs):
        await retry(handle, incident.id)
        result = await ended(handle)
    assert result.variables["permit_no"] == "P-1"


# --- the Camunda 8 dialect ----------------------------------------------------------------

C8_CREDIT = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="d"
    targetNamespace="http://bpmn.io/schema/bpmn" modeler:executionPlatform="Camunda Cloud">
  <bpmn:error id="ERefused" name="Refused" errorCode="CreditRefused"/>
  <bpmn:process id="c8_credit" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Check"/>
    <bpmn:serviceTask id="Check" name="Check credit">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="c8-check-credit" retries="2"/>
        <zeebe:taskHeaders><zeebe:header key="endpoint" value="=not an expression"/></zeebe:taskHeaders>
        <zeebe:ioMapping>
          <zeebe:input source="=requested * 2" target="amount"/>
          <zeebe:output source="=approved" target="credit_ok"/>
        </zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="Granted"/>
    <bpmn:endEvent id="Granted"/>
    <bpmn:boundaryEvent id="Refused" attachedToRef="Check">
      <bpmn:extensionElements>
        <zeebe:ioMapping><zeebe:output source="=reason" target="refusal"/></zeebe:ioMapping>
      </bpmn:extensionElements>
      <bpmn:errorEventDefinition errorRef="ERefused"/>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="Refused" targetRef="Denied"/>
    <bpmn:endEvent id="Denied"/>
  </bpmn:process>
</bpmn:definitions>
"""


async def c8_check_credit(job: JobCall) -> dict[str, Any]:
    if job.variables["amount"] == 0:
        raise job_bpmn_error("CreditRefused", variables={"reason": "nothing requested"})
    return {"approved": True, "limit": 1000}


async def test_camunda8_job_gets_its_headers_verbatim_and_maps_its_result_variables(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker({"c8-check-credit": c8_check_credit})
    cases.deploy(C8_CREDIT)
    async with running_job_worker(client, jobs_queue, jobs):
        granted = await ended(await cases.start("c8_credit", {"requested": 400}))
        denied = await ended(await cases.start("c8_credit", {"requested": 0}))
    call = jobs.calls[0]
    assert call.headers == {"endpoint": "=not an expression"}
    assert call.variables == {"requested": 400, "amount": 800}
    # Outputs mapped: only they are written (Zeebe's rule), read from the job's variables.
    assert granted.variables == {"requested": 400, "credit_ok": True}
    # The error's variables reach the catching event's output mappings.
    assert denied.outcome == "Denied"
    assert denied.variables == {"requested": 0, "refusal": "nothing requested"}


# --- the README's job worker ---------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"

LIMITED = bpmn("""
<bpmn:error id="ERefused" errorCode="CreditRefused"/>
<bpmn:process id="limited" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Check"/>
  <bpmn:serviceTask id="Check">
    <bpmn:extensionElements>
      <niva:taskDefinition type="check-credit"/>
      <niva:input target="amount" source="=requested"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="Granted"/>
  <bpmn:endEvent id="Granted"/>
  <bpmn:boundaryEvent id="Refused" attachedToRef="Check">
    <bpmn:errorEventDefinition errorRef="ERefused"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="Refused" targetRef="Denied"/>
  <bpmn:endEvent id="Denied"/>
</bpmn:process>
""")


def readme_job_worker() -> dict[str, Any]:
    """The README's job worker, its module run up to (not including) ``asyncio.run``."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Job workers") :]
    code = section[section.index("```python\n") + len("```python\n") :]
    code = code[: code.index("```")]
    assert code.rstrip().endswith("asyncio.run(main())")
    assert len([line for line in code.splitlines() if line.strip()]) <= 15
    namespace: dict[str, Any] = {}
    exec(compile(code.replace("asyncio.run(main())", ""), "README.md", "exec"), namespace)
    return namespace


async def test_readme_job_worker_with_the_sdk_default_converter_serves_jobs(
    cases: Cases, client: Client, jobs_queue: str
):
    # As a worker outside niva connects: its own client, the SDK's default data converter.
    plain = await Client.connect(
        client.service_client.config.target_host, namespace=client.namespace
    )
    check_credit = readme_job_worker()["check_credit"]
    cases.deploy(LIMITED)
    async with Worker(plain, task_queue=jobs_queue, activities=[check_credit]):
        granted = await ended(await cases.start("limited", {"requested": 500}))
        denied = await ended(await cases.start("limited", {"requested": 20_000}))
    assert granted.outcome == "Granted"
    assert granted.variables["approved"] is True
    assert denied.outcome == "Denied"
    assert denied.variables["limit"] == 10_000
