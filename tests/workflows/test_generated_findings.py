"""What the generated executions (`test_generated_executions.py`) found, as ordinary
regression tests on the dev server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from process_models.bpmn import namespaces
from process_models.limits import EngineLimits
from tests.support.lazy_import_workflow import LazyImport
from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, Cases, bpmn, running_cases
from workflows.contract import RetryIncidentInput
from workflows.sandbox import shared_runner
from workflows.state import InstanceState

ANSWER_WITHIN = 20.0


async def with_incident(handle: WorkflowHandle[Any, Any]) -> InstanceState:
    """The case's state once it has an incident."""
    for _ in range(int(ANSWER_WITHIN / 0.1)):
        state = await Cases.internal(handle)
        if state.incidents:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"no incident within {ANSWER_WITHIN} s")


@pytest.fixture
async def cases(client: Client, task_queue: str, tmp_path: Path):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


FORK_TO_TERMINATE = bpmn("""
<bpmn:process id="found_fork_terminate" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:parallelGateway id="Fork"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="Work"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="Stop"/>
  <bpmn:serviceTask id="Work">
    <bpmn:extensionElements><niva:taskDefinition type="echo"/></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f4" sourceRef="Work" targetRef="Done"/>
  <bpmn:endEvent id="Done" name="Done"/>
  <bpmn:endEvent id="Stop" name="Stopped"><bpmn:terminateEventDefinition/></bpmn:endEvent>
</bpmn:process>
""")


async def test_an_activity_cancelled_in_the_step_that_started_it_lets_the_case_close(
    cases: Cases,
):
    # One step starts the service task in one branch and terminates the case in the other:
    # the activity is cancelled before it was ever scheduled. The case ended, and its
    # workflow used to stay open for ever, waiting for that activity.
    cases.deploy(FORK_TO_TERMINATE)
    handle = await cases.start("found_fork_terminate")
    result = await asyncio.wait_for(handle.result(), ANSWER_WITHIN)
    assert result.outcome == "Stopped"


SHORT_CYCLE_HANDLER = bpmn("""
<bpmn:process id="found_short_cycle_handler" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
  <bpmn:endEvent id="End"/>
  <bpmn:subProcess id="Remind" triggeredByEvent="true">
    <bpmn:startEvent id="RemindStart" isInterrupting="false">
      <bpmn:timerEventDefinition><bpmn:timeCycle>=cycle</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="r1" sourceRef="RemindStart" targetRef="Reminded"/>
    <bpmn:endEvent id="Reminded"/>
  </bpmn:subProcess>
</bpmn:process>
""")


async def test_a_process_handler_that_cannot_be_armed_parks_the_start_token(cases: Cases):
    # The process's own timer event subprocess computes a cycle below the minimum period:
    # the incident used to be bound to no token, and its retry armed nothing.
    cases.deploy(SHORT_CYCLE_HANDLER)
    handle = await cases.start(
        "found_short_cycle_handler",
        {"cycle": "R/PT1S"},
        limits=EngineLimits(min_cycle_seconds=60),
    )
    state = await with_incident(handle)
    (incident,) = state.incidents.values()
    assert incident.kind == "expression"
    assert incident.token_id in state.tokens
    assert state.tokens[incident.token_id].status == "incident"
    assert not state.timers
    assert not state.activities

    await handle.execute_update(
        "retry_incident",
        RetryIncidentInput(incident_id=incident.id, variables={"cycle": "R2/PT1H"}, actor=OFFICER),
    )
    state = await Cases.internal(handle)
    assert not state.incidents
    assert [t.element_id for t in state.timers.values()] == ["RemindStart"]
    assert [a.element_id for a in state.activities.values()] == ["Review"]


async def test_a_failed_retry_of_the_handlers_parks_the_start_token_again(cases: Cases):
    cases.deploy(SHORT_CYCLE_HANDLER)
    handle = await cases.start(
        "found_short_cycle_handler",
        {"cycle": "R/PT1S"},
        limits=EngineLimits(min_cycle_seconds=60),
    )
    (incident,) = (await with_incident(handle)).incidents.values()
    await handle.execute_update(
        "retry_incident",
        RetryIncidentInput(incident_id=incident.id, variables={}, actor=OFFICER),
    )
    state = await Cases.internal(handle)
    (again,) = state.incidents.values()
    assert again.id != incident.id
    assert again.token_id == incident.token_id
    assert state.tokens[again.token_id].status == "incident"
    assert not state.timers
    assert not state.activities


async def test_an_import_inside_engine_code_finds_the_workers_module(
    client: Client, task_queue: str
):
    # Loaded afresh in each run's sandbox, a package import could outlast the deadlock
    # detector under load; its interruption inside the import machinery then left a module
    # lock held, and every workflow thread of the worker waited on it for ever.
    async with Worker(
        client, task_queue=task_queue, workflows=[LazyImport], workflow_runner=shared_runner()
    ):
        found = await client.execute_workflow(
            LazyImport.run, id=f"lazy-{task_queue}", task_queue=task_queue
        )
    assert found == id(namespaces)


TWO_CALLS_OF_ONE_PROCESS = bpmn("""
<bpmn:process id="found_two_calls" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:parallelGateway id="Fork"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="First"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="Second"/>
  <bpmn:callActivity id="First">
    <bpmn:extensionElements><niva:calledElement processId="found_called"/></bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:callActivity id="Second">
    <bpmn:extensionElements><niva:calledElement processId="found_called"/></bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="f4" sourceRef="First" targetRef="Join"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Second" targetRef="Join"/>
  <bpmn:parallelGateway id="Join"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Join" targetRef="End"/>
  <bpmn:endEvent id="End" name="Both done"/>
</bpmn:process>
<bpmn:process id="found_called" isExecutable="true">
  <bpmn:startEvent id="CStart"/>
  <bpmn:sequenceFlow id="c1" sourceRef="CStart" targetRef="Work"/>
  <bpmn:userTask id="Work"/>
  <bpmn:sequenceFlow id="c2" sourceRef="Work" targetRef="CEnd"/>
  <bpmn:endEvent id="CEnd"/>
</bpmn:process>
""")


async def test_two_call_activities_of_one_process_give_their_children_their_own_ids(
    cases: Cases, client: Client
):
    # Both children used to get the id "found_called:<key>": the second could not start
    # while the first ran, and its call activity parked in a "child" incident.
    cases.deploy(TWO_CALLS_OF_ONE_PROCESS)
    handle = await cases.start("found_two_calls", business_key="twice")
    state = await Cases.internal(handle)
    for _ in range(int(ANSWER_WITHIN / 0.1)):
        state = await Cases.internal(handle)
        if len(state.children) == 2 or state.incidents:
            break
        await asyncio.sleep(0.1)
    assert not state.incidents, state.incidents
    assert sorted(state.children) == ["found_called:twice#First", "found_called:twice#Second"]
    for child_id in state.children:
        child = client.get_workflow_handle(child_id)
        for _ in range(int(ANSWER_WITHIN / 0.1)):
            if (await Cases.internal(child)).activities:
                break
            await asyncio.sleep(0.1)
        [task] = [a.id for a in (await Cases.internal(child)).activities.values()]
        await cases.complete(child, task)
    result = await asyncio.wait_for(handle.result(), ANSWER_WITHIN)
    assert result.outcome == "Both done"
