"""``/instances/{id}/messages``: deliver a message to a case."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from starter.api.access import forbid_auditor
from starter.api.case_calls import CaseCalls
from starter.api.deps import ContextDep, PrincipalDep, TemporalClientDep
from starter.api.errors import ApiError, error_responses
from starter.api.routes.instances import InstanceId
from starter.api.schemas import MessageResponse, SendMessageRequest
from workflows.candidates import describe, may_act
from workflows.contract import CorrelateMessageInput, CorrelateMessageResult

__all__ = ["router"]

router = APIRouter(prefix="/instances", tags=["messages"])

MessageName = Annotated[
    str,
    Path(min_length=1, max_length=200, description="The message's name in the model."),
]


@router.post(
    "/{instance_id}/messages/{name}",
    response_model=MessageResponse,
    summary="Send a message to a case",
    responses=error_responses(403, 404, 409),
)
async def send_message(
    instance_id: InstanceId,
    name: MessageName,
    body: SendMessageRequest,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
) -> MessageResponse:
    """Deliver the message to every element of the case waiting for it. Only the
    candidates of a waiting subscription may send it (403); 409 (with ``accepts``) when
    nothing waits for it and the model keeps no such message for later."""
    forbid_auditor(principal, "send messages")
    calls = CaseCalls(client, instance_id, context.settings)
    state = await calls.internal_state()
    if state.ended:
        raise ApiError(409, "conflict", f"{instance_id} has ended ({state.outcome})")
    waiting = [s for s in state.subscriptions.values() if s.message_name == name]
    if waiting and not any(
        may_act(principal, s.candidate_groups, s.candidate_orgs) for s in waiting
    ):
        first = waiting[0]
        raise ApiError(
            403,
            "forbidden",
            f"{principal.subject} may not send {name!r}: it is for "
            + describe(first.candidate_groups, first.candidate_orgs),
        )
    request = CorrelateMessageInput(name=name, payload=body.payload, actor=principal.actor())
    result = await calls.update("correlate_message", request, CorrelateMessageResult)
    return MessageResponse.from_result(result)
