"""Hold a call activity's child start until a message is at the server, so that the case
reads the message in the workflow task right after the one that started the child: before
the server has recorded the child as started.

A call activity first resolves its child's model with a local activity; the workflow task
that runs it ends only when the model is back, with the child's start command. An update
that reaches the server meanwhile is admitted and waits; the server hands it to the case in
a new workflow task created when that task completes, in the same write that records the
start as initiated. The child's start runs after that write.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.models import ModelResolver
from process_models.deployments import ModelRef, ModelSource, ModelStore
from service_contract import RESOLVE_MODEL_ACTIVITY

__all__ = ["HeldResolver", "until_admitted"]


class HeldResolver:
    """The model resolver, answering only once ``release`` is set."""

    def __init__(self, store: ModelStore) -> None:
        self._resolver = ModelResolver(store)
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    @activity.defn(name=RESOLVE_MODEL_ACTIVITY)
    async def resolve_model(self, request: ModelRef) -> ModelSource:
        """The deployed version, once released."""
        self.asked.set()
        await self.release.wait()
        return await self._resolver.resolve_model(request)


async def until_admitted(
    client: Client, workflow_id: str, update_id: str, within: float = 20.0
) -> None:
    """Return once the server has admitted the update (it may not have arrived yet)."""
    request = PollWorkflowExecutionUpdateRequest(
        namespace=client.namespace,
        update_ref=UpdateRef(
            workflow_execution=WorkflowExecution(workflow_id=workflow_id), update_id=update_id
        ),
        wait_policy=WaitPolicy(
            lifecycle_stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
        ),
    )
    async with asyncio.timeout(within):
        while True:
            try:
                await client.workflow_service.poll_workflow_execution_update(request)
                return
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
            await asyncio.sleep(0.05)
