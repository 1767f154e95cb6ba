"""A message published by correlation key (``POST /messages``), kept as one workflow.

A publication is delivered to every case waiting for its name with its correlation key:
the cases are found through ``NivaMessageSubscriptions``
(`search_attributes.subscription_entry`), and each receives it through its own
``correlate_message`` update, as the publisher (so each case checks the sender against the
candidates of its subscription, and a case that refuses tells the publisher nothing).
Delivery is an activity (`DELIVER_ACTIVITY`, `activities.publication`): it speaks to
Temporal's visibility and to other cases, which workflow code cannot.

Why a workflow: its id (`publication_id`) makes publishing idempotent (a repeat is answered
with the first result, for as long as Temporal keeps closed workflows), and a message with
a ``ttl`` that reached no case waits in it, durably, until a case subscribes or the ttl
runs out. Visibility is eventually consistent, so a waiting publication looks again on a
backoff (`PublishMessageInput.poll_initial_seconds` doubling up to ``poll_max_seconds``)
rather than trusting one look: a subscription opened a moment before the publication is
found on a later look, and a subscription listed after it closed is refused by its case.
Once delivered (to every case found then), it ends: it is delivered once.

A message whose name is that of a message start event of a deployed process (its latest
version) that the publisher may start also starts a case there, at most one running case
per process and key: the case's business key is derived from the key
(`message_start_business_key`), so a second start while it runs is refused by Temporal.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, JsonValue
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from process_models.timers import IsoDuration, add_duration
    from workflows.candidates import Actor

__all__ = [
    "DELIVER_ACTIVITY",
    "FIRST_RESULT_UPDATE",
    "PUBLICATION_WORKFLOW",
    "DeliverMessageInput",
    "DeliverMessageResult",
    "MessagePublication",
    "MessageStart",
    "PublicationOutcome",
    "PublishMessageInput",
    "PublishMessageResult",
    "message_start_business_key",
    "publication_id",
]

PUBLICATION_WORKFLOW = "niva.MessagePublication"
"""The workflow type of a publication."""
DELIVER_ACTIVITY = "deliver_published_message"
"""The activity that finds the waiting cases and delivers to them."""
FIRST_RESULT_UPDATE = "first_result"
"""The update that answers the publisher (the first round's result)."""

_UTC = ZoneInfo("UTC")


def publication_id(subject: str, name: str, correlation_key: str, message_id: str) -> str:
    """The workflow id of a publication: one per publisher, name, key and message id.

    The publisher is part of it, so one principal's ``message_id`` never answers another
    with the first one's result (nor keeps theirs from being delivered).
    """
    text = "\x1f".join((subject, name, correlation_key, message_id))
    return "niva-message:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def message_start_business_key(correlation_key: str) -> str:
    """The business key of a case a message started: ``key-`` and 24 hex digits of the
    key's SHA-256 (a key is often personal; ids are shown everywhere)."""
    return "key-" + hashlib.sha256(correlation_key.encode()).hexdigest()[:24]


class MessageStart(BaseModel):
    """A message start event the message starts a case at (its publisher may start it)."""

    process_id: str
    version: int
    start_event: str


class PublishMessageInput(BaseModel):
    """A message to publish by correlation key (``POST /messages``)."""

    message_id: str
    name: str
    correlation_key: str
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    actor: Actor
    starts: list[MessageStart] = Field(
        default_factory=list, description="Where the message starts a case (first look)."
    )
    ttl: str | None = Field(
        default=None, description="ISO 8601 duration: how long it waits for a subscription."
    )
    poll_initial_seconds: float = Field(
        default=1.0, gt=0, description="The first wait before looking again (buffered)."
    )
    poll_max_seconds: float = Field(
        default=60.0, gt=0, description="The longest wait between looks (buffered)."
    )
    continue_after_events: int = Field(
        default=2_000,
        ge=100,
        description="A buffered message continues as new once its history is this long "
        "(also whenever Temporal suggests it): a long ttl is many looks.",
    )
    carried: PublicationOutcome | None = Field(
        default=None, description="The outcome so far, when continuing as new."
    )


class PublishMessageResult(BaseModel):
    """The answer to the publisher: which cases received it; until when it waits."""

    message_id: str
    delivered_to: list[str] = Field(description="Instance ids of the cases that received it.")
    buffered_until: datetime | None = Field(
        default=None, description="Set when no case waited and the message has a ttl."
    )


class PublicationOutcome(BaseModel):
    """A publication's end: the first answer, and what happened to a buffered message."""

    first: PublishMessageResult
    delivered_later: list[str] = Field(
        default_factory=list, description="The cases a buffered message reached."
    )
    expired: bool = False
    poll_seconds: float | None = Field(
        default=None, description="The next wait between looks (carried across runs)."
    )


PublishMessageInput.model_rebuild()


class DeliverMessageInput(BaseModel):
    """One look for the waiting cases, and delivery to each."""

    publication_id: str
    name: str
    correlation_key: str
    variables: dict[str, JsonValue]
    actor: Actor
    starts: list[MessageStart] = Field(default_factory=list)


class DeliverMessageResult(BaseModel):
    """The cases that received the message in this look (sorted)."""

    delivered_to: list[str]


@workflow.defn(name=PUBLICATION_WORKFLOW)
class MessagePublication:
    """Delivers one published message; with a ttl, waits for a case to subscribe."""

    @workflow.init
    def __init__(self, request: PublishMessageInput) -> None:
        self._outcome: PublicationOutcome | None = request.carried

    @workflow.run
    async def run(self, request: PublishMessageInput) -> PublicationOutcome:
        """Deliver now; if no case waits and the message has a ttl, look again on a
        backoff until one receives it or the ttl runs out."""
        if self._outcome is None:
            delivered = await self._deliver(request, starts=request.starts)
            until = None
            if not delivered and request.ttl:
                until = add_duration(workflow.now(), IsoDuration.parse(request.ttl), _UTC)
            first = PublishMessageResult(
                message_id=request.message_id, delivered_to=delivered, buffered_until=until
            )
            self._outcome = PublicationOutcome(
                first=first, poll_seconds=request.poll_initial_seconds
            )
        outcome = self._outcome
        until = outcome.first.buffered_until
        while until is not None and not outcome.delivered_later and not outcome.expired:
            remaining = (until - workflow.now()).total_seconds()
            if remaining <= 0:
                outcome.expired = True
                break
            wait = min(outcome.poll_seconds or request.poll_initial_seconds, remaining)
            await workflow.sleep(timedelta(seconds=wait), summary="look for subscriptions")
            outcome.delivered_later = await self._deliver(request)
            outcome.poll_seconds = min(wait * 2, request.poll_max_seconds)
            if not outcome.delivered_later and self._long(request):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(request.model_copy(update={"carried": outcome}))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    @staticmethod
    def _long(request: PublishMessageInput) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= request.continue_after_events
        )

    async def _deliver(
        self, request: PublishMessageInput, *, starts: list[MessageStart] | None = None
    ) -> list[str]:
        result: DeliverMessageResult = await workflow.execute_activity(
            DELIVER_ACTIVITY,
            DeliverMessageInput(
                publication_id=workflow.info().workflow_id,
                name=request.name,
                correlation_key=request.correlation_key,
                variables=request.variables,
                actor=request.actor,
                starts=starts or [],
            ),
            result_type=DeliverMessageResult,
            start_to_close_timeout=timedelta(minutes=2),
            # Delivery is idempotent (each case keys it by the publication's id), so a
            # failed look is simply tried again.
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            summary=f"deliver {request.name}",
        )
        return result.delivered_to

    @workflow.update(name=FIRST_RESULT_UPDATE)
    async def first_result(self) -> PublishMessageResult:
        """The answer to the publisher, once the first look has delivered (or not)."""
        await workflow.wait_condition(lambda: self._outcome is not None)
        assert self._outcome is not None
        return self._outcome.first
