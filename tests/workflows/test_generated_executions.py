"""Generated executions: random models, random actions, and the engine's one invariant
checked after every action (DESIGN, "One invariant above all: no stranded case").

Hypothesis draws executable models from every element niva runs
(`tests.support.generated_models`) together with a list of choices; a driver starts a case
of each model on the time-skipping server and, one choice at a time, takes one of the
actions the case offers: complete an open task (with a payload that sets what the choices
test), send a message some element waits for, retry an incident (repairing the failing
service task or not), or let time pass. After every action, for the case and every child
case it started:

- no workflow task failed (the history has no WorkflowTaskFailed event);
- the case has ended, or waits for something: an open task, an armed timer, a message
  subscription, a running activity or child, or an incident; every incident is bound to a
  token or activity that exists, and no token stands in an incident no incident names;
- an accepted completion or message is in the trail (the audit entries);

and at the end every recorded history replays, in the workers' sandbox and in Temporal's
strict one. Many cases run at once, on one worker and one server for the whole test.

A bounded run of 200 cases and a long one of 2,000; both are marked ``soak`` for now (see
the note on the bounded test), so `make soak` runs them and `make test` does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import (
    Client,
    WorkflowHistory,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from process_models.registry import TaskType
from starter.dev import installed_binary
from tests.support.generated_models import (
    TASK_TYPE,
    GeneratedModel,
    RenderedModel,
    generated_models,
    generated_service,
    render,
)
from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, Cases, registry_with_test_types, running_cases
from workflows import WORKFLOWS, search_attributes
from workflows.contract import (
    CompleteTaskInput,
    CompleteTaskResult,
    CorrelateMessageInput,
    CorrelateMessageResult,
    RetryIncidentInput,
)
from workflows.sandbox import shared_runner
from workflows.state import InstanceState

BATCH = 8
"""Cases run at once in one hypothesis example."""
CASES = 200
SOAK_CASES = 2_000
ACTIONS_PER_CASE = 12
ANSWER_WITHIN = 30.0
"""Seconds an update or query may take before the case counts as wedged."""
SLEEPS = (timedelta(hours=1), timedelta(days=1), timedelta(days=3))
_SERVER_SIDE_CAUSES = (
    # The server refused a completion because new events arrived meanwhile (an update, an
    # activity result): the worker runs the task again with them. Not a failure of niva.
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE,
)
_EXPECTED_INCIDENTS = ("activity", "error", "child")
_LEAF_KINDS_WAITING = ("userTask", "subProcess", "multiInstanceBody", "receiveTask")


@dataclass(frozen=True)
class GeneratedCase:
    """A model and the choices that pick the actions taken on a case of it."""

    model: GeneratedModel
    choices: tuple[int, ...]


def generated_cases() -> st.SearchStrategy[GeneratedCase]:
    return st.builds(
        GeneratedCase,
        generated_models(),
        st.lists(st.integers(0, 2**16 - 1), min_size=1, max_size=ACTIONS_PER_CASE).map(tuple),
    )


@dataclass
class Tally:
    """What a run did, printed at its end."""

    cases: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    ended: int = 0
    incidents: set[str] = field(default_factory=set)
    nodes: int = 0

    def line(self, seconds: float) -> str:
        taken = sum(v for k, v in self.actions.items() if not k.endswith("rejected"))
        return (
            f"generated executions: {self.cases} cases, {taken} actions taken "
            f"({dict(sorted(self.actions.items()))}), {self.ended} cases ended, "
            f"{len(self.incidents)} incidents seen, {self.nodes} nodes, {seconds:.0f} s"
        )


class Violation(AssertionError):
    """The invariant does not hold for a case (the message says how, with the model)."""


class ClockStuck(Violation):
    """Time on the test server no longer passes: some case (not necessarily this one)
    holds it, e.g. with a workflow task that fails for ever."""


# --- checks -----------------------------------------------------------------------------


def invariant_problems(state: InstanceState, rendered: RenderedModel) -> list[str]:
    """How a case's state breaks "no stranded case", or runs a generated model other
    than BPMN says (empty when all holds)."""
    problems = []
    for incident in state.incidents.values():
        # Every expression of a generated model holds on the variables it starts with, and
        # every choice has a default: only a failing or throwing service task, or a child
        # case, may park a token.
        if incident.kind not in _EXPECTED_INCIDENTS:
            problems.append(
                f"unexpected {incident.kind} incident at {incident.element_id}: {incident.message}"
            )
        bound = (incident.token_id is not None and incident.token_id in state.tokens) or (
            incident.activity_id is not None and incident.activity_id in state.activities
        )
        if not bound:
            problems.append(
                f"incident {incident.id} at {incident.element_id} ({incident.kind}: "
                f"{incident.message}) is bound to no token or activity that exists"
            )
    parked = {i.token_id for i in state.incidents.values()}
    for token in state.tokens.values():
        if token.status == "incident" and token.id not in parked:
            problems.append(f"token {token.id} at {token.node_id} is parked with no incident")
        waits_for = token.activity_id
        if token.status != "ready" and waits_for is not None and waits_for not in state.activities:
            problems.append(
                f"token {token.id} at {token.node_id} waits for activity "
                f"{token.activity_id}, which does not exist"
            )
    for start in rendered.fire_once:
        fired = sum(1 for e in state.audit if e.kind == "timer" and e.element_id == start)
        if fired > 1:
            problems.append(f"timeDuration start event {start} fired {fired} times, not once")
    if state.ended:
        return problems
    waits = (
        any(a.kind == "userTask" for a in state.activities.values())
        or bool(state.timers)
        or bool(state.subscriptions)
        or any(
            a.status == "active" and a.kind not in _LEAF_KINDS_WAITING
            for a in state.activities.values()
        )
        or bool(state.incidents)
    )
    if not waits:
        tokens = ", ".join(f"{t.node_id}({t.status})" for t in state.tokens.values()) or "none"
        problems.append(f"stranded: running with nothing to wait for (tokens: {tokens})")
    return problems


def _trail_count(state: InstanceState, name: str) -> int:
    return sum(
        1 for e in state.audit if e.kind in ("message", "message_buffered") and e.detail == name
    )


# --- the driver -------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    kind: str
    workflow_id: str
    target: str
    payload: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.kind} {self.target} on {self.workflow_id} {self.payload or ''}".strip()


class Clock:
    """The test server's clock, shared by every case. Time passes for one sleeper at a
    time, and only while no request of another case is in flight, so that no request
    straddles a jump of the clock (the workflow task it starts would time out in virtual
    time, and the case would answer late or not at all); requests wait while it passes."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._requests = 0
        self._sleepers = 0
        self._sleeping = False

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._sleeping and not self._sleepers)
            self._requests += 1
        try:
            yield
        finally:
            async with self._changed:
                self._requests -= 1
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def passing(self) -> AsyncIterator[None]:
        async with self._changed:
            self._sleepers += 1
            await self._changed.wait_for(lambda: not self._sleeping and not self._requests)
            self._sleepers -= 1
            self._sleeping = True
        try:
            yield
        finally:
            async with self._changed:
                self._sleeping = False
                self._changed.notify_all()


class CaseDriver:
    """Runs one generated case: start, actions, checks, replay, clean up."""

    def __init__(
        self,
        cases: Cases,
        env: WorkflowEnvironment,
        case: GeneratedCase,
        tally: Tally,
        replayers: list[Replayer],
        clock: Clock,
    ) -> None:
        self.clock = clock
        self.cases = cases
        self.client: Client = cases.client
        self.env = env
        self.case = case
        self.tally = tally
        self.replayers = replayers
        self.rendered: RenderedModel = render(case.model, f"gen_{uuid.uuid4().hex[:10]}")
        self.root = ""
        self.tree: list[str] = []
        self.ended: set[str] = set()
        self.states: dict[str, InstanceState] = {}
        self.log: list[str] = []

    # --- running --------------------------------------------------------------------------

    async def run(self) -> None:
        rendered = self.rendered
        try:
            async with self.clock.request():
                self.cases.deploy(rendered.xml)
                handle = await self.cases.start(rendered.process_id, dict(rendered.variables))
                self.root = handle.id
                self.tree = [self.root]
                self.tally.cases += 1
                self.tally.nodes += rendered.nodes
                await self.check("start")
            for choice in self.case.choices:
                action = self.pick(choice)
                if action.kind == "sleep":
                    async with self.clock.passing():
                        await self.take(action)
                    async with self.clock.request():
                        await self.check(str(action))
                else:
                    async with self.clock.request():
                        await self.take(action)
                        await self.check(str(action))
            async with self.clock.request():
                await self.finish()
        finally:
            async with self.clock.request():
                await self.clean_up()

    def pick(self, choice: int) -> Action:
        actions: list[Action] = []
        seed = choice
        for workflow_id in self.tree:
            state = self.states.get(workflow_id)
            if state is None or state.ended:
                continue
            for activity in state.activities.values():
                if activity.kind == "userTask":
                    actions.append(Action("complete", workflow_id, activity.id, {}))
            for name in sorted({s.message_name for s in state.subscriptions.values()}):
                actions.append(Action("message", workflow_id, name, {}))
            for incident in state.incidents.values():
                actions.append(Action("retry", workflow_id, incident.id, {}))
        # One entry for time, so that a case with one open task does not spend three
        # quarters of its actions sleeping.
        actions.append(Action("sleep", "", "", {}))
        action = actions[seed % len(actions)]
        seed //= len(actions)
        if action.kind == "sleep":
            return Action("sleep", "", str(SLEEPS[seed % len(SLEEPS)]), {})
        if action.kind in ("complete", "message"):
            # What the choices test: 0 keeps the default branch, 1 and 2 the others.
            payload = {v: (seed >> (2 * i)) % 3 for i, v in enumerate(self.rendered.choices)}
            return Action(action.kind, action.workflow_id, action.target, payload)
        if action.kind == "retry":
            incident = self.states[action.workflow_id].incidents[action.target]
            variable = self.rendered.services.get(incident.element_id)
            if variable is not None and seed % 2 == 0:
                return Action("retry", action.workflow_id, action.target, {variable: "ok"})
        return action

    async def take(self, action: Action) -> None:
        if action.kind == "sleep":
            self.log.append(f"let {action.target} pass")
            self.tally.actions["sleep"] += 1
            try:
                await asyncio.wait_for(
                    self.env.sleep(SLEEPS[[str(d) for d in SLEEPS].index(action.target)]),
                    ANSWER_WITHIN,
                )
            except (TimeoutError, RPCError) as exc:
                self.fail(f"time stood still: {exc!r}", ClockStuck)
            return
        handle = self.client.get_workflow_handle(action.workflow_id)
        before = self.states[action.workflow_id]
        try:
            if action.kind == "complete":
                completed = await asyncio.wait_for(
                    handle.execute_update(
                        "complete_task",
                        CompleteTaskInput(
                            task_id=action.target, payload=action.payload, actor=OFFICER
                        ),
                        result_type=CompleteTaskResult,
                    ),
                    ANSWER_WITHIN,
                )
                self.log.append(f"{action}: accepted (duplicate={completed.duplicate})")
            elif action.kind == "message":
                await self.settle()
                delivered = await asyncio.wait_for(
                    handle.execute_update(
                        "correlate_message",
                        CorrelateMessageInput(
                            name=action.target, payload=action.payload, actor=OFFICER
                        ),
                        result_type=CorrelateMessageResult,
                    ),
                    ANSWER_WITHIN,
                )
                self.log.append(
                    f"{action}: accepted, received by {delivered.received_by}"
                    + (" (buffered)" if delivered.buffered else "")
                )
            else:
                await asyncio.wait_for(
                    handle.execute_update(
                        "retry_incident",
                        RetryIncidentInput(
                            incident_id=action.target, variables=action.payload, actor=OFFICER
                        ),
                    ),
                    ANSWER_WITHIN,
                )
                self.log.append(f"{action}: accepted")
        except (WorkflowUpdateFailedError, RPCError) as rejected:
            # The case moved on since it was looked at (a service task finished, a timer
            # fired): a rejection is a correct answer, never a dropped submission.
            cause = getattr(rejected, "cause", None) or rejected
            self.log.append(f"{action}: rejected ({cause})")
            self.tally.actions[f"{action.kind} rejected"] += 1
            return
        except TimeoutError:
            await self.check_workflow_tasks()
            self.fail(f"{action}: no answer within {ANSWER_WITHIN} s")
        self.tally.actions[action.kind] += 1
        after = await self.query(action.workflow_id)
        if after is None:
            self.fail(f"{action}: accepted, but the case cannot be queried")
        if action.kind == "complete":
            if not any(
                e.kind == "task_completed" and e.task_id == action.target for e in after.audit
            ):
                self.fail(f"{action}: accepted, but the completion is not in the trail")
        elif action.kind == "message" and _trail_count(after, action.target) <= _trail_count(
            before, action.target
        ):
            self.fail(f"{action}: accepted, but the message is not in the trail")

    async def settle(self) -> None:
        """Wait (a little) until no service task of the case runs.

        A message may interrupt a running service task. Temporal's test server fails the
        workflow task that cancels an activity whose result arrived meanwhile
        (``ACTIVITY_UNKNOWN``), where a real server accepts it, and the case then waits for
        ever on that server alone; a message is therefore sent when no activity is in
        flight. The generated activities return at once, so this takes milliseconds.
        """
        for _ in range(100):
            running = False
            for workflow_id in self.tree:
                if workflow_id in self.ended:
                    continue
                state = await self.query(workflow_id)
                running = running or any(
                    a.status == "active"
                    and a.kind not in _LEAF_KINDS_WAITING
                    and a.kind != "callActivity"
                    for a in (state.activities.values() if state else ())
                )
            if not running:
                return
            await asyncio.sleep(0.05)

    # --- observing ------------------------------------------------------------------------

    async def query(self, workflow_id: str) -> InstanceState | None:
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            state = await asyncio.wait_for(
                handle.query("instance_state", result_type=InstanceState), ANSWER_WITHIN
            )
        except (RPCError, WorkflowQueryFailedError) as exc:
            if workflow_id == self.root:
                await self.check_workflow_tasks()
                self.fail(f"the query of {workflow_id} fails: {exc!r}")
            return None  # a child whose start is still on its way
        except TimeoutError:
            await self.check_workflow_tasks()
            self.fail(f"the query of {workflow_id} is not answered within {ANSWER_WITHIN} s")
        self.states[workflow_id] = state
        if state.ended:
            self.ended.add(workflow_id)
        for child in state.children:
            if child not in self.tree:
                self.tree.append(child)
        return state

    async def check(self, after: str) -> None:
        """The invariant, for the case and each child case that still runs."""
        for workflow_id in list(self.tree):
            if workflow_id in self.ended and workflow_id in self.states:
                continue
            state = await self.query(workflow_id)
            if state is None:
                if workflow_id == self.root:
                    self.fail(f"after {after}: the case cannot be queried")
                continue
            self.tally.incidents.update(f"{workflow_id}/{i}" for i in state.incidents)
            problems = invariant_problems(state, self.rendered)
            if problems:
                self.fail(f"after {after}, {workflow_id}: " + "; ".join(problems))
        await self.check_workflow_tasks()

    async def check_workflow_tasks(self) -> None:
        for workflow_id in self.tree:
            if workflow_id not in self.states:
                continue
            handle = self.client.get_workflow_handle(workflow_id)
            async for event in handle.fetch_history_events():
                if event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    continue
                attributes = event.workflow_task_failed_event_attributes
                if attributes.cause in _SERVER_SIDE_CAUSES:
                    continue
                cause = WorkflowTaskFailedCause.Name(attributes.cause)
                self.fail(
                    f"a workflow task of {workflow_id} failed ({cause}): "
                    f"{attributes.failure.message}"
                )

    async def finish(self) -> None:
        """An ended case closes; every history replays."""
        if self.root in self.ended:
            self.tally.ended += 1
            handle = self.client.get_workflow_handle(self.root)
            last = None
            for _ in range(40):
                history = await handle.fetch_history()
                last = history.events[-1].event_type
                if last == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                    break
                await asyncio.sleep(0.25)
            else:
                self.fail(f"the case ended but its workflow is still open (last event {last})")
        histories: list[WorkflowHistory] = []
        for workflow_id in self.tree:
            if workflow_id in self.states:
                handle = self.client.get_workflow_handle(workflow_id)
                histories.append(await handle.fetch_history())
        await self.clean_up()
        for history in histories:
            for replayer in self.replayers:
                result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
                if result.replay_failure is not None:
                    self.fail(
                        f"the history of {history.workflow_id} does not replay: "
                        f"{result.replay_failure}"
                    )

    async def clean_up(self) -> None:
        """Terminate the case and every child it started, children first: a child left
        running after its parent closed would hold the test server's clock."""
        known = list(self.tree)
        for workflow_id in known:
            with contextlib.suppress(Exception):  # not started, or closed long ago
                state = await asyncio.wait_for(
                    self.client.get_workflow_handle(workflow_id).query(
                        "instance_state", result_type=InstanceState
                    ),
                    5,
                )
                known.extend(c for c in state.children if c not in known)
        for workflow_id in reversed(known):
            with contextlib.suppress(Exception):  # closed already, or never started
                await self.client.get_workflow_handle(workflow_id).terminate("generated case")

    def fail(self, problem: str, kind: type[Violation] = Violation) -> Any:
        actions = "\n".join(f"  {i}. {line}" for i, line in enumerate(self.log, 1)) or "  none"
        raise kind(
            f"{problem}\n\nstart variables: {self.rendered.variables}\nactions:\n{actions}\n\n"
            f"model:\n{self.rendered.xml}"
        )


# --- the property -----------------------------------------------------------------------


@pytest.fixture(scope="module")
async def clock_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of these tests' own: thousands of cases that end every way
    there is would leave the session's server to the tests that follow."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=installed_binary("temporal-test-server"),
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes=search_attributes.registration(),
        )
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="module")
async def generated(
    clock_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cases]:
    """One worker for every generated case, with the ``generated`` task type."""
    registry = registry_with_test_types()
    registry.register_task_type(TaskType(name=TASK_TYPE, description="test: generated"))
    # A generated service task fails or throws in every other case; the worker's warning
    # with a traceback for each would bury the test's own report.
    quiet = logging.getLogger("temporalio.activity")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    async with running_cases(
        clock_env.client,
        f"generated-{uuid.uuid4().hex[:8]}",
        tmp_path_factory.mktemp("generated"),
        activities=[*activities_for_tests.ALL, generated_service],
        registry=registry,
    ) as cases:
        try:
            yield cases
        finally:
            quiet.setLevel(level)


async def run_property(cases: Cases, env: WorkflowEnvironment, total: int) -> Tally:
    """Run ``total`` generated cases, ``BATCH`` at a time, from a hypothesis thread that
    hands each batch to this event loop (where the worker runs)."""
    loop = asyncio.get_running_loop()
    tally = Tally()
    replayers = [
        Replayer(
            workflows=WORKFLOWS,
            data_converter=pydantic_data_converter,
            workflow_runner=runner,
        )
        for runner in (shared_runner(), SandboxedWorkflowRunner())
    ]

    clock = Clock()

    async def batch(drawn: list[GeneratedCase]) -> None:
        outcomes = await asyncio.gather(
            *(CaseDriver(cases, env, case, tally, replayers, clock).run() for case in drawn),
            return_exceptions=True,
        )
        # A stuck clock fails every case that sleeps; the case that stuck it says why.
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        failures.sort(key=lambda failure: isinstance(failure, ClockStuck))
        if failures:
            raise failures[0]

    @settings(
        max_examples=total // BATCH,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(st.lists(generated_cases(), min_size=BATCH, max_size=BATCH))
    def prop(drawn: list[GeneratedCase]) -> None:
        asyncio.run_coroutine_threadsafe(batch(drawn), loop).result(timeout=600)

    await asyncio.to_thread(prop)
    return tally


# Excluded from `make test` for now: under load, Temporal's time-skipping test server at
# times stops moving its clock (ClockStuck) and every later case fails; until that is
# understood the bounded run would make `make test` flaky. `make soak` runs it.
@pytest.mark.soak
async def test_generated_executions_never_strand_a_case(
    generated: Cases, clock_env: WorkflowEnvironment
):
    started = time.monotonic()
    tally = await run_property(generated, clock_env, CASES)
    print(tally.line(time.monotonic() - started))
    assert tally.cases >= CASES
    assert sum(tally.actions.values()) >= CASES


@pytest.mark.soak
async def test_generated_executions_soak(generated: Cases, clock_env: WorkflowEnvironment):
    started = time.monotonic()
    tally = await run_property(generated, clock_env, SOAK_CASES)
    print(tally.line(time.monotonic() - started))
    assert tally.cases >= SOAK_CASES
