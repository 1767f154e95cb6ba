"""Requests that race on the dev server: two completions of one task, with different
idempotency keys or one key of two principals, held by the server until the case's first
workflow task takes both."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from process_models.deployments import ModelStore
from process_models.store import FileBlobStore
from tests.support.net import until
from tests.workflows import activities_for_tests
from tests.workflows.harness import (
    OFFICER,
    Cases,
    bpmn,
    registry_with_test_types,
    running_cases,
)
from workflows.candidates import Actor
from workflows.contract import CompleteTaskInput, CompleteTaskResult

TWO_STEPS = bpmn("""
<bpmn:process id="two_steps" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Decide"/>
  <bpmn:userTask id="Decide"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Decide" targetRef="Archive"/>
  <bpmn:userTask id="Archive"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Archive" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")

_ADMITTED = UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED


async def _admitted(client: Client, handle: WorkflowHandle[object, object], update_id: str) -> bool:
    """The server holds the update for the case's next workflow task."""
    request = PollWorkflowExecutionUpdateRequest(
        namespace=client.namespace,
        update_ref=UpdateRef(
            workflow_execution=WorkflowExecution(workflow_id=handle.id),
            update_id=update_id,
        ),
        wait_policy=WaitPolicy(lifecycle_stage=_ADMITTED),
    )
    try:
        response = await client.workflow_service.poll_workflow_execution_update(request)
    except RPCError:
        return False  # not admitted yet
    return bool(response.stage >= _ADMITTED)


async def _complete(
    handle: WorkflowHandle[object, object], update_id: str, payload: dict[str, str]
) -> CompleteTaskResult:
    return await handle.execute_update(
        "complete_task",
        CompleteTaskInput(
            task_id="Decide", payload=payload, actor=OFFICER, idempotency_key=update_id
        ),
        id=update_id,
        result_type=CompleteTaskResult,
    )


async def test_second_completion_in_one_activation_is_a_conflict(
    client: Client, task_queue: str, tmp_path: Path
):
    # No worker polls the queue yet: both completions wait for the case's first workflow
    # task, which delivers both together.
    store = ModelStore(FileBlobStore(tmp_path / "models"), registry=registry_with_test_types())
    idle = Cases(client, task_queue, store)
    idle.deploy(TWO_STEPS)
    handle = await idle.start("two_steps")
    first = asyncio.create_task(_complete(handle, "first", {"verdict": "yes"}))
    second = asyncio.create_task(_complete(handle, "second", {"verdict": "no"}))

    async def both_admitted() -> bool:
        return await _admitted(client, handle, "first") and await _admitted(
            client, handle, "second"
        )

    await until(both_admitted)
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        cases.started.append(handle)
        outcomes = await asyncio.gather(first, second, return_exceptions=True)
        [won] = [o for o in outcomes if isinstance(o, CompleteTaskResult)]
        [lost] = [o for o in outcomes if isinstance(o, WorkflowUpdateFailedError)]
        assert not won.duplicate
        assert isinstance(lost.cause, ApplicationError)
        assert lost.cause.type == "Conflict"
        assert "already completed" in lost.cause.message
        state = await cases.internal(handle)
        assert [e.kind for e in state.audit].count("task_completed") == 1
        assert list(state.activities) == ["Archive"]


async def test_same_key_from_another_principal_in_one_activation_is_refused(
    client: Client, task_queue: str, tmp_path: Path
):
    # The API gives each principal's key its own update id, so both reach the case, held
    # for one workflow task: the second finds the key taken by another principal.
    store = ModelStore(FileBlobStore(tmp_path / "models"), registry=registry_with_test_types())
    idle = Cases(client, task_queue, store)
    idle.deploy(TWO_STEPS)
    handle = await idle.start("two_steps")
    colleague = OFFICER.model_copy(update={"subject": "officer-2"})

    async def complete(update_id: str, actor: Actor) -> CompleteTaskResult:
        return await handle.execute_update(
            "complete_task",
            CompleteTaskInput(
                task_id="Decide", payload={"by": actor.subject}, actor=actor, idempotency_key="k"
            ),
            id=update_id,
            result_type=CompleteTaskResult,
        )

    first = asyncio.create_task(complete("by-1", OFFICER))
    second = asyncio.create_task(complete("by-2", colleague))

    async def both_admitted() -> bool:
        return await _admitted(client, handle, "by-1") and await _admitted(client, handle, "by-2")

    await until(both_admitted)
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        cases.started.append(handle)
        outcomes = await asyncio.gather(first, second, return_exceptions=True)
        [won] = [o for o in outcomes if isinstance(o, CompleteTaskResult)]
        [lost] = [o for o in outcomes if isinstance(o, WorkflowUpdateFailedError)]
        assert not won.duplicate
        assert isinstance(lost.cause, ApplicationError)
        assert lost.cause.type == "Forbidden"
        assert "idempotency key 'k'" in lost.cause.message
        state = await cases.internal(handle)
        assert [e.kind for e in state.audit].count("task_completed") == 1
