"""Operators see a case's pending jobs in niva, not only in the Temporal Web UI: the
``state`` query (and so ``GET /instances/{id}``) lists the service tasks waiting for a job
worker with their job type and task queue, and the case's current details say the same."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle

from service_contract import JobCall
from starter.api.schemas import InstanceDetail
from starter.commands.instances import print_instance
from tests.support.job_worker import (  # noqa: F401 (the fixtures)
    JobWorker,
    job_worker_cases,
    jobs_queue_fixture,
    running_job_worker,
    time_skipping_client,
)
from tests.workflows.harness import Cases, bpmn
from workflows.contract import InstanceResult, InstanceView

REGISTER = bpmn("""
<bpmn:process id="register_view" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Register"/>
  <bpmn:serviceTask id="Register" name="Register the permit">
    <bpmn:extensionElements><niva:taskDefinition type="register-permit"/></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Register" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def register_permit(job: JobCall) -> dict[str, Any]:
    return {"permit_no": "P-1"}


async def _view(handle: WorkflowHandle[Any, Any]) -> InstanceView:
    return await handle.query("state", result_type=InstanceView)


async def _view_with_job(handle: WorkflowHandle[Any, Any], within: float = 30.0) -> InstanceView:
    """The case's view once its first workflow task has scheduled the job."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        view = await _view(handle)
        if view.pending_jobs or asyncio.get_running_loop().time() > deadline:
            return view
        await asyncio.sleep(0.1)


async def _details(handle: WorkflowHandle[Any, Any]) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def test_pending_job_shows_in_the_case_view_and_details_with_its_queue(
    cases: Cases, client: Client, jobs_queue: str, capsys: pytest.CaptureFixture[str]
):
    cases.deploy(REGISTER)
    handle = await cases.start("register_view", {})
    view = await _view_with_job(handle)
    [job] = view.pending_jobs
    assert (job.task_id, job.element_id, job.name, job.type, job.task_queue) == (
        "Register",
        "Register",
        "Register the permit",
        "register-permit",
        jobs_queue,
    )
    detail = InstanceDetail.from_view(handle.id, view)
    [item] = detail.pending_jobs
    assert (item.type, item.task_queue) == ("register-permit", jobs_queue)
    print_instance(detail.model_dump(mode="json"))
    shown = capsys.readouterr().out
    assert "  waiting for job workers:\n" in shown
    assert f"    Register  job register-permit on task queue {jobs_queue}\n" in shown
    details = await _details(handle)
    assert (
        f"- Register the permit — job `register-permit` for a job worker on task queue "
        f"`{jobs_queue}`" in details
    )
    async with running_job_worker(
        client, jobs_queue, JobWorker({"register-permit": register_permit})
    ):
        result: InstanceResult = await handle.result()
    assert result.variables["permit_no"] == "P-1"
    assert (await _view(handle)).pending_jobs == []
