"""``/instances``: start cases, list and read them, cancel them."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import StringConstraints
from temporalio.service import RPCError, RPCStatusCode

from process_models.schema import FlowNode, Process
from starter.api.access import (
    OPERATOR_ROLE,
    can_read,
    forbid_auditor,
    forbid_reading,
    hidden_case,
    require_role,
    sees_all,
)
from starter.api.auth import Principal
from starter.api.case_calls import CaseCalls
from starter.api.deps import ContextDep, PrincipalDep, TemporalClientDep
from starter.api.errors import ApiError, error_responses, with_retries
from starter.api.forms import check_start_form
from starter.api.limits import checked_business_key
from starter.api.listing import (
    CANDIDATE_KEY_PATTERN,
    InstanceFilter,
    fetch_page,
    instance_query,
    participation_clause,
    summary,
)
from starter.api.schemas import (
    CancelRequest,
    FieldError,
    InstanceDetail,
    InstancePage,
    InstanceStatus,
    StartInstanceRequest,
    StartInstanceResponse,
)
from starter.cases import start_case
from workflows.candidates import describe, may_act
from workflows.contract import CancelInput, InstanceView
from workflows.model import split_list

__all__ = ["InstanceId", "case_state", "may_start", "read_case", "router"]

router = APIRouter(prefix="/instances", tags=["instances"])

InstanceId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=1000,
        description="The instance id: <process_id>:<business_key>.",
        examples=["se_nhv_designation:SOS-2026-0042"],
    ),
]


# --- starting -------------------------------------------------------------------------------


def _start_node(process: Process, start_event: str | None) -> FlowNode:
    """The start event a case begins at; 422 when the request names none that exists."""
    starts = process.start_events()
    messages = [n.id for n in starts if any(d.kind == "message" for d in n.event_definitions)]
    if start_event is None:
        plain = [n for n in starts if not n.event_definitions]
        if plain:
            return plain[0]
        raise ApiError(
            422,
            "invalid",
            f"process {process.id} has no start event without a trigger: name one of its "
            f"message start events in start_event ({', '.join(messages) or 'none'})",
            fields=[FieldError(loc=["body", "start_event"], msg="required for this process")],
        )
    node = process.node(start_event)
    if node is None or node.id not in messages:
        raise ApiError(
            422,
            "invalid",
            f"{start_event!r} is not a message start event of process {process.id}; "
            f"its message start events: {', '.join(messages) or 'none'}",
            fields=[FieldError(loc=["body", "start_event"], msg="not a message start event")],
        )
    return node


def may_start(principal: Principal, process: Process, agency_orgs: list[str]) -> bool:
    """Whether ``principal`` may start a case of ``process`` from outside.

    Operators always may (they bring cases that exist outside niva into it); otherwise the
    candidates of the process's ``niva:starters``, or, without one, the agencies. A child
    case started by a call activity is not checked: its parent case started it.
    """
    if principal.is_auditor:
        return False
    if OPERATOR_ROLE in principal.roles:
        return True
    starters = process.starters
    if starters is None:
        return principal.org is not None and principal.org in agency_orgs
    return may_act(
        principal, split_list(starters.candidate_groups), split_list(starters.candidate_orgs)
    )


def _forbid_starting(principal: Principal, process: Process, agency_orgs: list[str]) -> ApiError:
    starters = process.starters
    who = (
        describe(split_list(starters.candidate_groups), split_list(starters.candidate_orgs))
        if starters is not None
        else "the agencies (" + ", ".join(agency_orgs) + ")"
    )
    return ApiError(
        403,
        "forbidden",
        f"{principal.subject} ({principal.org or 'no organisation'}) may not start "
        f"{process.id}: it is started by {who} or an operator",
    )


@router.post(
    "",
    response_model=StartInstanceResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Start a case",
    responses=error_responses(403, 404, 409),
)
async def start_instance(
    body: StartInstanceRequest,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
) -> StartInstanceResponse:
    """Start a case of the latest (or the given) version of a deployed process, at its
    none start event or at the message start event ``start_event``. The variables are
    checked against the start event's form. 403 unless the caller may start the process:
    the candidates of its ``niva:starters``, without one the agencies, and operators
    always. 409 (with ``instance_id``) when a case with this business key exists."""
    forbid_auditor(principal, "start cases")
    business_key = checked_business_key(body.business_key)
    store = context.store
    model = await asyncio.to_thread(store.get, body.process_id, body.version)
    definitions = await asyncio.to_thread(store.definitions, model)
    process = definitions.process(model.process_id)
    if process is None:  # a deployed version always holds its process
        raise ApiError(404, "not_found", f"{model.key} holds no process {model.process_id}")
    agency_orgs = context.settings.agency_orgs
    if not may_start(principal, process, agency_orgs):
        raise _forbid_starting(principal, process, agency_orgs)
    node = _start_node(process, body.start_event)
    await asyncio.to_thread(check_start_form, store, model, definitions, node, body.variables)
    handle = await with_retries(
        lambda: start_case(
            client,
            store,
            process_id=model.process_id,
            version=model.version,
            business_key=business_key,
            title=body.title,
            task_queue=context.task_queue,
            variables=body.variables,
            start_event=body.start_event,
            actor=principal.actor(),
        ),
        attempts=context.settings.busy_retries,
    )
    return StartInstanceResponse(
        instance_id=handle.id, process_id=model.process_id, version=model.version
    )


# --- reading --------------------------------------------------------------------------------


@router.get(
    "",
    response_model=InstancePage,
    summary="List cases",
    responses=error_responses(),
)
async def list_instances(
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
    process_id: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[InstanceStatus | None, Query()] = None,
    business_key: Annotated[str | None, Query(max_length=200)] = None,
    candidate: Annotated[
        list[Annotated[str, StringConstraints(pattern=CANDIDATE_KEY_PATTERN, max_length=300)]]
        | None,
        Query(
            max_length=20,
            description="Cases with an open task for this candidate keyword (group:G, "
            "org:O or org:O/group:G, as in NivaCandidates); repeat for any of several.",
        ),
    ] = None,
    has_incident: Annotated[bool | None, Query()] = None,
    deadline_before: Annotated[
        datetime | None, Query(description="Cases whose next deadline is before this.")
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    page_token: Annotated[str | None, Query(max_length=4000)] = None,
) -> InstancePage:
    """The cases the caller may read, newest first, filtered and paginated through
    Temporal's visibility store (which lags by about a second)."""
    scope = None
    if not sees_all(principal, context.settings.agency_orgs):
        scope = participation_clause(principal)
        if scope is None:
            return InstancePage(instances=[], next_page_token=None)
    wanted = InstanceFilter(
        process_id=process_id,
        status=status,
        business_key=business_key,
        candidates=candidate or (),
        has_incident=has_incident,
        deadline_before=deadline_before,
    )
    page = await fetch_page(
        client,
        instance_query(wanted, scope, context.task_queue),
        page_size=page_size,
        page_token=page_token,
        retries=context.settings.busy_retries,
    )
    return InstancePage(
        instances=[summary(e) for e in page.executions], next_page_token=page.next_page_token
    )


async def case_state(calls: CaseCalls) -> InstanceView:
    """The case's state; `hidden_case`'s 404 when there is no such case, the same answer
    as for a case the caller may not read."""
    try:
        return await calls.state()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise hidden_case(calls.instance_id) from exc
        raise


async def read_case(calls: CaseCalls, principal: Principal, agency_orgs: list[str]) -> InstanceView:
    """The case's state if ``principal`` may read it; 404 otherwise, as if there were no
    such case."""
    view = await case_state(calls)
    if not can_read(principal, view, agency_orgs):
        raise forbid_reading(principal, calls.instance_id)
    return view


@router.get(
    "/{instance_id}",
    response_model=InstanceDetail,
    summary="One case",
    responses=error_responses(403, 404),
)
async def get_instance(
    instance_id: InstanceId,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
) -> InstanceDetail:
    """Status, model version, variables, open tasks, tokens, incidents and outcome; ended
    cases too."""
    calls = CaseCalls(client, instance_id, context.settings)
    view = await read_case(calls, principal, context.settings.agency_orgs)
    return InstanceDetail.from_view(instance_id, view)


# --- changing -------------------------------------------------------------------------------


@router.post(
    "/{instance_id}/cancel",
    response_model=InstanceDetail,
    summary="Cancel a case",
    responses=error_responses(403, 404, 409),
)
async def cancel_instance(
    instance_id: InstanceId,
    body: CancelRequest,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
) -> InstanceDetail:
    """End the case now (role ``operator``); attached child cases end with it. A caller
    who may not read the case gets 404, as from every route of a case."""
    calls = CaseCalls(client, instance_id, context.settings)
    view = await read_case(calls, principal, context.settings.agency_orgs)
    require_role(principal, OPERATOR_ROLE, "cancel cases")
    if view.status != "running":
        raise ApiError(409, "conflict", f"{instance_id} has ended ({view.outcome})")
    ended = await calls.update(
        "cancel", CancelInput(reason=body.reason, actor=principal.actor()), InstanceView
    )
    return InstanceDetail.from_view(instance_id, ended)
