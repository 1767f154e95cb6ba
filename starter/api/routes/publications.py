"""``POST /messages``: publish a message by correlation key (Camunda 8's message model).

The message reaches every case waiting for its name with its correlation key, each through
the case's own ``correlate_message`` update, so each case checks the publisher against the
candidates of its subscription; a case that refuses is left out of ``delivered_to`` and the
publisher learns nothing of it. No case waits and no ``ttl``: it reaches none (as in
Zeebe). With a ``ttl`` it waits for a case to subscribe, durably: each publication is a
workflow (`workflows.publication`), whose id also makes publishing idempotent, so the same
``message_id`` from the same principal is answered with the first result.

The waiting cases are found through Temporal's visibility, which lags a little behind the
cases: a subscription opened a moment before the message may be missed by a message
without ``ttl`` (publish with a ``ttl`` when the case may not be waiting yet), and a
publication waiting with a ``ttl`` looks again until it finds one.

A message named like a message start event of the latest version of a deployed process
also starts a case there, if the publisher may start that process (`instances.may_start`),
at most one per process and key (`workflows.publication.message_start_business_key`).
"""

from __future__ import annotations

import asyncio
import contextlib
import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from process_models.deployments import ModelStore
from process_models.errors import TimerSpecError
from process_models.schema import Definitions, FlowNode
from process_models.start_events import start_events_by_name
from process_models.timers import IsoDuration
from starter.api.access import forbid_auditor
from starter.api.auth import Principal
from starter.api.deps import ContextDep, PrincipalDep, TemporalClientDep
from starter.api.errors import ApiError, error_responses, with_retries
from starter.api.forms import check_message
from starter.api.routes.instances import may_start
from starter.settings import LimitSettings
from workflows.interpreter import json_bytes
from workflows.publication import (
    FIRST_RESULT_UPDATE,
    PUBLICATION_WORKFLOW,
    MessageStart,
    PublicationOutcome,
    PublishMessageInput,
    PublishMessageResult,
    publication_id,
)

__all__ = [
    "MAX_TEXT_LENGTH",
    "PublishMessageRequest",
    "PublishMessageResponse",
    "Text",
    "check_variables_size",
    "checked_text",
    "router",
]

router = APIRouter(prefix="/messages", tags=["messages"])

MAX_TEXT_LENGTH = 200
"""The longest message name, correlation key or message id, in characters."""

# Cc control, Cf format (zero-width, bidi, BOM), Zl/Zp separators, Cn unassigned,
# Co private use, Cs surrogates: characters no name, key or id is made of, which would
# make two values that look the same differ.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cn", "Co", "Cs"})


def checked_text(value: str) -> str:
    """A name, key or id as given (compared exactly with the case's), refused when empty,
    padded with whitespace, or holding a control or invisible character."""
    if value != value.strip():
        raise ValueError("must not begin or end with whitespace")
    for position, char in enumerate(value):
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            name = unicodedata.name(char, f"U+{ord(char):04X}")
            raise ValueError(f"holds {name} at position {position + 1}, which is not allowed")
    return value


def _ttl(value: str) -> str:
    """An ISO 8601 duration, written back in its canonical form."""
    try:
        duration = IsoDuration.parse(value)
    except TimerSpecError as exc:
        raise ValueError(exc.reason) from exc
    if duration.approximate_seconds() <= 0:
        raise ValueError("the ttl must be longer than nothing")
    return str(duration)


Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_LENGTH), AfterValidator(checked_text)]


class PublishMessageRequest(BaseModel):
    """A message for the cases waiting with its correlation key."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(description="The message's name in the model.")
    correlation_key: Text = Field(
        description="The key the waiting subscriptions hold (their `correlationKey`, "
        "evaluated when they opened); compared exactly."
    )
    variables: dict[str, JsonValue] = Field(
        default_factory=dict, description="The message's values, merged as the model says."
    )
    ttl: Annotated[str, AfterValidator(_ttl)] | None = Field(
        default=None,
        max_length=64,
        description="ISO 8601 duration (PT1H, P30D): when no case waits, the message "
        "waits this long for one to subscribe, then reaches it once.",
    )
    message_id: Text | None = Field(
        default=None,
        description="Publishing again with the same id (same principal, name and key) is "
        "answered with the first result and delivers nothing again. Default: a new id.",
    )


class PublishMessageResponse(BaseModel):
    """Which cases received the message, and until when it waits if none did."""

    message_id: str
    delivered_to: list[str] = Field(description="Instance ids of the cases that received it.")
    buffered_until: datetime | None = Field(
        default=None, description="Set when no case waited and the message has a ttl."
    )

    @classmethod
    def from_result(cls, result: PublishMessageResult) -> PublishMessageResponse:
        """The API's view of a `PublishMessageResult`."""
        return cls(
            message_id=result.message_id,
            delivered_to=result.delivered_to,
            buffered_until=result.buffered_until,
        )


def _message_name(definitions: Definitions, node: FlowNode) -> str | None:
    """The name of the message a start event waits for, or None (no message, or none
    named)."""
    refs = [d.message_ref for d in node.event_definitions if d.kind == "message"]
    if not refs:
        return None
    subscription = node.niva.subscription
    names = [subscription.message_name] if subscription and subscription.message_name else []
    names += [m.name for m in map(definitions.message, refs) if m is not None and m.name]
    return names[0] if names else None


def message_starts(
    store: ModelStore, name: str, principal: Principal, agency_orgs: list[str]
) -> list[MessageStart]:
    """The message start events named ``name`` in the latest version of every deployed
    process that ``principal`` may start (the others are passed over without a word)."""
    starts = []
    for model in store.latest():
        events, process = start_events_by_name(store, model, "message", _message_name)
        if not events.get(name) or process is None:
            continue
        if not may_start(principal, process, agency_orgs):
            continue
        starts += [
            MessageStart(process_id=model.process_id, version=model.version, start_event=event)
            for event in events[name]
        ]
    return starts


def check_variables_size(variables: dict[str, JsonValue]) -> None:
    """413 for variables no case could take (``NIVA_LIMITS_MAX_VARIABLES_BYTES``): they
    would be carried by the publication (or broadcast) for nothing. Each case checks its
    own room."""
    limit = LimitSettings().max_variables_bytes
    size = json_bytes(variables)
    if size > limit:
        raise ApiError(
            413,
            "payload_too_large",
            f"the variables take {size:,} bytes, more than the {limit:,} a case may hold "
            "(NIVA_LIMITS_MAX_VARIABLES_BYTES)",
        )


async def _publish(
    client: Client, request: PublishMessageInput, workflow_id: str, task_queue: str
) -> PublishMessageResult:
    """Start the publication (or join the one with this id) and wait for its first
    result; a publication that has ended answers with the result it ended with."""
    start: WithStartWorkflowOperation[Any, PublicationOutcome] = WithStartWorkflowOperation(
        PUBLICATION_WORKFLOW,
        request,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        # An ended publication is never started again: its result is the answer.
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        result_type=PublicationOutcome,
        static_summary=f"message {request.name}",
    )
    try:
        result: PublishMessageResult = await client.execute_update_with_start_workflow(
            FIRST_RESULT_UPDATE, start_workflow_operation=start, result_type=PublishMessageResult
        )
        return result
    except WorkflowAlreadyStartedError:
        # The operation holds the same error for its handle: take it, or it is logged as
        # never retrieved.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await start.workflow_handle()
        handle = client.get_workflow_handle(workflow_id, result_type=PublicationOutcome)
        outcome: PublicationOutcome = await handle.result()
        return outcome.first


@router.post(
    "",
    response_model=PublishMessageResponse,
    summary="Publish a message by correlation key",
    responses=error_responses(403, 413, 422),
)
async def publish_message(
    body: PublishMessageRequest,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
) -> PublishMessageResponse:
    """Deliver the message to every case waiting for ``name`` with ``correlation_key``
    whose subscription admits the caller. None waits: delivered to none, or with a
    ``ttl``, kept until a case subscribes (``buffered_until``) and then delivered once.
    The same ``message_id`` again gets the first result. Variables the message's registered
    payload model does not admit are refused (422)."""
    forbid_auditor(principal, "publish messages")
    check_variables_size(body.variables)
    check_message(context.store.registry, body.name, body.variables, "variables")
    message_id = body.message_id or uuid.uuid4().hex
    starts = await asyncio.to_thread(
        message_starts, context.store, body.name, principal, context.settings.agency_orgs
    )
    request = PublishMessageInput(
        message_id=message_id,
        name=body.name,
        correlation_key=body.correlation_key,
        variables=body.variables,
        actor=principal.actor(),
        starts=starts,
        ttl=body.ttl,
        poll_initial_seconds=context.settings.message_poll_initial_seconds,
        poll_max_seconds=context.settings.message_poll_max_seconds,
    )
    workflow_id = publication_id(principal.subject, body.name, body.correlation_key, message_id)
    result = await with_retries(
        lambda: _publish(client, request, workflow_id, context.task_queue),
        attempts=context.settings.busy_retries,
    )
    return PublishMessageResponse.from_result(result)
