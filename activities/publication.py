"""``deliver_published_message``: hand a message published by key to the cases waiting.

One look through Temporal's visibility for the running cases whose
``NivaMessageSubscriptions`` hold the message's word (or were cut short),
then each case's ``correlate_message`` update with the key, as the publisher. A case that
refuses (the publisher is no candidate of its subscription, or it no longer waits: the
listing lags behind the case) or has ended is left out and the publisher learns nothing of
it. The case keys the delivery by the publication's id, so a retried look delivers once.

On its first look it also starts a case at each message start event it names (the API
chose those its publisher may start), at most one running case per process and key.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from activities.event_starts import start_at_event
from activities.listed_cases import update_listed_cases
from process_models.deployments import ModelStore
from workflows import search_attributes as sa
from workflows.contract import CorrelateMessageInput, CorrelateMessageResult
from workflows.publication import (
    DELIVER_ACTIVITY,
    DeliverMessageInput,
    DeliverMessageResult,
    MessageStart,
    message_start_business_key,
)

__all__ = ["MessagePublisher", "waiting_cases_query"]


def waiting_cases_query(name: str, correlation_key: str) -> str:
    """The visibility query for the running cases that may wait for ``name`` with the key."""
    return sa.listed_query(sa.MESSAGE_SUBSCRIPTIONS, sa.subscription_entry(name, correlation_key))


class MessagePublisher:
    """Delivers published messages through one Temporal client; starts cases of the
    models in ``store``."""

    def __init__(self, client: Client, store: ModelStore) -> None:
        self.client = client
        self.store = store

    @activity.defn(name=DELIVER_ACTIVITY)
    async def deliver(self, request: DeliverMessageInput) -> DeliverMessageResult:
        """Deliver to every running case listed as waiting; the ids of those that took it."""
        update = CorrelateMessageInput(
            name=request.name,
            payload=request.variables,
            actor=request.actor,
            idempotency_key=request.publication_id,
            correlation_key=request.correlation_key,
        )
        received = await update_listed_cases(
            self.client,
            waiting_cases_query(request.name, request.correlation_key),
            "correlate_message",
            update,
            CorrelateMessageResult,
            lambda result: bool(result.received_by),
        )
        started = [await self._start(start, request) for start in request.starts]
        return DeliverMessageResult(delivered_to=sorted(i for i in [*received, *started] if i))

    async def _start(self, start: MessageStart, request: DeliverMessageInput) -> str | None:
        """Start a case at the message start event; None when one with the key runs."""
        return await start_at_event(
            self.client,
            self.store,
            start,
            kind="message",
            name=request.name,
            business_key=message_start_business_key(request.correlation_key),
            variables=request.variables,
            actor=request.actor,
            running=None,  # at most one running case per key
        )
