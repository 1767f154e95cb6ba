"""The limits of a case (`process_models.limits`) on the dev server: what used to wedge a
case for good (its workflow task failing for ever) ends in an incident bound to the
element, or in a refused request, and the case can still be read, retried and cancelled.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.testing import WorkflowEnvironment

import worker
from process_models.deployments import DeployLimits, ModelFile, ModelStore
from process_models.limits import EngineLimits
from process_models.store import FileBlobStore
from starter.cases import StartTooLargeError, instance_id
from starter.settings import WorkerSettings
from tests.support.case_waits import cancel, incident, retry, until
from tests.support.in_flight import activities_in_flight
from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn, registry_with_test_types, running_cases
from workflows import search_attributes as sa
from workflows.candidates import Actor
from workflows.contract import StartInstanceInput
from workflows.visibility import MAX_LIST_BYTES, TRUNCATED


@pytest.fixture
async def cases(client: Client, task_queue: str, tmp_path: Path):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


# --- multi-instance cardinality and search attributes ----------------------------------------

REFERRAL = bpmn("""
<bpmn:process id="limits_referral" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="ReferralResponse"/>
  <bpmn:userTask id="ReferralResponse" name="Remissvar">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="=[region]"/>
    </bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <niva:loop inputCollection="=regions" inputElement="region"/>
      </bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="ReferralResponse" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_multi_instance_above_the_limit_is_an_incident_at_creation(cases: Cases):
    cases.deploy(REFERRAL)
    handle = await cases.start("limits_referral", {"regions": [f"r{i}" for i in range(1_001)]})
    parked = await incident(handle)
    assert (parked.kind, parked.element_id) == ("limit", "ReferralResponse")
    assert "1,001 instances, more than the 1,000" in parked.message
    assert (await Cases.view(handle)).open_tasks == []
    await retry(handle, parked.incident_id, regions=["SE-AB", "SE-C"])

    async def two_open() -> bool:
        return len((await Cases.view(handle)).open_tasks) == 2

    await until(two_open)
    # Each instance by its task id, and the multi-instance task by its element id.
    listed = ["ReferralResponse:SE-AB", "ReferralResponse:SE-C", "ReferralResponse"]

    async def published() -> bool:
        attributes = (await handle.describe()).typed_search_attributes
        return attributes.get(sa.OPEN_TASKS) == listed

    await until(published)
    assert (await cancel(handle)).status == "cancelled"


async def test_search_attributes_stay_within_temporal_limits_whatever_the_task_count(
    cases: Cases, client: Client
):
    cases.deploy(REFERRAL)
    # Shipped-style ids: 150 of them overflowed NivaOpenTasks, NivaCandidates and
    # NivaParticipants, and Temporal terminated the case.
    regions = [f"SE-REGION-{i:03}" for i in range(150)]
    handle = await cases.start("limits_referral", {"regions": regions})

    async def all_open() -> bool:
        return len((await Cases.view(handle)).open_tasks) == 150

    await until(all_open)

    async def truncated() -> bool:
        attributes = (await handle.describe()).typed_search_attributes
        return TRUNCATED in (attributes.get(sa.OPEN_TASKS) or [])

    await until(truncated)
    region = Actor(subject="officer-7", org="SE-REGION-007", roles=["officer"])
    await cases.complete(handle, "ReferralResponse:SE-REGION-007", actor=region)
    attributes = (await handle.describe()).typed_search_attributes
    open_tasks = attributes.get(sa.OPEN_TASKS)
    candidates = attributes.get(sa.CANDIDATES)
    participants = attributes.get(sa.PARTICIPANTS)
    for listed in (open_tasks, candidates, participants):
        assert listed is not None
        assert listed[-1] == TRUNCATED
        assert len(json.dumps(listed).encode()) <= MAX_LIST_BYTES
    assert open_tasks is not None
    assert open_tasks[0] == "ReferralResponse"
    assert "ReferralResponse:SE-REGION-000" in open_tasks
    assert candidates is not None
    assert candidates[0] == "group:officer"
    # The documented operator queries still find the case.
    query = f'WorkflowId = "{handle.id}" AND NivaOpenTasks = "ReferralResponse"'

    async def found() -> bool:
        return [w.id async for w in client.list_workflows(query)] == [handle.id]

    await until(found)
    assert (await Cases.view(handle)).status == "running"
    assert (await cancel(handle)).status == "cancelled"


# --- pending activities ----------------------------------------------------------------------

NOTIFY_ALL = bpmn("""
<bpmn:process id="limits_notify" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Notify"/>
  <bpmn:serviceTask id="Notify">
    <bpmn:extensionElements>
      <niva:taskDefinition type="echo"/>
      <niva:input target="to" source="=item"/>
    </bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <niva:loop inputCollection="=items" inputElement="item" outputCollection="sent" outputElement="=result.echoed.to"/>
      </bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Notify" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_parallel_service_tasks_are_throttled_below_the_pending_activity_limit(
    cases: Cases,
):
    cases.deploy(NOTIFY_ALL)
    items = [f"o{i}" for i in range(12)]
    handle = await cases.start(
        "limits_notify", {"items": items}, limits=EngineLimits(max_in_flight=5)
    )
    result = await handle.result()
    assert result.variables["sent"] == {item: item for item in items}
    scheduled, most = await activities_in_flight(handle)
    assert (scheduled, most) == (12, 5)


# --- expression cost -------------------------------------------------------------------------

COSTLY = bpmn("""
<bpmn:process id="limits_costly" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Check"/>
  <bpmn:exclusiveGateway id="Check" default="f3"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="Pairs">
    <bpmn:conditionExpression>=l.all(x, l.all(y, x + y &gt;= 0))</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f3" sourceRef="Check" targetRef="Other"/>
  <bpmn:endEvent id="Pairs" name="Alla par"/>
  <bpmn:endEvent id="Other" name="Annat"/>
</bpmn:process>
""")


async def test_a_costly_expression_is_an_incident_not_a_deadlock(cases: Cases):
    cases.deploy(COSTLY)
    handle = await cases.start("limits_costly", {"l": list(range(5_000))})
    parked = await incident(handle)
    assert (parked.kind, parked.element_id) == ("expression", "Check")
    assert "NIVA_LIMITS_EXPRESSION_COST" in parked.message
    await retry(handle, parked.incident_id, l=[1, 2, 3])
    assert (await handle.result()).outcome == "Alla par"


# --- steps per workflow task -----------------------------------------------------------------


def _chain(length: int) -> str:
    tasks = "".join(
        f'<bpmn:task id="T{i}"/><bpmn:sequenceFlow id="t{i}" sourceRef="T{i}" '
        f'targetRef="{f"T{i + 1}" if i + 1 < length else "End"}"/>'
        for i in range(length)
    )
    return bpmn(f"""
<bpmn:process id="limits_chain" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="T0"/>
  {tasks}
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_a_long_chain_parks_in_an_incident_and_a_retry_goes_on(cases: Cases):
    cases.deploy(_chain(60))
    handle = await cases.start("limits_chain", limits=EngineLimits(max_steps=100))
    parked = await incident(handle)
    assert parked.kind == "limit"
    assert "more than 100 steps without waiting" in parked.message
    await retry(handle, parked.incident_id)
    assert (await handle.result()).outcome == "End"


FORK_LOOP = bpmn("""
<bpmn:process id="limits_fork_loop" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f0" sourceRef="Start" targetRef="Merge"/>
  <bpmn:exclusiveGateway id="Merge"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Merge" targetRef="Fork"/>
  <bpmn:parallelGateway id="Fork"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="Merge"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="Merge"/>
</bpmn:process>
""")


async def test_a_loop_through_a_parallel_fork_ends_in_an_incident(cases: Cases):
    cases.deploy(FORK_LOOP)
    handle = await cases.start("limits_fork_loop")
    parked = await incident(handle)
    assert parked.kind == "limit"
    view = await Cases.view(handle)
    assert view.status == "running"
    assert len(view.tokens) <= EngineLimits().max_tokens
    assert (await cancel(handle)).status == "cancelled"


# --- variables size --------------------------------------------------------------------------

TWO_ANSWERS = bpmn("""
<bpmn:process id="limits_answers" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Both"/>
  <bpmn:parallelGateway id="Both"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Both" targetRef="A"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Both" targetRef="B"/>
  <bpmn:userTask id="A"/>
  <bpmn:userTask id="B"/>
  <bpmn:sequenceFlow id="f4" sourceRef="A" targetRef="Joined"/>
  <bpmn:sequenceFlow id="f5" sourceRef="B" targetRef="Joined"/>
  <bpmn:parallelGateway id="Joined"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Joined" targetRef="Grow"/>
  <bpmn:userTask id="Grow">
    <bpmn:extensionElements>
      <niva:output target="grown" source="=payload.s + payload.s + payload.s"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f7" sourceRef="Grow" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_variables_beyond_the_limit_are_refused_or_an_incident(cases: Cases):
    cases.deploy(TWO_ANSWERS)
    limits = EngineLimits(max_variables_bytes=2_048)
    handle = await cases.start("limits_answers", limits=limits)
    await cases.complete(handle, "A", {"a": "x" * 1_200})
    # The second large completion would take the case past its limit: refused, not lost.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await cases.complete(handle, "B", {"b": "y" * 1_200})
    assert refused.value.cause.type == "Invalid"
    assert "more than the 2,048 a case may hold" in str(refused.value.cause)
    await cases.complete(handle, "B", {"b": "short"})

    async def at_grow() -> bool:
        return [t.task_id for t in (await Cases.view(handle)).open_tasks] == ["Grow"]

    await until(at_grow)
    # Accepted (the payload fits), but the output mapping triples it: an incident.
    await cases.complete(handle, "Grow", {"s": "z" * 300})
    parked = await incident(handle)
    assert (parked.kind, parked.element_id) == ("limit", "Grow")
    assert "NIVA_LIMITS_MAX_VARIABLES_BYTES" in parked.message
    assert (await cancel(handle)).status == "cancelled"


async def test_a_start_larger_than_the_limits_fails_clearly(cases: Cases, client: Client):
    cases.deploy(TWO_ANSWERS)
    limits = EngineLimits(max_variables_bytes=2_048)
    with pytest.raises(StartTooLargeError, match="NIVA_LIMITS_MAX_VARIABLES_BYTES"):
        await cases.start("limits_answers", {"big": "x" * 3_000}, limits=limits)
    # A start that bypasses the check fails at once with the reason, never retrying.
    start = StartInstanceInput(
        model=cases.store.source("limits_answers", None),
        business_key="too-big",
        title="Too big",
        variables={"big": "x" * 3_000},
        limits=limits,
    )
    handle = await client.start_workflow(
        "limits_answers",
        start,
        id=instance_id("limits_answers", "too-big-" + cases.task_queue),
        task_queue=cases.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert "NIVA_LIMITS_MAX_VARIABLES_BYTES" in str(failed.value.cause)


# --- call activities -------------------------------------------------------------------------

CALLS = bpmn("""
<bpmn:process id="limits_parent" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:callActivity id="Review">
    <bpmn:extensionElements><niva:calledElement processId="limits_child"/></bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
<bpmn:process id="limits_child" isExecutable="true">
  <bpmn:startEvent id="CStart"/>
  <bpmn:sequenceFlow id="c1" sourceRef="CStart" targetRef="Work"/>
  <bpmn:userTask id="Work"/>
  <bpmn:sequenceFlow id="c2" sourceRef="Work" targetRef="CEnd"/>
  <bpmn:endEvent id="CEnd"/>
</bpmn:process>
<bpmn:process id="limits_recursive" isExecutable="true">
  <bpmn:startEvent id="RStart"/>
  <bpmn:sequenceFlow id="r1" sourceRef="RStart" targetRef="Again"/>
  <bpmn:callActivity id="Again">
    <bpmn:extensionElements><niva:calledElement processId="limits_recursive"/></bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements><niva:loop inputCollection="=['deeper']"/></bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="r2" sourceRef="Again" targetRef="REnd"/>
  <bpmn:endEvent id="REnd"/>
</bpmn:process>
""")


async def test_a_taken_child_id_is_an_incident_on_the_call_activity(cases: Cases, client: Client):
    cases.deploy(CALLS)
    key = "taken-" + cases.task_queue
    squatter = await cases.start("limits_child", business_key=key)
    handle = await cases.start("limits_parent", business_key=key)
    parked = await incident(handle)
    assert (parked.kind, parked.element_id) == ("child", "Review")
    assert "taken by another case" in parked.message
    assert (await Cases.view(squatter)).status == "running"
    assert (await cancel(handle)).status == "cancelled"


async def test_call_depth_beyond_the_limit_is_an_incident(cases: Cases, client: Client):
    cases.deploy(CALLS)
    handle = await cases.start("limits_recursive", limits=EngineLimits(max_call_depth=2))
    chain: list[WorkflowHandle[Any, Any]] = [handle]
    while len(chain) < 3:

        async def has_child(parent: WorkflowHandle[Any, Any] = chain[-1]) -> bool:
            return bool((await Cases.internal(parent)).children)

        await until(has_child)
        child_id = (await Cases.internal(chain[-1])).children[0]
        chain.append(client.get_workflow_handle(child_id))
    deepest = chain[-1]
    parked = await incident(deepest)
    assert (parked.kind, parked.element_id) == ("limit", "Again")
    assert "2 calls deep" in parked.message
    assert (await Cases.internal(deepest)).children == []
    assert (await cancel(handle)).status == "cancelled"


# --- timer cycles ----------------------------------------------------------------------------

REMINDERS = bpmn("""
<bpmn:process id="limits_reminders" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Answer"/>
  <bpmn:userTask id="Answer"/>
  <bpmn:boundaryEvent id="Remind" attachedToRef="Answer" cancelActivity="false">
    <bpmn:timerEventDefinition><bpmn:timeCycle>R/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Remind" targetRef="Reminded"/>
  <bpmn:endEvent id="Reminded"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Answer" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
<bpmn:process id="limits_fast_cycle" isExecutable="true">
  <bpmn:startEvent id="FStart"/>
  <bpmn:sequenceFlow id="g1" sourceRef="FStart" targetRef="Wait"/>
  <bpmn:userTask id="Wait"/>
  <bpmn:boundaryEvent id="Nag" attachedToRef="Wait" cancelActivity="false">
    <bpmn:timerEventDefinition><bpmn:timeCycle>=cycle</bpmn:timeCycle></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="g2" sourceRef="Nag" targetRef="Nagged"/>
  <bpmn:endEvent id="Nagged"/>
  <bpmn:sequenceFlow id="g3" sourceRef="Wait" targetRef="FEnd"/>
  <bpmn:endEvent id="FEnd"/>
</bpmn:process>
""")


async def test_a_cycle_fires_once_after_downtime_and_is_rescheduled_from_now(
    client: Client, task_queue: str, tmp_path: Path
):
    store = ModelStore(FileBlobStore(tmp_path / "models"), registry=registry_with_test_types())
    store.deploy([ModelFile(name="reminders.bpmn", content=REMINDERS.encode())])
    cases = Cases(client, task_queue, store)
    settings = WorkerSettings(task_queue=task_queue, graceful_shutdown_seconds=0)
    # A one-second cycle (allowed by this case's limits) shows downtime in seconds.
    limits = EngineLimits(min_cycle_seconds=1)
    try:
        async with worker.build_worker(client, settings, store=store, activities=[]):
            handle = await cases.start("limits_fast_cycle", {"cycle": "R/PT1S"}, limits=limits)
            assert len((await Cases.internal(handle)).timers) == 1
        # The worker is down for about five seconds: five repetitions fall due meanwhile.
        down = datetime.now(UTC)
        await asyncio.sleep(5)
        async with worker.build_worker(client, settings, store=store, activities=[]):

            async def reminded_after_downtime() -> bool:
                audit = (await Cases.internal(handle)).audit
                return any(e.kind == "timer" and e.at > down for e in audit)

            await until(reminded_after_downtime)
            state = await Cases.internal(handle)
            await cases.terminate_running()
            cases.started.clear()
    finally:
        # Only what is still running: a query of an ended case waits for a worker.
        if cases.started:
            async with worker.build_worker(client, settings, store=store, activities=[]):
                await cases.terminate_running()
    firings = [e.at for e in state.audit if e.kind == "timer"]
    # Each firing in an activation of its own: the missed ones were not replayed in a row.
    assert len(firings) == len(set(firings))
    (timer,) = state.timers.values()
    assert timer.fire_at > max(firings)


async def test_a_computed_cycle_below_the_minimum_period_is_an_incident(
    own_time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
):
    async with running_cases(
        own_time_skipping_env.client, task_queue, tmp_path, activities=[]
    ) as cases:
        cases.deploy(REMINDERS)
        handle = await cases.start("limits_fast_cycle", {"cycle": "R/PT0.000001S"})
        parked = await incident(handle)
        assert (parked.kind, parked.element_id) == ("expression", "Wait")
        assert "at least PT60S" in parked.message
        await retry(handle, parked.incident_id, cycle="R/P1D")

        async def waiting() -> bool:
            return [t.task_id for t in (await Cases.view(handle)).open_tasks] == ["Wait"]

        await until(waiting)
        assert (await cancel(handle)).status == "cancelled"


async def test_a_chain_longer_than_the_default_step_budget_completes_through_retries(
    cases: Cases,
):
    cases.deploy(_chain(1_100))
    handle = await cases.start("limits_chain")
    parked = await incident(handle)
    assert parked.kind == "limit"
    assert f"more than {EngineLimits().max_steps} steps" in parked.message
    await retry(handle, parked.incident_id)
    assert (await handle.result()).outcome == "End"


async def test_a_start_of_a_model_too_large_for_one_payload_is_refused(cases: Cases):
    # Deployed under a relaxed deploy limit: every start of it would fail in Temporal.
    cases.store.limits = DeployLimits(max_model_bytes=4 * 1024 * 1024)
    documentation = "x" * (2 * 1024 * 1024)
    cases.deploy(
        bpmn(f"""
<bpmn:process id="limits_huge" isExecutable="true">
  <bpmn:documentation>{documentation}</bpmn:documentation>
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")
    )
    with pytest.raises(StartTooLargeError, match=r"more than the .* Temporal accepts"):
        await cases.start("limits_huge")
