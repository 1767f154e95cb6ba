"""The back-office HTTP API: a FastAPI app with one router per resource."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from starter.api.deps import TemporalConnection
from starter.api.routes import health
from starter.logs import configure_logging

__all__ = ["app", "create_app"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.temporal = TemporalConnection()
    yield


def create_app() -> FastAPI:
    """Build the app; the Temporal client is created once, when first needed."""
    configure_logging()
    app = FastAPI(
        title="niva",
        summary="Start and drive BPMN process instances on Temporal.",
        version="0.1.0",
        lifespan=_lifespan,
    )
    app.include_router(health.router)
    return app


app = create_app()
