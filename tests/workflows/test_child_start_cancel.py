"""A call activity interrupted while its child case is starting (finding C of the generated
executions): the ended case must not wait on that child for ever.

The SDK answers a cancel that meets a pending child start with a cancel request sent at
once, before the server has started the child. When that request reaches the server before
the child exists, the server records it as failed ("not found") and nothing tells the
workflow; the child then starts and runs, and the case, whose call activity is gone, used
to wait on it for ever. The case now cancels the child again once its start has returned.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from process_models.deployments import ModelStore
from process_models.store import FileBlobStore
from tests.support.held_child_start import HeldResolver, until_admitted
from tests.workflows.harness import OFFICER, Cases, bpmn, registry_with_test_types
from workflows import WORKFLOWS
from workflows.contract import CorrelateMessageInput, CorrelateMessageResult
from workflows.sandbox import shared_runner

ANSWER_WITHIN = 20.0

INTERRUPTED_CALL = bpmn("""
<bpmn:message id="MStop" name="stop"/>
<bpmn:process id="found_interrupted_call" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Call"/>
  <bpmn:callActivity id="Call">
    <bpmn:extensionElements><niva:calledElement processId="found_called_work"/></bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:boundaryEvent id="Stop" attachedToRef="Call">
    <bpmn:messageEventDefinition messageRef="MStop"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Stop" targetRef="Stopped"/>
  <bpmn:endEvent id="Stopped" name="Stopped"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Call" targetRef="End"/>
  <bpmn:endEvent id="End" name="Done"/>
</bpmn:process>
<bpmn:process id="found_called_work" isExecutable="true">
  <bpmn:startEvent id="CStart"/>
  <bpmn:sequenceFlow id="c1" sourceRef="CStart" targetRef="Work"/>
  <bpmn:userTask id="Work"/>
  <bpmn:sequenceFlow id="c2" sourceRef="Work" targetRef="CEnd"/>
  <bpmn:endEvent id="CEnd"/>
</bpmn:process>
""")

# A case of INTERRUPTED_CALL whose message arrived while the child was starting (recorded
# with the test below), edited in one respect: the answer to the cancel request sent during
# the start is "not found", recorded before the child started, as the server records it
# when the request reaches it before the child exists (and the workflow task that the
# request's success had woken is gone). The rest is what the case does: once the start
# returns it cancels the child, which ends cancelled, and the case completes.
NOT_DELIVERED = (
    Path(__file__).resolve().parents[1]
    / "data"
    / "edited_histories"
    / "call_cancelled_while_child_starts.json"
)


def _events(history: WorkflowHistory) -> list[tuple[int, str]]:
    return [(e.event_id, e.WhichOneof("attributes") or "") for e in history.events]


async def test_a_message_while_the_child_starts_cancels_the_started_child(
    client: Client, task_queue: str, tmp_path: Path
):
    store = ModelStore(FileBlobStore(tmp_path / "models"), registry=registry_with_test_types())
    resolver = HeldResolver(store)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        workflow_runner=shared_runner(),
        activities=[resolver.resolve_model],
    ):
        cases = Cases(client, task_queue, store)
        try:
            cases.deploy(INTERRUPTED_CALL)
            handle = await cases.start("found_interrupted_call")
            await asyncio.wait_for(resolver.asked.wait(), ANSWER_WITHIN)
            message = asyncio.create_task(
                handle.execute_update(
                    "correlate_message",
                    CorrelateMessageInput(name="stop", payload={}, actor=OFFICER),
                    id="stop-while-starting",
                    result_type=CorrelateMessageResult,
                )
            )
            await until_admitted(client, handle.id, "stop-while-starting")
            resolver.release.set()
            assert (await message).received_by == ["Stop"]
            result = await asyncio.wait_for(handle.result(), ANSWER_WITHIN)
            assert result.outcome == "Stopped"
            history = await handle.fetch_history()
        finally:
            await cases.terminate_running()
    events = _events(history)
    started = next(i for i, kind in events if kind.startswith("child_workflow_execution_started"))
    accepted = next(i for i, kind in events if kind.startswith("workflow_execution_update_acc"))
    requests = [i for i, kind in events if kind.startswith("request_cancel_external_workflow")]
    # The message was read between the child's start and its recorded start, and the case
    # asked again once the child had started.
    assert accepted < started
    assert [i < started for i in requests] == [True, False]
    [child] = [
        e.child_workflow_execution_canceled_event_attributes
        for e in history.events
        if e.HasField("child_workflow_execution_canceled_event_attributes")
    ]
    assert child.workflow_execution.workflow_id.startswith("found_called_work:")


@pytest.mark.parametrize("sandbox", ["shared", "strict"])
async def test_a_cancel_request_the_child_never_got_does_not_strand_the_case(sandbox: str):
    history = WorkflowHistory.from_json("not-delivered", NOT_DELIVERED.read_text())
    kinds = [kind for _, kind in _events(history)]
    failed = kinds.index("request_cancel_external_workflow_execution_failed_event_attributes")
    assert failed < kinds.index("child_workflow_execution_started_event_attributes")
    assert kinds[-1] == "workflow_execution_completed_event_attributes"
    runner = shared_runner() if sandbox == "shared" else SandboxedWorkflowRunner()
    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=runner
    )
    # Without the second cancel, the case issues nothing once the child has started: it
    # waits on a child nobody cancels, and this replay fails on the commands it lacks.
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
