"""Migrating a case whose call activity's child case is running, on a real time-skipping
Temporal server: the migration is applied at once, the run that applied it keeps waiting
for the child (continuing as new at once would cancel it), the child's end moves the token
on the target's rules, and the case then continues as new on the target version."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.support.net import until
from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn, running_cases
from workflows import WORKFLOWS
from workflows.candidates import Actor
from workflows.migration import (
    MIGRATE_UPDATE,
    MigrateInput,
    MigrateResult,
    MigrationPlan,
    ModelVersion,
)
from workflows.sandbox import shared_runner

OPERATOR = Actor(subject="operator-1", org="SE-SOS", roles=["operator"])

CHILD = bpmn("""
<bpmn:process id="assessment" isExecutable="true">
  <bpmn:startEvent id="CStart"/>
  <bpmn:sequenceFlow id="c1" sourceRef="CStart" targetRef="Work"/>
  <bpmn:userTask id="Work">
    <bpmn:extensionElements>
      <niva:output target="verdict" source="=payload.verdict"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="c2" sourceRef="Work" targetRef="CEnd"/>
  <bpmn:endEvent id="CEnd"/>
</bpmn:process>""")


def parent(version: int) -> str:
    """v1: the child's assessment, then the end; v2 keeps the verdict under another name
    and adds a decision after it."""
    output = "verdict" if version == 1 else "assessed_verdict"
    after = "End" if version == 1 else "Decide"
    decide = (
        ""
        if version == 1
        else """
  <bpmn:userTask id="Decide" name="Beslut"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Decide" targetRef="End"/>"""
    )
    return bpmn(f"""
<bpmn:process id="with_child" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Assess"/>
  <bpmn:callActivity id="Assess" name="Bedömning">
    <bpmn:extensionElements>
      <niva:calledElement processId="assessment"/>
      <niva:output target="{output}" source="=result.verdict"/>
    </bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="f2" sourceRef="Assess" targetRef="{after}"/>{decide}
  <bpmn:endEvent id="End" name="Klar"/>
</bpmn:process>""")


PLAN = MigrationPlan(
    source=ModelVersion(process_id="with_child", version=1),
    target=ModelVersion(process_id="with_child", version=2),
)


async def _current_run(cases: Cases, workflow_id: str) -> str:
    """The run id of the case's current run (read raw: the test server's description of
    search attributes does not decode)."""
    raw = await cases.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=cases.client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id),
        )
    )
    return raw.workflow_execution_info.execution.run_id


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        yield cases


async def test_a_case_migrates_while_its_child_runs_and_goes_on_when_the_child_ends(
    cases: Cases,
):
    cases.deploy(parent(1), CHILD)
    handle = await cases.start("with_child")
    child_id = ""

    async def child_waits() -> bool:
        nonlocal child_id
        call = (await cases.internal(handle)).activities.get("Assess")
        if call is None or call.child_workflow_id is None:
            return False
        child_id = call.child_workflow_id
        try:
            child = await cases.view(cases.client.get_workflow_handle(child_id))
        except Exception:  # not started yet
            return False
        return [t.task_id for t in child.open_tasks] == ["Work"]

    await until(child_waits)
    child = cases.client.get_workflow_handle(child_id)
    cases.deploy(parent(2))

    result = await handle.execute_update(
        MIGRATE_UPDATE,
        MigrateInput(migration_id="m-child", plan=PLAN, actor=OPERATOR),
        result_type=MigrateResult,
    )
    assert result.changes == ["with_child v1 -> with_child v2"]
    # Migrated at once, still waiting for the same child, which runs on: the case has not
    # continued as new (that would cancel the child).
    state = await cases.internal(handle)
    assert (state.process_id, state.version) == ("with_child", 2)
    assert state.activities["Assess"].child_workflow_id == child_id
    assert (await cases.view(child)).status == "running"
    assert await _current_run(cases, handle.id) == handle.first_execution_run_id

    # The child ends; the case then goes on as new on v2 (a second run, started from v2's
    # source), its verdict taken by v2's output and v2's new step open. Watched through
    # the run id, not a query: a query racing the continue-as-new can hang on this server.
    await cases.complete(child, "Work", {"verdict": "godkänd"})

    async def continued() -> bool:
        return await _current_run(cases, handle.id) != handle.first_execution_run_id

    await until(continued)
    assert (await cases.view(child)).status == "completed"
    state = await cases.internal(handle)
    assert (state.process_id, state.version) == ("with_child", 2)
    assert list(state.activities) == ["Decide"]
    assert state.variables["assessed_verdict"] == "godkänd"
    assert "verdict" not in state.variables
    await cases.complete(handle, "Decide")
    assert (await handle.result()).outcome == "Klar"

    # Both runs replay: the one that migrated and waited for the child, and the one on v2.
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=shared_runner(),
    )
    first = cases.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    for run in (first, cases.client.get_workflow_handle(handle.id)):
        history = await run.fetch_history()
        replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert replayed.replay_failure is None, replayed.replay_failure
