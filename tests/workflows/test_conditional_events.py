"""Conditional events: intermediate catch, boundary and event-subprocess start (interrupting
or not), evaluated when armed and again whenever the variables they read change; they fire
when their condition turns true, and a condition that cannot be evaluated is an incident
bound to the token that waits (`workflows.conditions`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from process_models.bpmn import read_bpmn
from process_models.bpmn.subset import blockers_by_process
from process_models.bpmn.writer import write_bpmn
from process_models.deployments import ModelFile, ModelStore
from process_models.store import FileBlobStore
from process_models.validation import validate
from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, Cases, bpmn, registry_with_test_types, running_cases
from workflows.contract import RetryIncidentInput
from workflows.interpreter import Interpreter
from workflows.migration import MigrationPlan, ModelVersion, migrate_state
from workflows.model import load_model
from workflows.state import InstanceState

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def _condition(body: str, *, extensions: str = "") -> str:
    return (
        f"<bpmn:conditionalEventDefinition>{extensions}"
        f'<bpmn:condition xsi:type="bpmn:tFormalExpression">{body}</bpmn:condition>'
        "</bpmn:conditionalEventDefinition>"
    )


def _with_xsi(document: str) -> str:
    return document.replace(
        'xmlns:niva="urn:niva:bpmn:1"',
        'xmlns:niva="urn:niva:bpmn:1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
        1,
    )


# Two people work side by side; the review waits (intermediate catch) until the documents
# are complete, a non-interrupting boundary on the applicant's task tells the officer each
# time the amount goes over 1000, and an interrupting boundary ends the review if the
# application is withdrawn.
WATCHED = _with_xsi(
    bpmn(f"""
<bpmn:process id="cond_watched" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:parallelGateway id="Fork"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="Applicant"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="Complete"/>
  <bpmn:userTask id="Applicant"/>
  <bpmn:boundaryEvent id="Large" attachedToRef="Applicant" cancelActivity="false">
    {_condition("=amount &gt; 1000")}
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f4" sourceRef="Large" targetRef="Tell"/>
  <bpmn:userTask id="Tell"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Tell" targetRef="TellEnd"/>
  <bpmn:endEvent id="TellEnd"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Applicant" targetRef="AppEnd"/>
  <bpmn:endEvent id="AppEnd"/>
  <bpmn:intermediateCatchEvent id="Complete" name="Documents complete">
    {_condition("=documents == 3")}
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f7" sourceRef="Complete" targetRef="Review"/>
  <bpmn:userTask id="Review"/>
  <bpmn:boundaryEvent id="Withdrawn" attachedToRef="Review">
    {_condition("=withdrawn")}
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f8" sourceRef="Withdrawn" targetRef="Closed"/>
  <bpmn:endEvent id="Closed" name="Withdrawn"/>
  <bpmn:sequenceFlow id="f9" sourceRef="Review" targetRef="Decided"/>
  <bpmn:endEvent id="Decided"/>
</bpmn:process>
""")
)

# An event subprocess per kind of start: an interrupting one that ends the case when it is
# cancelled, a non-interrupting one that opens a note each time a flag is raised.
HANDLERS = _with_xsi(
    bpmn(f"""
<bpmn:message id="Msg" name="update"/>
<bpmn:process id="cond_handlers" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Work"/>
  <bpmn:userTask id="Work"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Work" targetRef="Wait"/>
  <bpmn:intermediateCatchEvent id="Wait">
    <bpmn:messageEventDefinition messageRef="Msg"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="Wait" targetRef="End"/>
  <bpmn:endEvent id="End"/>
  <bpmn:subProcess id="OnFlag" triggeredByEvent="true">
    <bpmn:startEvent id="FlagRaised" isInterrupting="false">{_condition("=flag")}</bpmn:startEvent>
    <bpmn:sequenceFlow id="n1" sourceRef="FlagRaised" targetRef="Note"/>
    <bpmn:userTask id="Note"/>
  </bpmn:subProcess>
  <bpmn:subProcess id="OnCancel" triggeredByEvent="true">
    <bpmn:startEvent id="Cancelled">{_condition("=cancelled")}</bpmn:startEvent>
    <bpmn:sequenceFlow id="c1" sourceRef="Cancelled" targetRef="CancelEnd"/>
    <bpmn:endEvent id="CancelEnd" name="Cancelled"/>
  </bpmn:subProcess>
</bpmn:process>
""")
)

CAMUNDA8 = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="defs" targetNamespace="urn:niva:test">
<bpmn:process id="cond_filtered" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Wait"/>
  <bpmn:intermediateCatchEvent id="Wait">
    <bpmn:conditionalEventDefinition>
      <bpmn:extensionElements>
        <zeebe:conditionalFilter variableNames="go, other" variableEvents="create,update"/>
      </bpmn:extensionElements>
      <bpmn:condition xsi:type="bpmn:tFormalExpression">= level &gt; 2</bpmn:condition>
    </bpmn:conditionalEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Wait" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    for index, document in enumerate((WATCHED, HANDLERS, CAMUNDA8)):
        store.deploy([ModelFile(name=f"m{index}.bpmn", content=document.encode())])
    return store


def started(store: ModelStore, process_id: str, variables: dict[str, Any]) -> Interpreter:
    state = InstanceState(
        process_id=process_id, version=1, business_key="k", title="Case", variables=variables
    )
    interpreter = Interpreter(load_model(store.source(process_id)), state)
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    return interpreter


def complete(interpreter: Interpreter, task_id: str, **payload: Any) -> None:
    interpreter.complete_task(
        task_id, payload, actor="officer-1", org="SE-SOS", idempotency_key=None, now=NOW
    )
    interpreter.run(NOW)


def opened(interpreter: Interpreter) -> list[str]:
    return sorted(a.id for a in interpreter.open_tasks())


def fired(interpreter: Interpreter) -> list[str | None]:
    return [e.element_id for e in interpreter.state.audit if e.kind == "condition"]


# --- the model ----------------------------------------------------------------------------


def test_conditional_events_are_executable_and_their_condition_is_written_back():
    for document in (WATCHED, HANDLERS, CAMUNDA8):
        definitions = read_bpmn(document.encode())
        assert blockers_by_process(definitions) == {p.id: [] for p in definitions.processes}
        assert validate(definitions) == []
        again = read_bpmn(write_bpmn(definitions))
        conditions = [
            (n.id, d.condition.body if d.condition else None, d.variable_names)
            for p in again.processes
            for n in p.all_nodes()
            for d in n.event_definitions
            if d.kind == "conditional"
        ]
        assert conditions
        assert all(body for _, body, _ in conditions)
    filtered = read_bpmn(CAMUNDA8.encode()).processes[0].node("Wait")
    assert filtered is not None
    assert filtered.event_definitions[0].variable_names == ["go", "other"]
    assert "conditionalFilter" in write_bpmn(read_bpmn(CAMUNDA8.encode())).decode()


def test_a_conditional_event_needs_a_condition_that_compiles_and_no_process_start():
    definitions = read_bpmn(
        _with_xsi(
            bpmn(f"""
        <bpmn:process id="p" isExecutable="true">
          <bpmn:startEvent id="Start">{_condition("=go")}</bpmn:startEvent>
          <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Empty"/>
          <bpmn:intermediateCatchEvent id="Empty"><bpmn:conditionalEventDefinition/>
          </bpmn:intermediateCatchEvent>
          <bpmn:sequenceFlow id="f2" sourceRef="Empty" targetRef="Broken"/>
          <bpmn:intermediateCatchEvent id="Broken">{_condition("=amount &gt;")}
          </bpmn:intermediateCatchEvent>
          <bpmn:sequenceFlow id="f3" sourceRef="Broken" targetRef="End"/>
          <bpmn:endEvent id="End"/>
        </bpmn:process>
        """)
        ).encode()
    )
    (blocker,) = blockers_by_process(definitions)["p"]
    assert blocker.element_id == "Start"
    assert "conditionalEventDefinition is not in niva's executable subset" in blocker.message
    problems = {p.element_id: p.message for p in validate(definitions)}
    assert "needs a <bpmn:condition>" in problems["Empty"]
    assert "expression: =amount >" in problems["Broken"]


# --- in the case --------------------------------------------------------------------------


def test_a_catch_event_whose_condition_holds_goes_on_at_once(store: ModelStore):
    case = started(store, "cond_watched", {"documents": 3, "amount": 0, "withdrawn": False})
    assert opened(case) == ["Applicant", "Review"]
    assert fired(case) == ["Complete"]


def test_a_catch_event_waits_until_a_completion_makes_its_condition_true(store: ModelStore):
    case = started(store, "cond_watched", {"documents": 1, "amount": 0, "withdrawn": False})
    assert opened(case) == ["Applicant"]
    armed = sorted(c.element_id for c in case.state.condition_subscriptions.values())
    assert armed == ["Complete", "Large"]  # the review's boundary is armed with the review
    case.state.variables["documents"] = 2
    case.run(NOW)
    assert opened(case) == ["Applicant"]
    case.state.variables["documents"] = 3
    case.run(NOW)
    assert opened(case) == ["Applicant", "Review"]


def test_a_non_interrupting_boundary_fires_on_each_turn_to_true(store: ModelStore):
    case = started(store, "cond_watched", {"documents": 0, "amount": 0, "withdrawn": False})
    for amount, tells in ((500, 0), (1500, 1), (2000, 1), (900, 1), (1200, 2)):
        case.state.variables["amount"] = amount
        case.run(NOW)
        assert sum(1 for a in case.open_tasks() if a.element_id == "Tell") == tells, amount
    assert fired(case) == ["Large", "Large"]
    assert "Applicant" in opened(case)  # never interrupted


def test_an_interrupting_boundary_ends_its_task_when_a_message_sets_the_variable(
    store: ModelStore,
):
    case = started(store, "cond_watched", {"documents": 3, "amount": 0, "withdrawn": False})
    complete(case, "Applicant")
    assert opened(case) == ["Review"]
    evaluations = case.state.condition_subscriptions
    (watch,) = evaluations.values()
    seen = watch.seen
    case.run(NOW)  # nothing changed: nothing evaluated again
    assert watch.seen == seen
    case.state.variables["withdrawn"] = True
    case.run(NOW)
    assert opened(case) == []
    assert case.state.ended
    assert case.state.outcome == "Withdrawn"
    assert case.state.condition_subscriptions == {}


def test_event_subprocess_starts_interrupting_or_not(store: ModelStore):
    case = started(store, "cond_handlers", {"flag": False, "cancelled": False})
    assert opened(case) == ["Work"]
    complete(case, "Work", flag=True)
    assert opened(case) == ["Note"]
    case.correlate("update", {"flag": False}, actor="x", org=None, now=NOW)
    case.run(NOW)
    # The message ended the main path; the note keeps the case open. A flag raised again
    # opens a second note: the non-interrupting start stayed armed.
    case.state.variables["flag"] = True
    case.run(NOW)
    assert opened(case) == ["Note", "Note#2"]
    case.state.variables["cancelled"] = True
    case.run(NOW)
    assert case.state.ended
    assert case.state.outcome == "Cancelled"
    assert fired(case) == ["FlagRaised", "FlagRaised", "Cancelled"]


def test_a_condition_that_fails_is_an_incident_on_the_waiting_token_and_its_retry_rechecks(
    store: ModelStore,
):
    case = started(store, "cond_watched", {"amount": 0})  # documents unknown: CEL fails
    (incident,) = case.state.incidents.values()
    # The catch's own token waits in it; the boundaries' conditions read fine.
    token = case.state.tokens[incident.token_id or ""]
    assert (incident.element_id, token.node_id, token.status) == (
        "Complete",
        "Complete",
        "incident",
    )
    case.state.variables["documents"] = 3
    case.run(NOW)  # not evaluated again until the incident is retried
    assert opened(case) == ["Applicant"]
    case.retry_incident(incident.id, {"withdrawn": False}, actor="operator", now=NOW)
    case.run(NOW)
    assert opened(case) == ["Applicant", "Review"]
    assert case.state.incidents == {}


def test_a_boundary_condition_that_fails_binds_the_incident_to_the_activity_token(
    store: ModelStore,
):
    case = started(store, "cond_watched", {"documents": 3, "amount": "many"})
    incidents = {i.element_id: i for i in case.state.incidents.values()}
    # "many" > 1000 fails; withdrawn is unknown.
    assert set(incidents) == {"Large", "Withdrawn"}
    applicant = case.state.activities["Applicant"]
    assert incidents["Large"].token_id == applicant.token_id
    assert case.state.tokens[applicant.token_id].status == "waiting"  # the task stays open
    complete(case, "Applicant")  # the boundary goes with its task, and its incident too
    assert set(i.element_id for i in case.state.incidents.values()) == {"Withdrawn"}


def test_only_the_filtered_variables_re_evaluate_a_camunda8_condition(store: ModelStore):
    case = started(store, "cond_filtered", {"level": 1, "go": 0})
    (watch,) = case.state.condition_subscriptions.values()
    case.state.variables["level"] = 5  # not in variableNames: not evaluated again
    case.run(NOW)
    assert not case.state.ended
    case.state.variables["go"] = 1
    case.run(NOW)
    assert case.state.ended
    assert watch.element_id == "Wait"


def test_a_modification_that_sets_variables_re_evaluates_the_conditions(store: ModelStore):
    case = started(store, "cond_watched", {"documents": 3, "amount": 0, "withdrawn": False})
    case.modify(
        cancel=["Applicant"],
        start_before=[],
        variables={"withdrawn": True},
        reason="withdrawn by phone",
        actor="operator",
        now=NOW,
    )
    case.run(NOW)
    assert case.state.ended
    assert fired(case) == ["Complete", "Withdrawn"]


def test_a_migrated_case_keeps_what_held_and_fires_what_turned_true(store: ModelStore):
    case = started(store, "cond_watched", {"documents": 3, "amount": 1500, "withdrawn": False})
    assert fired(case) == ["Large", "Complete"]
    stricter = WATCHED.replace("=withdrawn<", "=withdrawn || amount &gt; 5000<")
    assert stricter != WATCHED
    store.deploy([ModelFile(name="v2.bpmn", content=stricter.encode())])
    plan = MigrationPlan(
        source=ModelVersion(process_id="cond_watched", version=1),
        target=ModelVersion(process_id="cond_watched", version=2),
        variables={"amount": 6000},
    )
    v1 = load_model(store.source("cond_watched", 1))
    v2 = load_model(store.source("cond_watched", 2))
    migrated = migrate_state(case.state, v1, v2, plan, migration_id="m", actor="op", now=NOW)
    migrated.run(NOW)
    # Large held before and still holds: no second note. The review's new condition holds.
    assert fired(migrated) == ["Large", "Complete", "Withdrawn"]
    assert opened(migrated) == ["Applicant", "Tell"]


def test_a_case_without_conditional_events_evaluates_nothing(store: ModelStore):
    case = started(store, "cond_handlers", {"flag": False, "cancelled": False})
    assert len(case.state.condition_subscriptions) == 2
    plain = _with_xsi(
        bpmn("""
    <bpmn:process id="plain" isExecutable="true">
      <bpmn:startEvent id="Start"/>
      <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Work"/>
      <bpmn:userTask id="Work"/>
      <bpmn:sequenceFlow id="f2" sourceRef="Work" targetRef="End"/>
      <bpmn:endEvent id="End"/>
    </bpmn:process>
    """)
    )
    store.deploy([ModelFile(name="plain.bpmn", content=plain.encode())])
    asked: list[str] = []
    state = InstanceState(process_id="plain", version=1, business_key="k", title="Case")
    interpreter = Interpreter(load_model(store.source("plain")), state)

    def patched(patch_id: str) -> bool:
        asked.append(patch_id)
        return True

    interpreter.patched = patched
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    complete(interpreter, "Work", anything=1)
    assert interpreter.state.ended
    assert asked == []


# --- on the time-skipping server ----------------------------------------------------------


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


async def test_a_conditional_boundary_fires_when_a_task_completion_changes_a_variable(
    cases: Cases, record_history
):
    cases.deploy(WATCHED)
    handle = await cases.start("cond_watched", {"documents": 3, "amount": 0, "withdrawn": False})
    state = await cases.internal(handle)
    assert sorted(a.id for a in state.activities.values()) == ["Applicant", "Review"]
    # The applicant withdraws: the completion sets the variable, and the interrupting
    # boundary on the review fires before the case waits again.
    await cases.complete(handle, "Applicant", {"withdrawn": True, "amount": 1500})
    result = await handle.result()
    assert result.outcome == "Withdrawn"
    state = await cases.internal(handle)
    assert [e.element_id for e in state.audit if e.kind == "condition"] == ["Complete", "Withdrawn"]
    await record_history(handle, "engine_conditional_boundary")


async def test_a_retry_with_corrected_variables_lets_a_failed_condition_fire(cases: Cases):
    cases.deploy(WATCHED)
    handle = await cases.start("cond_watched", {"documents": 3, "amount": 0})
    view = await cases.view(handle)
    # withdrawn is unknown to the case: the review's boundary cannot be evaluated.
    (incident,) = view.incidents
    assert incident.element_id == "Withdrawn"
    await handle.execute_update(
        "retry_incident",
        RetryIncidentInput(
            incident_id=incident.incident_id, variables={"withdrawn": True}, actor=OFFICER
        ),
    )
    state = await cases.internal(handle)
    assert state.incidents == {}
    assert sorted(a.id for a in state.activities.values()) == ["Applicant"]  # Review ended
    assert [e.element_id for e in state.audit if e.kind == "condition"] == [
        "Complete",
        "Withdrawn",
    ]
    await cases.complete(handle, "Applicant")
    assert (await handle.result()).outcome == "AppEnd"  # the last end event reached
