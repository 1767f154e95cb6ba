"""``/instances/{id}/messages``: deliver a message to a case.

Who may send is the case's to say: its update validator checks the sender against the
candidates of the subscriptions waiting for the message, or, when none waits yet and the
model keeps the message for later (``ttl``), against the candidates the model declares for
it (`workflows.interpreter.Interpreter.message_candidates`). This route adds one rule: a
principal who may not read the case learns nothing of it. Unless the case accepts its
message, it gets the same 404 whether the case does not exist, has ended, waits for other
messages, or the principal is no candidate.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from temporalio.service import RPCError, RPCStatusCode

from starter.api.access import can_read, forbid_auditor, hidden_case, hiding_refusal
from starter.api.auth import Principal
from starter.api.case_calls import CaseCalls
from starter.api.deps import ContextDep, PrincipalDep, TemporalClientDep
from starter.api.errors import ApiError, error_responses
from starter.api.forms import check_message
from starter.api.routes.instances import InstanceId, case_state
from starter.api.schemas import MessageResponse, SendMessageRequest
from workflows.contract import CorrelateMessageInput, CorrelateMessageResult

__all__ = ["router"]

router = APIRouter(prefix="/instances", tags=["messages"])

MessageName = Annotated[
    str,
    Path(min_length=1, max_length=200, description="The message's name in the model."),
]


def _ended(exc: BaseException) -> bool:
    """Whether Temporal refused an update because the case has ended (or ended while the
    update waited for it)."""
    return (
        isinstance(exc, RPCError)
        and exc.status == RPCStatusCode.NOT_FOUND
        and any(reason in exc.message for reason in ("already completed", "aborted by closing"))
    )


async def _after_end(
    calls: CaseCalls, principal: Principal, name: str, key: str | None, reader: bool
) -> MessageResponse:
    """The answer for a message to a case that has ended: the first result of the caller's
    own repeat; for a reader, 403 for another principal's key, else 409; for anyone else
    the 404."""
    state = await calls.internal_state()
    if (
        key is not None
        and key in state.delivered_messages
        and state.message_senders.get(key) == principal.subject
    ):
        received = state.delivered_messages[key]
        return MessageResponse(
            name=name, received_by=received, buffered=not received, duplicate=True
        )
    if not reader:
        raise hidden_case(calls.instance_id)
    if key is not None and key in state.message_senders:
        raise ApiError(
            403,
            "forbidden",
            f"{principal.subject} may not use idempotency key {key!r}: another principal sent "
            "a message with it",
        )
    raise ApiError(409, "conflict", f"{calls.instance_id} has ended ({state.outcome})")


@router.post(
    "/{instance_id}/messages/{name}",
    response_model=MessageResponse,
    summary="Send a message to a case",
    responses=error_responses(403, 404, 409, 422),
)
async def send_message(
    instance_id: InstanceId,
    name: MessageName,
    body: SendMessageRequest,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
) -> MessageResponse:
    """Deliver the message to every element of the case waiting for it, or keep it for
    later when nothing waits yet and the model says how long (``buffered``). Only the
    candidates of the message may send it (403); 409 (with ``accepts``) when nothing waits
    for it and the model keeps no such message for later. A repeat with the same
    ``idempotency_key`` gets the first result; another principal's key is refused (403).
    A caller who may not read the case gets 404 unless the case accepts its message.
    A payload the message's registered payload model does not admit is refused (422)
    before the case is asked, whatever the case."""
    forbid_auditor(principal, "send messages")
    check_message(context.store.registry, name, body.payload, "payload")
    calls = CaseCalls(client, instance_id, context.settings)
    view = await case_state(calls)
    reader = can_read(principal, view, context.settings.agency_orgs)
    key = body.idempotency_key
    if view.status != "running":
        return await _after_end(calls, principal, name, key, reader)
    request = CorrelateMessageInput(
        name=name, payload=body.payload, actor=principal.actor(), idempotency_key=key
    )
    try:
        result = await calls.update("correlate_message", request, CorrelateMessageResult)
    except Exception as exc:
        if _ended(exc):  # between the query and the update
            return await _after_end(calls, principal, name, key, reader)
        hidden = None if reader else hiding_refusal(exc, instance_id)
        if hidden is not None:
            raise hidden from exc
        raise
    return MessageResponse.from_result(result)
