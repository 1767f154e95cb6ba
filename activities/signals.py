"""Broadcasting a signal (`workflows.signals`): deliver it to the waiting cases and start
cases at signal start events.

`SignalBroadcaster.broadcast` is one broadcast, run by the API's `SignalBroadcast`
workflow; `SignalBroadcaster.throw` is a case's signal throw or end event, which runs the
same broadcast as the case (`workflows.signals.case_broadcaster`). One look through
visibility for the running cases whose ``NivaSignalSubscriptions`` hold the signal's word,
then each case's ``receive_signal`` update (`activities.listed_cases`): a case that refuses
(the broadcaster is no candidate of any of its subscriptions, or it no longer waits) or
has ended is left out. Both are retried whole on failure: each case takes a broadcast id
once, and a case a broadcast starts has an id derived from it, so a retry neither delivers
nor starts twice.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from activities.event_starts import start_at_event
from activities.listed_cases import update_listed_cases
from process_models.deployments import ModelStore
from process_models.schema import Process
from process_models.start_events import start_events_by_name
from service_contract import ServiceCall
from starter.cases import instance_id
from workflows import search_attributes as sa
from workflows.signals import (
    BROADCAST_ACTIVITY,
    RECEIVE_SIGNAL_UPDATE,
    THROW_SIGNAL,
    BroadcastSignalInput,
    BroadcastSignalResult,
    ReceiveSignalInput,
    ReceiveSignalResult,
    SignalStart,
    ThrowSignalInputs,
    broadcast_id,
    case_broadcaster,
    signal_name,
    signal_start_business_key,
)

__all__ = ["SignalBroadcaster", "signal_starts", "waiting_cases_query"]


def waiting_cases_query(name: str) -> str:
    """The visibility query for the running cases that may wait for signal ``name``."""
    return sa.listed_query(sa.SIGNAL_SUBSCRIPTIONS, sa.signal_entry(name))


def signal_starts(store: ModelStore, name: str) -> list[tuple[SignalStart, Process]]:
    """The signal start events named ``name`` in the latest version of every deployed
    process, each with its process, so the caller can keep those its broadcaster may
    start."""
    starts: list[tuple[SignalStart, Process]] = []
    for model in store.latest():
        events, process = start_events_by_name(store, model, "signal", signal_name)
        if process is None:
            continue
        starts += [
            (
                SignalStart(process_id=model.process_id, version=model.version, start_event=e),
                process,
            )
            for e in events.get(name, [])
        ]
    return starts


class SignalBroadcaster:
    """Broadcasts signals through one Temporal client; starts cases of the models in
    ``store``."""

    def __init__(self, client: Client, store: ModelStore) -> None:
        self.client = client
        self.store = store

    @activity.defn(name=BROADCAST_ACTIVITY)
    async def broadcast(self, request: BroadcastSignalInput) -> BroadcastSignalResult:
        """Deliver to every running case listed as waiting and start cases; the ids."""
        update = ReceiveSignalInput(
            broadcast_id=request.broadcast_id,
            name=request.name,
            variables=request.variables,
            actor=request.actor,
        )
        delivered = await update_listed_cases(
            self.client,
            waiting_cases_query(request.name),
            RECEIVE_SIGNAL_UPDATE,
            update,
            ReceiveSignalResult,
            lambda result: bool(result.received_by),
        )
        starts = request.starts
        if starts is None:
            starts = [start for start, _ in signal_starts(self.store, request.name)]
        started = [await self._start(start, request) for start in starts]
        return BroadcastSignalResult(
            signal_id=request.signal_id,
            delivered_to=delivered,
            started=sorted(i for i in started if i),
        )

    @activity.defn(name=THROW_SIGNAL)
    async def throw(self, call: ServiceCall) -> None:
        """A case's signal throw: broadcast as the case, once per task (a retry of the
        activity or of its incident broadcasts with the same id)."""
        inputs = ThrowSignalInputs.model_validate(call.inputs)
        actor = case_broadcaster(call.case_id)
        result = await self.broadcast(
            BroadcastSignalInput(
                broadcast_id=broadcast_id(actor.subject, inputs.name, call.task_id),
                signal_id=f"{call.case_id}/{call.task_id}",
                name=inputs.name,
                variables=inputs.variables,
                actor=actor,
            )
        )
        activity.logger.info(
            "signal %s from %s reached %d case(s), started %d",
            inputs.name,
            call.case_id,
            len(result.delivered_to),
            len(result.started),
        )

    async def _start(self, start: SignalStart, request: BroadcastSignalInput) -> str | None:
        """Start a case at the signal start event; its id (also when a retry finds it
        started already), or None when it cannot start."""
        business_key = signal_start_business_key(request.broadcast_id, start.start_event)
        return await start_at_event(
            self.client,
            self.store,
            start,
            kind="signal",
            name=request.name,
            business_key=business_key,
            variables=request.variables,
            actor=request.actor,
            running=instance_id(start.process_id, business_key),  # started by an earlier try
        )
