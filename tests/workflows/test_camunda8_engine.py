"""Camunda 8 models (zeebe extensions, FEEL) run unmodified on the time-skipping server.

`tests/data/camunda8/permit.bpmn` is written as Camunda Modeler's "Camunda 8" mode writes a
model: a script task, an exclusive gateway with FEEL conditions, a user task with an
assignment and output mappings to dotted targets, a boundary timer with a FEEL duration,
a service task of a niva type with input mappings and task headers, a multi-instance with
Zeebe's list output, and a call activity (with a FEEL process id) of
`tests/data/camunda8/archive.bpmn`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.service_call import bpmn_error
from process_models.deployments import ModelFile, ModelStore
from process_models.registry import TaskType
from process_models.store import FileBlobStore
from service_contract import ServiceCall
from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, registry_with_test_types, running_cases
from workflows.candidates import Actor
from workflows.effects import StartChild
from workflows.interpreter import Interpreter
from workflows.model import load_model
from workflows.state import InstanceState

DATA = Path(__file__).resolve().parents[1] / "data" / "camunda8"
PERMIT = (DATA / "permit.bpmn").read_text()
ARCHIVE = (DATA / "archive.bpmn").read_text()

REGISTRAR = Actor(subject="reg-1", org="SE-AB", roles=["registrator"])


@activity.defn(name="refuse_with_variables")
async def refuse_with_variables(call: ServiceCall) -> dict[str, Any]:
    """Throw a BPMN error whose variables the catching event maps."""
    raise bpmn_error("NO-FUNDS", "refused", variables={"reason": "no funds", "left": 3})


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    registry = registry_with_test_types()
    registry.register_task_type(TaskType(name="refuse_with_variables", description="test"))
    async with running_cases(
        time_skipping_env.client,
        task_queue,
        tmp_path,
        activities=[*activities_for_tests.ALL, refuse_with_variables],
        registry=registry,
    ) as running:
        running.deploy(PERMIT, ARCHIVE)
        yield running


START = {"amount": 60, "applicant": "Anna", "reviewDays": 3, "regions": ["ab", "c", "o"]}


async def test_camunda8_model_runs_to_its_end(cases: Cases):
    handle = await cases.start("c8-permit", START)
    view = await cases.view(handle)
    # The script task computed the fee (FEEL), the FEEL condition chose the review.
    assert [t.task_id for t in view.open_tasks] == ["Review"]
    # Candidate group org:SE-AB/registrator: the role registrator in the organisation SE-AB.
    assert view.open_tasks[0].candidates == ["org:SE-AB/group:registrator"]
    other_org = Actor(subject="reg-2", org="SE-C", roles=["registrator"])
    with pytest.raises(WorkflowUpdateFailedError):
        await cases.complete(handle, "Review", {"decision": "approve"}, actor=other_org)
    await cases.complete(handle, "Review", {"decision": "approve"}, actor=REGISTRAR)
    result = await handle.result()
    assert result.outcome == "Done"
    variables = result.variables
    assert variables["fee"] == 120
    # Output mappings to dotted targets build one object; with outputs mapped, the
    # completion's own variables do not merge (Zeebe's rule).
    assert variables["review"] == {"decision": "approve", "code": "APPROVE"}
    assert "decision" not in variables
    # A job's result variables merge without output mappings; the inputs were a static
    # string and a nested object built from dotted targets.
    assert variables["echoed"] == {"note": "registered", "call": {"fee": 120, "who": "Anna"}}
    assert variables["task_id"] == "Echo"
    # Zeebe's multi-instance output: a list in input order.
    assert variables["codes"] == ["AB-1", "C-2", "O-3"]
    assert "code" not in variables
    assert "region" not in variables
    # The called process saw every parent variable and its input mapping, and its end
    # variables propagated back.
    assert variables["receipt"] == "receipt for 120 (3 regions)"


async def test_camunda8_default_flow_when_no_feel_condition_holds(cases: Cases):
    handle = await cases.start("c8-permit", {**START, "amount": 10})
    result = await handle.result()
    assert result.outcome == "Done"
    assert result.variables["fee"] == 20
    assert "review" not in result.variables


async def test_camunda8_boundary_timer_with_feel_duration(cases: Cases):
    handle = await cases.start("c8-permit", {**START, "reviewDays": 2})
    state = await cases.internal(handle)
    [timer] = state.timers.values()
    assert timer.fire_at - timer.armed_at == timedelta(days=2)
    result = await handle.result()
    assert result.outcome == "Timed out"


ERROR_CATCH = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_err"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="c8-error" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Pay"/>
    <bpmn:serviceTask id="Pay">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="refuse_with_variables"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Pay" targetRef="Paid"/>
    <bpmn:endEvent id="Paid" name="Paid"/>
    <bpmn:boundaryEvent id="Refused" attachedToRef="Pay">
      <bpmn:extensionElements>
        <zeebe:ioMapping>
          <zeebe:output source="=reason + &#34; (&#34; + string(left) + &#34;)&#34;" target="why"/>
        </zeebe:ioMapping>
      </bpmn:extensionElements>
      <bpmn:errorEventDefinition/>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="Refused" targetRef="NotPaid"/>
    <bpmn:endEvent id="NotPaid" name="Not paid"/>
  </bpmn:process>
</bpmn:definitions>
"""


async def test_camunda8_error_catch_without_ref_maps_the_error_variables(cases: Cases):
    cases.deploy(ERROR_CATCH)
    handle = await cases.start("c8-error")
    result = await handle.result()
    assert result.outcome == "Not paid"
    # An error catch without errorRef caught the code NO-FUNDS; its output mapping read
    # the error's variables by name, and only the mapped one reached the case.
    assert result.variables == {"why": "no funds (3)"}
    # Without output mappings the error's variables stay in the catch event (Zeebe).
    mapping = ERROR_CATCH[
        ERROR_CATCH.index("<zeebe:ioMapping>") : ERROR_CATCH.index("</zeebe:ioMapping>")
    ]
    unmapped = ERROR_CATCH.replace('id="c8-error"', 'id="c8-error-unmapped"')
    cases.deploy(unmapped.replace(mapping + "</zeebe:ioMapping>", ""))
    result = await (await cases.start("c8-error-unmapped")).result()
    assert (result.outcome, result.variables) == ("Not paid", {})


ASSIGNMENTS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_assign"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="c8-assignments" isExecutable="true">
    <bpmn:extensionElements>
      <zeebe:userTaskForm id="F1">{"components": [], "type": "default"}</zeebe:userTaskForm>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Mine"/>
    <bpmn:userTask id="Mine">
      <bpmn:extensionElements>
        <zeebe:formDefinition formKey="camunda-forms:bpmn:F1"/>
        <zeebe:assignmentDefinition assignee="=owner" candidateGroups="registrator"/>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Mine" targetRef="Regional"/>
    <bpmn:userTask id="Regional">
      <bpmn:extensionElements>
        <zeebe:assignmentDefinition
            candidateGroups="=[&#34;org:&#34; + region + &#34;/registrator&#34;]"
            candidateUsers="bo"/>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="Regional" targetRef="Mixed"/>
    <bpmn:userTask id="Mixed">
      <bpmn:extensionElements>
        <zeebe:assignmentDefinition candidateGroups="=[&#34;org:&#34; + region, &#34;clerk&#34;]"/>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f4" sourceRef="Mixed" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""


async def test_camunda8_assignee_candidate_users_and_computed_org_groups(cases: Cases):
    cases.deploy(ASSIGNMENTS)
    handle = await cases.start("c8-assignments", {"owner": "anna", "region": "SE-C"})
    # The assignee alone may complete the task, whatever her roles; its embedded form's
    # link is not a niva form key.
    [mine] = (await cases.view(handle)).open_tasks
    assert mine.candidates == ["user:anna"]
    with pytest.raises(WorkflowUpdateFailedError):
        await cases.complete(handle, "Mine", actor=REGISTRAR)
    await cases.complete(handle, "Mine", actor=Actor(subject="anna"))
    # Candidate groups computed in FEEL, split when the task opened; candidate users
    # beside them.
    [regional] = (await cases.view(handle)).open_tasks
    assert regional.candidates == ["org:SE-C/group:registrator", "user:bo"]
    with pytest.raises(WorkflowUpdateFailedError):
        await cases.complete(handle, "Regional", actor=REGISTRAR)  # SE-AB, not SE-C
    await cases.complete(handle, "Regional", actor=Actor(subject="bo"))
    # A mix niva's rule cannot express is an incident, never a wider or narrower rule.
    state = await cases.internal(handle)
    [incident] = state.incidents.values()
    assert incident.element_id == "Mixed"
    assert "cannot express" in incident.message


# --- the interpreter alone (no server): timers and call-activity propagation ------------------

TIMERS_AND_CALLS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_tc"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="c8-timers" isExecutable="true">
    <bpmn:extensionElements>
      <zeebe:properties>
        <zeebe:property name="niva:timezone" value="Europe/Stockholm"/>
      </zeebe:properties>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Split"/>
    <bpmn:parallelGateway id="Split"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Split" targetRef="Until"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Split" targetRef="Call"/>
    <bpmn:intermediateCatchEvent id="Until">
      <bpmn:timerEventDefinition>
        <bpmn:timeDate>=date and time(date(decided) + duration("P10D"), time("12:00:00"))</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f4" sourceRef="Until" targetRef="End1"/>
    <bpmn:endEvent id="End1"/>
    <bpmn:callActivity id="Call">
      <bpmn:extensionElements>
        <zeebe:calledElement processId="c8-child" propagateAllChildVariables="false"
            propagateAllParentVariables="false"/>
        <zeebe:ioMapping>
          <zeebe:input source="=decided" target="since"/>
        </zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:callActivity>
    <bpmn:boundaryEvent id="Remind" attachedToRef="Call" cancelActivity="false">
      <bpmn:timerEventDefinition>
        <bpmn:timeCycle>=&#34;R2/&#34; + string(duration(&#34;P7D&#34;))</bpmn:timeCycle>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f5" sourceRef="Remind" targetRef="End2"/>
    <bpmn:endEvent id="End2"/>
    <bpmn:sequenceFlow id="f6" sourceRef="Call" targetRef="End3"/>
    <bpmn:endEvent id="End3"/>
  </bpmn:process>
  <bpmn:process id="c8-child" isExecutable="true">
    <bpmn:startEvent id="CStart"/>
    <bpmn:sequenceFlow id="c1" sourceRef="CStart" targetRef="CEnd"/>
    <bpmn:endEvent id="CEnd"/>
  </bpmn:process>
</bpmn:definitions>
"""

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def _interpreter(tmp_path: Path, variables: dict[str, Any]) -> Interpreter:
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="timers.bpmn", content=TIMERS_AND_CALLS.encode())])
    state = InstanceState(
        process_id="c8-timers", version=1, business_key="k", title="Case", variables=variables
    )
    interpreter = Interpreter(load_model(store.source("c8-timers")), state)
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    return interpreter


def test_camunda8_feel_time_date_and_time_cycle(tmp_path: Path):
    interpreter = _interpreter(tmp_path, {"decided": "2027-03-01", "other": 1})
    timers = {t.element_id: t for t in interpreter.state.timers.values()}
    # A FEEL local date-time is read in the process's zone (its zeebe property
    # niva:timezone, Stockholm: UTC+1 in March).
    assert timers["Until"].fire_at == datetime(2027, 3, 11, 11, 0, tzinfo=UTC)
    # A FEEL cycle: twice, every seven days.
    assert timers["Remind"].fire_at == NOW + timedelta(days=7)
    interpreter.fire_due_timers(NOW + timedelta(days=7))
    interpreter.run(NOW + timedelta(days=7))
    [again] = [t for t in interpreter.state.timers.values() if t.element_id == "Remind"]
    assert again.fire_at == NOW + timedelta(days=14)


def test_camunda8_call_activity_propagation_flags(tmp_path: Path):
    interpreter = _interpreter(tmp_path, {"decided": "2027-03-01", "other": 1})
    [start] = [e for e in interpreter.take_effects() if isinstance(e, StartChild)]
    # propagateAllParentVariables="false": the input mappings only.
    assert start.variables == {"since": "2027-03-01"}
    interpreter.child_finished(start.activity_id, {"since": "x", "made": 2}, NOW)
    interpreter.run(NOW)
    # propagateAllChildVariables="false" and no outputs: nothing comes back.
    assert interpreter.state.variables == {"decided": "2027-03-01", "other": 1}
