"""Migrating a case in the middle of something, on a real time-skipping Temporal server.

- While a **compensation** runs (a throw waiting for its handlers), and while an
  **execution listener** runs (a start listener, so the element has not started yet; an
  end listener, so the token has not left): the migration is refused with a reason that
  names what is in flight and says to try again, the case is left as it was, the dry run's
  check (`check_migration`) gives the same reason, and once that work has finished the
  same plan migrates the case, which ends on the target's rules.
- While a call activity's **child case is starting**: migrated together with the case's
  start (update-with-start), the migration is applied in the first workflow task, before
  the child's start can be confirmed (that needs another one), and the case keeps the
  child: it waits for it in the same run and ends on the target's rules.

Every run of a migrated case replays.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Replayer

from process_models.deployments import ModelFile, ModelStore
from process_models.limits import EngineLimits
from process_models.store import FileBlobStore
from service_contract import JobCall
from starter.cases import instance_id
from tests.support.case_waits import ended, until, until_state
from tests.support.job_worker import (  # noqa: F401 (the fixtures)
    JobWorker,
    job_worker_cases,
    jobs_queue_fixture,
    returning,
    running_job_worker,
    time_skipping_client,
)
from tests.workflows.harness import OFFICER, Cases, bpmn, registry_with_test_types
from workflows import WORKFLOWS
from workflows.contract import InstanceResult, StartInstanceInput
from workflows.interpreter import Interpreter
from workflows.listeners import LISTENER_KIND
from workflows.migration import (
    MIGRATE_UPDATE,
    MigrateInput,
    MigrateResult,
    MigrationPlan,
    ModelVersion,
    check_migration,
    migrate_state,
)
from workflows.model import ExecutableModel, load_model
from workflows.sandbox import shared_runner
from workflows.state import InstanceState

OPERATOR = OFFICER.model_copy(update={"subject": "operator-1", "roles": ["operator"]})
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def _plan(process_id: str) -> MigrationPlan:
    return MigrationPlan(
        source=ModelVersion(process_id=process_id, version=1),
        target=ModelVersion(process_id=process_id, version=2),
    )


async def _migrate(handle: WorkflowHandle[Any, Any], plan: MigrationPlan) -> MigrateResult:
    return await handle.execute_update(
        MIGRATE_UPDATE,
        MigrateInput(migration_id=uuid.uuid4().hex, plan=plan, actor=OPERATOR),
        result_type=MigrateResult,
    )


async def _refused(handle: WorkflowHandle[Any, Any], plan: MigrationPlan) -> str:
    """Why the case refuses ``plan`` (the update's failure)."""
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await _migrate(handle, plan)
    return str(failed.value.cause)


def _models(cases: Cases, process_id: str) -> tuple[ExecutableModel, ExecutableModel]:
    return (
        ExecutableModel(cases.store.source(process_id, 1)),
        ExecutableModel(cases.store.source(process_id, 2)),
    )


def _untouched(before: InstanceState, after: InstanceState) -> None:
    assert after.model_dump(exclude={"audit"}) == before.model_dump(exclude={"audit"})
    assert not any(entry.kind == "migrated" for entry in after.audit)


async def _replays(cases: Cases, handle: WorkflowHandle[Any, Any]) -> None:
    """Every run of the case replays: the one it migrated in, and the one after."""
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


class Gate:
    """A job handler that blocks until the test opens the gate: the job is in flight, as
    long as the test needs, and then returns ``variables``."""

    def __init__(self, **variables: Any) -> None:
        self.variables = variables
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()

    async def __call__(self, job: JobCall) -> dict[str, Any]:
        self.entered.set()
        await self.opened.wait()
        return dict(self.variables)


# --- while a compensation runs ---------------------------------------------------------------


def _compensation(version: int) -> str:
    """A booking made and charged, both undone by a compensation throw (the handlers are
    user tasks, so a compensation stays in flight until people finish it); then the
    case is closed. v2 adds a notice after the closing."""
    after_close = "End" if version == 1 else "Notice"
    notice = (
        ""
        if version == 1
        else """
  <bpmn:userTask id="Notice" name="Underrätta"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Notice" targetRef="End"/>"""
    )
    undo = ""
    for activity, handler in (("Book", "Unbook"), ("Charge", "Refund")):
        undo += f"""
  <bpmn:boundaryEvent id="Comp{activity}" attachedToRef="{activity}">
    <bpmn:compensateEventDefinition/>
  </bpmn:boundaryEvent>
  <bpmn:userTask id="{handler}" isForCompensation="true"/>
  <bpmn:association id="Assoc{activity}" sourceRef="Comp{activity}" targetRef="{handler}"/>"""
    return bpmn(f"""
<bpmn:process id="booking_undone" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Book"/>
  <bpmn:userTask id="Book"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Book" targetRef="Charge"/>
  <bpmn:userTask id="Charge"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Charge" targetRef="UndoAll"/>
  <bpmn:intermediateThrowEvent id="UndoAll"><bpmn:compensateEventDefinition/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f4" sourceRef="UndoAll" targetRef="Close"/>
  <bpmn:userTask id="Close"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Close" targetRef="{after_close}"/>{notice}
  <bpmn:endEvent id="End" name="Stängd"/>{undo}
</bpmn:process>
""")


async def test_a_case_is_not_migrated_while_a_compensation_runs_and_migrates_after_it(
    cases: Cases,
):
    plan = _plan("booking_undone")
    cases.deploy(_compensation(1))
    handle = await cases.start("booking_undone")
    await until_state(cases, handle, lambda s: "Book" in s.activities)
    await cases.complete(handle, "Book")
    await cases.complete(handle, "Charge")
    # The throw waits for its handlers, the last completed first: Refund is open.
    before = await until_state(cases, handle, lambda s: "Refund" in s.activities)
    cases.deploy(_compensation(2))

    reason = (
        "a compensation thrown at 'UndoAll' is running: handler 'Refund' undoes Charge, "
        "1 more to undo: migrate once it has finished"
    )
    v1, v2 = _models(cases, "booking_undone")
    assert check_migration(before, v1, v2, plan).refusals == [reason]
    assert reason in await _refused(handle, plan)
    _untouched(before, await cases.internal(handle))

    # The compensation finishes on the source's rules, both handlers; then the case
    # migrates and ends on the target's.
    await cases.complete(handle, "Refund")
    await cases.complete(handle, "Unbook")
    state = await until_state(cases, handle, lambda s: "Close" in s.activities)
    assert not state.compensations
    assert (await _migrate(handle, plan)).changes == ["booking_undone v1 -> booking_undone v2"]
    await cases.complete(handle, "Close")
    await until_state(cases, handle, lambda s: "Notice" in s.activities)
    await cases.complete(handle, "Notice")
    result = await ended(handle)
    assert result.outcome == "Stängd"
    await _replays(cases, handle)


def _renamed_undo(version: int) -> str:
    """A booking undone by a throw after a charge; v2 names the booking and its handler
    anew (the plan maps them), and has no compensation for the charge."""
    book, unbook = ("Book", "Unbook") if version == 1 else ("Reserve", "Unreserve")
    charge_undo = (
        """
  <bpmn:boundaryEvent id="CompCharge" attachedToRef="Charge">
    <bpmn:compensateEventDefinition/>
  </bpmn:boundaryEvent>
  <bpmn:userTask id="Refund" isForCompensation="true"/>
  <bpmn:association id="AssocCharge" sourceRef="CompCharge" targetRef="Refund"/>"""
        if version == 1
        else ""
    )
    return bpmn(f"""
<bpmn:process id="booking_renamed" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="{book}"/>
  <bpmn:userTask id="{book}"/>
  <bpmn:sequenceFlow id="f2" sourceRef="{book}" targetRef="Charge"/>
  <bpmn:userTask id="Charge"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Charge" targetRef="Confirm"/>
  <bpmn:userTask id="Confirm"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Confirm" targetRef="UndoAll"/>
  <bpmn:endEvent id="UndoAll"><bpmn:compensateEventDefinition/></bpmn:endEvent>
  <bpmn:boundaryEvent id="Comp{book}" attachedToRef="{book}">
    <bpmn:compensateEventDefinition/>
  </bpmn:boundaryEvent>
  <bpmn:userTask id="{unbook}" isForCompensation="true"/>
  <bpmn:association id="Assoc{book}" sourceRef="Comp{book}" targetRef="{unbook}"/>{charge_undo}
</bpmn:process>
""")


def test_installed_compensations_follow_the_plan_and_a_lost_one_is_refused(tmp_path: Path):
    """A completed activity's compensation, installed on the source's ids, is carried to
    the target's activity and handler; one the target cannot compensate is refused,
    rather than dropped or left naming a handler the target lacks."""
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    for version in (1, 2):
        store.deploy([ModelFile(name="b.bpmn", content=_renamed_undo(version).encode())])
    v1 = load_model(store.source("booking_renamed", 1))
    v2 = load_model(store.source("booking_renamed", 2))
    state = InstanceState(process_id="booking_renamed", version=1, business_key="k", title="B")
    interpreter = Interpreter(v1, state)
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    interpreter.complete_task("Book", {}, actor="bo", org=None, idempotency_key=None, now=NOW)
    interpreter.run(NOW)
    plan = _plan("booking_renamed").model_copy(update={"mappings": {"Book": "Reserve"}})
    check = check_migration(interpreter.state, v1, v2, plan)
    assert check.fits, check.refusals
    assert "compensation of Book: Book -> Reserve, Unbook -> Unreserve" in check.changes

    migrated = migrate_state(
        interpreter.state, v1, v2, plan, migration_id="m", actor="operator-1", now=NOW
    )
    for task in ("Charge", "Confirm"):
        migrated.complete_task(task, {}, actor="bo", org=None, idempotency_key=None, now=NOW)
        migrated.run(NOW)
    # The throw undoes the booking with the target's handler.
    assert [a.id for a in migrated.state.activities.values()] == ["Unreserve"]
    migrated.complete_task("Unreserve", {}, actor="bo", org=None, idempotency_key=None, now=NOW)
    migrated.run(NOW)
    assert migrated.state.ended

    # Charged too: the target has no compensation for the charge.
    interpreter.complete_task("Charge", {}, actor="bo", org=None, idempotency_key=None, now=NOW)
    interpreter.run(NOW)
    assert check_migration(interpreter.state, v1, v2, plan).refusals == [
        "completed Charge is compensable (by 'Refund'), but 'Charge' of booking_renamed v2 "
        "has no compensation handler: a later compensation could not undo it"
    ]


# --- while an execution listener runs ----------------------------------------------------------

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_migration_listeners"
    targetNamespace="http://bpmn.io/schema/bpmn">
"""


def _listened(version: int) -> str:
    """A review with a start listener (which picks the reviewer) and an end listener
    (which archives the decision), then a decision; v2 adds a notice after it."""
    after_decide = "End" if version == 1 else "Notice"
    notice = (
        ""
        if version == 1
        else """
    <bpmn:userTask id="Notice"/>
    <bpmn:sequenceFlow id="f4" sourceRef="Notice" targetRef="End"/>"""
    )
    return (
        HEADER
        + f"""
  <bpmn:process id="c8-listened" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
    <bpmn:userTask id="Review">
      <bpmn:extensionElements>
        <zeebe:assignmentDefinition assignee="=reviewer"/>
        <zeebe:executionListeners>
          <zeebe:executionListener eventType="start" type="pick-reviewer"/>
          <zeebe:executionListener eventType="end" type="archive"/>
        </zeebe:executionListeners>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Decide"/>
    <bpmn:userTask id="Decide"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Decide" targetRef="{after_decide}"/>{notice}
    <bpmn:endEvent id="End" name="Klar"/>
  </bpmn:process>
</bpmn:definitions>
"""
    )


def _listener(state: InstanceState) -> str | None:
    """The id of the listener running in the case, if any."""
    return next((a.id for a in state.activities.values() if a.kind == LISTENER_KIND), None)


async def test_a_case_is_not_migrated_while_a_start_or_end_listener_runs(
    cases: Cases, client: Client, jobs_queue: str
):
    plan = _plan("c8-listened")
    pick, archive = Gate(reviewer=OFFICER.subject), Gate(archived=True)
    jobs = JobWorker({"pick-reviewer": pick, "archive": archive})
    cases.deploy(_listened(1))
    async with running_job_worker(client, jobs_queue, jobs):
        handle = await cases.start("c8-listened")
        await pick.entered.wait()
        cases.deploy(_listened(2))
        v1, v2 = _models(cases, "c8-listened")

        # The start listener runs: the review has not started (no task is open).
        before = await until_state(cases, handle, _listener)
        assert "Review" not in before.activities
        reason = (
            f"the start listener 'pick-reviewer' of 'Review' is running ({_listener(before)}): "
            "migrate once it has finished"
        )
        assert check_migration(before, v1, v2, plan).refusals == [reason]
        assert reason in await _refused(handle, plan)
        _untouched(before, await cases.internal(handle))

        # It finishes; the review opens for the reviewer it picked. Completed, the end
        # listener runs: the token has not left the review.
        pick.opened.set()
        state = await until_state(cases, handle, lambda s: "Review" in s.activities)
        assert state.activities["Review"].candidate_users == [OFFICER.subject]
        await cases.complete(handle, "Review", {"decision": "granted"})
        await archive.entered.wait()
        before = await until_state(cases, handle, _listener)
        reason = (
            f"the end listener 'archive' of 'Review' is running ({_listener(before)}): "
            "migrate once it has finished"
        )
        assert check_migration(before, v1, v2, plan).refusals == [reason]
        assert reason in await _refused(handle, plan)
        _untouched(before, await cases.internal(handle))

        # Once it has finished, the case migrates and ends on v2's rules.
        archive.opened.set()
        await until_state(cases, handle, lambda s: "Decide" in s.activities)
        assert (await _migrate(handle, plan)).changes == ["c8-listened v1 -> c8-listened v2"]
        await cases.complete(handle, "Decide")
        await until_state(cases, handle, lambda s: "Notice" in s.activities)
        await cases.complete(handle, "Notice")
        result = await ended(handle)
    assert result.outcome == "Klar"
    assert result.variables["archived"] is True
    assert [call.type for call in jobs.calls] == ["pick-reviewer", "archive"]
    await _replays(cases, handle)


def test_a_listener_parked_in_an_incident_is_named_with_what_to_do(tmp_path: Path):
    """A failed listener is in flight too: which one a retry runs is counted in the
    source's listeners of the element."""
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="l.bpmn", content=_listened(1).encode())])
    store.deploy([ModelFile(name="l.bpmn", content=_listened(2).encode())])
    v1 = load_model(store.source("c8-listened", 1))
    v2 = load_model(store.source("c8-listened", 2))
    state = InstanceState(process_id="c8-listened", version=1, business_key="k", title="C")
    interpreter = Interpreter(v1, state)
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    [job] = interpreter.take_effects()
    interpreter.service_failed(job.activity_id, error_code=None, message="down", now=NOW)
    assert check_migration(interpreter.state, v1, v2, _plan("c8-listened")).refusals == [
        f"the start listener 'pick-reviewer' of 'Review' failed ({job.activity_id}, an "
        "incident): retry it, and migrate once it has finished"
    ]


# --- while a child case is starting ----------------------------------------------------------

CHILD = bpmn("""
<bpmn:process id="assessment_inflight" isExecutable="true">
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


def _calling(version: int) -> str:
    """A call activity first thing; v2 keeps the verdict under another name and adds a
    decision after it."""
    output = "verdict" if version == 1 else "assessed_verdict"
    after = "End" if version == 1 else "Decide"
    decide = (
        ""
        if version == 1
        else """
  <bpmn:userTask id="Decide"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Decide" targetRef="End"/>"""
    )
    return bpmn(f"""
<bpmn:process id="calling_inflight" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Assess"/>
  <bpmn:callActivity id="Assess">
    <bpmn:extensionElements>
      <niva:calledElement processId="assessment_inflight"/>
      <niva:output target="{output}" source="=result.verdict"/>
    </bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="f2" sourceRef="Assess" targetRef="{after}"/>{decide}
  <bpmn:endEvent id="End" name="Klar"/>
</bpmn:process>""")


async def test_a_case_migrated_while_its_child_is_starting_keeps_the_child(cases: Cases):
    cases.deploy(_calling(1), CHILD)
    cases.deploy(_calling(2))
    plan = _plan("calling_inflight")
    business_key = uuid.uuid4().hex[:10]
    workflow_id = instance_id("calling_inflight", business_key)
    start = StartInstanceInput(
        model=cases.store.source("calling_inflight", 1),
        business_key=business_key,
        title="Test case",
    )
    # The update arrives with the case's start: it is applied in the first workflow task,
    # in which the case enters the call activity and asks for its child. Temporal can
    # confirm the child's start only in a later one.
    operation: WithStartWorkflowOperation[Any, InstanceResult] = WithStartWorkflowOperation(
        "calling_inflight",
        start,
        id=workflow_id,
        task_queue=cases.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        result_type=InstanceResult,
    )
    result = await cases.client.execute_update_with_start_workflow(
        MIGRATE_UPDATE,
        MigrateInput(migration_id="m-starting", plan=plan, actor=OPERATOR),
        start_workflow_operation=operation,
        result_type=MigrateResult,
    )
    handle = await operation.workflow_handle()
    cases.started.append(handle)
    assert result.changes == ["calling_inflight v1 -> calling_inflight v2"]
    history = [event.event_type for event in (await handle.fetch_history()).events]
    completed = history.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED)
    assert EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED not in history[:completed]

    # The child starts and runs on; the case waits for it in the same run, on v2.
    state = await until_state(
        cases,
        handle,
        lambda s: s.activities.get("Assess") and s.activities["Assess"].child_workflow_id,
    )
    assert (state.process_id, state.version) == ("calling_inflight", 2)
    child_id = state.activities["Assess"].child_workflow_id
    assert child_id is not None
    child = cases.client.get_workflow_handle(child_id)

    async def child_waits() -> bool:
        try:
            return "Work" in (await cases.internal(child)).activities
        except RPCError:  # not started yet
            return False

    await until(child_waits)
    await cases.complete(child, "Work", {"verdict": "godkänd"})

    # The child ended: the case goes on as new on v2. Watched through the run id, not a
    # query: a query racing the continue-as-new can hang on this server.
    async def continued() -> bool:
        return await _current_run(cases, handle.id) != handle.first_execution_run_id

    await until(continued)
    state = await until_state(cases, handle, lambda s: "Decide" in s.activities)
    assert state.variables["assessed_verdict"] == "godkänd"
    await cases.complete(handle, "Decide")
    assert (await ended(handle)).outcome == "Klar"
    assert (await cases.view(child)).status == "completed"
    await _replays(cases, handle)


def _two_calls(version: int) -> str:
    """Two assessments at once; v2 adds a decision after them."""
    after = "End" if version == 1 else "Decide"
    decide = (
        ""
        if version == 1
        else """
  <bpmn:userTask id="Decide"/>
  <bpmn:sequenceFlow id="f9" sourceRef="Decide" targetRef="End"/>"""
    )
    calls = ""
    for call in ("First", "Second"):
        calls += f"""
  <bpmn:sequenceFlow id="to{call}" sourceRef="Split" targetRef="{call}"/>
  <bpmn:callActivity id="{call}">
    <bpmn:extensionElements><niva:calledElement processId="assessment_inflight"/>
    </bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="from{call}" sourceRef="{call}" targetRef="Join"/>"""
    return bpmn(f"""
<bpmn:process id="two_calls" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Split"/>
  <bpmn:parallelGateway id="Split"/>{calls}
  <bpmn:parallelGateway id="Join"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Join" targetRef="{after}"/>{decide}
  <bpmn:endEvent id="End"/>
</bpmn:process>""")


def test_a_child_held_for_room_to_start_is_named_in_the_refusal(tmp_path: Path):
    """A child the case asked for but holds under ``max_in_flight`` has not started: its
    inputs were evaluated on the source's rules, so the case migrates once it started."""
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="c.bpmn", content=CHILD.encode())])
    for version in (1, 2):
        store.deploy([ModelFile(name="t.bpmn", content=_two_calls(version).encode())])
    v1 = load_model(store.source("two_calls", 1))
    v2 = load_model(store.source("two_calls", 2))
    state = InstanceState(process_id="two_calls", version=1, business_key="k", title="T")
    interpreter = Interpreter(v1, state, limits=EngineLimits(max_in_flight=1))
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    [started] = interpreter.take_effects()
    assert (started.activity_id, [held.activity_id for held in state.held]) == (
        "First",
        ["Second"],
    )
    assert check_migration(state, v1, v2, _plan("two_calls")).refusals == [
        "service tasks or child cases wait for room to start (Second): migrate once they started"
    ]
    # The first child ends, the second starts: the case fits.
    interpreter.child_finished("First", {}, NOW)
    interpreter.run(NOW)
    assert not state.held
    assert check_migration(state, v1, v2, _plan("two_calls")).fits
