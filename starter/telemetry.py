"""Traces, metrics and log context: how a request is followed from the API to an activity.

- **Traces** (OpenTelemetry): `configure_tracing` builds the tracer provider and the
  Temporal interceptor that carries the trace through workflow starts, updates, workflow
  tasks and activities; `instrument_app` adds the FastAPI server spans. Off unless the
  standard ``OTEL_*`` variables ask for an exporter (``OTEL_TRACES_EXPORTER=otlp`` or
  ``console``, or an ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``); the OTLP/HTTP exporter
  then reads its endpoint, headers and timeouts from the same variables.
- **Metrics**: `metrics_runtime` gives a Temporal `Runtime` that serves the SDK's metrics
  (workflow and activity task latencies, poll counts, sticky cache) on a Prometheus
  endpoint; the worker uses it when ``NIVA_WORKER_METRICS_PORT`` is set.
- **Log context** (structlog): `StructlogActivityInterceptor` binds workflow id, run id,
  activity type and task id (niva's activity id *is* the task id) around every activity;
  `RequestContextMiddleware` binds a request id around every API request, and
  `LoggedAuthenticator` adds the principal once the request is authenticated. Workflow
  code logs only through ``workflow.logger``, which stays silent on replay.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio import activity
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from starter.api.auth import Authenticator, Principal

__all__ = [
    "LoggedAuthenticator",
    "RequestContextMiddleware",
    "StructlogActivityInterceptor",
    "Tracing",
    "configure_tracing",
    "instrument_app",
    "metrics_runtime",
    "tracing_enabled",
]

DEFAULT_SERVICE_NAME = "niva"
REQUEST_ID_HEADER = "x-request-id"

log = structlog.get_logger("niva.api")


# --- traces -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tracing:
    """The tracing set-up of one process.

    Attributes:
        provider: the tracer provider spans go to; ``None`` when tracing is off.
        interceptors: what the Temporal client gets (a worker built on that client uses
            them too); empty when tracing is off.
    """

    provider: TracerProvider | None = None
    interceptors: Sequence[TracingInterceptor] = field(default_factory=tuple)

    @property
    def enabled(self) -> bool:
        """True when spans are recorded and exported."""
        return self.provider is not None


_process_tracing: Tracing | None = None


def tracing_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether the standard ``OTEL_*`` variables ask for traces to be exported."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(env)
    if exporters:
        return exporters != ["none"]
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _exporter_names(env: Mapping[str, str]) -> list[str]:
    raw = env.get("OTEL_TRACES_EXPORTER", "")
    return [name.strip().lower() for name in raw.split(",") if name.strip()]


def _exporters(env: Mapping[str, str]) -> list[SpanExporter]:
    names = _exporter_names(env) or ["otlp"]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            # Imported only when asked for: it pulls in protobuf and requests.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name != "none":
            raise ValueError(
                f"OTEL_TRACES_EXPORTER names {name!r}, which niva does not ship; "
                "use 'otlp' (OTLP over HTTP), 'console' or 'none'"
            )
    return exporters


def configure_tracing(
    service_name: str = DEFAULT_SERVICE_NAME,
    *,
    exporter: SpanExporter | None = None,
    env: Mapping[str, str] | None = None,
) -> Tracing:
    """The tracing of this process, configured once from the ``OTEL_*`` variables.

    Args:
        service_name: ``service.name`` of the spans unless ``OTEL_SERVICE_NAME`` says
            otherwise.
        exporter: export to this exporter synchronously instead (tests pass an in-memory
            one); a new provider is built and the process's own set-up is left alone.
        env: the environment to read instead of the process's own.

    Returns:
        The provider and the interceptors for `temporalio.client.Client.connect`; with no
        exporter configured, tracing is off and both are empty.

    Raises:
        ValueError: ``OTEL_TRACES_EXPORTER`` names an exporter niva does not ship.
    """
    global _process_tracing
    environ = os.environ if env is None else env
    if exporter is not None:
        provider = _provider(service_name, environ)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return _tracing(provider)
    if _process_tracing is not None and env is None:
        return _process_tracing
    if not tracing_enabled(environ):
        result = Tracing()
    else:
        provider = _provider(service_name, environ)
        for span_exporter in _exporters(environ):
            provider.add_span_processor(BatchSpanProcessor(span_exporter))
        # Libraries that ask the global API (httpx, logging bridges) reach the same provider.
        trace.set_tracer_provider(provider)
        result = _tracing(provider)
    if env is None:
        _process_tracing = result
    return result


def _provider(service_name: str, env: Mapping[str, str]) -> TracerProvider:
    name = env.get("OTEL_SERVICE_NAME") or service_name
    return TracerProvider(resource=Resource.create({"service.name": name}))


def _tracing(provider: TracerProvider) -> Tracing:
    tracer = provider.get_tracer("niva")
    return Tracing(provider=provider, interceptors=(TracingInterceptor(tracer),))


def instrument_app(app: FastAPI, tracing: Tracing) -> None:
    """Give every request a server span (the root of the trace that reaches Temporal)."""
    if tracing.provider is None:
        return
    # Imported only when tracing is on: the instrumentation patches at import time.
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracing.provider, excluded_urls="health"
    )


# --- metrics ----------------------------------------------------------------------------------

_runtimes: dict[str, Runtime] = {}


def metrics_runtime(bind_address: str | None) -> Runtime | None:
    """A Temporal runtime serving its metrics on ``http://<bind_address>/metrics``.

    One runtime per address and process: the endpoint is bound when the runtime is
    created, so a reconnect reuses it. ``None`` (metrics off) gives ``None``, which
    means Temporal's default runtime.
    """
    if bind_address is None:
        return None
    runtime = _runtimes.get(bind_address)
    if runtime is None:
        runtime = Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address))
        )
        _runtimes[bind_address] = runtime
    return runtime


# --- log context ------------------------------------------------------------------------------


class StructlogActivityInterceptor(Interceptor):
    """Binds the case and the task to every log line an activity writes."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap activity execution (`temporalio.worker.Interceptor`)."""
        return _BindActivityContext(next)


class _BindActivityContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        with structlog.contextvars.bound_contextvars(
            workflow_id=info.workflow_id,
            run_id=info.workflow_run_id,
            activity=info.activity_type,
            task_id=info.activity_id,
            attempt=info.attempt,
        ):
            return await super().execute_activity(input)


class RequestContextMiddleware:
    """ASGI middleware: a request id (the caller's ``X-Request-ID`` or a new one) bound to
    every log line of the request, echoed in the response, and one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope) or uuid.uuid4().hex
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            structlog.contextvars.clear_contextvars()


def _request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == REQUEST_ID_HEADER.encode():
            text: str = value.decode("latin-1").strip()
            # A caller's id goes into every log line: keep it short and printable.
            if 0 < len(text) <= 128 and text.isprintable():
                return text
    return None


class LoggedAuthenticator:
    """Wraps an authenticator so that the rest of the request logs who it serves.

    The principal's subject and organisation are bound in the request's context (the
    dependency runs in the request's task, so the route's log lines carry them).
    """

    def __init__(self, inner: Authenticator) -> None:
        self.inner = inner

    async def authenticate(self, token: str) -> Principal:
        """The principal behind ``token``, bound to the request's log context."""
        principal = await self.inner.authenticate(token)
        structlog.contextvars.bind_contextvars(principal=principal.subject, org=principal.org)
        return principal
