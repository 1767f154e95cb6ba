"""Dependencies shared by the API's routers: the one Temporal client of the process."""

from __future__ import annotations

import asyncio
from typing import Annotated

import structlog
from fastapi import Depends, HTTPException, Request, status
from temporalio.client import Client

import worker

__all__ = ["TemporalClientDep", "TemporalConnection", "temporal_client"]

log = structlog.get_logger("niva.api")


class TemporalConnection:
    """The process's single Temporal client, connected at start-up or on first need.

    The API starts even while Temporal is still coming up (``niva dev`` starts both at
    once); requests that need Temporal connect lazily, one at a time.
    """

    def __init__(self) -> None:
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Client:
        """The connected client; raises `ConnectionError` when Temporal is unreachable."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await worker.connect()
                except Exception as exc:
                    raise ConnectionError(f"Temporal is unreachable: {exc}") from exc
            return self._client


async def temporal_client(request: Request) -> Client:
    """The shared client, or 503 when Temporal cannot be reached."""
    connection: TemporalConnection = request.app.state.temporal
    try:
        return await connection.get()
    except ConnectionError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from exc


TemporalClientDep = Annotated[Client, Depends(temporal_client)]
