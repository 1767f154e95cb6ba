"""Ask every case a visibility query lists to take an update: how published messages and
broadcast signals reach the cases waiting for them.

Visibility lags a little behind the cases, so a listed case may no longer wait (its
validator refuses the update) or may have ended (Temporal answers not found): either is
left out, and the sender learns nothing of it. A case that refuses because the sender is
no candidate of its subscription is left out the same way, so a sender learns nothing of
the cases that do not admit it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

__all__ = ["CONCURRENT_UPDATES", "update_listed_cases"]

CONCURRENT_UPDATES = 8
"""Cases asked at once: a message or signal for many cases must not crowd the frontend."""

R = TypeVar("R", bound=BaseModel)


async def update_listed_cases(
    client: Client,
    query: str,
    update: str,
    request: BaseModel,
    result_type: type[R],
    took: Callable[[R], bool],
) -> list[str]:
    """Send ``update`` with ``request`` to every case ``query`` lists; the ids of the cases
    whose result ``took`` accepts, sorted."""
    ids = [execution.id async for execution in client.list_workflows(query)]
    limit = asyncio.Semaphore(CONCURRENT_UPDATES)

    async def one(instance_id: str) -> str | None:
        async with limit:
            try:
                result = await client.get_workflow_handle(instance_id).execute_update(
                    update, request, result_type=result_type
                )
            except WorkflowUpdateFailedError:
                return None  # refused by the case's validator: not for this sender, or not now
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return None  # the case ended after it was listed
                raise
            return instance_id if took(result) else None

    received = await asyncio.gather(*(one(i) for i in dict.fromkeys(ids)))
    return sorted(i for i in received if i)
