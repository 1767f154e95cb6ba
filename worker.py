"""Builds niva's Temporal client and worker: workflows, activities, data converter.

The connection follows Temporal's own configuration: ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, TLS variables and ``temporal.toml`` profiles
(`temporalio.envconfig`), defaulting to ``localhost:7233`` and the ``default`` namespace.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Mapping
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile
from temporalio.worker import Worker

from starter.settings import WorkerSettings
from workflows import WORKFLOWS
from workflows.probe import Probe, ProbeInput

__all__ = ["build_worker", "connect", "probe", "run_worker"]

log = structlog.get_logger("niva.worker")


async def connect(*, env: Mapping[str, str] | None = None) -> Client:
    """Connect to Temporal as configured by ``TEMPORAL_*`` and envconfig profiles.

    Args:
        env: the environment to read instead of the process's own (tests pass theirs).
    """
    profile = ClientConfigProfile.load(override_env_vars=env)
    config = profile.to_client_connect_config()
    config.setdefault("target_host", "localhost:7233")
    return await Client.connect(**config, data_converter=pydantic_data_converter)


def build_worker(client: Client, settings: WorkerSettings) -> Worker:
    """A worker on ``settings.task_queue`` with every niva workflow and activity."""
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=[],
        max_concurrent_activities=settings.max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
    )


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
    client = await connect()
    worker = build_worker(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        log.info("worker started", task_queue=settings.task_queue)
        await stop.wait()
        log.info("worker stopping", task_queue=settings.task_queue)
    log.info("worker stopped")
