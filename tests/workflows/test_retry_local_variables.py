"""A retry's corrected variables reach the incident element's local variables.

In the Camunda 8 dialect a start listener's result variables, and a task's input
mappings, are local to the element and shadow the case's variables of the same name. A
retry whose corrected variable only went to the case could never repair an incident such
a local caused; a corrected variable named as a local of the incident's element replaces
that local instead (as Operate edits the element instance's own scope), the others are
set in the case, and the trail records which went where (names, never values). Served by
a real job worker on the time-skipping server.
"""

from __future__ import annotations

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
from tests.workflows.harness import Cases

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_retry_locals"
    targetNamespace="http://bpmn.io/schema/bpmn">
"""


def camunda8(body: str) -> str:
    return HEADER + body + "\n</bpmn:definitions>\n"


ROUTED = camunda8("""
  <bpmn:process id="c8-retry-listener-local" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Route"/>
    <bpmn:exclusiveGateway id="Route">
      <bpmn:extensionElements>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="pick-lane"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="toFast" sourceRef="Route" targetRef="Fast">
      <bpmn:conditionExpression>=lane = "fast"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="toSlow" sourceRef="Route" targetRef="Slow">
      <bpmn:conditionExpression>=lane = "slow"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:serviceTask id="Fast">
      <bpmn:extensionElements><zeebe:taskDefinition type="fast-track"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:serviceTask id="Slow">
      <bpmn:extensionElements><zeebe:taskDefinition type="slow-track"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Fast" targetRef="FastEnd"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Slow" targetRef="SlowEnd"/>
    <bpmn:endEvent id="FastEnd"/>
    <bpmn:endEvent id="SlowEnd"/>
  </bpmn:process>
""")


async def test_a_retry_replaces_the_gateway_listener_local_that_caused_its_incident(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker(
        {
            "pick-lane": returning(lane="unknown"),
            "fast-track": returning(track="fast"),
            "slow-track": returning(track="slow"),
        }
    )
    cases.deploy(ROUTED)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-retry-listener-local", {"lane": "slow"})
        state = await until_state(cases, handle, lambda s: s.incidents)
        [incident] = state.incidents.values()
        # The listener's ``lane`` shadows the case's: no condition holds at the gateway.
        assert (incident.kind, incident.element_id) == ("gateway", "Route")
        await retry(handle, incident.id, lane="fast", reviewed_by="operator")
        result = await ended(handle)
        final = await cases.internal(handle)
    # The corrected local routed the token; the listener did not run again.
    assert jobs.attempts("pick-lane") == 1
    assert jobs.attempts("fast-track") == 1
    assert jobs.attempts("slow-track") == 0
    assert result.variables["track"] == "fast"
    # The local stayed the gateway's; the case's own ``lane`` is untouched, and the other
    # corrected variable went to the case.
    assert result.variables["lane"] == "slow"
    assert result.variables["reviewed_by"] == "operator"
    [resolved] = [entry for entry in final.audit if entry.kind == "incident_resolved"]
    assert resolved.element_id == "Route"
    assert resolved.detail == (
        "corrected variables: the element's local lane; the case's reviewed_by"
    )


CHECKED = camunda8("""
  <bpmn:process id="c8-retry-input-local" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Check"/>
    <bpmn:serviceTask id="Check">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="check-lane" retries="1"/>
        <zeebe:ioMapping><zeebe:input source="=&quot;unknown&quot;" target="lane"/></zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
""")


async def check_lane(job: JobCall) -> dict[str, Any]:
    if job.variables.get("lane") not in ("fast", "slow"):
        raise RuntimeError("no such lane")
    return {"checked": job.variables["lane"]}


async def test_a_retry_replaces_the_task_input_local_its_job_failed_on(
    cases: Cases, client: Client, jobs_queue: str
):
    jobs = JobWorker({"check-lane": check_lane})
    cases.deploy(CHECKED)
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-retry-input-local", {"lane": "slow"})
        state = await until_state(cases, handle, lambda s: s.incidents)
        [incident] = state.incidents.values()
        assert incident.element_id == "Check"
        assert "no such lane" in incident.message
        await retry(handle, incident.id, lane="fast")
        result = await ended(handle)
    # The job ran again with the corrected input (evaluated again, the correction over it).
    assert result.variables["checked"] == "fast"
    assert result.variables["lane"] == "slow"
