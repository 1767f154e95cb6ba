"""Builds niva's Temporal client and worker: workflows, activities, data converter.

The connection follows Temporal's own configuration: ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, TLS variables and ``temporal.toml`` profiles
(`temporalio.envconfig`), defaulting to ``localhost:7233`` and the ``default`` namespace.
Traces follow the ``OTEL_*`` variables and metrics ``NIVA_WORKER_METRICS_PORT``
(`starter.telemetry`).
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import structlog
from temporalio import activity
from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile
from temporalio.worker import Worker

from activities import build_activities
from activities.document_store import document_store_from_settings
from activities.messages import CaseMessenger
from activities.migration import MigrationRunner
from activities.models import ModelResolver, calendar_years
from activities.publication import MessagePublisher
from activities.signals import SignalBroadcaster
from process_models.deployments import ModelStore
from process_models.registry import Registry
from process_models.store import FileBlobStore
from starter.archive import HistoryArchive, run_archiver
from starter.payload_store import default_document_store, niva_data_converter
from starter.settings import DataSettings, ServiceSettings, WorkerSettings
from starter.telemetry import StructlogActivityInterceptor, configure_tracing, metrics_runtime
from workflows import WORKFLOWS
from workflows.probe import Probe, ProbeInput
from workflows.sandbox import shared_runner

__all__ = [
    "MissingTaskTypesError",
    "build_worker",
    "check_task_types",
    "connect",
    "probe",
    "run_worker",
]

log = structlog.get_logger("niva.worker")


async def connect(
    *, env: Mapping[str, str] | None = None, metrics_bind_address: str | None = None
) -> Client:
    """Connect to Temporal as configured by ``TEMPORAL_*`` and envconfig profiles.

    The client carries the tracing interceptor when the ``OTEL_*`` variables turn tracing
    on; a worker built on it traces workflows and activities too. Model sources and large
    payloads go to the document store (``NIVA_SERVICE_*`` / ``NIVA_DATA_DIR``), the history
    keeping a short reference (`starter.payload_store`); with ``NIVA_CODEC_KEYS`` set,
    every payload is encrypted before it leaves the process (`starter.codec`).

    Args:
        env: the environment to read instead of the process's own (tests pass theirs).
        metrics_bind_address: serve Temporal's metrics for Prometheus on this
            ``host:port`` (`WorkerSettings.metrics_bind_address`); none by default.
    """
    profile = ClientConfigProfile.load(override_env_vars=env)
    config = profile.to_client_connect_config()
    config.setdefault("target_host", "localhost:7233")
    return await Client.connect(
        **config,
        data_converter=niva_data_converter(default_document_store(env)),
        interceptors=configure_tracing().interceptors,
        runtime=metrics_runtime(metrics_bind_address),
    )


def build_worker(
    client: Client,
    settings: WorkerSettings,
    *,
    store: ModelStore | None = None,
    activities: Sequence[Callable[..., Any]] | None = None,
) -> Worker:
    """A worker on ``settings.task_queue`` with every niva workflow and activity.

    Args:
        client: the connected client.
        settings: the worker's settings.
        store: the model store call activities resolve their child's model from; the
            data directory's store by default.
        activities: the service-task activities; by default ``notify`` and
            ``render_document`` configured from ``NIVA_SERVICE_*`` and the data directory.
            ``send_message``, the delivery of published messages, signal broadcasts and
            throws, a migration batch's, the model resolver and the calendar years a case
            outliving its snapshot asks for are always registered.

    Raises:
        MissingTaskTypesError: with the default activities, a task type registered in the
            store's registry has no activity (given activities are the caller's choice).
    """
    data = DataSettings()
    store = store or ModelStore(FileBlobStore(data.models_dir))
    signals = SignalBroadcaster(client, store)
    wired: list[Callable[..., Any]] = [
        ModelResolver(store).resolve_model,
        calendar_years,
        CaseMessenger(client, store.registry).send_message,
        MessagePublisher(client, store).deliver,
        signals.broadcast,
        signals.throw,
        *_migration_activities(client, store),
    ]
    if activities is None:
        activities = build_activities(ServiceSettings().for_data_dir(data))
        # The shipped wiring must run every task type a model may name; a worker that
        # cannot is refused here rather than leaving cases' activities unscheduled.
        check_task_types(store.registry, [*wired, *activities])
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        workflow_runner=shared_runner(),
        activities=[*wired, *activities],
        max_concurrent_activities=settings.max_concurrent_activities,
        # The tracing interceptor, if any, comes with the client.
        interceptors=[StructlogActivityInterceptor()],
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
    )


def _migration_activities(client: Client, store: ModelStore) -> list[Callable[..., Any]]:
    """The activities of a migration batch (`workflows.migration_batch`)."""
    runner = MigrationRunner(client, store)
    return [runner.list_cases, runner.migrate_case]


class MissingTaskTypesError(RuntimeError):
    """Task types a model may name (registered) that no activity of the worker implements."""

    def __init__(self, missing: Sequence[str]) -> None:
        super().__init__(
            "no activity implements the registered task type(s) "
            + ", ".join(repr(name) for name in missing)
            + ": register an activity of that name with the worker"
        )
        self.missing = list(missing)


def check_task_types(registry: Registry, activities: Sequence[Callable[..., Any]]) -> None:
    """Raise `MissingTaskTypesError` unless every task type of ``registry`` has an activity
    of that name among ``activities`` (the promise of `process_models.registry`)."""
    implemented = set()
    for fn in activities:
        # temporalio keeps an activity's name on its definition; there is no public getter.
        definition = activity._Definition.from_callable(fn)
        if definition is not None and definition.name:
            implemented.add(definition.name)
    missing = sorted(set(registry.task_types) - implemented)
    if missing:
        raise MissingTaskTypesError(missing)


async def probe(
    client: Client, task_queue: str, *, execution_timeout: timedelta = timedelta(seconds=30)
) -> None:
    """Run the readiness probe workflow; raises if no worker completes it in time."""
    nonce = uuid.uuid4().hex
    result = await client.execute_workflow(
        Probe.run,
        ProbeInput(nonce=nonce),
        id=f"niva-probe-{nonce}",
        task_queue=task_queue,
        execution_timeout=execution_timeout,
    )
    if result.nonce != nonce:
        raise RuntimeError(f"probe on {task_queue} answered {result.nonce!r}, sent {nonce!r}")


async def run_worker(settings: WorkerSettings | None = None) -> None:
    """Run a worker until SIGINT or SIGTERM, then let running activities finish."""
    settings = settings or WorkerSettings()
    client = await connect(metrics_bind_address=settings.metrics_bind_address)
    worker = build_worker(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    archiver: asyncio.Task[None] | None = None
    if settings.archive_histories:
        documents = document_store_from_settings(ServiceSettings().for_data_dir(DataSettings()))
        archiver = asyncio.create_task(run_archiver(client, HistoryArchive(documents), stop))
    async with worker:
        log.info(
            "worker started",
            task_queue=settings.task_queue,
            jobs_task_queue=settings.jobs_task_queue,
            metrics=settings.metrics_bind_address
            and f"http://{settings.metrics_bind_address}/metrics",
        )
        await stop.wait()
        log.info("worker stopping", task_queue=settings.task_queue)
    if archiver is not None:
        await archiver
    log.info("worker stopped")
