"""Compensation: a compensation boundary event and its handler (``isForCompensation``)
undo an activity that completed; a compensation throw or end event compensates one
activity of its scope (``activityRef``) or all of them, handlers one after another in
reverse order of completion, each completion at most once, and waits for them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from process_models.deployments import ModelFile, ModelStore
from process_models.limits import DEFAULT_LIMITS, EngineLimits
from process_models.store import FileBlobStore
from tests.support.case_waits import ended, retry, until_state
from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn, registry_with_test_types, running_cases
from workflows.interpreter import Interpreter
from workflows.model import ExecutableModel
from workflows.state import InstanceState


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


def _opened(state: InstanceState) -> list[str]:
    return sorted(a.id for a in state.activities.values() if a.kind == "userTask")


def _compensated(state: InstanceState) -> list[tuple[str | None, str | None]]:
    """(handler, compensated task id) of each handler run, in the order they started."""
    return [(e.element_id, e.task_id) for e in state.audit if e.kind == "compensating"]


def _undo(activity: str, handler: str, kind: str = "userTask", body: str = "") -> str:
    """A compensation boundary on ``activity`` associated with ``handler``."""
    return f"""
  <bpmn:boundaryEvent id="Comp{activity}" attachedToRef="{activity}">
    <bpmn:compensateEventDefinition/>
  </bpmn:boundaryEvent>
  <bpmn:{kind} id="{handler}" isForCompensation="true">{body}</bpmn:{kind}>
  <bpmn:association id="Assoc{activity}" sourceRef="Comp{activity}" targetRef="{handler}"/>
"""


# A booking is made and paid for; shipping it fails with a BPMN error, caught at the
# boundary, and the compensation end event undoes the payment first, then the booking.
BOOKING = bpmn(f"""
<bpmn:error id="NoShip" errorCode="NO_SHIP"/>
<bpmn:process id="compensate_booking" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Book"/>
  <bpmn:serviceTask id="Book">
    <bpmn:extensionElements><niva:taskDefinition type="echo"/></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Book" targetRef="Charge"/>
  <bpmn:serviceTask id="Charge">
    <bpmn:extensionElements><niva:taskDefinition type="echo"/></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f3" sourceRef="Charge" targetRef="Ship"/>
  <bpmn:serviceTask id="Ship">
    <bpmn:extensionElements>
      <niva:taskDefinition type="bpmn_fail"/>
      <niva:input target="code" source="NO_SHIP"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f4" sourceRef="Ship" targetRef="Shipped"/>
  <bpmn:endEvent id="Shipped"/>
  <bpmn:boundaryEvent id="CannotShip" attachedToRef="Ship">
    <bpmn:errorEventDefinition errorRef="NoShip"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f5" sourceRef="CannotShip" targetRef="UndoAll"/>
  <bpmn:endEvent id="UndoAll" name="Återställd"><bpmn:compensateEventDefinition/></bpmn:endEvent>
  {_undo("Book", "Unbook")}
  {_undo("Charge", "Refund")}
</bpmn:process>
""")


async def test_two_completed_service_tasks_are_compensated_in_reverse_order_when_a_later_step_fails(
    cases: Cases, record_history
):
    cases.deploy(BOOKING)
    handle = await cases.start("compensate_booking")
    state = await until_state(cases, handle, lambda s: bool(_opened(s)))
    # One handler at a time, the last completed first; the end event waits for them.
    assert _opened(state) == ["Refund"]
    assert _compensated(state) == [("Refund", "Charge")]
    assert "UndoAll" in {t.node_id for t in state.tokens.values()}
    await cases.complete(handle, "Refund")
    state = await cases.internal(handle)
    assert _opened(state) == ["Unbook"]
    assert _compensated(state) == [("Refund", "Charge"), ("Unbook", "Book")]
    await cases.complete(handle, "Unbook")
    assert (await ended(handle)).outcome == "Återställd"
    state = await cases.internal(handle)
    assert [e.kind for e in state.audit if e.kind.startswith("compensation")] == [
        "compensation_thrown",
        "compensation_completed",
    ]
    await record_history(handle, "engine_compensation_reverse_order")


# A and B complete; the first throw names A, the second compensates the whole scope:
# only B is left (A was compensated already), and a third finds nothing left.
ONCE = bpmn(f"""
<bpmn:process id="compensate_once" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="A"/>
  <bpmn:userTask id="A"/>
  <bpmn:sequenceFlow id="f2" sourceRef="A" targetRef="B"/>
  <bpmn:userTask id="B"/>
  <bpmn:sequenceFlow id="f3" sourceRef="B" targetRef="ThrowA"/>
  <bpmn:intermediateThrowEvent id="ThrowA">
    <bpmn:compensateEventDefinition activityRef="A"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f4" sourceRef="ThrowA" targetRef="ThrowAll"/>
  <bpmn:intermediateThrowEvent id="ThrowAll"><bpmn:compensateEventDefinition/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f5" sourceRef="ThrowAll" targetRef="Again"/>
  <bpmn:intermediateThrowEvent id="Again"><bpmn:compensateEventDefinition/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f6" sourceRef="Again" targetRef="After"/>
  <bpmn:userTask id="After"/>
  <bpmn:sequenceFlow id="f7" sourceRef="After" targetRef="End"/>
  <bpmn:endEvent id="End"/>
  {_undo("A", "UndoA", "task")}
  {_undo("B", "UndoB", "task")}
</bpmn:process>
""")


async def test_activity_ref_compensates_that_activity_and_each_completion_only_once(
    cases: Cases,
):
    cases.deploy(ONCE)
    handle = await cases.start("compensate_once")
    await cases.complete(handle, "A")
    await cases.complete(handle, "B")
    state = await cases.internal(handle)
    assert _opened(state) == ["After"]
    assert _compensated(state) == [("UndoA", "A"), ("UndoB", "B")]
    thrown = [e.detail for e in state.audit if e.kind == "compensation_thrown"]
    assert thrown == ["1 to compensate", "1 to compensate", "0 to compensate"]
    assert state.compensable == []
    await cases.complete(handle, "After")
    await ended(handle)


# A multi-instance review of three items ends after two instances (completion condition):
# each completed instance is compensated on its own, with its own item, last first; the
# third, interrupted, is not.
MULTI = bpmn(f"""
<bpmn:process id="compensate_multi" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review">
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <niva:loop inputCollection="=items" inputElement="item"/>
      </bpmn:extensionElements>
      <bpmn:completionCondition>numberOfCompletedInstances &gt;= 2</bpmn:completionCondition>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Undo"/>
  <bpmn:endEvent id="Undo"><bpmn:compensateEventDefinition activityRef="Review"/></bpmn:endEvent>
  {
    _undo(
        "Review",
        "Withdraw",
        "serviceTask",
        '<bpmn:extensionElements><niva:taskDefinition type="echo"/>'
        '<niva:input target="item" source="=item"/>'
        '<niva:input target="rounds" source="=rounds"/></bpmn:extensionElements>',
    )
}
</bpmn:process>
""")


async def test_multi_instance_is_compensated_per_completed_instance_with_its_own_item(
    cases: Cases,
):
    cases.deploy(MULTI)
    activities_for_tests.CALLS.clear()
    handle = await cases.start("compensate_multi", {"items": ["x", "y", "z"], "rounds": 1})
    assert _opened(await cases.internal(handle)) == ["Review:x", "Review:y", "Review:z"]
    await cases.complete(handle, "Review:z")
    await cases.complete(handle, "Review:x", {"rounds": 2})
    await ended(handle)
    state = await cases.internal(handle)
    assert _compensated(state) == [("Withdraw", "Review:x"), ("Withdraw", "Review:z")]
    undone = [
        (c.inputs["item"], c.inputs["rounds"])
        for c in activities_for_tests.CALLS
        if c.element_id == "Withdraw"
    ]
    # Each sees its instance's item and what the instance wrote (x's completion wrote
    # ``rounds`` into its instance, as every multi-instance write goes), over the case's.
    assert undone == [("x", 2), ("z", 1)]


# The inner activity of a completed subprocess is compensated by a throw in the
# enclosing scope; its handler fails (a missing variable), which parks it in an incident:
# the throw waits, and after the retry it goes on.
NESTED = bpmn(f"""
<bpmn:process id="compensate_nested" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Sub"/>
  <bpmn:subProcess id="Sub">
    <bpmn:startEvent id="SStart"/>
    <bpmn:sequenceFlow id="s1" sourceRef="SStart" targetRef="Register"/>
    <bpmn:userTask id="Register"/>
    <bpmn:sequenceFlow id="s2" sourceRef="Register" targetRef="SEnd"/>
    <bpmn:endEvent id="SEnd"/>
    {
    _undo(
        "Register",
        "Unregister",
        "serviceTask",
        '<bpmn:extensionElements><niva:taskDefinition type="echo"/>'
        '<niva:input target="reason" source="=reason.text"/></bpmn:extensionElements>',
    )
}
  </bpmn:subProcess>
  <bpmn:sequenceFlow id="f2" sourceRef="Sub" targetRef="UndoAll"/>
  <bpmn:intermediateThrowEvent id="UndoAll"><bpmn:compensateEventDefinition/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="UndoAll" targetRef="After"/>
  <bpmn:userTask id="After"/>
  <bpmn:sequenceFlow id="f4" sourceRef="After" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_completed_subprocess_inner_activity_is_compensated_and_a_failing_handler_holds_the_throw(
    cases: Cases,
):
    cases.deploy(NESTED)
    handle = await cases.start("compensate_nested")
    await cases.complete(handle, "Register")
    state = await cases.internal(handle)
    assert _compensated(state) == [("Unregister", "Register")]
    [incident] = state.incidents.values()
    assert incident.element_id == "Unregister"
    # The incident is bound to the handler's token, and the throw waits for it.
    assert incident.token_id in state.tokens
    assert state.tokens[incident.token_id].node_id == "Unregister"
    assert "UndoAll" in {t.node_id for t in state.tokens.values()}
    assert _opened(state) == []
    await retry(handle, incident.id, reason={"text": "withdrawn"})
    state = await until_state(cases, handle, lambda s: bool(_opened(s)))
    assert _opened(state) == ["After"]
    assert state.compensations == {}
    await cases.complete(handle, "After")
    await ended(handle)


# Sub1 completes and has a handler of its own, which undoes it (its inner Inner1 is not
# compensated on its own: BPMN's rule); Sub2 is still running when the case fails, so its
# completed Inner2 is not compensated. The compensation end event sits in the error event
# subprocess, and reaches the completed activities of the scope around it.
ON_FAILURE = bpmn(f"""
<bpmn:error id="Boom" errorCode="BOOM"/>
<bpmn:process id="compensate_on_failure" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:parallelGateway id="Fork"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="Sub1"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="Sub2"/>
  <bpmn:subProcess id="Sub1">
    <bpmn:startEvent id="S1Start"/>
    <bpmn:sequenceFlow id="s1" sourceRef="S1Start" targetRef="Inner1"/>
    <bpmn:task id="Inner1"/>
    {_undo("Inner1", "UndoInner1", "task")}
  </bpmn:subProcess>
  {_undo("Sub1", "UndoSub1")}
  <bpmn:sequenceFlow id="f4" sourceRef="Sub1" targetRef="Fail"/>
  <bpmn:userTask id="Fail"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Fail" targetRef="Failed"/>
  <bpmn:endEvent id="Failed"><bpmn:errorEventDefinition errorRef="Boom"/></bpmn:endEvent>
  <bpmn:subProcess id="Sub2">
    <bpmn:startEvent id="S2Start"/>
    <bpmn:sequenceFlow id="s2" sourceRef="S2Start" targetRef="Inner2"/>
    <bpmn:task id="Inner2"/>
    <bpmn:sequenceFlow id="s3" sourceRef="Inner2" targetRef="Wait2"/>
    <bpmn:userTask id="Wait2"/>
    {_undo("Inner2", "UndoInner2", "task")}
  </bpmn:subProcess>
  <bpmn:subProcess id="OnBoom" triggeredByEvent="true">
    <bpmn:startEvent id="BoomStart"><bpmn:errorEventDefinition errorRef="Boom"/></bpmn:startEvent>
    <bpmn:sequenceFlow id="b1" sourceRef="BoomStart" targetRef="UndoAll"/>
    <bpmn:endEvent id="UndoAll" name="Återkallad"><bpmn:compensateEventDefinition/></bpmn:endEvent>
  </bpmn:subProcess>
</bpmn:process>
""")


async def test_a_throw_in_an_error_event_subprocess_compensates_what_completed_around_it(
    cases: Cases,
):
    cases.deploy(ON_FAILURE)
    handle = await cases.start("compensate_on_failure")
    assert _opened(await cases.internal(handle)) == ["Fail", "Wait2"]
    await cases.complete(handle, "Fail")
    state = await cases.internal(handle)
    assert _opened(state) == ["UndoSub1"]
    assert _compensated(state) == [("UndoSub1", "Sub1")]
    assert state.compensable == []
    await cases.complete(handle, "UndoSub1")
    assert (await ended(handle)).outcome == "Återkallad"
    assert _compensated(await cases.internal(handle)) == [("UndoSub1", "Sub1")]


# The subprocess that throws is interrupted while its handler waits: the handler and the
# throw end with it, nothing is left waiting for them, and the boundary's path runs.
INTERRUPTED = bpmn(f"""
<bpmn:message id="MStop" name="stop"/>
<bpmn:process id="compensate_interrupted" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Sub"/>
  <bpmn:subProcess id="Sub">
    <bpmn:startEvent id="SStart"/>
    <bpmn:sequenceFlow id="s1" sourceRef="SStart" targetRef="A"/>
    <bpmn:userTask id="A"/>
    <bpmn:sequenceFlow id="s2" sourceRef="A" targetRef="UndoAll"/>
    <bpmn:intermediateThrowEvent id="UndoAll"><bpmn:compensateEventDefinition/>
    </bpmn:intermediateThrowEvent>
    {_undo("A", "UndoA")}
  </bpmn:subProcess>
  <bpmn:boundaryEvent id="Stop" attachedToRef="Sub">
    <bpmn:messageEventDefinition messageRef="MStop"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Stop" targetRef="Stopped"/>
  <bpmn:userTask id="Stopped"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Sub" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_interrupting_the_throws_scope_ends_its_handler_and_leaves_nothing_behind(
    cases: Cases,
):
    cases.deploy(INTERRUPTED)
    handle = await cases.start("compensate_interrupted")
    await cases.complete(handle, "A")
    state = await cases.internal(handle)
    assert _opened(state) == ["UndoA"]
    assert len(state.compensations) == 1
    await cases.message(handle, "stop")
    state = await cases.internal(handle)
    assert _opened(state) == ["Stopped"]
    assert state.compensations == {}
    assert state.compensable == []
    assert state.scopes == {}
    assert [t.node_id for t in state.tokens.values()] == ["Stopped"]
    await cases.complete(handle, "Stopped")
    await ended(handle)


NOW = datetime(2026, 5, 4, 10, tzinfo=UTC)


def _interpreter(
    tmp_path: Path, document: str, process_id: str, limits: EngineLimits = DEFAULT_LIMITS
) -> Interpreter:
    """An interpreter of a fresh case, started and run to its first wait (no server: the
    interpreter is pure, and these paths need no Temporal command)."""
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="m.bpmn", content=document.encode())])
    state = InstanceState(process_id=process_id, version=1, business_key="k", title="t")
    interpreter = Interpreter(ExecutableModel(store.source(process_id, 1)), state, limits=limits)
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    return interpreter


def _complete(interpreter: Interpreter, task_id: str, **payload: Any) -> None:
    interpreter.complete_task(
        task_id, payload, actor="officer-1", org=None, idempotency_key=None, now=NOW
    )
    interpreter.run(NOW)


# Three completions of A, compensated last first; an operator cancels the second handler.
LOOP = bpmn(f"""
<bpmn:process id="compensate_loop" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="A"/>
  <bpmn:userTask id="A"/>
  <bpmn:sequenceFlow id="f2" sourceRef="A" targetRef="Again"/>
  <bpmn:exclusiveGateway id="Again" default="f4"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Again" targetRef="A">
    <bpmn:conditionExpression>again</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f4" sourceRef="Again" targetRef="UndoAll"/>
  <bpmn:endEvent id="UndoAll"><bpmn:compensateEventDefinition/></bpmn:endEvent>
  {_undo("A", "UndoA")}
</bpmn:process>
""")


def test_each_completion_is_compensated_and_a_cancelled_handler_lets_the_next_one_run(
    tmp_path: Path,
):
    interpreter = _interpreter(tmp_path, LOOP, "compensate_loop")
    _complete(interpreter, "A", again=True)
    _complete(interpreter, "A#2", again=True)
    _complete(interpreter, "A#3", again=False)
    state = interpreter.state
    assert _compensated(state) == [("UndoA", "A#3")]
    _complete(interpreter, "UndoA")
    assert _opened(interpreter.state) == ["UndoA#2"]
    interpreter.modify(
        cancel=["UndoA#2"],
        start_before=[],
        variables={},
        reason="done by hand",
        actor="operator-1",
        now=NOW,
    )
    interpreter.run(NOW)
    state = interpreter.state
    assert _opened(state) == ["UndoA#3"]
    assert _compensated(state)[-1] == ("UndoA", "A")
    assert [e.kind for e in state.audit if e.kind == "compensation_cancelled"] == [
        "compensation_cancelled"
    ]
    _complete(interpreter, "UndoA#3")
    assert interpreter.state.ended


def test_more_installed_compensations_than_the_bound_is_an_incident_on_the_token(
    tmp_path: Path,
):
    # The bound is the case's limit (NIVA_LIMITS_MAX_COMPENSABLE), carried like the others.
    limits = EngineLimits(max_compensable=2)
    interpreter = _interpreter(tmp_path, LOOP, "compensate_loop", limits)
    _complete(interpreter, "A", again=True)
    _complete(interpreter, "A#2", again=True)
    _complete(interpreter, "A#3", again=True)
    state = interpreter.state
    [incident] = state.incidents.values()
    assert incident.kind == "limit"
    assert incident.element_id == "A"
    assert state.tokens[incident.token_id or ""].status == "incident"
    assert len(state.compensable) == 2


C8_BOOKING = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_comp"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="c8-compensate" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Hotel"/>
    <bpmn:userTask id="Hotel"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Hotel" targetRef="Flight"/>
    <bpmn:userTask id="Flight"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Flight" targetRef="Cancelled"/>
    <bpmn:endEvent id="Cancelled"><bpmn:compensateEventDefinition/></bpmn:endEvent>
    <bpmn:boundaryEvent id="CompHotel" attachedToRef="Hotel">
      <bpmn:compensateEventDefinition/>
    </bpmn:boundaryEvent>
    <bpmn:boundaryEvent id="CompFlight" attachedToRef="Flight">
      <bpmn:compensateEventDefinition/>
    </bpmn:boundaryEvent>
    <bpmn:scriptTask id="FreeRoom" isForCompensation="true">
      <bpmn:extensionElements>
        <zeebe:script expression="=append(undone, &#34;room &#34; + room)" resultVariable="undone"/>
      </bpmn:extensionElements>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="FreeSeat" isForCompensation="true">
      <bpmn:extensionElements>
        <zeebe:script expression="=append(undone, &#34;seat &#34; + seat)" resultVariable="undone"/>
      </bpmn:extensionElements>
    </bpmn:scriptTask>
    <bpmn:association id="A1" associationDirection="One" sourceRef="CompHotel" targetRef="FreeRoom"/>
    <bpmn:association id="A2" associationDirection="One" sourceRef="CompFlight" targetRef="FreeSeat"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_camunda8_handlers_run_their_feel_scripts_over_the_current_variables(tmp_path: Path):
    interpreter = _interpreter(tmp_path, C8_BOOKING, "c8-compensate")
    interpreter.state.variables["undone"] = []
    _complete(interpreter, "Hotel", room="12")
    _complete(interpreter, "Flight", seat="3A")
    assert interpreter.state.ended
    assert interpreter.state.variables["undone"] == ["seat 3A", "room 12"]
