"""Start a case at a message or signal start event, from the activity that delivers the
message or broadcasts the signal (`activities.publication`, `activities.signals`).

The business key makes the start idempotent: Temporal refuses a second running case with
its id, and the caller says what that refusal answers. A model that is gone, or a start
too large to take, is logged and skipped: the other cases still get the delivery.
"""

from __future__ import annotations

from typing import Literal

from pydantic import JsonValue
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from process_models.deployments import ModelStore
from process_models.errors import UnknownModelError
from starter.cases import StartTooLargeError, start_case
from workflows.candidates import Actor
from workflows.publication import MessageStart
from workflows.signals import SignalStart

__all__ = ["start_at_event"]


async def start_at_event(
    client: Client,
    store: ModelStore,
    start: MessageStart | SignalStart,
    *,
    kind: Literal["message", "signal"],
    name: str,
    business_key: str,
    variables: dict[str, JsonValue],
    actor: Actor,
    running: str | None,
) -> str | None:
    """Start a case at ``start`` on this activity's task queue, titled as started by the
    ``kind`` named ``name``; its id, ``running`` when a case with the business key runs
    already, or None when it cannot start."""
    try:
        handle = await start_case(
            client,
            store,
            process_id=start.process_id,
            version=start.version,
            business_key=business_key,
            title=f"started by {kind} {name}",
            task_queue=activity.info().task_queue,
            variables=variables,
            start_event=start.start_event,
            actor=actor,
        )
    except WorkflowAlreadyStartedError:
        return running
    except (UnknownModelError, StartTooLargeError) as exc:
        activity.logger.warning("%s start %s skipped: %s", kind, start.process_id, exc)
        return None
    return handle.id
