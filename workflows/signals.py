"""BPMN signals: one broadcast reaches every case of the namespace waiting for the signal.

A signal is broadcast by name, from outside (``POST /signals/{name}``) or by a case (a
signal intermediate throw or end event). It reaches every running case that waits for it
at a catch, boundary or event-subprocess start event: those are found through the
``NivaSignalSubscriptions`` search attribute (`search_attributes.signal_entry`), and each
takes it through its own `RECEIVE_SIGNAL_UPDATE`, as the broadcaster, so each case checks
the broadcaster against the candidates of its subscriptions (``niva:subscription``; none
given: `DEFAULT_BROADCASTERS`), and a case that refuses tells the broadcaster nothing. A
signal start event of the latest version of a deployed process starts a case there, when
the broadcaster may start that process.

Who broadcasts: a person or service as the principal the API authenticated; a case as
`case_broadcaster`, the principal ``case:<workflow id>`` with the role ``operator`` and
no organisation. So a case's signal reaches the subscriptions that name no candidates, and
those whose candidate groups include ``operator`` without naming organisations, and it
starts cases of every process with a signal start of that name, as an operator may.

Signals are not buffered: a case that starts waiting after the broadcast is not reached,
and since visibility lags a little behind the cases, one that began waiting a moment
before it may be missed too. Delivery is at-least-once (the broadcast is a Temporal
activity that a crash retries) and each case takes a broadcast once: it keeps the
broadcast ids it took (`TAKEN_SIGNALS_KEPT` of them), and a case a retried broadcast
starts has a business key derived from the broadcast id (`signal_start_business_key`).
A broadcast from the API runs in the workflow `SignalBroadcast`, whose id is the broadcast
id: the same ``signal_id`` from the same principal again is answered with the first result.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from pydantic import BaseModel, Field, JsonValue
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from process_models.schema import Definitions, FlowNode
    from workflows.candidates import Actor

__all__ = [
    "BROADCAST_ACTIVITY",
    "BROADCAST_WORKFLOW",
    "DEFAULT_BROADCASTERS",
    "RECEIVE_SIGNAL_UPDATE",
    "TAKEN_SIGNALS_KEPT",
    "THROW_SIGNAL",
    "BroadcastSignalInput",
    "BroadcastSignalResult",
    "ReceiveSignalInput",
    "ReceiveSignalResult",
    "SignalBroadcast",
    "SignalStart",
    "ThrowSignalInputs",
    "broadcast_id",
    "case_broadcaster",
    "signal_name",
    "signal_start_business_key",
]

BROADCAST_WORKFLOW = "niva.SignalBroadcast"
"""The workflow type of a broadcast from the API."""
BROADCAST_ACTIVITY = "niva.broadcast_signal"
"""The activity that finds the waiting cases, delivers to them and starts cases."""
THROW_SIGNAL = "niva.throw_signal"
"""The activity a case's signal throw or end event runs (its `ThrowSignalInputs`)."""
RECEIVE_SIGNAL_UPDATE = "receive_signal"
"""The update by which a case takes a broadcast."""
DEFAULT_BROADCASTERS = ["operator"]
"""The candidate groups of a signal subscription that names none."""
TAKEN_SIGNALS_KEPT = 100
"""How many broadcast ids a case keeps to take each broadcast once: a broadcast is retried
within minutes (and repeated through the API within Temporal's retention, which the
broadcast's workflow id answers), so the latest hundred are plenty."""


def signal_name(definitions: Definitions, node: FlowNode) -> str | None:
    """The name of the signal an event throws or waits for, or None (no signal, or a
    ``signalRef`` that names no ``bpmn:signal`` with a name; validation reports those)."""
    for definition in node.event_definitions:
        if definition.kind == "signal":
            signal = definitions.signal(definition.attributes.get("signalRef"))
            return signal.name if signal is not None and signal.name else None
    return None


def broadcast_id(subject: str, name: str, signal_id: str) -> str:
    """The id of one broadcast: one per broadcaster, name and ``signal_id``.

    The broadcaster is part of it, so one principal's ``signal_id`` never answers another
    with the first one's result, nor keeps theirs from being taken."""
    text = "\x1f".join((subject, name, signal_id))
    return "niva-signal:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def case_broadcaster(case_id: str) -> Actor:
    """The principal a case broadcasts its signals as (see the module docstring)."""
    return Actor(subject=f"case:{case_id}", org=None, roles=["operator"])


def signal_start_business_key(broadcast: str, start_event: str) -> str:
    """The business key of a case a broadcast started at ``start_event``: ``signal-`` and
    24 hex digits, the same for every retry of the broadcast."""
    digest = hashlib.sha256(f"{broadcast}\x1f{start_event}".encode()).hexdigest()
    return "signal-" + digest[:24]


class SignalStart(BaseModel):
    """A signal start event the broadcast starts a case at."""

    process_id: str
    version: int
    start_event: str


class BroadcastSignalInput(BaseModel):
    """One broadcast: deliver to the waiting cases, start cases at signal start events."""

    broadcast_id: str = Field(description="`broadcast_id`: each case takes it once.")
    signal_id: str = Field(description="The broadcaster's id of it (answered back).")
    name: str
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    actor: Actor
    starts: list[SignalStart] | None = Field(
        default=None,
        description="Where it starts cases (the API chose those its caller may start); "
        "None: at every signal start of the name (a case's throw, as an operator).",
    )


class BroadcastSignalResult(BaseModel):
    """Which cases took the broadcast, and which it started (instance ids, sorted)."""

    signal_id: str
    delivered_to: list[str]
    started: list[str]


class ReceiveSignalInput(BaseModel):
    """A broadcast for the signal subscriptions of a case."""

    broadcast_id: str
    name: str
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    actor: Actor


class ReceiveSignalResult(BaseModel):
    """The elements that took the signal; ``duplicate`` when the case took it before."""

    name: str
    received_by: list[str]
    duplicate: bool = False


class ThrowSignalInputs(BaseModel):
    """The inputs of `THROW_SIGNAL`: the signal, and the variables it carries (the throw
    event's input mappings, as in Zeebe)."""

    name: str
    variables: dict[str, JsonValue] = Field(default_factory=dict)


@workflow.defn(name=BROADCAST_WORKFLOW)
class SignalBroadcast:
    """Runs one broadcast from the API to its end, whatever happens to the API meanwhile."""

    @workflow.run
    async def run(self, request: BroadcastSignalInput) -> BroadcastSignalResult:
        """Deliver the signal and start cases; the ids of both."""
        result: BroadcastSignalResult = await workflow.execute_activity(
            BROADCAST_ACTIVITY,
            request,
            result_type=BroadcastSignalResult,
            start_to_close_timeout=timedelta(minutes=5),
            # Each case takes a broadcast once and the cases it starts have ids derived
            # from it, so a broadcast that failed half-way is simply run again.
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            summary=f"broadcast {request.name}",
        )
        return result
