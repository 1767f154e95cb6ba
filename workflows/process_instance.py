"""The one workflow that executes any process model.

It is a dynamic workflow, so the workflow type shown in the Web UI is the process id
(``se_nhv_designation``) and operators filter the list by it. The BPMN semantics live in
`workflows.interpreter`; this class only connects them to Temporal: it carries out the
interpreter's effects (activities, child cases, escalations passed to the caller), sleeps
until the next timer or the next request, validates requests before they reach the
history, keeps the search attributes and details current, and continues as new at a quiet
point.

Concurrency: update handlers are synchronous, so a request is applied to the state in one
step; activity and child completions arrive in tasks that also change the state in one
step. The main loop is the only place that moves tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    TimeoutType,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

with workflow.unsafe.imports_passed_through():
    from pydantic import JsonValue, ValidationError

    from process_models.calendars import CalendarSnapshot
    from process_models.camunda_forms import FormRef, form_ref
    from process_models.deployments import ModelRef, ModelSource
    from process_models.dialect import niva_form_key
    from process_models.errors import ExpressionError
    from process_models.registry import RegistryError, default_registry
    from service_contract import (
        BPMN_ERROR_TYPE,
        CALENDAR_YEARS_ACTIVITY,
        DEFAULT_JOB_RETRIES,
        RESOLVE_MODEL_ACTIVITY,
        JobCall,
        JobRouting,
        ServiceCall,
    )
    from workflows import errors
    from workflows import search_attributes as sa
    from workflows.call_escalations import CHILD_ESCALATION_SIGNAL, ChildEscalationInput
    from workflows.candidates import describe, may_act
    from workflows.contract import (
        CancelInput,
        CompleteTaskInput,
        CompleteTaskResult,
        CorrelateMessageInput,
        CorrelateMessageResult,
        IncidentView,
        InstanceResult,
        InstanceView,
        OpenTask,
        RetryIncidentInput,
        StartInstanceInput,
        TokenView,
    )
    from workflows.effects import (
        CancelChild,
        CancelService,
        Effect,
        EscalateToCaller,
        StartChild,
        StartService,
    )
    from workflows.interpreter import (
        CASE_LIMITS_PATCH,
        Interpreter,
        ModelFailure,
        ModificationRefusedError,
        json_bytes,
        variables_bytes,
    )
    from workflows.migration import (
        MIGRATE_UPDATE,
        MIGRATION_IN_FLIGHT_PATCH,
        MODIFY_UPDATE,
        MigrateInput,
        MigrateResult,
        MigrationRefusedError,
        ModifyInput,
        ModifyResult,
        check_migration,
        in_flight,
        migrate_state,
    )
    from workflows.model import load_model
    from workflows.signals import (
        RECEIVE_SIGNAL_UPDATE,
        THROW_SIGNAL,
        ReceiveSignalInput,
        ReceiveSignalResult,
    )
    from workflows.state import ROOT_SCOPE, Activity, CompletedTask, InstanceState
    from workflows.visibility import (
        AttributeValue,
        details_markdown,
        diagram_link,
        pending_jobs,
        search_attribute_updates,
    )
    from workflows.visibility import (
        open_tasks as list_open_tasks,
    )

    # The shipped forms load here, outside the sandbox, not lazily inside a validator.
    default_registry.load()

__all__ = [
    "CALENDAR_YEARS_PATCH",
    "COMPLETION_CONFLICT_PATCH",
    "KEEP_TIMER_PATCH",
    "KEY_OWNER_PATCH",
    "RESOLVE_MODEL_ACTIVITY",
    "ProcessInstance",
]

KEEP_TIMER_PATCH = "niva-keep-timer"
"""Cases started after this change keep their wait timer across requests."""
COMPLETION_CONFLICT_PATCH = "niva-completion-conflict"
"""A second completion of a task, accepted in the same activation as the first but with
another idempotency key, is answered with a conflict (before: the first's result)."""
CALENDAR_YEARS_PATCH = "niva-calendar-years"
"""A case whose clock or timers reach past its version's calendar snapshot adds the missing
years through ``niva.calendar_years`` (before: weekends only beyond the snapshot). Asked
only when years are missing, so a case within its snapshot records no marker."""
KEY_OWNER_PATCH = "niva-completion-key-owner"
"""A completion that repeats another principal's idempotency key, accepted in the same
activation as the first, is refused (before: answered with the first's result)."""
UNSTARTED_CANCEL_PATCH = "niva-unstarted-cancel"
"""An activity or child cancelled in the same step that started it (a parallel branch
reaching a terminate end, a timer due when a retry restarts a service task) no longer
keeps the ended case's workflow open for ever."""
CHILD_START_CANCEL_PATCH = "niva-child-start-cancel"
"""A call activity cancelled while its child was starting cancels that child once it has
started and waits for it to end (before: the cancel request sent during the start was all;
when the server answered it "not found", the ended case waited on the child for ever).
Asked only when a cancel meets a start still pending."""
_DEFAULT_RETRIES = 5
_DEFAULT_ACTIVITY_TIMEOUT = timedelta(minutes=5)


@workflow.defn(dynamic=True)
class ProcessInstance:
    """Interprets the BPMN process named by the workflow type."""

    @workflow.init
    def __init__(self, args: Sequence[RawValue]) -> None:
        start = workflow.payload_converter().from_payload(args[0].payload, StartInstanceInput)
        self._model = load_model(start.model)
        # Keep the shared model's copy of the (large) BPMN text, not one per case.
        self._input = start.model_copy(update={"model": self._model.source})
        # A case started by a schedule has no business key of its own: it is the suffix
        # Temporal gave its workflow id (<start event>-<time>).
        business_key = start.business_key or workflow.info().workflow_id.removeprefix(
            f"{start.model.process_id}:"
        )
        state = start.state or InstanceState(
            process_id=start.model.process_id,
            version=start.model.version,
            business_key=business_key,
            title=start.title,
            variables=dict(start.variables),
        )
        self._interpreter = Interpreter(self._model, state, limits=start.limits, depth=start.depth)
        self._interpreter.patched = workflow.patched
        self._start_error: str | None = None
        if start.state is None:
            # Start here, not in run(): an update delivered with the first workflow task is
            # validated before run() begins, and must already see the first open tasks.
            actor = start.actor
            if actor is not None and actor.org:
                state.participants.append(actor.org)
            try:
                self._check_start_form(start)
                self._check_start_size(start)
                self._interpreter.start(
                    workflow.now(),
                    start_event=start.start_event,
                    actor=actor.subject if actor else None,
                )
            except ModelFailure as exc:
                # Nothing can run: the case fails (once), rather than its task retrying.
                self._start_error = str(exc)
            else:
                self._interpreter.run(workflow.now())
        self._changed = False
        self._migrated = False
        # Migrations wait for the target's source; one at a time, each seeing the last.
        self._migration_lock = asyncio.Lock()
        self._sleeper: asyncio.Task[None] | None = None
        self._sleep_target: datetime | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Call activities cancelled while their child task ran (`_run_child` reads it once
        # the child's start has returned).
        self._cancel_after_start: set[str] = set()
        self._published: dict[str, AttributeValue] = {}
        self._calendar_failed = False
        self._escalations_sent = 0
        # Continued as new, the case keeps its search attributes; the message subscriptions
        # it listed must be unlisted when they close, though this run never upserted them.
        for key in (sa.MESSAGE_SUBSCRIPTIONS, sa.SIGNAL_SUBSCRIPTIONS):
            listed = workflow.info().typed_search_attributes.get(key)
            if listed is not None:
                self._published[key.name] = listed

    def _check_start_size(self, start: StartInstanceInput) -> None:
        """The start variables must fit the case's variables limit."""
        size = json_bytes(start.variables)
        if size > start.limits.max_variables_bytes and workflow.patched(CASE_LIMITS_PATCH):
            raise ModelFailure(
                "limit",
                f"the start variables take {size:,} bytes, more than the "
                f"{start.limits.max_variables_bytes:,} a case may hold "
                "(NIVA_LIMITS_MAX_VARIABLES_BYTES)",
            )

    def _check_start_form(self, start: StartInstanceInput) -> None:
        """The start variables must satisfy the start event's form (``niva:form`` or a
        Camunda Form), if any."""
        node = (
            self._model.nodes.get(start.start_event)
            if start.start_event
            else self._model.none_start(self._model.process.id)
        )
        ref = form_ref(node) if node is not None else None
        if ref is not None:
            refusal = self._camunda_form_refusal(ref, start.variables)
            if refusal is not None:
                raise ModelFailure("start", f"the start variables: {refusal[0]}")
        key = (
            niva_form_key(node, self._model.dialect, default_registry.forms)
            if node is not None
            else None
        )
        if key is None:
            return
        try:
            default_registry.form(key).model_validate(start.variables)
        except (RegistryError, ValidationError) as exc:
            raise ModelFailure(
                "start", f"the start variables do not satisfy form {key}: {exc}"
            ) from exc

    @property
    def _state(self) -> InstanceState:
        return self._interpreter.state

    # --- the main loop ----------------------------------------------------------------------

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> InstanceResult:
        """Run the case until it ends, continuing as new when the history grows long."""
        if self._start_error is not None:
            raise ApplicationError(
                f"the case cannot start: {self._start_error}", type="Invalid", non_retryable=True
            )
        # Read self._interpreter afresh each time: a migration replaces it.
        while True:
            self._interpreter.run(workflow.now())
            effects = self._interpreter.take_effects()
            self._carry_out(effects)
            self._escalate_to_caller(effects)
            if await self._extend_calendar():
                continue
            self._publish()
            if self._state.ended:
                break
            # A migrated case goes on as new on its target version at the first quiet
            # point, so that its next run starts from the target's source.
            if self._migrated or self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._quiet():
                    self._continue_as_new()
            await self._wait()
            self._interpreter.fire_due_timers(workflow.now())
        # Let cancelled activities and child starts settle before the case completes.
        await workflow.wait_condition(lambda: not self._tasks and workflow.all_handlers_finished())
        return InstanceResult(outcome=self._state.outcome, variables=self._state.variables)

    async def _extend_calendar(self) -> bool:
        """Add the calendar years the case lacks, if any; True when it added some.

        The years come from a local activity, so the history records them and a replay,
        whatever holiday library the worker has, counts with the same days."""
        wanted = self._interpreter.calendar_years_wanted(workflow.now())
        if wanted is None or self._calendar_failed or not workflow.patched(CALENDAR_YEARS_PATCH):
            return False
        try:
            years = await workflow.execute_local_activity(
                CALENDAR_YEARS_ACTIVITY,
                wanted,
                result_type=CalendarSnapshot,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=3),
                summary=f"calendar {wanted.calendar} {wanted.first_year}..{wanted.last_year}",
            )
        except (ActivityError, ApplicationError) as err:
            # Not a reason to stop the case: it goes on counting those years by weekends
            # only, and the trail says so (this run does not ask again). A local activity's
            # failure may arrive unwrapped, as the activity's own ApplicationError.
            self._calendar_failed = True
            cause = err.cause if isinstance(err, ActivityError) and err.cause else err
            self._interpreter.calendar_not_extended(wanted, str(cause), workflow.now())
            return False
        self._interpreter.extend_calendar(years, workflow.now())
        return True

    async def _wait(self) -> None:
        """Sleep until a request or completion changes the state, or the next timer."""
        if workflow.patched(KEEP_TIMER_PATCH):
            await self._wait_keeping_timer()
        else:
            await self._wait_restarting_timer()

    async def _wait_keeping_timer(self) -> None:
        # One durable timer for the next fire time, kept while that time stays the same:
        # a task completion does not cancel and restart it (two history events saved per
        # request, which is most of a 21-region referral's history).
        timer = self._interpreter.next_timer()
        target = timer.fire_at if timer is not None else None
        self._changed = False
        keep = self._sleeper is not None and not self._sleeper.done()
        if target != self._sleep_target or not keep:
            if self._sleeper is not None and not self._sleeper.done():
                self._sleeper.cancel()
            self._sleeper = None
            self._sleep_target = target
            if timer is not None and target is not None:
                remaining = (target - workflow.now()).total_seconds()
                if remaining <= 0:
                    return
                node = self._model.node(timer.element_id)
                self._sleeper = asyncio.create_task(self._sleep(remaining, node.name or node.id))
        await workflow.wait_condition(lambda: self._changed)

    async def _sleep(self, seconds: float, summary: str) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await workflow.sleep(seconds, summary=summary)
            self._changed = True

    async def _wait_restarting_timer(self) -> None:
        """How cases recorded before `KEEP_TIMER_PATCH` waited: a new timer per wait."""
        timer = self._interpreter.next_timer()
        self._changed = False
        if timer is None:
            await workflow.wait_condition(lambda: self._changed)
            return
        remaining = (timer.fire_at - workflow.now()).total_seconds()
        if remaining <= 0:
            return
        node = self._model.node(timer.element_id)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._changed,
                timeout=remaining,
                timeout_summary=node.name or node.id,
            )

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._input.continue_after_events
        )

    def _quiet(self) -> bool:
        """No activity in flight, no attached child running, no handler running."""
        return not self._tasks and workflow.all_handlers_finished()

    def _continue_as_new(self) -> None:
        # The trail of this run stays in this run's history; the export walks the chain.
        state = self._state.model_copy(update={"audit": []})
        start = self._input.model_copy(update={"state": state})
        if state.process_id != workflow.info().workflow_type:
            # Migrated to another process: the workflow type names the process it runs.
            workflow.continue_as_new(workflow=state.process_id, args=[start])
        workflow.continue_as_new(start)

    # --- effects ----------------------------------------------------------------------------

    def _carry_out(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, StartService):
                call = self._service_call(effect)
                self._track(
                    effect.activity_id, asyncio.create_task(self._run_service(effect, call))
                )
            elif isinstance(effect, StartChild):
                self._track(effect.activity_id, asyncio.create_task(self._run_child(effect)))
            elif isinstance(effect, CancelService | CancelChild):
                task = self._tasks.get(effect.activity_id)
                if task is not None:
                    if isinstance(effect, CancelChild):
                        self._cancel_after_start.add(effect.activity_id)
                    task.cancel()

    def _track(self, activity_id: str, task: asyncio.Task[None]) -> None:
        self._tasks[activity_id] = task
        task.add_done_callback(lambda done: self._untrack(activity_id, done))

    def _untrack(self, activity_id: str, task: asyncio.Task[None]) -> None:
        # A task cancelled before it first ran never enters its own ``finally`` (its
        # coroutine never starts), so it would stay in ``_tasks`` and the ended case would
        # wait for it for ever. Every task that ran has removed itself by now.
        if self._tasks.get(activity_id) is task and workflow.patched(UNSTARTED_CANCEL_PATCH):
            self._done(activity_id)

    def _done(self, activity_id: str) -> None:
        self._tasks.pop(activity_id, None)
        self._changed = True

    def _service_call(self, effect: StartService) -> ServiceCall:
        """The activity's envelope; a job's also carries the variables its task sees now
        (built here, when the effect is carried out, before any other request runs)."""
        fields: dict[str, Any] = {
            "type": effect.type,
            "element_id": effect.element_id,
            "task_id": effect.activity_id,
            "case_id": workflow.info().workflow_id,
            "process_id": self._state.process_id,
            "process_version": self._state.version,
            "business_key": self._state.business_key,
            "now": workflow.now(),
            "timezone": self._model.source.timezone,
            "inputs": effect.inputs,
        }
        if not self._is_job(effect):
            return ServiceCall(**fields)
        visible = self._interpreter.variables(effect.scope_id or ROOT_SCOPE)
        # Input mappings are the job's local variables: they shadow the outer ones.
        return JobCall(**fields, variables={**visible, **effect.inputs}, headers=effect.headers)

    def _is_job(self, effect: StartService) -> bool:
        """A type niva does not implement runs on the job workers' queue (cases started
        before job workers carry no routing: every type runs on the case's queue)."""
        jobs = self._input.jobs
        # A signal throw is the engine's own activity, not a task type of the model.
        return jobs is not None and jobs.is_job(effect.type) and effect.type != THROW_SIGNAL

    async def _run_service(self, effect: StartService, call: ServiceCall) -> None:
        # The task id is the activity id: readable in the UI and unique in the case across
        # continue-as-new. A retry after an incident is a new activity of the same task.
        activity_id = effect.activity_id
        if effect.attempt:
            activity_id += f"~retry{effect.attempt}"
        jobs = self._input.jobs if self._is_job(effect) else None
        try:
            result = await workflow.execute_activity(
                effect.type,
                call,
                activity_id=activity_id,
                # A job waits on its queue until a worker takes it (a pending activity in
                # the Web UI), or becomes an incident after the routing's schedule-to-start
                # timeout: the case always waits for something an operator can see.
                task_queue=jobs.task_queue if jobs else None,
                schedule_to_start_timeout=(
                    timedelta(seconds=jobs.schedule_to_start_seconds)
                    if jobs and jobs.schedule_to_start_seconds
                    else None
                ),
                start_to_close_timeout=(
                    timedelta(seconds=effect.timeout_seconds)
                    if effect.timeout_seconds
                    else _DEFAULT_ACTIVITY_TIMEOUT
                ),
                retry_policy=RetryPolicy(
                    maximum_attempts=effect.retries
                    or (DEFAULT_JOB_RETRIES if jobs else _DEFAULT_RETRIES)
                ),
                summary=effect.name or effect.element_id,
            )
            if jobs is None:
                self._interpreter.service_succeeded(
                    effect.activity_id, _json(result), workflow.now()
                )
            elif result is None or isinstance(result, dict):
                # A job's result variables merge like a completed task's payload.
                self._interpreter.service_succeeded(
                    effect.activity_id, result or {}, workflow.now(), merge=True
                )
            else:
                self._interpreter.service_failed(
                    effect.activity_id,
                    error_code=None,
                    message=f"job {effect.type} returned {type(result).__name__}, not a JSON "
                    "object of result variables",
                    now=workflow.now(),
                )
        except asyncio.CancelledError:
            pass
        except ActivityError as err:
            code, message, variables = _service_error(err, jobs)
            self._interpreter.service_failed(
                effect.activity_id,
                error_code=code,
                message=message,
                now=workflow.now(),
                variables=variables,
            )
        finally:
            self._done(effect.activity_id)

    async def _run_child(self, effect: StartChild) -> None:
        # A task cancelled before it first ran never gets here: what is remembered is ours.
        self._cancel_after_start.discard(effect.activity_id)
        try:
            source = await workflow.execute_local_activity(
                RESOLVE_MODEL_ACTIVITY,
                ModelRef(process_id=effect.process_id, version=effect.version),
                result_type=ModelSource,
                start_to_close_timeout=timedelta(seconds=30),
                summary=f"resolve {effect.process_id}",
            )
            start = StartInstanceInput(
                model=source,
                business_key=effect.business_key,
                title=effect.title,
                variables=effect.variables,
                parent_workflow_id=workflow.info().workflow_id,
                continue_after_events=self._input.continue_after_events,
                limits=self._input.limits,
                depth=self._input.depth + 1,
                api_url=self._input.api_url,
                jobs=self._input.jobs,
            )
            handle = await workflow.start_child_workflow(
                effect.process_id,
                start,
                id=effect.workflow_id,
                task_queue=workflow.info().task_queue,
                parent_close_policy=(
                    workflow.ParentClosePolicy.ABANDON
                    if effect.detached
                    else workflow.ParentClosePolicy.REQUEST_CANCEL
                ),
                static_summary=effect.title,
                result_type=InstanceResult,
            )
            if effect.activity_id in self._cancel_after_start and workflow.patched(
                CHILD_START_CANCEL_PATCH
            ):
                await self._cancel_started_child(handle)
                return
            if effect.detached:
                # The call activity's work was to start the child: its token goes on now
                # (cases recorded before `DETACHED_START_PATCH` went on when it was entered).
                self._interpreter.child_started(effect.activity_id, workflow.now())
                return
            result: InstanceResult = await handle
            self._interpreter.child_finished(effect.activity_id, result.variables, workflow.now())
        except asyncio.CancelledError:
            pass
        except (
            ActivityError,
            ApplicationError,  # how a local activity's failure (the model lookup) arrives
            ChildWorkflowError,
            WorkflowAlreadyStartedError,
        ) as err:
            message = f"child case {effect.workflow_id}: " + (
                "that id is taken by another case"
                if isinstance(err, WorkflowAlreadyStartedError)
                else str(err.cause or err)
            )
            # Detached or not, the call activity waits in an incident an operator sees (a
            # detached one recorded before `DETACHED_START_PATCH` had already gone on: then
            # there is no activity left and this changes nothing).
            self._interpreter.child_failed(effect.activity_id, message, workflow.now())
        finally:
            self._cancel_after_start.discard(effect.activity_id)
            self._done(effect.activity_id)

    @staticmethod
    async def _cancel_started_child(
        handle: workflow.ChildWorkflowHandle[Any, InstanceResult],
    ) -> None:
        """Cancel a child whose call activity was cancelled while it was starting, and wait
        until it has ended.

        The SDK answers a cancel during the start with a cancel request sent at once. When
        that request reaches the server before the child exists, the server records it as
        failed ("not found") and nothing tells the workflow: the child runs on and the
        ended case would wait on it for ever. Cancelling the handle now asks again, for the
        run that started; a request to a child already cancelling or ended changes nothing.
        """
        handle.cancel()
        # The call activity is gone: how the child ended is nobody's business here.
        with contextlib.suppress(ChildWorkflowError, asyncio.CancelledError):
            await handle

    def _escalate_to_caller(self, effects: list[Effect]) -> None:
        """Tell the caller of each escalation this called case did not catch. The case
        has gone on already; it only does not end (nor continue as new) before the signal
        has reached the caller, so the caller sees the escalation before the child's end."""
        for effect in effects:
            if isinstance(effect, EscalateToCaller):
                self._escalations_sent += 1
                key = f"~escalation{self._escalations_sent}"
                self._track(key, asyncio.create_task(self._send_escalation(effect, key)))

    async def _send_escalation(self, effect: EscalateToCaller, key: str) -> None:
        try:
            parent = self._input.parent_workflow_id
            if parent is None:
                self._interpreter.escalation_not_delivered(effect, "no caller", workflow.now())
                return
            await workflow.get_external_workflow_handle(parent).signal(
                CHILD_ESCALATION_SIGNAL,
                ChildEscalationInput(
                    child_workflow_id=workflow.info().workflow_id,
                    code=effect.code,
                    element_id=effect.element_id,
                ),
            )
        except asyncio.CancelledError:
            pass
        except FailureError as err:
            # The caller has ended: the escalation is caught nowhere, and this case goes
            # on as one that no call activity started.
            self._interpreter.escalation_not_delivered(
                effect, f"caller {self._input.parent_workflow_id} not told: {err}", workflow.now()
            )
        finally:
            self._done(key)

    # --- what operators see ------------------------------------------------------------------

    def _publish(self) -> None:
        updates = search_attribute_updates(self._interpreter, self._published)
        if updates:
            workflow.upsert_search_attributes(updates)
        diagram = diagram_link(self._input.api_url, workflow.info().workflow_id)
        workflow.set_current_details(
            details_markdown(self._interpreter, diagram=diagram, jobs=self._input.jobs)
        )

    # --- updates ------------------------------------------------------------------------------

    @workflow.update(name="complete_task")
    def complete_task(self, request: CompleteTaskInput) -> CompleteTaskResult:
        """Complete an open user task; a repeat by the same principal with the same
        idempotency key gets the first result."""
        done = self._state.completed_tasks.get(request.task_id)
        if done is not None and (
            _same_request(request, done.idempotency_key)
            or not workflow.patched(COMPLETION_CONFLICT_PATCH)
        ):
            if _key_of_another(request, done) and workflow.patched(KEY_OWNER_PATCH):
                raise _key_taken(request)
            return CompleteTaskResult(
                task_id=done.task_id,
                completed=done.completed,
                actor=done.actor,
                duplicate=True,
                request_id=request.request_id,
            )
        # Checked again, not left to the validator alone: a completion that reaches the
        # handler after another one completed the task (or the task closed) must be a
        # conflict (or not found), never answered with the other's result and dropped.
        # Only what the state decides is checked here: a replay runs no validator and may
        # not know the forms the validator knew.
        self._check_not_completed(request)
        self._open_task(request)
        completed = self._interpreter.complete_task(
            request.task_id,
            request.payload,
            actor=request.actor.subject,
            org=request.actor.org,
            idempotency_key=request.idempotency_key,
            now=workflow.now(),
        )
        self._changed = True
        return CompleteTaskResult(
            task_id=completed.task_id,
            completed=completed.completed,
            actor=completed.actor,
            request_id=request.request_id,
        )

    @complete_task.validator
    def _validate_complete_task(self, request: CompleteTaskInput) -> None:
        if self._check_not_completed(request):
            return
        activity = self._open_task(request)
        rule = (activity.candidate_groups, activity.candidate_orgs, activity.candidate_users)
        if not may_act(request.actor, *rule):
            raise errors.forbidden(
                f"{request.actor.subject} may not complete {request.task_id}: it is for "
                + describe(*rule)
            )
        self._check_payload(activity.element_id, activity.scope_id, request.payload)
        self._check_size(request.payload)

    def _check_not_completed(self, request: CompleteTaskInput) -> bool:
        """True when the request repeats the completion of the task (same idempotency key,
        same principal); forbidden with another principal's key; a conflict when the task
        was completed otherwise."""
        done = self._state.completed_tasks.get(request.task_id)
        if done is None:
            return False
        if _key_of_another(request, done):
            raise _key_taken(request)
        if _same_request(request, done.idempotency_key):
            return True
        raise errors.conflict(
            f"task {request.task_id} was already completed by {done.actor} "
            f"at {done.completed.isoformat()}"
        )

    def _open_task(self, request: CompleteTaskInput) -> Activity:
        """The open user task the request names (404 if there is none)."""
        self._check_open()
        activity = self._state.activities.get(request.task_id)
        if activity is None or activity.kind != "userTask":
            raise errors.not_found(
                f"no open task {request.task_id!r} in this case; open tasks: "
                + (", ".join(a.id for a in self._interpreter.open_tasks()) or "none")
            )
        return activity

    def _check_size(self, payload: dict[str, JsonValue]) -> None:
        """A payload that could grow the variables past the case's limit is refused here,
        before it reaches the history: accepted, it would park the case in an incident.
        The measure (`variables_bytes`) counts the buffered messages too."""
        limit = self._input.limits.max_variables_bytes
        size = variables_bytes(self._state) + json_bytes(payload)
        if size > limit:
            raise errors.invalid(
                f"the payload takes {json_bytes(payload):,} bytes; with the case's variables "
                f"that is {size:,}, more than the {limit:,} a case may hold "
                "(NIVA_LIMITS_MAX_VARIABLES_BYTES)"
            )

    def _check_corrected_size(self, variables: dict[str, JsonValue]) -> None:
        """Corrected variables of a retry must leave the case within its limit: they are
        merged into the root variables (replacing a large value shrinks the case)."""
        limit = self._input.limits.max_variables_bytes
        root = self._state.variables
        size = variables_bytes(self._state) - json_bytes(root) + json_bytes({**root, **variables})
        if size > limit:
            raise errors.invalid(
                f"with the corrected variables the case's variables would take {size:,} "
                f"bytes, more than the {limit:,} a case may hold "
                "(NIVA_LIMITS_MAX_VARIABLES_BYTES); nothing was changed"
            )

    def _check_payload(self, element_id: str, scope_id: str, payload: dict[str, JsonValue]) -> None:
        """The payload must satisfy the task's form and every niva:constraint."""
        node = self._model.node(element_id)
        key = niva_form_key(node, self._model.dialect, default_registry.forms)
        if key is not None:
            try:
                form = default_registry.form(key)
            except RegistryError as exc:
                raise errors.invalid(str(exc)) from exc
            try:
                form.model_validate(payload)
            except ValidationError as exc:
                fields = [
                    {"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in exc.errors()
                ]
                raise errors.invalid(f"the payload does not satisfy form {key}", fields) from exc
        ref = form_ref(node)
        if ref is not None:
            self._check_camunda_form(ref, payload)
        for constraint in node.niva.constraints:
            if not constraint.expression:
                continue
            try:
                variables = self._interpreter.variables(scope_id)
                ok = self._model.expression(
                    constraint.expression, element_id, always=True
                ).evaluate_bool(
                    {**variables, "payload": payload},
                    now=workflow.now(),
                    tz=self._model.tz,
                    reference=self._interpreter.reference,
                    budget=self._input.limits.expression_cost,
                )
            except ExpressionError as exc:
                raise errors.invalid(f"constraint could not be checked: {exc}") from exc
            if not ok:
                raise errors.invalid(constraint.message or f"violates {constraint.expression}")

    def _check_camunda_form(self, ref: FormRef, payload: dict[str, JsonValue]) -> None:
        """The payload must satisfy the Camunda Form the case's version was deployed with
        (Camunda does not check forms on completion; niva does, on purpose)."""
        refusal = self._camunda_form_refusal(ref, payload)
        if refusal is not None:
            raise errors.invalid(*refusal)

    def _camunda_form_refusal(
        self, ref: FormRef, values: dict[str, JsonValue]
    ) -> tuple[str, list[dict[str, Any]]] | None:
        """Why ``values`` do not satisfy the Camunda Form ``ref`` names (deployed with the
        case's version, or embedded in its process), with a ``{loc, msg}`` per field; None
        when they do."""
        form_id = ref.form_id
        form = self._model.camunda_form(ref)
        if form is None:
            return f"the case's model version has no form {form_id!r}", []
        problems = form.check(values)
        if not problems:
            return None
        summary = "; ".join(f"{'.'.join(map(str, p.loc))} {p.msg}" for p in problems)
        return (
            f"the values do not satisfy form {form_id}: {summary}",
            [p.model_dump() for p in problems],
        )

    @workflow.update(name="correlate_message")
    def correlate_message(self, request: CorrelateMessageInput) -> CorrelateMessageResult:
        """Deliver a message to every subscription of that name in the case; a repeat with
        the same idempotency key is answered without delivering again."""
        key = request.idempotency_key
        if key is not None and key in self._state.delivered_messages:
            earlier = self._state.delivered_messages[key]
            return CorrelateMessageResult(
                name=request.name, received_by=earlier, buffered=not earlier, duplicate=True
            )
        received = self._interpreter.correlate(
            request.name,
            request.payload,
            actor=request.actor.subject,
            org=request.actor.org,
            now=workflow.now(),
            roles=request.actor.roles,
            correlation_key=request.correlation_key,
        )
        if key is not None:
            self._state.delivered_messages[key] = received
            self._state.message_senders[key] = request.actor.subject
        self._changed = True
        return CorrelateMessageResult(
            name=request.name, received_by=received, buffered=not received
        )

    @correlate_message.validator
    def _validate_correlate_message(self, request: CorrelateMessageInput) -> None:
        key = request.idempotency_key
        if key is not None and key in self._state.delivered_messages:
            sender = self._state.message_senders.get(key)
            if sender is not None and sender != request.actor.subject:
                # Their result is theirs: what it reached is not for another principal.
                raise errors.forbidden(
                    f"{request.actor.subject} may not use idempotency key {key!r}: another "
                    "principal sent a message with it"
                )
            return
        self._check_open()
        waiting = self._interpreter.waiting_subscriptions(request.name, request.correlation_key)
        if not waiting and (
            request.correlation_key is not None
            or self._interpreter.message_ttl(request.name) is None
        ):
            raise errors.conflict(
                f"no subscription waits for message {request.name!r}; the case accepts "
                + (", ".join(self._interpreter.accepted_messages()) or "no message")
                + " now",
                accepts=self._interpreter.accepted_messages(),
            )
        self._check_size(request.payload)
        # Waiting or not (then it would be buffered), only a candidate may send it.
        rules = self._interpreter.message_candidates(request.name, request.correlation_key)
        if not any(may_act(request.actor, groups, orgs) for groups, orgs in rules):
            raise errors.forbidden(
                f"{request.actor.subject} may not send {request.name!r}: "
                + (
                    "it is for " + describe(*rules[0])
                    if rules
                    else "who may send it is known only once the case waits for it"
                )
            )

    @workflow.update(name=RECEIVE_SIGNAL_UPDATE)
    def receive_signal(self, request: ReceiveSignalInput) -> ReceiveSignalResult:
        """Take a broadcast signal at every subscription of that name that admits the
        broadcaster; a broadcast the case took before is answered as it was then."""
        earlier = self._state.signals_taken.get(request.broadcast_id)
        if earlier is not None:
            return ReceiveSignalResult(name=request.name, received_by=earlier, duplicate=True)
        received = self._interpreter.receive_signal(
            request.broadcast_id,
            request.name,
            request.variables,
            broadcaster=request.actor,
            now=workflow.now(),
        )
        self._changed = True
        return ReceiveSignalResult(name=request.name, received_by=received)

    @receive_signal.validator
    def _validate_receive_signal(self, request: ReceiveSignalInput) -> None:
        # The same answer whether nothing waits or nothing admits the broadcaster, and the
        # broadcaster only ever sees that the case did not take it (`activities.signals`).
        if request.broadcast_id in self._state.signals_taken:
            return
        self._check_open()
        if not self._interpreter.signal_receivers(request.name, request.actor):
            raise errors.conflict(f"no subscription here takes signal {request.name!r} from you")
        self._check_size(request.variables)

    @workflow.signal(name=CHILD_ESCALATION_SIGNAL)
    def child_escalation(self, request: ChildEscalationInput) -> None:
        """A child case's escalation that nothing in it caught: it escalates from the call
        activity waiting on that child (`Interpreter.child_escalated`)."""
        if self._state.ended:
            return
        self._interpreter.child_escalated(request.child_workflow_id, request.code, workflow.now())
        self._changed = True

    @workflow.update(name="retry_incident")
    def retry_incident(self, request: RetryIncidentInput) -> IncidentView:
        """Resume a token parked in an incident."""
        incident = self._state.incidents[request.incident_id]
        self._interpreter.retry_incident(
            request.incident_id,
            request.variables,
            actor=request.actor.subject,
            now=workflow.now(),
        )
        self._changed = True
        return _incident_view(incident)

    @retry_incident.validator
    def _validate_retry_incident(self, request: RetryIncidentInput) -> None:
        self._check_open()
        if request.incident_id not in self._state.incidents:
            raise errors.not_found(
                f"no open incident {request.incident_id!r}; open: "
                + (", ".join(self._state.incidents) or "none")
            )
        # Refused here, so the case stays as it is: merged, they would park it again.
        self._check_corrected_size(request.variables)

    @workflow.update(name=MIGRATE_UPDATE)
    async def migrate(self, request: MigrateInput) -> MigrateResult:
        """Move the case to the plan's target version (`workflows.migration`), then go on
        as new there once quiet (after the child cases its call activities wait on have
        ended: this run waits for them on the target's rules); a repeat of a migration the
        case applied answers without change."""
        async with self._migration_lock:
            done = self._applied(request.migration_id)
            if done is not None:
                return done
            target_ref = request.plan.target
            # The target's source comes through the history (a local activity), so a
            # replay migrates to exactly the version this run did.
            source = await workflow.execute_local_activity(
                RESOLVE_MODEL_ACTIVITY,
                ModelRef(process_id=target_ref.process_id, version=target_ref.version),
                result_type=ModelSource,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=3),
                summary=f"resolve {target_ref}",
            )
            # Checked again after the await: the case may have moved meanwhile. (A case
            # that migrated mid-compensation before such work was refused replays so.)
            refuse_in_flight = not in_flight(self._state) or workflow.patched(
                MIGRATION_IN_FLIGHT_PATCH
            )
            self._check_migratable(request, refuse_in_flight=refuse_in_flight)
            target = load_model(source)
            try:
                migrated = migrate_state(
                    self._state,
                    self._model,
                    target,
                    request.plan,
                    migration_id=request.migration_id,
                    actor=request.actor.subject,
                    now=workflow.now(),
                    limits=self._input.limits,
                    depth=self._input.depth,
                    refuse_in_flight=refuse_in_flight,
                )
            except MigrationRefusedError as exc:
                raise errors.conflict(f"the case cannot be migrated: {exc}") from exc
            changes = check_migration(
                self._state, self._model, target, request.plan, refuse_in_flight=refuse_in_flight
            ).changes
            migrated.patched = workflow.patched
            self._interpreter = migrated
            self._model = target
            self._input = self._input.model_copy(update={"model": target.source})
            self._migrated = True
            self._changed = True
            # Listed at once: the answer to the update already shows the new version.
            self._publish()
            return MigrateResult(migration_id=request.migration_id, changes=changes)

    @migrate.validator
    def _validate_migrate(self, request: MigrateInput) -> None:
        if self._applied(request.migration_id) is not None:
            return
        self._check_migratable(request)

    def _applied(self, migration_id: str) -> MigrateResult | None:
        """The answer to a migration the case already applied, or None."""
        for record in self._state.migrations:
            if record.migration_id == migration_id:
                return MigrateResult(
                    migration_id=migration_id,
                    changes=[f"{record.source} -> {record.target}"],
                    duplicate=True,
                )
        return None

    def _check_migratable(self, request: MigrateInput, *, refuse_in_flight: bool = True) -> None:
        """What a migration needs of the case beyond the plan: open, on the plan's source
        version, and at a step boundary with no compensation or listener in flight
        (`workflows.migration.in_flight`) and no service task running (a child case may
        run: `_waits_on_child`)."""
        self._check_open()
        source = request.plan.source
        if (self._state.process_id, self._state.version) != (source.process_id, source.version):
            raise errors.conflict(
                f"the case runs {self._state.process_id} v{self._state.version}, not {source}"
            )
        reasons = in_flight(self._state) if refuse_in_flight else []
        if reasons:
            raise errors.conflict("the case cannot be migrated now: " + "; ".join(reasons))
        # A child case a call activity waits on may run on: this run keeps waiting for it
        # (its completion then moves the token on the target's rules) and continues as
        # new once it has ended. Continuing as new at once would cancel it.
        running = [task for task in self._tasks if not self._waits_on_child(task)]
        if running:
            raise errors.conflict(
                "the case cannot be migrated while service tasks run ("
                + ", ".join(running)
                + "): try again when they have finished"
            )

    def _waits_on_child(self, activity_id: str) -> bool:
        """True when the task in flight for ``activity_id`` is a call activity's child."""
        activity = self._state.activities.get(activity_id)
        return activity is not None and activity.kind == "callActivity"

    @workflow.update(name=MODIFY_UPDATE)
    def modify(self, request: ModifyInput) -> ModifyResult:
        """An operator's repair: cancel, start before, set variables, all or nothing."""
        changes = self._try_modify(self._interpreter, request)
        self._carry_out(self._interpreter.take_effects())
        self._changed = True
        return ModifyResult(changes=changes)

    @modify.validator
    def _validate_modify(self, request: ModifyInput) -> None:
        self._check_open()
        self._check_corrected_size(request.variables)
        # Tried on a copy, so a refusal never reaches the history.
        trial = Interpreter(
            self._model,
            self._state.model_copy(deep=True),
            limits=self._input.limits,
            depth=self._input.depth,
        )
        self._try_modify(trial, request)

    @staticmethod
    def _try_modify(interpreter: Interpreter, request: ModifyInput) -> list[str]:
        """Apply the repair to ``interpreter``; what it changed. A refusal is a conflict."""
        try:
            return interpreter.modify(
                cancel=request.cancel,
                start_before=request.start_before,
                variables=request.variables,
                reason=request.reason,
                actor=request.actor.subject,
                now=workflow.now(),
            )
        except ModificationRefusedError as exc:
            raise errors.conflict(str(exc)) from exc

    @workflow.update(name="cancel")
    def cancel(self, request: CancelInput) -> InstanceView:
        """End the case now."""
        self._interpreter.cancel(request.reason, actor=request.actor.subject, now=workflow.now())
        self._carry_out(self._interpreter.take_effects())
        self._changed = True
        return self.state()

    @cancel.validator
    def _validate_cancel(self, request: CancelInput) -> None:
        self._check_open()

    def _check_open(self) -> None:
        if self._state.ended:
            raise errors.conflict(f"the case has ended ({self._state.outcome})")

    # --- queries -------------------------------------------------------------------------------

    @workflow.query(name="state")
    def state(self) -> InstanceView:
        """The case: status, variables, open tasks, tokens, incidents."""
        s = self._state
        status = "running"
        if s.ended:
            status = "cancelled" if s.outcome == "cancelled" else "completed"
        return InstanceView(
            process_id=s.process_id,
            version=s.version,
            business_key=s.business_key,
            title=s.title,
            status=status,
            outcome=s.outcome,
            variables=s.variables,
            open_tasks=list_open_tasks(self._interpreter),
            tokens=[
                TokenView(node_id=t.node_id, status=t.status, activity_id=t.activity_id)
                for t in s.tokens.values()
            ],
            incidents=[_incident_view(i) for i in s.incidents.values()],
            accepts_messages=self._interpreter.accepted_messages(),
            participants=list(s.participants),
            pending_jobs=pending_jobs(self._interpreter, self._input.jobs),
        )

    @workflow.query(name="open_tasks")
    def open_tasks(self) -> list[OpenTask]:
        """The open user tasks."""
        return list_open_tasks(self._interpreter)

    @workflow.query(name="instance_state")
    def instance_state(self) -> InstanceState:
        """The whole internal state (tests and audits)."""
        return self._state


def _same_request(request: CompleteTaskInput, idempotency_key: str | None) -> bool:
    """The request repeats the completion made with ``idempotency_key``."""
    return bool(request.idempotency_key) and request.idempotency_key == idempotency_key


def _key_of_another(request: CompleteTaskInput, done: CompletedTask) -> bool:
    """The request carries the idempotency key another principal completed the task with:
    the first result is that principal's, not the requester's."""
    return _same_request(request, done.idempotency_key) and done.actor != request.actor.subject


def _key_taken(request: CompleteTaskInput) -> ApplicationError:
    return errors.forbidden(
        f"{request.actor.subject} may not use idempotency key {request.idempotency_key!r}: "
        f"another principal completed {request.task_id} with it"
    )


def _incident_view(incident: Any) -> IncidentView:
    return IncidentView(
        incident_id=incident.id,
        element_id=incident.element_id,
        kind=incident.kind,
        message=incident.message,
        created=incident.created,
    )


def _service_error(
    err: ActivityError, jobs: JobRouting | None
) -> tuple[str | None, str, dict[str, JsonValue] | None]:
    """What a failed activity threw: a BPMN error's code, message and variables (first
    detail ``{"code", "message"?, "variables"?}``), or no code and why it failed."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type == BPMN_ERROR_TYPE:
        details = cause.details[0] if cause.details else {}
        if isinstance(details, dict) and details.get("code") is not None:
            message = details.get("message")
            variables = details.get("variables")
            return (
                str(details["code"]),
                message if isinstance(message, str) and message else str(cause),
                variables if isinstance(variables, dict) and variables else None,
            )
    if (
        jobs is not None
        and isinstance(cause, ActivityTimeoutError)
        and cause.type == TimeoutType.SCHEDULE_TO_START
    ):
        return (
            None,
            f"no job worker took {err.activity_type} from task queue {jobs.task_queue} within "
            f"{jobs.schedule_to_start_seconds:g} s: start one that registers that activity, "
            "then retry",
            None,
        )
    return None, str(cause or err), None


def _json(value: Any) -> JsonValue:
    """An activity result as JSON (the converter hands back plain Python values)."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    raise TypeError(f"activity result of type {type(value).__name__} is not JSON")
