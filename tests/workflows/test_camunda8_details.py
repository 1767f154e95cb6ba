"""Zeebe's details that real Camunda 8 models rely on, run by the interpreter and on the
time-skipping server: a task's input mappings are its local variables."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from process_models.deployments import ModelFile, ModelStore
from process_models.store import FileBlobStore
from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, registry_with_test_types, running_cases
from workflows.candidates import Actor
from workflows.interpreter import Interpreter
from workflows.model import load_model
from workflows.state import InstanceState

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)

LOCALS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_locals"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="c8-locals" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
    <bpmn:userTask id="Review">
      <bpmn:extensionElements>
        <zeebe:ioMapping>
          <zeebe:input source="=applicant.name" target="name"/>
          <zeebe:input source="=amount * 2" target="limit"/>
          <zeebe:input source="=owner" target="reviewer"/>
          <zeebe:output source="=decision + &#34; for &#34; + name" target="summary"/>
          <zeebe:output source="=limit" target="approvedLimit"/>
        </zeebe:ioMapping>
        <zeebe:assignmentDefinition assignee="=reviewer"/>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Note"/>
    <bpmn:userTask id="Note">
      <bpmn:extensionElements>
        <zeebe:ioMapping>
          <zeebe:input source="draft" target="note"/>
        </zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="Note" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""

START = {"applicant": {"name": "Anna"}, "amount": 50, "owner": "bo"}


def _interpreter(tmp_path: Path, source: str, process_id: str, variables: dict[str, Any]):
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name=f"{process_id}.bpmn", content=source.encode())])
    state = InstanceState(
        process_id=process_id, version=1, business_key="k", title="Case", variables=variables
    )
    interpreter = Interpreter(load_model(store.source(process_id)), state)
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    return interpreter


def _complete(interpreter: Interpreter, task_id: str, payload: dict[str, Any]) -> None:
    interpreter.complete_task(task_id, payload, actor="bo", org=None, idempotency_key=None, now=NOW)
    interpreter.run(NOW)


def test_user_task_inputs_are_local_variables(tmp_path: Path):
    interpreter = _interpreter(tmp_path, LOCALS, "c8-locals", dict(START))
    [review] = interpreter.open_tasks()
    # The assignee expression read the task's local variable ``reviewer``.
    assert review.candidate_users == ["bo"]
    # The scope does not see the task's inputs while the task is open.
    assert interpreter.state.variables == START
    _complete(interpreter, "Review", {"decision": "approve"})
    # The outputs read the completion's variables and the task's local ones.
    assert interpreter.state.variables == {
        **START,
        "summary": "approve for Anna",
        "approvedLimit": 100,
    }
    [note] = interpreter.open_tasks()
    assert note.element_id == "Note"
    # Without outputs the completion merges, except a variable named as a local one: Zeebe
    # sets it in the task's own scope, which ends with the task.
    _complete(interpreter, "Note", {"note": "final", "extra": 1})
    assert interpreter.state.outcome is not None
    assert "note" not in interpreter.state.variables
    assert interpreter.state.variables["extra"] == 1


def test_niva_dialect_user_task_inputs_stay_ignored(tmp_path: Path):
    # The niva dialect keeps its own rule (recorded histories replay): a user task's inputs
    # are not evaluated, and its payload merges.
    source = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:niva="urn:niva:bpmn:1" id="d" targetNamespace="urn:niva:test">
  <bpmn:process id="niva-locals" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
    <bpmn:userTask id="Review">
      <bpmn:extensionElements>
        <niva:input target="limit" source="=amount * 2"/>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""
    interpreter = _interpreter(tmp_path, source, "niva-locals", {"amount": 5})
    [token] = interpreter.state.tokens.values()
    assert token.locals is None
    _complete(interpreter, "Review", {"limit": 1})
    assert interpreter.state.variables == {"amount": 5, "limit": 1}


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client,
        task_queue,
        tmp_path,
        activities=activities_for_tests.ALL,
        registry=registry_with_test_types(),
    ) as running:
        running.deploy(LOCALS)
        yield running


async def test_user_task_inputs_run_as_zeebe_scopes_them(cases: Cases):
    handle = await cases.start("c8-locals", START)
    [review] = (await cases.view(handle)).open_tasks
    assert review.candidates == ["user:bo"]
    bo = Actor(subject="bo")
    await cases.complete(handle, "Review", {"decision": "approve"}, actor=bo)
    await cases.complete(handle, "Note", {"note": "final"}, actor=bo)
    result = await handle.result()
    assert result.variables == {**START, "summary": "approve for Anna", "approvedLimit": 100}


# --- cron cycles ------------------------------------------------------------------------------

CRON_REMINDER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_cron"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="c8-cron" isExecutable="true">
    <bpmn:extensionElements>
      <zeebe:properties>
        <zeebe:property name="niva:timezone" value="Europe/Stockholm"/>
        <zeebe:property name="niva:calendar" value="SE"/>
      </zeebe:properties>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
    <bpmn:userTask id="Review"/>
    <bpmn:boundaryEvent id="Remind" attachedToRef="Review" cancelActivity="false">
      <bpmn:timerEventDefinition>
        <bpmn:timeCycle>0 0 9 ? * SAT</bpmn:timeCycle>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="Remind" targetRef="Reminded"/>
    <bpmn:endEvent id="Reminded"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Review" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_cron_reminder_moves_to_the_working_day_before(tmp_path: Path):
    interpreter = _interpreter(tmp_path, CRON_REMINDER, "c8-cron", {})
    [timer] = interpreter.state.timers.values()
    # Saturday 6 March 2027 at nine in Stockholm is not a working day: a reminder moves to
    # the working day before, Friday at nine (08:00 UTC), as any reminder does.
    friday = datetime(2027, 3, 5, 8, 0, tzinfo=UTC)
    assert timer.fire_at == friday
    interpreter.fire_due_timers(friday)
    interpreter.run(friday)
    [again] = interpreter.state.timers.values()
    # The next repetition is the next Saturday's, moved in turn: once per week.
    assert again.fire_at == datetime(2027, 3, 12, 8, 0, tzinfo=UTC)
