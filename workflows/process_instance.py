"""The one workflow that executes any process model.

It is a dynamic workflow, so the workflow type shown in the Web UI is the process id
(``se_nhv_designation``) and operators filter the list by it. The BPMN semantics live in
`workflows.interpreter`; this class only connects them to Temporal: it carries out the
interpreter's effects (activities, child cases), sleeps until the next timer or the next
request, validates requests before they reach the history, keeps the search attributes and
details current, and continues as new at a quiet point.

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
    WorkflowAlreadyStartedError,
)

with workflow.unsafe.imports_passed_through():
    from pydantic import JsonValue, ValidationError

    from process_models.deployments import ModelRef, ModelSource
    from process_models.errors import ExpressionError
    from process_models.registry import RegistryError, default_registry
    from service_contract import BPMN_ERROR_TYPE, RESOLVE_MODEL_ACTIVITY, ServiceCall
    from workflows import errors
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
    from workflows.effects import CancelChild, CancelService, Effect, StartChild, StartService
    from workflows.interpreter import (
        CASE_LIMITS_PATCH,
        Interpreter,
        ModelFailure,
        json_bytes,
        variables_bytes,
    )
    from workflows.model import load_model
    from workflows.state import Activity, CompletedTask, InstanceState
    from workflows.visibility import (
        AttributeValue,
        details_markdown,
        diagram_link,
        search_attribute_updates,
    )
    from workflows.visibility import (
        open_tasks as list_open_tasks,
    )

    # The shipped forms load here, outside the sandbox, not lazily inside a validator.
    default_registry.load()

__all__ = [
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
KEY_OWNER_PATCH = "niva-completion-key-owner"
"""A completion that repeats another principal's idempotency key, accepted in the same
activation as the first, is refused (before: answered with the first's result)."""
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
        self._sleeper: asyncio.Task[None] | None = None
        self._sleep_target: datetime | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._published: dict[str, AttributeValue] = {}

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
        """The start variables must satisfy the start event's ``niva:form``, if any."""
        node = (
            self._model.nodes.get(start.start_event)
            if start.start_event
            else self._model.none_start(self._model.process.id)
        )
        if node is None or node.niva.form is None or not node.niva.form.key:
            return
        try:
            default_registry.form(node.niva.form.key).model_validate(start.variables)
        except (RegistryError, ValidationError) as exc:
            raise ModelFailure(
                "start", f"the start variables do not satisfy form {node.niva.form.key}: {exc}"
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
        interpreter = self._interpreter
        while True:
            interpreter.run(workflow.now())
            self._carry_out(interpreter.take_effects())
            self._publish()
            if self._state.ended:
                break
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self._quiet():
                    self._continue_as_new()
            await self._wait()
            interpreter.fire_due_timers(workflow.now())
        # Let cancelled activities and child starts settle before the case completes.
        await workflow.wait_condition(lambda: not self._tasks and workflow.all_handlers_finished())
        return InstanceResult(outcome=self._state.outcome, variables=self._state.variables)

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
        workflow.continue_as_new(self._input.model_copy(update={"state": state}))

    # --- effects ----------------------------------------------------------------------------

    def _carry_out(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, StartService):
                self._tasks[effect.activity_id] = asyncio.create_task(self._run_service(effect))
            elif isinstance(effect, StartChild):
                self._tasks[effect.activity_id] = asyncio.create_task(self._run_child(effect))
            elif isinstance(effect, CancelService | CancelChild):
                task = self._tasks.get(effect.activity_id)
                if task is not None:
                    task.cancel()

    def _done(self, activity_id: str) -> None:
        self._tasks.pop(activity_id, None)
        self._changed = True

    async def _run_service(self, effect: StartService) -> None:
        call = ServiceCall(
            type=effect.type,
            element_id=effect.element_id,
            task_id=effect.activity_id,
            case_id=workflow.info().workflow_id,
            process_id=self._state.process_id,
            process_version=self._state.version,
            business_key=self._state.business_key,
            now=workflow.now(),
            timezone=self._model.source.timezone,
            inputs=effect.inputs,
        )
        # The task id is the activity id: readable in the UI and unique in the case across
        # continue-as-new. A retry after an incident is a new activity of the same task.
        activity_id = effect.activity_id
        if effect.attempt:
            activity_id += f"~retry{effect.attempt}"
        try:
            result = await workflow.execute_activity(
                effect.type,
                call,
                activity_id=activity_id,
                start_to_close_timeout=(
                    timedelta(seconds=effect.timeout_seconds)
                    if effect.timeout_seconds
                    else _DEFAULT_ACTIVITY_TIMEOUT
                ),
                retry_policy=RetryPolicy(maximum_attempts=effect.retries or _DEFAULT_RETRIES),
                summary=effect.name or effect.element_id,
            )
            self._interpreter.service_succeeded(effect.activity_id, _json(result), workflow.now())
        except asyncio.CancelledError:
            pass
        except ActivityError as err:
            cause = err.cause
            code = None
            if isinstance(cause, ApplicationError) and cause.type == BPMN_ERROR_TYPE:
                details = cause.details[0] if cause.details else {}
                code = str(details.get("code")) if isinstance(details, dict) else None
            message = str(cause or err)
            self._interpreter.service_failed(
                effect.activity_id, error_code=code, message=message, now=workflow.now()
            )
        finally:
            self._done(effect.activity_id)

    async def _run_child(self, effect: StartChild) -> None:
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
            if effect.detached:
                return
            result: InstanceResult = await handle
            self._interpreter.child_finished(effect.activity_id, result.variables, workflow.now())
        except asyncio.CancelledError:
            pass
        except (ActivityError, ChildWorkflowError, WorkflowAlreadyStartedError) as err:
            message = f"child case {effect.workflow_id}: " + (
                "that id is taken by another case"
                if isinstance(err, WorkflowAlreadyStartedError)
                else str(err.cause or err)
            )
            if effect.detached:
                workflow.logger.error("detached child did not start: %s", message)
            else:
                self._interpreter.child_failed(effect.activity_id, message, workflow.now())
        finally:
            self._done(effect.activity_id)

    # --- what operators see ------------------------------------------------------------------

    def _publish(self) -> None:
        updates = search_attribute_updates(self._interpreter, self._published)
        if updates:
            workflow.upsert_search_attributes(updates)
        diagram = diagram_link(self._input.api_url, workflow.info().workflow_id)
        workflow.set_current_details(details_markdown(self._interpreter, diagram=diagram))

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
        if not may_act(request.actor, activity.candidate_groups, activity.candidate_orgs):
            raise errors.forbidden(
                f"{request.actor.subject} may not complete {request.task_id}: it is for "
                + describe(activity.candidate_groups, activity.candidate_orgs)
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
        before it reaches the history: accepted, it would park the case in an incident."""
        limit = self._input.limits.max_variables_bytes
        size = variables_bytes(self._state) + json_bytes(payload)
        if size > limit:
            raise errors.invalid(
                f"the payload takes {json_bytes(payload):,} bytes; with the case's variables "
                f"that is {size:,}, more than the {limit:,} a case may hold"
            )

    def _check_payload(self, element_id: str, scope_id: str, payload: dict[str, JsonValue]) -> None:
        """The payload must satisfy the task's form and every niva:constraint."""
        node = self._model.node(element_id)
        if node.niva.form is not None and node.niva.form.key:
            try:
                form = default_registry.form(node.niva.form.key)
            except RegistryError as exc:
                raise errors.invalid(str(exc)) from exc
            try:
                form.model_validate(payload)
            except ValidationError as exc:
                fields = [
                    {"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in exc.errors()
                ]
                raise errors.invalid(
                    f"the payload does not satisfy form {node.niva.form.key}", fields
                ) from exc
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
                    reference=self._model.source.reference,
                    budget=self._input.limits.expression_cost,
                )
            except ExpressionError as exc:
                raise errors.invalid(f"constraint could not be checked: {exc}") from exc
            if not ok:
                raise errors.invalid(constraint.message or f"violates {constraint.expression}")

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
        waiting = [s for s in self._state.subscriptions.values() if s.message_name == request.name]
        if not waiting and self._interpreter.message_ttl(request.name) is None:
            raise errors.conflict(
                f"no subscription waits for message {request.name!r}; the case accepts "
                + (", ".join(self._interpreter.accepted_messages()) or "no message")
                + " now",
                accepts=self._interpreter.accepted_messages(),
            )
        self._check_size(request.payload)
        # Waiting or not (then it would be buffered), only a candidate may send it.
        rules = self._interpreter.message_candidates(request.name)
        if not any(may_act(request.actor, groups, orgs) for groups, orgs in rules):
            raise errors.forbidden(
                f"{request.actor.subject} may not send {request.name!r}: "
                + (
                    "it is for " + describe(*rules[0])
                    if rules
                    else "who may send it is known only once the case waits for it"
                )
            )

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


def _json(value: Any) -> JsonValue:
    """An activity result as JSON (the converter hands back plain Python values)."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    raise TypeError(f"activity result of type {type(value).__name__} is not JSON")
