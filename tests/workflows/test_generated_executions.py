"""Generated executions: random models, random actions, and the engine's one invariant
checked after every action (DESIGN, "One invariant above all: no stranded case").

Hypothesis draws executable models from every element niva runs
(`tests.support.generated_models`) together with a list of choices; a driver starts a case
of each model and, one choice at a time, takes one of the actions the case offers: complete
an open task (with a payload that sets what the choices and conditions test), send a
message some element waits for, broadcast a signal some element waits for (straight to the
case, as the broadcast activity does, now and then with the id of the broadcast before it,
which the case must answer as a duplicate), retry an incident (repairing what failed or
not), or let time pass until one of its timers has fired. After every action, for the case
and every child case it started (unless its parent cancelled it):

- the case has ended, or waits for something: an open task (a compensation handler's
  included), an armed timer, a message, signal or condition subscription, a running activity
  or child, or an incident; every incident is of a kind the model can raise and is bound to
  a token or activity that exists, and no token stands in an incident no incident names;
- no compensation handler ran twice for one completed activity, and no inclusive join has
  fired while a token of its scope can still reach it (a token beyond it beside one between
  its fork and it);
- an accepted completion or message is in the trail (the audit entries);

and when its actions are done: no workflow task failed (no WorkflowTaskFailed event in any
history, read also whenever a rule above breaks or the case does not answer within
`ANSWER_WITHIN`), an ended case's workflow closes, and every history replays, in the
workers' sandbox and in Temporal's strict one. Some models cross the limits the cases run
under (`LIMITS`, kept small: an oversized multi-instance collection, a computed cycle below
the minimum period, a costly condition); those, and only those, may raise ``limit`` and
``expression`` incidents, which must be bound and retryable like any other.

The cases run in real time, with timers of seconds, `BATCH` at a time on one worker and the
session's dev server. Not on the time-skipping server: it refuses a workflow task that
cancels an activity whose result has just arrived (``ACTIVITY_UNKNOWN``, where a real server
accepts it), and the case then waits for ever there; a generated case does that whenever a
BPMN error or a terminate end cancels a sibling service task. What the runs found is kept as
ordinary regression tests in `test_generated_findings.py`.

A bounded run of 200 cases is part of `make test` (about a minute); a long one of 2,000 is
marked ``soak`` (`make soak`). Each prints how many cases, actions and incidents it saw, and
how often the trail shows a condition, an escalation or a compensation at work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHistory,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

import worker
from process_models.deployments import DeployLimits, ModelFile, ModelStore
from process_models.registry import TaskType
from process_models.store import FileBlobStore
from starter.settings import WorkerSettings
from tests.support.dmn import fees_file
from tests.support.generated_models import (
    DEPLOY_MIN_CYCLE_SECONDS,
    LIMITS,
    TASK_TYPE,
    GeneratedModel,
    RenderedModel,
    generated_models,
    generated_service,
    render,
)
from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, Cases, registry_with_test_types
from workflows import WORKFLOWS
from workflows.candidates import Actor
from workflows.contract import (
    CompleteTaskInput,
    CompleteTaskResult,
    CorrelateMessageInput,
    CorrelateMessageResult,
    RetryIncidentInput,
)
from workflows.sandbox import shared_runner
from workflows.signals import (
    DEFAULT_BROADCASTERS,
    RECEIVE_SIGNAL_UPDATE,
    ReceiveSignalInput,
    ReceiveSignalResult,
)
from workflows.state import InstanceState

BATCH = 40
"""Cases run at once in one hypothesis example."""
CASES = 200
SOAK_CASES = 2_000
ACTIONS_PER_CASE = 12
ANSWER_WITHIN = 30.0
"""Seconds an update or query may take before the case counts as wedged."""
LONGEST_SLEEP = 3.0
"""The most seconds one "let time pass" waits (the longest generated timer is 3 s)."""
PAST_DUE = 0.3
"""Seconds a sleep lasts beyond the timer it waits for, for the firing to be processed."""
SLEEP_BUDGET = 6.0
"""Seconds one case may spend letting time pass; beyond them a sleep is a short pause (a
batch lasts as long as its slowest case)."""
_SERVER_SIDE_CAUSES = (
    # The server refused a completion because new events arrived meanwhile (an update, an
    # activity result): the worker runs the task again with them. Not a failure of niva.
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE,
)
_EXPECTED_INCIDENTS = frozenset({"activity", "error", "child"})
BROADCASTER = Actor(subject="operator-1", org="SE-SOS", roles=list(DEFAULT_BROADCASTERS))
"""Who broadcasts the driver's signals: the default broadcasters of a signal catch event."""
_TRAIL_KINDS = frozenset(
    {
        "condition",
        "escalation_caught",
        "escalation_uncaught",
        "compensating",
        "compensation_completed",
    }
)
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
    incident_kinds: Counter[str] = field(default_factory=Counter)
    nodes: int = 0
    events: Counter[str] = field(default_factory=Counter)
    """How often the trail shows what the newer elements do (`_TRAIL_KINDS`)."""

    def line(self, seconds: float) -> str:
        taken = sum(v for k, v in self.actions.items() if not k.endswith("rejected"))
        return (
            f"generated executions: {self.cases} cases, {taken} actions taken "
            f"({dict(sorted(self.actions.items()))}), {self.ended} cases ended, "
            f"{len(self.incidents)} incidents seen ({dict(sorted(self.incident_kinds.items()))}), "
            f"{self.nodes} nodes, trail {dict(sorted(self.events.items()))}, {seconds:.0f} s"
        )


class Violation(AssertionError):
    """The invariant does not hold for a case (the message says how, with the model)."""


# --- checks -----------------------------------------------------------------------------


def invariant_problems(state: InstanceState, rendered: RenderedModel) -> list[str]:
    """How a case's state breaks "no stranded case", or runs a generated model other
    than BPMN says (empty when all holds)."""
    problems = []
    expected = _EXPECTED_INCIDENTS | rendered.incident_kinds
    for incident in state.incidents.values():
        # Every expression of a generated model holds on the variables it starts with, and
        # every choice has a default: only a failing or throwing service task, or a child
        # case, may park a token, and a crossed limit where the model crosses one.
        if incident.kind not in expected:
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
    compensated = Counter(e.task_id for e in state.audit if e.kind == "compensating")
    for activity_id, runs in compensated.items():
        if runs > 1:
            problems.append(f"the compensation of {activity_id} ran {runs} times, not once")
    for join, (between, after) in rendered.joins.items():
        for scope in {t.scope_id for t in state.tokens.values()}:
            here = [t for t in state.tokens.values() if t.scope_id == scope]
            coming = [t.node_id for t in here if t.node_id in between]
            beyond = [t.node_id for t in here if t.node_id in after]
            if coming and beyond:
                problems.append(
                    f"inclusive join {join} fired (tokens at {beyond}) while tokens at "
                    f"{coming} could still reach it"
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
        # A conditional event waits for a variable an operator changes (a completion's or a
        # message's payload, a retry).
        or bool(state.condition_subscriptions)
        # A signal catch event waits for a broadcast (the driver sends one to this case).
        or bool(state.signal_subscriptions)
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


class CaseDriver:
    """Runs one generated case (its model deployed): start, actions, checks, clean up."""

    def __init__(self, cases: Cases, case: GeneratedCase, tally: Tally) -> None:
        self.cases = cases
        self.client: Client = cases.client
        self.case = case
        self.tally = tally
        self.rendered: RenderedModel = render(case.model, f"gen_{uuid.uuid4().hex[:10]}")
        self.root = ""
        self.tree: list[str] = []
        self.ended: set[str] = set()
        self.states: dict[str, InstanceState] = {}
        self.log: list[str] = []
        self.histories: list[WorkflowHistory] = []
        self.slept = 0.0
        self.broadcasts: dict[str, str] = {}
        """The last broadcast id each case took."""

    # --- running --------------------------------------------------------------------------

    async def run(self) -> None:
        rendered = self.rendered
        try:
            handle = await self.cases.start(
                rendered.process_id, dict(rendered.variables), limits=LIMITS
            )
            self.root = handle.id
            self.tree = [self.root]
            self.tally.cases += 1
            self.tally.nodes += rendered.nodes
            await self.check("start")
            for choice in self.case.choices:
                if self.root in self.ended:
                    break  # nothing left to act on
                action = self.pick(choice)
                await self.take(action)
                await self.check(str(action))
            await self.finish()
        finally:
            await self.clean_up()

    def pick(self, choice: int) -> Action:
        actions: list[Action] = []
        seed = choice
        for workflow_id in self.tree:
            state = self.states.get(workflow_id)
            if state is None or workflow_id in self.ended:
                continue
            for activity in state.activities.values():
                if activity.kind == "userTask":
                    actions.append(Action("complete", workflow_id, activity.id, {}))
            for name in sorted({s.message_name for s in state.subscriptions.values()}):
                actions.append(Action("message", workflow_id, name, {}))
            for name in sorted({s.signal_name for s in state.signal_subscriptions.values()}):
                actions.append(Action("signal", workflow_id, name, {}))
            for incident in state.incidents.values():
                actions.append(Action("retry", workflow_id, incident.id, {}))
        # One entry for time, so that a case with one open task does not spend three
        # quarters of its actions sleeping.
        actions.append(Action("sleep", "", "", {}))
        action = actions[seed % len(actions)]
        seed //= len(actions)
        if action.kind == "sleep":
            return Action("sleep", "", str(self.sleep_for(seed % 3)), {})
        if action.kind in ("complete", "message"):
            # What the choices test: 0 keeps the default branch, 1 and 2 the others.
            # (Drawn from the choice, so that a model with many such variables sets them all.)
            chooser = random.Random(seed)
            payload = {v: chooser.randrange(3) for v in self.rendered.choices}
            return Action(action.kind, action.workflow_id, action.target, payload)
        if action.kind == "signal":
            # Now and then the broadcast before it again: the case must not take it twice.
            again = seed % 4 == 0 and self.broadcasts.get(action.workflow_id)
            broadcast = again or f"{action.workflow_id}-{len(self.log)}"
            return Action("signal", action.workflow_id, action.target, {"broadcast": broadcast})
        if action.kind == "retry" and seed % 2 == 0:
            incident = self.states[action.workflow_id].incidents[action.target]
            if incident.kind in ("limit", "expression"):
                repairs = dict(self.rendered.repairs)
                return Action("retry", action.workflow_id, action.target, repairs)
            variable = self.rendered.services.get(incident.element_id)
            if variable is not None:
                return Action("retry", action.workflow_id, action.target, {variable: "ok"})
        return action

    def sleep_for(self, nth: int) -> float:
        """Seconds until the ``nth`` (0-based) next timer of the case or its children has
        fired (the last one if it has fewer), at most `LONGEST_SLEEP`; a short pause when
        it has none (a service task may still be running) or has slept `SLEEP_BUDGET`."""
        due = sorted(
            timer.fire_at
            for workflow_id in self.tree
            if (state := self.states.get(workflow_id)) is not None and workflow_id not in self.ended
            for timer in state.timers.values()
        )
        if not due or self.slept >= SLEEP_BUDGET:
            return PAST_DUE
        wait = (due[min(nth, len(due) - 1)] - datetime.now(UTC)).total_seconds()
        return round(min(max(wait, 0.0) + PAST_DUE, LONGEST_SLEEP), 2)

    async def take(self, action: Action) -> None:
        if action.kind == "sleep":
            self.log.append(f"let {action.target} s pass")
            self.tally.actions["sleep"] += 1
            self.slept += float(action.target)
            await asyncio.sleep(float(action.target))
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
            elif action.kind == "signal":
                broadcast = str(action.payload["broadcast"])
                again = self.broadcasts.get(action.workflow_id) == broadcast
                taken = await asyncio.wait_for(
                    handle.execute_update(
                        RECEIVE_SIGNAL_UPDATE,
                        ReceiveSignalInput(
                            broadcast_id=broadcast, name=action.target, actor=BROADCASTER
                        ),
                        result_type=ReceiveSignalResult,
                    ),
                    ANSWER_WITHIN,
                )
                self.log.append(f"{action}: received by {taken.received_by}")
                if taken.duplicate != again or not taken.received_by:
                    self.fail(
                        f"{action}: {'a repeated' if again else 'a new'} broadcast answered "
                        f"duplicate={taken.duplicate}, received by {taken.received_by}"
                    )
                self.broadcasts[action.workflow_id] = broadcast
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
            for incident in state.incidents.values():
                key = f"{workflow_id}/{incident.id}"
                if key not in self.tally.incidents:
                    self.tally.incidents.add(key)
                    self.tally.incident_kinds[incident.kind] += 1
            problems = invariant_problems(state, self.rendered)
            if problems and await self.cancelled_by_parent(workflow_id):
                # Its parent left the call activity (an interrupting boundary event, a
                # terminate end): the child's workflow was cancelled where it stood, and
                # its state, read from the closed run, is that of a running case.
                self.ended.add(workflow_id)
                continue
            if problems:
                await self.check_workflow_tasks()
                self.fail(f"after {after}, {workflow_id}: " + "; ".join(problems))

    async def cancelled_by_parent(self, workflow_id: str) -> bool:
        if workflow_id == self.root:
            return False
        description = await self.client.get_workflow_handle(workflow_id).describe()
        return description.status == WorkflowExecutionStatus.CANCELED

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
        """No workflow task failed; an ended case closes; its histories are kept for
        `replay_all`."""
        await self.check_workflow_tasks()
        if self.root in self.ended:
            self.tally.ended += 1
            handle = self.client.get_workflow_handle(self.root)
            try:
                await asyncio.wait_for(handle.result(), ANSWER_WITHIN)
            except TimeoutError:
                events = (await handle.fetch_history()).events[-8:]
                tail = ", ".join(
                    EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events
                )
                self.fail(
                    f"the case ended but its workflow is still open {ANSWER_WITHIN} s later "
                    f"(last events: {tail})"
                )
        for workflow_id in self.tree:
            if workflow_id in self.states:
                handle = self.client.get_workflow_handle(workflow_id)
                self.histories.append(await handle.fetch_history())
                self.tally.events.update(
                    e.kind for e in self.states[workflow_id].audit if e.kind in _TRAIL_KINDS
                )

    async def clean_up(self) -> None:
        """Terminate the case and every child it started, children first, so that no timer
        of a finished case keeps the worker busy."""
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


async def replay_all(drivers: list[CaseDriver], replayers: list[Replayer]) -> None:
    """Every history of the drivers' cases replays, with each replayer (one replay worker
    for all of them: starting one per history would cost more than the cases)."""
    by_run = {h.run_id: (d, h) for d in drivers for h in d.histories}

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for _, history in by_run.values():
            yield history

    for replayer in replayers:
        results = await replayer.replay_workflows(histories(), raise_on_replay_failure=False)
        for run_id, failure in results.replay_failures.items():
            driver, history = by_run[run_id]
            driver.fail(f"the history of {history.workflow_id} does not replay: {failure}")


# --- the property -----------------------------------------------------------------------


@pytest.fixture(scope="module")
async def generated(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cases]:
    """One worker for every generated case, with the ``generated`` task type, and a model
    store that accepts the generated models' cycles of seconds."""
    registry = registry_with_test_types()
    registry.register_task_type(TaskType(name=TASK_TYPE, description="test: generated"))
    store = ModelStore(
        FileBlobStore(Path(tmp_path_factory.mktemp("generated")) / "models"),
        registry=registry,
        limits=DeployLimits(min_cycle_seconds=DEPLOY_MIN_CYCLE_SECONDS),
    )
    task_queue = f"generated-{uuid.uuid4().hex[:8]}"
    # A generated service task fails or throws in every other case; the worker's warning
    # with a traceback for each would bury the test's own report.
    quiet = logging.getLogger("temporalio.activity")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        async with worker.build_worker(
            temporal_env.client,
            WorkerSettings(task_queue=task_queue),
            store=store,
            activities=[*activities_for_tests.ALL, generated_service],
        ):
            cases = Cases(temporal_env.client, task_queue, store)
            try:
                yield cases
            finally:
                await cases.terminate_running()
    finally:
        quiet.setLevel(level)


async def run_property(cases: Cases, total: int) -> Tally:
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

    async def batch(drawn: list[GeneratedCase]) -> None:
        drivers = [CaseDriver(cases, case, tally) for case in drawn]
        # One deployment for the batch: each deployment reads the store's reference data.
        cases.store.deploy_files(
            [
                *(
                    ModelFile(name=f"model{i}.bpmn", content=d.rendered.xml.encode())
                    for i, d in enumerate(drivers)
                ),
                fees_file(),  # the decision the business rule tasks call
            ]
        )
        outcomes = await asyncio.gather(*(d.run() for d in drivers), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            raise failures[0]
        await replay_all(drivers, replayers)

    @settings(
        max_examples=total // BATCH,
        # A failure names its model and actions; shrinking a batch of real-time cases would
        # take many minutes.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
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


async def test_generated_executions_never_strand_a_case(generated: Cases):
    started = time.monotonic()
    tally = await run_property(generated, CASES)
    print(tally.line(time.monotonic() - started))
    assert tally.cases >= CASES
    assert sum(tally.actions.values()) >= CASES
    # Each kind of limit was crossed, and the invariant held for the cases that crossed it.
    assert {"limit", "expression"} <= set(tally.incident_kinds)


@pytest.mark.soak
async def test_generated_executions_soak(generated: Cases):
    started = time.monotonic()
    tally = await run_property(generated, SOAK_CASES)
    print(tally.line(time.monotonic() - started))
    assert tally.cases >= SOAK_CASES
