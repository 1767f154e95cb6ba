"""``POST /signals/{name}``: broadcast a BPMN signal (`workflows.signals`).

The signal reaches every running case of the namespace waiting for it at a catch, boundary
or event-subprocess start event, each through the case's own ``receive_signal`` update,
so each case checks the caller against the candidates of its subscriptions (none named:
role ``operator``); a case that refuses is left out of ``delivered_to`` and the caller
learns nothing of it. A signal start event of the latest version of a deployed process
starts a case there, if the caller may start that process (`instances.may_start`).

Signals are not buffered: a case that starts waiting after the broadcast is not reached.
The waiting cases are found through Temporal's visibility, which lags a little behind the
cases, so one that began waiting a moment before may be missed too.

Each broadcast is a workflow (`workflows.signals.SignalBroadcast`) whose id is the
broadcast id: a broadcast the API lost track of (a restart, a timeout) runs on, and the
same ``signal_id`` from the same principal again is answered with the first result.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.signals import signal_starts
from process_models.deployments import ModelStore
from starter.api.access import forbid_auditor
from starter.api.auth import Principal
from starter.api.deps import ContextDep, PrincipalDep, TemporalClientDep
from starter.api.errors import error_responses, with_retries
from starter.api.routes.instances import may_start
from starter.api.routes.publications import (
    MAX_TEXT_LENGTH,
    Text,
    check_variables_size,
    checked_text,
)
from workflows.signals import (
    BROADCAST_WORKFLOW,
    BroadcastSignalInput,
    BroadcastSignalResult,
    SignalStart,
    broadcast_id,
)

__all__ = ["BroadcastSignalRequest", "BroadcastSignalResponse", "router"]

router = APIRouter(prefix="/signals", tags=["signals"])

SignalName = Annotated[
    str,
    Path(min_length=1, max_length=MAX_TEXT_LENGTH, description="The signal's name."),
    AfterValidator(checked_text),
]


class BroadcastSignalRequest(BaseModel):
    """What a broadcast carries."""

    model_config = ConfigDict(extra="forbid")

    variables: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="Merged into each receiving case as the model says (as a message's).",
    )
    signal_id: Text | None = Field(
        default=None,
        description="Broadcasting again with the same id (same principal and name) is "
        "answered with the first result and reaches no case again. Default: a new id.",
    )


class BroadcastSignalResponse(BaseModel):
    """Which cases took the signal and which it started."""

    signal_id: str
    delivered_to: list[str] = Field(description="Instance ids of the cases that took it.")
    started: list[str] = Field(description="Instance ids of the cases it started.")


def allowed_starts(
    store: ModelStore, name: str, principal: Principal, agency_orgs: list[str]
) -> list[SignalStart]:
    """The signal start events named ``name`` that ``principal`` may start (the others
    are passed over without a word)."""
    return [
        start
        for start, process in signal_starts(store, name)
        if may_start(principal, process, agency_orgs)
    ]


async def _broadcast(
    client: Client, request: BroadcastSignalInput, task_queue: str
) -> BroadcastSignalResult:
    """Start the broadcast (or join the running one with its id) and wait for its result;
    one that has ended answers with the result it ended with."""
    try:
        handle = await client.start_workflow(
            BROADCAST_WORKFLOW,
            request,
            id=request.broadcast_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # An ended broadcast is never run again: its result is the answer.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            result_type=BroadcastSignalResult,
            static_summary=f"signal {request.name}",
        )
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(request.broadcast_id, result_type=BroadcastSignalResult)
    result: BroadcastSignalResult = await handle.result()
    return result


@router.post(
    "/{name}",
    response_model=BroadcastSignalResponse,
    summary="Broadcast a signal",
    responses=error_responses(403, 413, 422),
)
async def broadcast_signal(
    name: SignalName,
    body: BroadcastSignalRequest,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
) -> BroadcastSignalResponse:
    """Deliver the signal to every case waiting for ``name`` whose subscription admits the
    caller, and start a case of each process with a signal start event of that name that
    the caller may start. The same ``signal_id`` again gets the first result."""
    forbid_auditor(principal, "broadcast signals")
    check_variables_size(body.variables)
    signal_id = body.signal_id or uuid.uuid4().hex
    starts = await asyncio.to_thread(
        allowed_starts, context.store, name, principal, context.settings.agency_orgs
    )
    request = BroadcastSignalInput(
        broadcast_id=broadcast_id(principal.subject, name, signal_id),
        signal_id=signal_id,
        name=name,
        variables=body.variables,
        actor=principal.actor(),
        starts=starts,
    )
    result = await with_retries(
        lambda: _broadcast(client, request, context.task_queue),
        attempts=context.settings.busy_retries,
    )
    return BroadcastSignalResponse(
        signal_id=result.signal_id, delivered_to=result.delivered_to, started=result.started
    )
