"""How many activities a case ran at once, read from its history: what the tests of
``max_in_flight`` assert."""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowHandle

__all__ = ["activities_in_flight"]

_ENDED = (
    "activity_task_completed_event_attributes",
    "activity_task_failed_event_attributes",
    "activity_task_timed_out_event_attributes",
    "activity_task_canceled_event_attributes",
)


async def activities_in_flight(handle: WorkflowHandle[Any, Any]) -> tuple[int, int]:
    """The activities the case scheduled, and the most of them pending at one time."""
    pending = most = scheduled = 0
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            pending += 1
            scheduled += 1
            most = max(most, pending)
        elif any(event.HasField(ended) for ended in _ENDED):
            pending -= 1
    return scheduled, most
