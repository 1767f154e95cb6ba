"""The back-office HTTP API: a FastAPI app with one router per resource.

``app`` is what uvicorn serves (``niva api``); `create_app` builds another one, with the
Temporal client, stores, task queue and tokens of the caller's choosing (tests).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from activities.document_store import DocumentStore
from process_models.deployments import ModelStore
from starter.api.auth import Authenticator, Principal, StaticTokens, TokenEntry
from starter.api.deps import ApiContext
from starter.api.errors import install_error_handlers
from starter.api.limits import RequestLimitsMiddleware
from starter.api.routes import (
    audit,
    diagrams,
    documents,
    health,
    incidents,
    instances,
    messages,
    migrations,
    publications,
    reports,
    signals,
    tasks,
)
from starter.api.routes import process_models as process_model_routes
from starter.logs import configure_logging
from starter.settings import ApiSettings
from starter.telemetry import (
    LoggedAuthenticator,
    RequestContextMiddleware,
    Tracing,
    configure_tracing,
    instrument_app,
)

__all__ = ["app", "create_app"]

_MULTIPART_OVERHEAD = 64 * 1024
"""Room for multipart framing above the largest upload."""

_TAGS = [
    {"name": "health", "description": "Is the API up, and can it reach Temporal?"},
    {"name": "process models", "description": "Deploy BPMN models; read deployed versions."},
    {"name": "instances", "description": "Start, list, read and cancel cases."},
    {
        "name": "tasks",
        "description": "Open user tasks: find them, read their forms, complete them.",
    },
    {"name": "messages", "description": "Messages to running cases."},
    {"name": "incidents", "description": "Resume tokens parked by a failure."},
    {
        "name": "migrations",
        "description": "Move running cases to another version; repair a case.",
    },
    {"name": "documents", "description": "Attachments and rendered documents of a case."},
    {"name": "reports", "description": "Public reports (no token needed): the yearly follow-up."},
]


class _ObservedContext(ApiContext):
    """The API's context, with the authenticated principal bound to the request's logs."""

    _logged: LoggedAuthenticator | None = None

    @property
    def authenticator(self) -> Authenticator:
        """How bearer tokens are checked; each success binds the principal to the logs."""
        inner = super().authenticator
        if self._logged is None or self._logged.inner is not inner:
            self._logged = LoggedAuthenticator(inner)
        return self._logged


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    context: ApiContext = app.state.context
    # Connect at start-up when Temporal is already there; otherwise the first request
    # that needs it connects (niva dev starts the API and the server together).
    with contextlib.suppress(ConnectionError):
        await context.temporal.get()
    yield


def create_app(
    settings: ApiSettings | None = None,
    *,
    client: Client | None = None,
    store: ModelStore | None = None,
    task_queue: str | None = None,
    document_store: DocumentStore | None = None,
    tokens: Mapping[str, TokenEntry | Principal] | None = None,
    authenticator: Authenticator | None = None,
    tracing: Tracing | None = None,
) -> FastAPI:
    """Build the app; each dependency not given is created from the settings when needed.

    Args:
        settings: the API's settings; default: from the environment.
        client: a connected Temporal client.
        store: the model store.
        task_queue: the task queue cases are started on.
        document_store: the document store.
        tokens: bearer tokens and their principals (instead of the tokens file).
        authenticator: how tokens are checked (instead of ``tokens`` or the settings).
        tracing: where request spans go; default: as the ``OTEL_*`` variables say
            (`starter.telemetry.configure_tracing`), off when they say nothing.
    """
    configure_logging()
    settings = settings or ApiSettings()
    if authenticator is None and tokens is not None:
        authenticator = StaticTokens(tokens)
    app = FastAPI(
        title="niva",
        summary="Start and drive BPMN process instances on Temporal.",
        description="Every error answers with the JSON body `ErrorBody` "
        "(`{error, detail, fields?}`). Authenticate with `Authorization: Bearer <token>`.",
        version="0.1.0",
        lifespan=_lifespan,
        openapi_tags=_TAGS,
        max_body_size=settings.max_upload_bytes + _MULTIPART_OVERHEAD,
    )
    app.state.context = _ObservedContext(
        settings,
        client=client,
        store=store,
        task_queue=task_queue,
        documents=document_store,
        authenticator=authenticator,
    )
    install_error_handlers(app)
    for router in (
        health.router,
        process_model_routes.router,
        instances.router,
        tasks.router,
        messages.router,
        publications.router,
        signals.router,
        incidents.router,
        migrations.router,
        documents.router,
    ):
        app.include_router(router)
    app.include_router(audit.router)
    app.include_router(reports.router)
    app.include_router(diagrams.router)
    app.add_middleware(
        RequestLimitsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
    )
    app.add_middleware(RequestContextMiddleware)
    instrument_app(app, tracing if tracing is not None else configure_tracing())
    return app


app = create_app()
