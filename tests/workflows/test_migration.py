"""Migrating running cases to another model version (`workflows.migration`), on a real
time-skipping Temporal server: every kind of active element, a refused case left as it
was, a repeat that changes nothing, and the migrated history replayed."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from starter.audit import build_trail, load_case
from tests.support.net import until
from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, Cases, bpmn, running_cases
from workflows import WORKFLOWS
from workflows import search_attributes as sa
from workflows.candidates import Actor
from workflows.contract import RetryIncidentInput
from workflows.migration import (
    MIGRATE_UPDATE,
    MigrateInput,
    MigrateResult,
    MigrationPlan,
    ModelVersion,
    check_migration,
)
from workflows.migration_batch import (
    MIGRATION_WORKFLOW,
    PROGRESS_QUERY,
    MigrationBatchInput,
    MigrationReport,
    batch_workflow_id,
)
from workflows.model import ExecutableModel
from workflows.sandbox import shared_runner
from workflows.state import InstanceState

OPERATOR = OFFICER.model_copy(update={"subject": "operator-1", "roles": ["operator"]})

REVIEW_V1 = """
  <bpmn:userTask id="Review" name="Granska"/>"""
REVIEW_V2 = """
  <bpmn:userTask id="Assess" name="Bedöm">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="NO-HOD"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:boundaryEvent id="AssessDeadline" attachedToRef="Assess">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P10D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="fLate" sourceRef="AssessDeadline" targetRef="Late"/>
  <bpmn:endEvent id="Late" name="Försenad"/>"""


def every_kind(version: int) -> str:
    """A process whose case waits at once on a user task, a timer, a message, a
    multi-instance task, a subprocess and a failed service task (an incident)."""
    review_id = "Review" if version == 1 else "Assess"
    review = REVIEW_V1 if version == 1 else REVIEW_V2
    extra = (
        ""
        if version == 1
        else """
  <bpmn:userTask id="Minister" name="HOD beslutar"/>"""
    )
    after_join = "End" if version == 1 else "Minister"
    tail = (
        ""
        if version == 1
        else """
  <bpmn:sequenceFlow id="fMin" sourceRef="Minister" targetRef="End"/>"""
    )
    return bpmn(f"""
<bpmn:message id="MReply" name="reply"/>
<bpmn:process id="every_kind" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f0" sourceRef="Start" targetRef="Split"/>
  <bpmn:parallelGateway id="Split"/>
  <bpmn:sequenceFlow id="a1" sourceRef="Split" targetRef="{review_id}"/>{review}
  <bpmn:sequenceFlow id="a2" sourceRef="{review_id}" targetRef="Join"/>
  <bpmn:sequenceFlow id="b1" sourceRef="Split" targetRef="Wait"/>
  <bpmn:intermediateCatchEvent id="Wait">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P30D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="b2" sourceRef="Wait" targetRef="Join"/>
  <bpmn:sequenceFlow id="c1" sourceRef="Split" targetRef="Reply"/>
  <bpmn:intermediateCatchEvent id="Reply">
    <bpmn:messageEventDefinition messageRef="MReply"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="c2" sourceRef="Reply" targetRef="Join"/>
  <bpmn:sequenceFlow id="d1" sourceRef="Split" targetRef="Regions"/>
  <bpmn:userTask id="Regions">
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <niva:loop inputCollection="=regions" inputElement="region"/>
      </bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="d2" sourceRef="Regions" targetRef="Join"/>
  <bpmn:sequenceFlow id="e1" sourceRef="Split" targetRef="Sub"/>
  <bpmn:subProcess id="Sub">
    <bpmn:startEvent id="SubStart"/>
    <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="Inner"/>
    <bpmn:userTask id="Inner"/>
    <bpmn:sequenceFlow id="s2" sourceRef="Inner" targetRef="SubEnd"/>
    <bpmn:endEvent id="SubEnd"/>
  </bpmn:subProcess>
  <bpmn:sequenceFlow id="e2" sourceRef="Sub" targetRef="Join"/>
  <bpmn:sequenceFlow id="g1" sourceRef="Split" targetRef="Fetch"/>
  <bpmn:serviceTask id="Fetch">
    <bpmn:extensionElements>
      <niva:taskDefinition type="{"fail" if version == 1 else "echo"}"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="g2" sourceRef="Fetch" targetRef="Join"/>
  <bpmn:parallelGateway id="Join"/>
  <bpmn:sequenceFlow id="z" sourceRef="Join" targetRef="{after_join}"/>{extra}{tail}
  <bpmn:endEvent id="End" name="Klar"/>
</bpmn:process>
""")


PLAN = MigrationPlan(
    source=ModelVersion(process_id="every_kind", version=1),
    target=ModelVersion(process_id="every_kind", version=2),
    mappings={"Review": "Assess"},
    variables={"rules": "2024"},
)


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        yield cases


def _model(cases: Cases, version: int) -> ExecutableModel:
    return ExecutableModel(cases.store.source("every_kind", version))


async def _migrate(handle, plan: MigrationPlan, migration_id: str | None = None) -> MigrateResult:
    return await handle.execute_update(
        MIGRATE_UPDATE,
        MigrateInput(migration_id=migration_id or uuid.uuid4().hex, plan=plan, actor=OPERATOR),
        result_type=MigrateResult,
    )


async def _listed_version(cases: Cases, workflow_id: str) -> str:
    """The case's ``NivaProcessVersion`` as Temporal lists it (read raw: the test
    server's description of other attributes does not decode)."""
    raw = await cases.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=cases.client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id),
        )
    )
    fields = raw.workflow_execution_info.search_attributes.indexed_fields
    return json.loads(fields[sa.PROCESS_VERSION.name].data)


async def _started_case(cases: Cases):
    cases.deploy(every_kind(1))
    handle = await cases.start("every_kind", {"regions": ["north", "south"]})
    await cases.complete(handle, "Regions:north")

    async def failed() -> bool:
        return len((await cases.internal(handle)).incidents) == 1

    # The failing service task parks its token in an incident as the activity fails.
    await until(failed)
    return handle, await cases.internal(handle)


async def test_every_kind_of_active_element_migrates_and_the_case_ends_on_v2(
    cases: Cases, time_skipping_env: WorkflowEnvironment
):
    handle, before = await _started_case(cases)
    cases.deploy(every_kind(2))
    result = await _migrate(handle, PLAN, "m-1")
    assert result.changes[0] == "every_kind v1 -> every_kind v2"
    assert "Review -> Assess" in result.changes

    state = await cases.internal(handle)
    assert (state.process_id, state.version) == ("every_kind", 2)
    assert [m.migration_id for m in state.migrations] == ["m-1"]
    assert state.migrations[0].actor == "operator-1"
    assert state.migrations[0].plan_hash == PLAN.digest()
    assert state.variables["rules"] == "2024"
    # Task ids kept; the renamed task carries the target's element and a deadline armed
    # from its original start.
    review = state.activities["Review"]
    assert review.element_id == "Assess"
    # The target's element says who completes it now.
    assert (review.candidate_groups, review.candidate_orgs) == (["officer"], ["NO-HOD"])
    assert review.due == before.activities["Review"].created + timedelta(days=10)
    # Multi-instance progress kept: one of two regions answered.
    body = next(a for a in state.activities.values() if a.multi is not None)
    assert body.multi is not None
    assert body.multi.completed == 1
    assert [a.id for a in state.activities.values() if a.parent_activity] == ["Regions:south"]
    # The timer catch keeps its fire time, the message catch its subscription, the
    # subprocess its scope and inner task, the failed service task its incident.
    waits = {t.element_id: t for t in state.timers.values()}
    old_waits = {t.element_id: t for t in before.timers.values()}
    assert waits["Wait"].fire_at == old_waits["Wait"].fire_at
    assert [s.element_id for s in state.subscriptions.values()] == ["Reply"]
    assert [s.element_id for s in state.scopes.values() if s.key is None] == ["Sub"]
    assert "Inner" in state.activities
    assert [i.element_id for i in state.incidents.values()] == ["Fetch"]
    assert await _listed_version(cases, handle.id) == "2"

    # The case goes on, and ends, on the new rules: the retried incident runs v2's
    # service task (which succeeds), and v2's new step opens after the join.
    hod = Actor(subject="hod-1", org="NO-HOD", roles=["officer"])
    await cases.complete(handle, "Review", actor=hod)
    await cases.complete(handle, "Regions:south")
    await cases.complete(handle, "Inner")
    await cases.message(handle, "reply")
    await handle.execute_update(
        "retry_incident",
        RetryIncidentInput(incident_id=next(iter(state.incidents)), actor=OPERATOR),
    )
    await time_skipping_env.sleep(timedelta(days=31))
    state = await cases.internal(handle)
    assert [a.id for a in state.activities.values()] == ["Minister"]
    await cases.complete(handle, "Minister")
    outcome = await handle.result()
    assert outcome.outcome == "Klar"

    # Both runs replay: the one the migration happened in, and the one on v2.
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


async def test_a_case_that_does_not_fit_is_refused_and_left_untouched(cases: Cases):
    handle, before = await _started_case(cases)
    cases.deploy(every_kind(2))
    # Without the mapping, the open task at Review has no counterpart in v2.
    plan = PLAN.model_copy(update={"mappings": {}})
    check = check_migration(before, _model(cases, 1), _model(cases, 2), plan)
    assert check.refusals == [
        "open userTask Review at 'Review' has no counterpart in every_kind v2: map it in the "
        "plan's mappings"
    ]
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await _migrate(handle, plan)
    assert "has no counterpart in every_kind v2" in str(failed.value.cause)
    after = await cases.internal(handle)
    assert after.model_dump(exclude={"audit"}) == before.model_dump(exclude={"audit"})
    assert await _listed_version(cases, handle.id) == "1"


def test_a_mapping_to_another_kind_is_refused(tmp_path: Path):
    from process_models.deployments import ModelFile, ModelStore
    from process_models.store import FileBlobStore
    from tests.workflows.harness import registry_with_test_types

    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="a.bpmn", content=every_kind(1).encode())])
    store.deploy([ModelFile(name="a.bpmn", content=every_kind(2).encode())])
    v1 = ExecutableModel(store.source("every_kind", 1))
    v2 = ExecutableModel(store.source("every_kind", 2))
    state = InstanceState(process_id="every_kind", version=1, business_key="k", title="t")
    interpreter_state = _waiting_at(v1, state)
    plan = PLAN.model_copy(update={"mappings": {"Review": "Wait"}})
    check = check_migration(interpreter_state, v1, v2, plan)
    assert check.refusals == [
        "open userTask Review at 'Review' (userTask) cannot become 'Wait' "
        "(intermediateCatchEvent(timer))"
    ]
    assert check_migration(interpreter_state, v1, v2, PLAN).fits


def _waiting_at(model: ExecutableModel, state: InstanceState) -> InstanceState:
    from datetime import UTC, datetime

    from workflows.interpreter import Interpreter

    interpreter = Interpreter(model, state)
    interpreter.start(datetime(2026, 1, 1, tzinfo=UTC), start_event=None, actor=None)
    interpreter.state.variables["regions"] = ["north"]
    interpreter.run(datetime(2026, 1, 1, tzinfo=UTC))
    return interpreter.state


async def test_a_repeated_migration_changes_nothing(cases: Cases):
    handle, _ = await _started_case(cases)
    cases.deploy(every_kind(2))
    await _migrate(handle, PLAN, "m-once")
    again = await _migrate(handle, PLAN, "m-once")
    assert again.duplicate
    state = await cases.internal(handle)
    assert [m.migration_id for m in state.migrations] == ["m-once"]
    # Another migration from v1 no longer fits: the case runs v2.
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await _migrate(handle, PLAN, "m-other")
    assert "runs every_kind v2, not every_kind v1" in str(failed.value.cause)


async def test_a_batch_resumes_after_its_worker_stops_and_migrates_each_case_once(
    client: Client, task_queue: str, tmp_path: Path
):
    count = 12
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        cases.deploy(every_kind(1))
        handles = [await cases.start("every_kind", {"regions": ["north"]}) for _ in range(count)]
        cases.deploy(every_kind(2))
        batch = await client.start_workflow(
            MIGRATION_WORKFLOW,
            MigrationBatchInput(
                migration_id="batch-1",
                plan=PLAN,
                instances=[h.id for h in handles],
                actor=OPERATOR,
                # A call cut off with the worker is tried again soon.
                case_timeout_seconds=3,
            ),
            id=batch_workflow_id("batch-1"),
            task_queue=task_queue,
            result_type=MigrationReport,
        )

        async def under_way() -> bool:
            report = await batch.query(PROGRESS_QUERY, result_type=MigrationReport)
            return len(report.migrated) >= 3

        await until(under_way)
        # The cases outlive this worker: the next one goes on with them.
        cases.started = []
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        cases.started = list(handles)
        report = await batch.result()
        assert report.status == "completed"
        assert sorted(report.migrated) == sorted(h.id for h in handles)
        assert report.refused == []
        for handle in handles:
            state = await cases.internal(handle)
            assert state.version == 2
            assert [m.migration_id for m in state.migrations] == ["batch-1"]
        # The audit trail shows who migrated the case, from, to and the plan's hash.
        trail = build_trail(await load_case(handles[0].id, client=client))
        [migrated] = [d for d in trail.decisions if d.kind == "migrated"]
        assert migrated.actor == "operator-1"
        assert migrated.detail == f"every_kind v1 -> every_kind v2, plan {PLAN.digest()}"
        assert migrated.version == 1


def _reminders(version: int) -> str:
    escalate = (
        ""
        if version == 1
        else """
  <bpmn:boundaryEvent id="Escalate" attachedToRef="Answer" cancelActivity="false">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P14D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="fe" sourceRef="Escalate" targetRef="Escalated"/>
  <bpmn:endEvent id="Escalated"/>"""
    )
    return bpmn(f"""
<bpmn:process id="reminders" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Answer"/>
  <bpmn:userTask id="Answer"/>
  <bpmn:boundaryEvent id="Notice" attachedToRef="Answer" cancelActivity="false">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:boundaryEvent id="Remind" attachedToRef="Answer" cancelActivity="false">
    <bpmn:timerEventDefinition><bpmn:timeCycle>R5/P7D</bpmn:timeCycle></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:boundaryEvent id="Deadline" attachedToRef="Answer">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P30D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Answer" targetRef="End"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Notice" targetRef="Noticed"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Remind" targetRef="Reminded"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Deadline" targetRef="Late"/>
  <bpmn:endEvent id="End"/>
  <bpmn:endEvent id="Noticed"/>
  <bpmn:endEvent id="Reminded"/>
  <bpmn:endEvent id="Late"/>{escalate}
</bpmn:process>
""")


def test_timers_keep_their_dates_and_firings_and_new_ones_count_from_the_start(tmp_path: Path):
    from datetime import UTC, datetime

    from process_models.deployments import ModelFile, ModelStore
    from process_models.store import FileBlobStore
    from tests.workflows.harness import registry_with_test_types
    from workflows.interpreter import Interpreter
    from workflows.migration import migrate_state

    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="r.bpmn", content=_reminders(1).encode())])
    store.deploy([ModelFile(name="r.bpmn", content=_reminders(2).encode())])
    v1 = ExecutableModel(store.source("reminders", 1))
    v2 = ExecutableModel(store.source("reminders", 2))
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    interpreter = Interpreter(
        v1, InstanceState(process_id="reminders", version=1, business_key="k", title="t")
    )
    interpreter.start(start, start_event=None, actor=None)
    interpreter.run(start)
    # A day and a week later: the notice has fired (once, for good), the reminder once.
    later = start + timedelta(days=8)
    assert interpreter.fire_due_timers(later) == 2
    interpreter.run(later)
    plan = MigrationPlan(
        source=ModelVersion(process_id="reminders", version=1),
        target=ModelVersion(process_id="reminders", version=2),
    )
    migrated = migrate_state(
        interpreter.state, v1, v2, plan, migration_id="m", actor="operator-1", now=later
    ).state
    timers = {t.element_id: t for t in migrated.timers.values()}
    assert sorted(timers) == ["Deadline", "Escalate", "Remind"]
    assert timers["Remind"].fired == 1
    assert timers["Remind"].fire_at == start + timedelta(days=14)
    assert timers["Deadline"].fire_at == start + timedelta(days=30)
    assert timers["Escalate"].fire_at == start + timedelta(days=14)
    assert migrated.activities["Answer"].due == start + timedelta(days=30)
    assert interpreter.state.version == 1  # the case's own state is not changed


async def test_a_case_migrates_to_another_process(cases: Cases):
    handle, _ = await _started_case(cases)
    cases.deploy(every_kind(2).replace('id="every_kind"', 'id="every_kind_2024"'))
    plan = PLAN.model_copy(update={"target": ModelVersion(process_id="every_kind_2024", version=1)})
    await _migrate(handle, plan, "m-process")
    state = await cases.internal(handle)
    assert (state.process_id, state.version) == ("every_kind_2024", 1)

    async def continued() -> bool:
        raw = await cases.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=cases.client.namespace,
                execution=WorkflowExecution(workflow_id=handle.id),
            )
        )
        fields = raw.workflow_execution_info.search_attributes.indexed_fields
        return raw.workflow_execution_info.type.name == "every_kind_2024" and (
            json.loads(fields[sa.PROCESS_ID.name].data) == "every_kind_2024"
        )

    # The run after the migration is of the new process's workflow type, listed as such.
    await until(continued)
    await cases.complete(
        handle, "Review", actor=Actor(subject="hod-1", org="NO-HOD", roles=["officer"])
    )
    assert "Review" not in (await cases.internal(handle)).activities
