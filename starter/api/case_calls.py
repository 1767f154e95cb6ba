"""Calls from the API to a running (or ended) case: its queries and its updates.

Every call carries a timeout (a case whose worker is down must not hang a request) and is
retried briefly while Temporal answers resource-exhausted (`errors.with_retries`).
Queries work on ended cases too: Temporal replays their history on a worker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import Client

from starter.api.errors import with_retries
from starter.settings import ApiSettings
from workflows.contract import InstanceView, OpenTask
from workflows.state import InstanceState

__all__ = ["CaseCalls"]

_R = TypeVar("_R", bound=BaseModel)


class CaseCalls:
    """Queries and updates of one case, with the API's timeouts and retries.

    Args:
        client: the Temporal client.
        instance_id: the case's workflow id.
        settings: the timeouts and the number of retries.
    """

    def __init__(self, client: Client, instance_id: str, settings: ApiSettings) -> None:
        self.instance_id = instance_id
        self.handle = client.get_workflow_handle(instance_id)
        self._query_timeout = timedelta(seconds=settings.query_timeout_seconds)
        self._update_timeout = timedelta(seconds=settings.update_timeout_seconds)
        self._retries = settings.busy_retries

    async def state(self) -> InstanceView:
        """The ``state`` query: status, variables, open tasks, tokens, incidents."""
        return await with_retries(
            lambda: self.handle.query(
                "state", result_type=InstanceView, rpc_timeout=self._query_timeout
            ),
            attempts=self._retries,
        )

    async def open_tasks(self) -> list[OpenTask]:
        """The ``open_tasks`` query."""
        return await with_retries(
            lambda: self.handle.query(
                "open_tasks", result_type=list[OpenTask], rpc_timeout=self._query_timeout
            ),
            attempts=self._retries,
        )

    async def internal_state(self) -> InstanceState:
        """The ``instance_state`` query: completed tasks and message subscriptions."""
        return await with_retries(
            lambda: self.handle.query(
                "instance_state", result_type=InstanceState, rpc_timeout=self._query_timeout
            ),
            attempts=self._retries,
        )

    async def update(
        self, name: str, request: BaseModel, result_type: type[_R], *, update_id: str | None = None
    ) -> _R:
        """Send update ``name`` and wait for its result.

        Args:
            update_id: the update's id; equal ids are deduplicated by Temporal, so a
                repeated request neither runs twice nor spends the case's update budget.
        """
        extra: dict[str, Any] = {"id": update_id} if update_id else {}
        return await with_retries(
            lambda: self.handle.execute_update(
                name,
                request,
                result_type=result_type,
                rpc_timeout=self._update_timeout,
                **extra,
            ),
            attempts=self._retries,
        )
