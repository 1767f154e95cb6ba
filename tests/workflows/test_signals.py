"""Signal events in the case, and broadcasts between cases on a real dev server: catch,
boundary (interrupting or not), event-subprocess start, throw and end events; each case
takes a broadcast once; the waiting cases are listed (as digests, within 2 KB) in
``NivaSignalSubscriptions``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from activities.signals import SignalBroadcaster, waiting_cases_query
from process_models.bpmn import read_bpmn
from process_models.bpmn.subset import blockers_by_process
from process_models.deployments import ModelFile, ModelStore
from process_models.store import FileBlobStore
from process_models.validation import validate
from tests.support import signals as models
from tests.workflows import activities_for_tests
from tests.workflows.harness import bpmn, registry_with_test_types, running_cases
from workflows import search_attributes as sa
from workflows.candidates import Actor
from workflows.effects import StartService
from workflows.interpreter import Interpreter
from workflows.model import load_model
from workflows.sandbox import shared_runner
from workflows.signals import (
    BROADCAST_ACTIVITY,
    BROADCAST_WORKFLOW,
    TAKEN_SIGNALS_KEPT,
    THROW_SIGNAL,
    BroadcastSignalInput,
    BroadcastSignalResult,
    SignalBroadcast,
    SignalStart,
    broadcast_id,
    case_broadcaster,
)
from workflows.state import InstanceState, SignalSubscription
from workflows.visibility import MAX_LIST_BYTES, AttributeValue, search_attribute_updates

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
OPERATOR = Actor(subject="operator", org="SE-SOS", roles=["operator"])
OFFICER = Actor(subject="sos-officer", org="SE-SOS", roles=["officer"])
REGISTRATOR_AB = Actor(subject="registrator-ab", org="SE-AB", roles=["registrator"])

_SETTLE = 30.0
"""The longest a test waits for the dev server to reach a state (never a timer race)."""


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    for name in ("WAITER", "STARTED", "THROWER", "END_THROWER", "REVIEW", "WATCH"):
        document = getattr(models, name)
        store.deploy([ModelFile(name=f"{name.lower()}.bpmn", content=document.encode())])
    return store


def started(store: ModelStore, process_id: str, variables: dict[str, Any] | None = None):
    state = InstanceState(
        process_id=process_id, version=1, business_key="k", title="Case", variables=variables or {}
    )
    interpreter = Interpreter(load_model(store.source(process_id)), state)
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    return interpreter


def published(interpreter: Interpreter, before: dict[str, AttributeValue]) -> dict[str, Any]:
    """The attributes an upsert would set now (None: unset), by name."""
    return {
        update.key.name: getattr(update, "value", None)
        for update in search_attribute_updates(interpreter, before)
    }


# --- the model ----------------------------------------------------------------------------


def test_signal_events_are_executable_and_their_signal_is_read_and_written_back():
    from process_models.bpmn.writer import write_bpmn

    for document in (models.WAITER, models.THROWER, models.REVIEW, models.WATCH):
        definitions = read_bpmn(document.encode())
        assert blockers_by_process(definitions) == {p.id: [] for p in definitions.processes}
        assert validate(definitions) == []
        again = read_bpmn(write_bpmn(definitions))
        assert [(s.id, s.name) for s in again.signals] == [
            (s.id, s.name) for s in definitions.signals
        ]


def test_a_signal_event_needs_a_signal_named_as_written():
    definitions = read_bpmn(
        bpmn("""
        <bpmn:signal id="Nameless"/>
        <bpmn:signal id="Computed" name="=kind"/>
        <bpmn:process id="p" isExecutable="true">
          <bpmn:startEvent id="Start"/>
          <bpmn:startEvent id="SignalStart">
            <bpmn:signalEventDefinition signalRef="Computed"/>
          </bpmn:startEvent>
          <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Wait"/>
          <bpmn:intermediateCatchEvent id="Wait">
            <bpmn:signalEventDefinition signalRef="Nameless"/>
          </bpmn:intermediateCatchEvent>
          <bpmn:sequenceFlow id="f2" sourceRef="Wait" targetRef="Throw"/>
          <bpmn:intermediateThrowEvent id="Throw">
            <bpmn:signalEventDefinition/>
          </bpmn:intermediateThrowEvent>
          <bpmn:sequenceFlow id="f3" sourceRef="Throw" targetRef="End"/>
          <bpmn:endEvent id="End">
            <bpmn:signalEventDefinition signalRef="Computed"/>
          </bpmn:endEvent>
        </bpmn:process>
        """).encode()
    )
    problems = validate(definitions)
    # A computed name is evaluated in the case (End), not before one exists (SignalStart).
    assert [p.element_id for p in problems] == ["SignalStart", "Wait", "Throw"]
    assert "computed name ('=kind'), which a signal start event" in problems[0].message
    assert all("signal of this event has no name" in p.message for p in problems[1:])


# --- in the case --------------------------------------------------------------------------


def test_a_catch_event_takes_a_signal_from_its_candidates_only(store: ModelStore):
    waiter = started(store, "sig_waiter")
    (subscription,) = waiter.state.signal_subscriptions.values()
    assert (subscription.signal_name, subscription.candidate_groups) == ("alert", ["operator"])

    assert waiter.signal_receivers("alert", OFFICER) == []  # no candidate: nothing to take
    assert waiter.signal_receivers("other", OPERATOR) == []

    received = waiter.receive_signal("b-1", "alert", {"level": 2}, broadcaster=OPERATOR, now=NOW)
    waiter.run(NOW)
    assert received == ["Alert"]
    assert (waiter.state.ended, waiter.state.outcome) == (True, "Larmad")
    assert waiter.state.variables["level"] == 2  # merged, as a message's payload
    assert waiter.state.signals_taken == {"b-1": ["Alert"]}
    (entry,) = [e for e in waiter.state.audit if e.kind == "signal"]
    assert (entry.element_id, entry.actor, entry.detail) == ("Alert", "operator", "alert")


def test_boundary_signals_interrupt_or_not_and_check_the_broadcaster(store: ModelStore):
    review = started(store, "sig_review", {"region": "SE-AB"})
    reminders = [
        s for s in review.state.signal_subscriptions.values() if s.element_id == "Reminded"
    ]
    assert [(s.candidate_groups, s.candidate_orgs) for s in reminders] == [([], ["SE-AB"])]

    assert review.signal_receivers("reminder", OPERATOR) == []  # the region's, not SE-SOS's
    for n in (1, 2):
        assert review.receive_signal(f"r-{n}", "reminder", {}, broadcaster=REGISTRATOR_AB, now=NOW)
        review.run(NOW)
    assert [a.id for a in review.open_tasks()] == ["Review"]  # non-interrupting, twice
    assert not review.state.ended

    assert review.receive_signal("a-1", "abort review", {}, broadcaster=OPERATOR, now=NOW) == [
        "Aborted"
    ]
    review.run(NOW)
    assert (review.state.ended, review.state.outcome) == (True, "Avbruten")
    assert review.state.signal_subscriptions == {}


def test_a_non_interrupting_event_subprocess_runs_on_every_signal(store: ModelStore):
    watch = started(store, "sig_watch")
    for n in (1, 2):
        assert watch.receive_signal(f"w-{n}", "alert", {}, broadcaster=OPERATOR, now=NOW) == [
            "AlertStart"
        ]
        watch.run(NOW)
    assert [a.id for a in watch.open_tasks()] == ["Work"]
    assert watch.state.visits.get("OnAlert") == 2
    assert len(watch.state.signal_subscriptions) == 1


def test_a_throw_event_broadcasts_through_an_activity_with_its_inputs(store: ModelStore):
    thrower = started(store, "sig_thrower", {"level": 3})
    (effect,) = thrower.take_effects()
    assert isinstance(effect, StartService)
    assert (effect.type, effect.activity_id) == (THROW_SIGNAL, "Raise")
    assert effect.inputs == {"name": "alert", "variables": {"level": 3}}
    assert not thrower.state.ended  # the token waits for the broadcast

    thrower.service_succeeded("Raise", None, NOW)
    thrower.run(NOW)
    assert (thrower.state.ended, thrower.state.outcome) == (True, "Larmat")
    assert thrower.state.variables == {"level": 3}


def test_a_failed_broadcast_is_an_incident_whose_retry_throws_with_the_same_task(
    store: ModelStore,
):
    thrower = started(store, "sig_end_thrower")
    (effect,) = thrower.take_effects()
    thrower.service_failed("RaiseEnd", error_code=None, message="visibility down", now=NOW)
    (incident,) = thrower.state.incidents.values()
    thrower.retry_incident(incident.id, {}, actor="operator", now=NOW)
    (retried,) = thrower.take_effects()
    assert isinstance(retried, StartService)
    # The same task id: the signal's broadcast id stays, so a case takes it once.
    assert (retried.activity_id, retried.attempt) == (effect.activity_id, 1)
    thrower.service_succeeded("RaiseEnd", None, NOW)
    thrower.run(NOW)
    assert (thrower.state.ended, thrower.state.outcome) == (True, "Larm och slut")


RACE = bpmn("""
<bpmn:signal id="SigGo" name="go"/>
<bpmn:process id="sig_race" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Gate"/>
  <bpmn:eventBasedGateway id="Gate"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Gate" targetRef="Go"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Gate" targetRef="Late"/>
  <bpmn:intermediateCatchEvent id="Go">
    <bpmn:signalEventDefinition signalRef="SigGo"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:intermediateCatchEvent id="Late">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f4" sourceRef="Go" targetRef="Went"/>
  <bpmn:endEvent id="Went" name="Gick"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Late" targetRef="TooLate"/>
  <bpmn:endEvent id="TooLate" name="Sent"/>
</bpmn:process>
""")

CAMUNDA8 = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Defs"
    targetNamespace="http://bpmn.io/schema/bpmn" modeler:executionPlatform="Camunda Cloud">
  <bpmn:signal id="Sig_go" name="go" />
  <bpmn:process id="c8_signals" isExecutable="true">
    <bpmn:startEvent id="Start" />
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Wait" />
    <bpmn:intermediateCatchEvent id="Wait">
      <bpmn:extensionElements>
        <zeebe:ioMapping><zeebe:output source="=count + 1" target="seen" /></zeebe:ioMapping>
      </bpmn:extensionElements>
      <bpmn:signalEventDefinition signalRef="Sig_go" />
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="Wait" targetRef="Throw" />
    <bpmn:endEvent id="Throw">
      <bpmn:extensionElements>
        <zeebe:ioMapping><zeebe:input source="=upper case(who)" target="by" /></zeebe:ioMapping>
      </bpmn:extensionElements>
      <bpmn:signalEventDefinition signalRef="Sig_go" />
    </bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""
"""A Camunda 8 catch that maps the signal's variables (FEEL), and an end event that throws
with a FEEL input mapping."""


def test_an_event_based_gateway_waits_for_a_signal_or_a_timer(tmp_path: Path):
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="race.bpmn", content=RACE.encode())])
    assert validate(read_bpmn(RACE.encode())) == []
    race = started(store, "sig_race")
    assert len(race.state.timers) == len(race.state.signal_subscriptions) == 1

    assert race.receive_signal("g-1", "go", {}, broadcaster=OPERATOR, now=NOW) == ["Go"]
    race.run(NOW)
    assert (race.state.ended, race.state.outcome) == (True, "Gick")
    assert race.state.timers == {}


def test_camunda8_signal_events_map_with_feel(tmp_path: Path):
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="c8.bpmn", content=CAMUNDA8.encode())])
    case = started(store, "c8_signals", {"who": "sos"})
    case.receive_signal("c-1", "go", {"count": 1}, broadcaster=OPERATOR, now=NOW)
    case.run(NOW)
    assert case.state.variables["seen"] == 2
    (effect,) = case.take_effects()
    assert isinstance(effect, StartService)
    assert effect.inputs == {"name": "go", "variables": {"by": "SOS"}}


def test_a_case_keeps_only_the_latest_broadcast_ids(store: ModelStore):
    watch = started(store, "sig_watch")
    for n in range(TAKEN_SIGNALS_KEPT + 5):
        watch.receive_signal(f"b-{n}", "alert", {}, broadcaster=OPERATOR, now=NOW)
        watch.run(NOW)
    taken = list(watch.state.signals_taken)
    assert len(taken) == TAKEN_SIGNALS_KEPT
    assert taken[0] == "b-5"
    assert taken[-1] == f"b-{TAKEN_SIGNALS_KEPT + 4}"


def test_waiting_signals_are_listed_as_digests_and_unlisted_when_they_close(store: ModelStore):
    waiter = started(store, "sig_waiter")
    before: dict[str, AttributeValue] = {}
    assert published(waiter, before)[sa.SIGNAL_SUBSCRIPTIONS.name] == sa.signal_entry("alert")
    assert published(waiter, before) == {}
    waiter.receive_signal("b-1", "alert", {}, broadcaster=OPERATOR, now=NOW)
    waiter.run(NOW)
    assert published(waiter, before)[sa.SIGNAL_SUBSCRIPTIONS.name] is None

    review = started(store, "sig_review", {"region": "SE-AB"})
    words = published(review, {})[sa.SIGNAL_SUBSCRIPTIONS.name].split(" ")
    assert words == [sa.signal_entry("reminder"), sa.signal_entry("abort review")]


def test_a_case_without_signals_never_upserts_the_attribute(store: ModelStore):
    thrower = started(store, "sig_thrower", {"level": 1})
    assert sa.SIGNAL_SUBSCRIPTIONS.name not in published(thrower, {})


def test_the_signal_list_stays_within_two_kilobytes(store: ModelStore):
    waiter = started(store, "sig_waiter")
    for i in range(300):
        waiter.state.signal_subscriptions[f"~s{1000 + i}"] = SignalSubscription(
            id=f"~s{1000 + i}", element_id="Alert", signal_name=f"signal {i}", owner="~t1"
        )
    value = published(waiter, {})[sa.SIGNAL_SUBSCRIPTIONS.name]
    assert len(value.encode()) <= MAX_LIST_BYTES
    assert value.split(" ")[-1] == sa.SUBSCRIPTIONS_TRUNCATED


# --- between cases, on the dev server -----------------------------------------------------


async def listed(client: Client, name: str, expected: set[str]) -> None:
    """Wait until visibility lists exactly ``expected`` as waiting for signal ``name``."""
    query = waiting_cases_query(name)
    async with asyncio.timeout(_SETTLE):
        while {w.id async for w in client.list_workflows(query)} != expected:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def of_type(client: Client, task_queue: str, workflow_type: str, expected: str) -> list[str]:
    """The cases of ``workflow_type`` on ``task_queue`` visibility lists, once it lists
    ``expected``."""
    query = f"WorkflowType = '{workflow_type}' AND TaskQueue = '{task_queue}'"
    async with asyncio.timeout(_SETTLE):
        while True:
            ids = [w.id async for w in client.list_workflows(query)]
            if expected in ids:
                return ids
            await asyncio.sleep(0.1)


async def broadcast(
    client: Client, task_queue: str, request: BroadcastSignalInput
) -> BroadcastSignalResult:
    result: BroadcastSignalResult = await client.execute_workflow(
        BROADCAST_WORKFLOW,
        request,
        id=f"{request.broadcast_id}-{request.signal_id}",
        task_queue=task_queue,
        result_type=BroadcastSignalResult,
    )
    return result


async def test_a_broadcast_reaches_three_waiting_cases_starts_one_and_is_taken_once(
    client: Client, task_queue: str, tmp_path: Path
):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        alert = "alert" + (suffix := "-" + uuid.uuid4().hex[:8])
        cases.deploy(models.renamed(models.WATCH, suffix), models.renamed(models.STARTED, suffix))
        watching = [await cases.start("sig_watch") for _ in range(3)]
        await listed(client, alert, {h.id for h in watching})
        start = SignalStart(process_id="sig_started", version=1, start_event="AlertStart")
        request = BroadcastSignalInput(
            broadcast_id=broadcast_id("operator", alert, "alert-1"),
            signal_id="alert-1",
            name=alert,
            variables={"level": 4},
            actor=OPERATOR,
            starts=[start],
        )

        first = await broadcast(client, task_queue, request)

        assert first.signal_id == "alert-1"
        assert first.delivered_to == sorted(h.id for h in watching)
        (new,) = first.started
        new_case = client.get_workflow_handle(new)
        cases.started.append(new_case)
        for handle in watching:
            state = await cases.internal(handle)
            assert state.visits["OnAlert"] == 1
            assert state.variables["level"] == 4
        view = await cases.view(new_case)
        assert [t.task_id for t in view.open_tasks] == ["Handle"]
        assert view.variables["level"] == 4

        # The same broadcast again (as a retry after a crash runs it): the cases answer that
        # they took it already and do nothing, and the started case is found by its id.
        again = await broadcast(client, task_queue, request)
        assert again.delivered_to == first.delivered_to
        assert again.started == [new]
        for handle in watching:
            assert (await cases.internal(handle)).visits["OnAlert"] == 1
        assert await of_type(client, task_queue, "sig_started", new) == [new]


async def test_a_case_throws_a_signal_that_reaches_another_once(
    client: Client, task_queue: str, tmp_path: Path, record_history
):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        suffix = "-" + uuid.uuid4().hex[:8]
        cases.deploy(
            *(models.renamed(d, suffix) for d in (models.WAITER, models.THROWER, models.REVIEW))
        )
        waiter = await cases.start("sig_waiter")
        review = await cases.start("sig_review", {"region": "SE-AB"})
        await listed(client, "alert" + suffix, {waiter.id})

        thrower = await cases.start("sig_thrower", {"level": 5})

        assert (await thrower.result()).outcome == "Larmat"
        result = await waiter.result()
        assert (result.outcome, result.variables["level"]) == ("Larmad", 5)
        state = await cases.internal(waiter)
        expected = broadcast_id(case_broadcaster(thrower.id).subject, "alert" + suffix, "Raise")
        assert list(state.signals_taken) == [expected]
        (entry,) = [e for e in state.audit if e.kind == "signal"]
        assert entry.actor == f"case:{thrower.id}"
        # Another signal's case was not asked.
        assert (await cases.internal(review)).signals_taken == {}
        await record_history(thrower, "signals_throw")
        await record_history(waiter, "signals_catch")


class CrashingBroadcaster(SignalBroadcaster):
    """Fails its first attempt after it has delivered: a worker lost mid-broadcast."""

    @activity.defn(name=BROADCAST_ACTIVITY)
    async def broadcast(self, request: BroadcastSignalInput) -> BroadcastSignalResult:
        result = await super().broadcast(request)
        if activity.info().attempt == 1:
            raise RuntimeError("the worker was lost after delivering")
        return result


async def test_a_broadcast_that_crashes_half_way_resumes_and_each_case_takes_it_once(
    client: Client, task_queue: str, tmp_path: Path
):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        alert = "alert" + (suffix := "-" + uuid.uuid4().hex[:8])
        cases.deploy(models.renamed(models.WATCH, suffix))
        watching = [await cases.start("sig_watch") for _ in range(2)]
        await listed(client, alert, {h.id for h in watching})
        broadcasts = f"{task_queue}-broadcasts"
        crashing = CrashingBroadcaster(client, cases.store)
        async with Worker(
            client,
            task_queue=broadcasts,
            workflows=[SignalBroadcast],
            activities=[crashing.broadcast],
            workflow_runner=shared_runner(),
        ):
            request = BroadcastSignalInput(
                broadcast_id=broadcast_id("operator", alert, "crash-1"),
                signal_id="crash-1",
                name=alert,
                actor=OPERATOR,
                starts=[],
            )
            result = await broadcast(client, broadcasts, request)

        assert result.delivered_to == sorted(h.id for h in watching)
        for handle in watching:
            state = await cases.internal(handle)
            assert state.visits["OnAlert"] == 1
            assert list(state.signals_taken) == [request.broadcast_id]
