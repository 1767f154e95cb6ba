"""Activities that record instead of sending: niva's service-task types for a simulation.

Each checks its inputs as the real activity does (`activities.inputs.parse_inputs`: a
mapping that does not fit becomes an incident, as it would in production; ``send_message``
also checks the payload against the message's registered model,
`activities.messages.check_payload`), records what it
would have sent, rendered or written, and returns a result of the real activity's shape, so
the case goes on as it would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.documents import RenderDocumentInput, RenderDocumentResult, StoredDocument
from activities.inputs import parse_inputs
from activities.messages import SendMessageInput, check_payload
from activities.notifications import NotifyInput, NotifyResult
from activities.statistics import RecordFollowUpInput, RecordFollowUpResult
from process_models.registry import Registry, default_registry
from service_contract import (
    NOTIFY,
    RECORD_FOLLOW_UP,
    RENDER_DOCUMENT,
    SEND_MESSAGE,
    ServiceCall,
    idempotency_key,
)
from starter.simulation.calendar import CalendarEvent, EventKind
from workflows.contract import CorrelateMessageResult
from workflows.signals import THROW_SIGNAL, ThrowSignalInputs

__all__ = ["Recorder"]


class Recorder:
    """The recording activities of one simulation and what they recorded.

    Only calls of the simulated case are kept: its child cases run on the same worker, but
    the calendar is the case's own.
    """

    def __init__(self, case_id: str, registry: Registry | None = None) -> None:
        self.case_id = case_id
        self.registry = registry or default_registry
        self.events: list[CalendarEvent] = []

    @property
    def activities(self) -> list[Callable[..., Any]]:
        """The activities to register with the simulation's worker."""
        return [
            self.notify,
            self.render_document,
            self.record_follow_up,
            self.send_message,
            self.throw_signal,
        ]

    def _record(self, call: ServiceCall, kind: EventKind, detail: str) -> None:
        if call.case_id == self.case_id:
            self.events.append(
                CalendarEvent(
                    at=call.now,
                    kind=kind,
                    element_id=call.element_id,
                    task_id=call.task_id,
                    detail=detail,
                )
            )

    @activity.defn(name=NOTIFY)
    async def notify(self, call: ServiceCall) -> NotifyResult:
        """Record the notification that would be sent."""
        request = parse_inputs(call, NotifyInput)
        to = [f"{org} ({request.role})" for org in request.organisations] + request.addresses
        self._record(call, "notification", f"{request.template} to {', '.join(to)}")
        message_id = f"<{hashlib.sha256(idempotency_key(call).encode()).hexdigest()[:32]}@niva>"
        return NotifyResult(message_ids=[message_id], recipients=to, sent=[], skipped=[])

    @activity.defn(name=RENDER_DOCUMENT)
    async def render_document(self, call: ServiceCall) -> RenderDocumentResult:
        """Record the document that would be rendered and stored."""
        request = parse_inputs(call, RenderDocumentInput)
        self._record(call, "document", f"{request.title} ({request.template})")
        digest = hashlib.sha256(idempotency_key(call).encode()).hexdigest()
        return RenderDocumentResult(
            documents=[
                StoredDocument(
                    id=digest,
                    media_type="text/html; charset=utf-8",
                    size=0,
                    sha256=digest,
                    name=f"{request.name or request.template}.html",
                )
            ]
        )

    @activity.defn(name=RECORD_FOLLOW_UP)
    async def record_follow_up(self, call: ServiceCall) -> RecordFollowUpResult:
        """Record the follow-up that would be written to the statistics store."""
        request = parse_inputs(call, RecordFollowUpInput)
        year = request.follow_up.year
        self._record(call, "service", f"record_follow_up {request.holder} {year}")
        return RecordFollowUpResult(permit_case_id=call.case_id, year=year)

    @activity.defn(name=SEND_MESSAGE)
    async def send_message(self, call: ServiceCall) -> CorrelateMessageResult:
        """Record the message that would be sent to another case."""
        request = parse_inputs(call, SendMessageInput)
        check_payload(self.registry, call, request)
        self._record(call, "case_message", f"{request.message} to {request.instance_id}")
        return CorrelateMessageResult(name=request.message, received_by=[], buffered=False)

    @activity.defn(name=THROW_SIGNAL)
    async def throw_signal(self, call: ServiceCall) -> None:
        """Record the signal the case would broadcast (it reaches no other case here)."""
        inputs = ThrowSignalInputs.model_validate(call.inputs)
        self._record(call, "signal", f"broadcast {inputs.name}")
