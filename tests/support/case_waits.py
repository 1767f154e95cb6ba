"""Waiting on a running case in tests: a condition, its state once a check holds, its
first incident, its result; and an incident retried, or the case cancelled, as an operator
does it.

Service activities and job workers run on their own time, so a test polls the case's
internal state rather than racing them with a sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import WorkflowHandle

from tests.workflows.harness import OFFICER, Cases
from workflows.contract import (
    CancelInput,
    IncidentView,
    InstanceResult,
    InstanceView,
    RetryIncidentInput,
)
from workflows.state import InstanceState

__all__ = ["cancel", "ended", "incident", "retry", "until", "until_state"]


async def until(predicate: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Return once ``predicate()`` holds; fail the test after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)


async def until_state(
    cases: Cases,
    handle: WorkflowHandle[Any, Any],
    check: Callable[[InstanceState], Any],
    within: float = 30.0,
) -> InstanceState:
    """The case's state once ``check(state)`` holds; fails the test after ``within``
    seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        state = await cases.internal(handle)
        if check(state):
            return state
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached in time; state: {state}")
        await asyncio.sleep(0.1)


async def incident(handle: WorkflowHandle[Any, Any], within: float = 20.0) -> IncidentView:
    """The case's first incident, once it has one (the case answers queries throughout)."""
    found: list[IncidentView] = []

    async def has_incident() -> bool:
        found[:] = (await Cases.view(handle)).incidents
        return bool(found)

    await until(has_incident, within)
    return found[0]


async def ended(handle: WorkflowHandle[Any, InstanceResult]) -> InstanceResult:
    """The case's result; a case that strands fails the test instead of hanging it."""
    return await asyncio.wait_for(handle.result(), timeout=30)


async def retry(
    handle: WorkflowHandle[Any, Any], incident_id: str, **variables: Any
) -> IncidentView:
    """Retry an incident as ``OFFICER``, with ``variables`` set first."""
    result: IncidentView = await handle.execute_update(
        "retry_incident",
        RetryIncidentInput(incident_id=incident_id, variables=variables, actor=OFFICER),
        result_type=IncidentView,
    )
    return result


async def cancel(
    handle: WorkflowHandle[Any, Any], reason: str = "cancelled by the test"
) -> InstanceView:
    """Cancel the case as ``OFFICER`` and wait for it to end; its view when cancelled."""
    view: InstanceView = await handle.execute_update(
        "cancel", CancelInput(reason=reason, actor=OFFICER), result_type=InstanceView
    )
    await handle.result()
    return view
