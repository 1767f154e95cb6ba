"""``/tasks`` and ``/instances/{id}/tasks``: open tasks, and completing them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Query
from temporalio.client import Client, WorkflowExecution, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from starter.api.access import (
    can_read,
    forbid_auditor,
    forbid_reading,
    hidden_case,
    hiding_refusal,
    may_complete,
)
from starter.api.auth import Principal
from starter.api.case_calls import CaseCalls
from starter.api.deps import ContextDep, PrincipalDep, TemporalClientDep
from starter.api.errors import ApiError, error_responses
from starter.api.forms import task_form_schema
from starter.api.listing import fetch_page, literal, participation_clause
from starter.api.routes.instances import InstanceId, case_state
from starter.api.schemas import (
    CompleteTaskRequest,
    CompleteTaskResponse,
    InboxTask,
    OpenTaskItem,
    TaskDetail,
    TaskPage,
)
from starter.settings import ApiSettings
from workflows import search_attributes as sa
from workflows.contract import CompleteTaskInput, CompleteTaskResult, OpenTask

__all__ = ["TaskId", "router"]

router = APIRouter(tags=["tasks"])

log = structlog.get_logger("niva.api")

TaskId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=500,
        description="The task id: <element_id>[:<key>][#<n>].",
        examples=["ReferralResponse:SE-AB"],
    ),
]


# --- the caller's open tasks ----------------------------------------------------------------


async def _tasks_of(
    client: Client, execution: WorkflowExecution, principal: Principal, settings: ApiSettings
) -> list[InboxTask] | None:
    """The case's open tasks ``principal`` may complete; None if the case did not answer."""
    calls = CaseCalls(client, execution.id, settings)
    try:
        tasks = await calls.open_tasks()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:  # removed since it was listed
            return []
        if exc.status == RPCStatusCode.RESOURCE_EXHAUSTED:
            raise
        # One case without a worker (or failing to replay) must not empty everyone's
        # inbox: it is named in the page instead.
        log.warning("case did not answer", instance_id=execution.id, error=str(exc))
        return None
    except WorkflowQueryFailedError as exc:
        log.warning("case did not answer", instance_id=execution.id, error=exc.message)
        return None
    process_id = execution.typed_search_attributes.get(sa.PROCESS_ID) or ""
    return [
        InboxTask.from_instance_task(execution.id, process_id, task)
        for task in tasks
        if may_complete(principal, task)
    ]


@router.get(
    "/tasks",
    response_model=TaskPage,
    summary="Open tasks the caller may complete",
    responses=error_responses(),
)
async def list_tasks(
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
    process_id: Annotated[str | None, Query(max_length=200)] = None,
    page_size: Annotated[
        int, Query(ge=1, le=50, description="Cases per page (each may hold several tasks).")
    ] = 20,
    page_token: Annotated[str | None, Query(max_length=4000)] = None,
) -> TaskPage:
    """Across all running cases: the open tasks whose candidates include the caller.

    The cases are found through ``NivaCandidates`` (the caller's organisation, roles, and
    roles in the organisation) and ``NivaParticipants``; each case's own list of open tasks
    then decides. A page may be empty while ``next_page_token`` is set."""
    scope = participation_clause(principal)
    if principal.is_auditor or scope is None:
        return TaskPage(tasks=[], next_page_token=None)
    clauses = [
        f"TaskQueue = {literal(context.task_queue)}",
        'ExecutionStatus = "Running"',
        f"{sa.OPEN_TASKS.name} IS NOT NULL",
        scope,
    ]
    if process_id is not None:
        clauses.append(f"{sa.PROCESS_ID.name} = {literal(process_id)}")
    page = await fetch_page(
        client,
        " AND ".join(clauses),
        page_size=page_size,
        page_token=page_token,
        retries=context.settings.busy_retries,
    )
    per_case = await asyncio.gather(
        *(_tasks_of(client, e, principal, context.settings) for e in page.executions)
    )
    return TaskPage(
        tasks=[task for tasks in per_case if tasks for task in tasks],
        unanswered=[
            e.id for e, tasks in zip(page.executions, per_case, strict=True) if tasks is None
        ],
        next_page_token=page.next_page_token,
    )


# --- one task -------------------------------------------------------------------------------


def _no_open_task(instance_id: str, task_id: str, open_tasks: list[OpenTask]) -> ApiError:
    listed = ", ".join(t.task_id for t in open_tasks) or "none"
    return ApiError(
        404, "not_found", f"no open task {task_id!r} in {instance_id}; open tasks: {listed}"
    )


@router.get(
    "/instances/{instance_id}/tasks/{task_id}",
    response_model=TaskDetail,
    summary="An open task with its form's JSON Schema",
    responses=error_responses(403, 404),
)
async def get_task(
    instance_id: InstanceId,
    task_id: TaskId,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
) -> TaskDetail:
    """The task, whether the caller may complete it, and the JSON Schema its payload must
    satisfy (None: any JSON object)."""
    calls = CaseCalls(client, instance_id, context.settings)
    view = await case_state(calls)
    if not can_read(principal, view, context.settings.agency_orgs):
        raise forbid_reading(principal, instance_id)
    task = next((t for t in view.open_tasks if t.task_id == task_id), None)
    if task is None:
        raise _no_open_task(instance_id, task_id, view.open_tasks)
    schema = await asyncio.to_thread(
        task_form_schema,
        context.store,
        view.process_id,
        view.version,
        task.element_id,
        task.form_key,
    )
    return TaskDetail(
        instance_id=instance_id,
        may_complete=may_complete(principal, task),
        form_schema=schema,
        **OpenTaskItem.from_open_task(task).model_dump(),
    )


def _update_id(task_id: str, principal: Principal, key: str | None) -> str | None:
    """The update's id for a completion with an idempotency key.

    Temporal answers a repeated update id with the first request's result without asking
    the case, so the id names the caller: another principal's request with the same key
    reaches the validator, which refuses it (403). The digest keeps ids of different
    (task, caller, key) apart whatever characters they hold.
    """
    if not key:
        return None
    digest = hashlib.sha256(json.dumps([task_id, principal.subject, key]).encode()).hexdigest()
    return f"complete/{task_id}/{digest}"


def _key_of_another(principal: Principal, task_id: str, key: str) -> ApiError:
    return ApiError(
        403,
        "forbidden",
        f"{principal.subject} may not use idempotency key {key!r}: another principal "
        f"completed {task_id} with it",
    )


_CASE_ENDED_MESSAGES = ("already completed", "aborted by closing workflow")
"""How Temporal says an update found the case closed (status NOT_FOUND)."""


def _ended(exc: BaseException) -> bool:
    """Whether Temporal refused the update because the case has ended: perhaps this very
    completion ended it, sent before by a request that timed out, or another request ended
    it while this one waited for the case (Temporal then aborts the waiting update)."""
    return (
        isinstance(exc, RPCError)
        and exc.status == RPCStatusCode.NOT_FOUND
        and any(reason in exc.message for reason in _CASE_ENDED_MESSAGES)
    )


async def _reads(calls: CaseCalls, principal: Principal, agency_orgs: list[str]) -> bool:
    """Whether ``principal`` may read the case (`hidden_case`'s 404 if there is none)."""
    return can_read(principal, await case_state(calls), agency_orgs)


async def _after_end(
    calls: CaseCalls, principal: Principal, task_id: str, key: str | None, agency_orgs: list[str]
) -> CompleteTaskResponse:
    """The answer for a completion sent to a case that has ended: the first result of the
    caller's own repeat; for a reader, 403 for another principal's key, else 409 saying
    why (the task was completed, or the case ended without it); for anyone else the 404."""
    state = await calls.internal_state()
    done = state.completed_tasks.get(task_id)
    repeat = done is not None and bool(key) and done.idempotency_key == key
    if done is not None and repeat and done.actor == principal.subject:
        return CompleteTaskResponse(
            task_id=done.task_id, completed=done.completed, actor=done.actor, duplicate=True
        )
    if not await _reads(calls, principal, agency_orgs):
        raise hidden_case(calls.instance_id)
    if done is not None and repeat and key:
        raise _key_of_another(principal, task_id, key)
    if done is not None:
        raise ApiError(
            409,
            "conflict",
            f"task {task_id} was already completed by {done.actor} at {done.completed.isoformat()}",
        )
    raise ApiError(409, "conflict", f"{calls.instance_id} has ended ({state.outcome})")


@router.post(
    "/instances/{instance_id}/tasks/{task_id}/complete",
    response_model=CompleteTaskResponse,
    summary="Complete a task",
    responses=error_responses(403, 404, 409),
)
async def complete_task(
    instance_id: InstanceId,
    task_id: TaskId,
    body: CompleteTaskRequest,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
) -> CompleteTaskResponse:
    """Submit the task's payload. Only candidates may (403); the payload must satisfy the
    form and the model's constraints (422 with the fields). 409 when the task was completed
    already; a repeat with the same ``idempotency_key`` gets the first result instead, even
    after the case has ended, and another principal's key is refused (403). A caller who
    may not read the case gets the 404 of a case that does not exist."""
    forbid_auditor(principal, "complete tasks")
    calls = CaseCalls(client, instance_id, context.settings)
    agency_orgs = context.settings.agency_orgs
    # One round trip: the update's validator is the check (open task, candidate, form,
    # constraints, repeat) and answers 404/403/422/409 without touching the history.
    request = CompleteTaskInput(
        task_id=task_id,
        payload=body.payload,
        actor=principal.actor(),
        idempotency_key=body.idempotency_key,
        request_id=uuid.uuid4().hex,
    )
    update_id = _update_id(task_id, principal, body.idempotency_key)
    try:
        result = await calls.update(
            "complete_task", request, CompleteTaskResult, update_id=update_id
        )
    except Exception as exc:
        if _ended(exc):
            return await _after_end(calls, principal, task_id, body.idempotency_key, agency_orgs)
        # Only a refusal costs a second look at the case: whether the caller may read it.
        hidden = hiding_refusal(exc, instance_id)
        if hidden is not None and not await _reads(calls, principal, agency_orgs):
            raise hidden from exc
        raise
    response = CompleteTaskResponse.from_result(result)
    # Temporal answers a repeated update id with the earlier request's stored result.
    response.duplicate = response.duplicate or result.request_id != request.request_id
    return response
