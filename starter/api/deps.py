"""Dependencies shared by the API's routers: the one Temporal client of the process, the
model and document stores, the settings and the authenticated caller.

Everything the app needs lives in one `ApiContext` on ``app.state``. Tests build the app
with their own client, stores, task queue and tokens; in production each part is created
from the settings when first needed, so the API starts even while Temporal is still
coming up (``niva dev`` starts both at once).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

import worker
from activities.document_store import DocumentStore, document_store_from_settings
from process_models.deployments import ModelStore
from process_models.store import FileBlobStore
from starter.api.auth import Authenticator, Principal, authenticator_from_settings, unauthorized
from starter.api.errors import ApiError
from starter.settings import (
    ApiSettings,
    DataSettings,
    ModelSettings,
    ServiceSettings,
    WorkerSettings,
)

__all__ = [
    "ApiContext",
    "ContextDep",
    "DocumentsDep",
    "PrincipalDep",
    "StoreDep",
    "TemporalClientDep",
    "TemporalConnection",
    "principal",
    "temporal_client",
]

log = structlog.get_logger("niva.api")


class TemporalConnection:
    """The process's single Temporal client, connected at start-up or on first need.

    Requests that need Temporal connect lazily, one at a time; a client handed in (tests)
    is used as it is.
    """

    def __init__(self, client: Client | None = None) -> None:
        self._client = client
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


class ApiContext:
    """What the routes work with; each part is created from the settings when first used.

    Args:
        settings: the API's settings.
        client: a connected Temporal client; default: `worker.connect` on first use.
        store: the model store; default: the data directory's.
        task_queue: where cases are started; default: `WorkerSettings.task_queue`.
        documents: the document store; default: from `ServiceSettings` and the data dir.
        authenticator: how tokens are checked; default: from the settings.
    """

    def __init__(
        self,
        settings: ApiSettings,
        *,
        client: Client | None = None,
        store: ModelStore | None = None,
        task_queue: str | None = None,
        documents: DocumentStore | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.settings = settings
        self.temporal = TemporalConnection(client)
        self._store = store
        self._task_queue = task_queue
        self._documents = documents
        self._authenticator = authenticator

    @property
    def store(self) -> ModelStore:
        """The model store the workers read."""
        if self._store is None:
            self._store = ModelStore(
                FileBlobStore(DataSettings().models_dir),
                limits=ModelSettings().deploy_limits(),
            )
        return self._store

    @property
    def task_queue(self) -> str:
        """The task queue cases are started on."""
        if self._task_queue is None:
            self._task_queue = WorkerSettings().task_queue
        return self._task_queue

    @property
    def documents(self) -> DocumentStore:
        """The document store the activities write to."""
        if self._documents is None:
            activity_settings = ServiceSettings().for_data_dir(DataSettings())
            self._documents = document_store_from_settings(activity_settings)
        return self._documents

    @property
    def authenticator(self) -> Authenticator:
        """How bearer tokens are checked."""
        if self._authenticator is None:
            try:
                self._authenticator = authenticator_from_settings(self.settings)
            except ValueError as exc:
                raise ApiError(503, "unavailable", str(exc)) from exc
        return self._authenticator


def _context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


ContextDep = Annotated[ApiContext, Depends(_context)]


async def temporal_client(context: ContextDep) -> Client:
    """The shared client, or 503 when Temporal cannot be reached."""
    return await context.temporal.get()


TemporalClientDep = Annotated[Client, Depends(temporal_client)]

_bearer = HTTPBearer(
    auto_error=False,
    description="A token of the tokens file (NIVA_API_TOKENS_FILE) or an OIDC access token.",
)


async def principal(
    context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller; 401 with ``WWW-Authenticate: Bearer`` otherwise."""
    if credentials is None or not credentials.credentials:
        raise unauthorized("send Authorization: Bearer <token>")
    return await context.authenticator.authenticate(credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(principal)]


def _store(context: ContextDep) -> ModelStore:
    return context.store


def _documents(context: ContextDep) -> DocumentStore:
    return context.documents


StoreDep = Annotated[ModelStore, Depends(_store)]
DocumentsDep = Annotated[DocumentStore, Depends(_documents)]
