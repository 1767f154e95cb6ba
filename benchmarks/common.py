"""What every benchmark shares: the Temporal servers, the model store, tables and results."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from process_models.deployments import ModelFile, ModelStore
from process_models.registry import Registry, TaskType, default_registry
from process_models.store import FileBlobStore
from service_contract import ServiceCall
from starter.dev import installed_binary
from workflows import search_attributes

__all__ = [
    "BENCH_TASK_TYPE",
    "RESULTS",
    "Bench",
    "bench_echo",
    "bench_registry",
    "median",
    "niva_process",
    "percentile",
    "print_table",
    "write_result",
]

RESULTS = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"

BENCH_TASK_TYPE = "bench_echo"
"""The service-task type of the benchmark models: an activity that returns at once."""

BPMN_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:niva="urn:niva:bpmn:1" id="defs" targetNamespace="urn:niva:bench">
"""


def bpmn(body: str) -> str:
    """A BPMN document around ``body``."""
    return BPMN_HEADER + body + "\n</bpmn:definitions>\n"


@activity.defn(name=BENCH_TASK_TYPE)
async def bench_echo(call: ServiceCall) -> dict[str, Any]:
    """Return the inputs: the cheapest activity, so the benchmark measures the engine."""
    return {"echoed": call.inputs, "task_id": call.task_id}


def bench_registry() -> Registry:
    """The shipped registry plus the benchmark's task type (and ``echo`` of the tests'
    models)."""
    registry = default_registry.copy()
    for name in (BENCH_TASK_TYPE, "echo"):
        registry.register_task_type(TaskType(name=name, description=f"benchmark: {name}"))
    return registry


class Bench:
    """The servers and scratch space of one ``python -m benchmarks`` run, started lazily."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="niva-bench-"))
        self._dev: WorkflowEnvironment | None = None
        self._skipping: WorkflowEnvironment | None = None
        self.cache: dict[str, Any] = {}

    async def dev(self) -> WorkflowEnvironment:
        """The Temporal dev server with niva's search attributes."""
        if self._dev is None:
            self._dev = await WorkflowEnvironment.start_local(
                data_converter=pydantic_data_converter,
                dev_server_existing_path=installed_binary("temporal"),
                search_attributes=search_attributes.ALL,
                dev_server_extra_args=["--ui-disable-news-fetch", "--headless"],
            )
        return self._dev

    async def time_skipping(self) -> WorkflowEnvironment:
        """The time-skipping test server, niva's search attributes registered."""
        if self._skipping is None:
            env = await WorkflowEnvironment.start_time_skipping(
                data_converter=pydantic_data_converter,
                test_server_existing_path=installed_binary("temporal-test-server"),
            )
            await env.client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=env.client.namespace,
                    search_attributes=search_attributes.registration(),
                )
            )
            self._skipping = env
        return self._skipping

    async def close(self) -> None:
        """Stop the servers that were started."""
        for env in (self._dev, self._skipping):
            if env is not None:
                await env.shutdown()

    def store(self, *documents: str) -> ModelStore:
        """A fresh model store under the scratch directory with ``documents`` deployed."""
        store = ModelStore(
            FileBlobStore(self.tmp / f"models-{uuid.uuid4().hex[:8]}"), registry=bench_registry()
        )
        deploy(store, *documents)
        return store


def deploy(store: ModelStore, *documents: str) -> None:
    """Deploy BPMN documents into ``store``."""
    store.deploy(
        [ModelFile(name=f"bench{i}.bpmn", content=d.encode()) for i, d in enumerate(documents)]
    )


@contextlib.asynccontextmanager
async def niva_process(
    *args: str, client: Client, data_dir: Path, queue: str, module: str = "starter.cli", **env: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A ``python -m starter.cli <args>`` subprocess (``worker``, ``api``), as ``niva dev``
    runs them: its own process on the same server, data directory and task queue (or
    ``python -m <module> <args>``). Output is discarded; the process is stopped (SIGTERM,
    then SIGKILL) on exit."""
    environment = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "NIVA_DATA_DIR": str(data_dir),
        "NIVA_WORKER_TASK_QUEUE": queue,
        "NIVA_LOG_LEVEL": "warning",
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), timeout=20)
        if process.returncode is None:
            process.kill()
            await process.wait()


def task_queue(name: str) -> str:
    """A task queue no other benchmark uses."""
    return f"bench-{name}-{uuid.uuid4().hex[:8]}"


async def fetch_chain(client: Client, workflow_id: str, first_run_id: str) -> list[WorkflowHistory]:
    """The histories of every run of a case, following continue-as-new."""
    from temporalio.api.enums.v1 import EventType

    histories: list[WorkflowHistory] = []
    run_id: str | None = first_run_id
    while run_id is not None:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = None
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return histories


def median(values: Sequence[float]) -> float:
    """The median."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank on the sorted values)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return float(ordered[rank])


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print an aligned table."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in [list(headers), *text]) for i in range(len(headers))]
    print(f"\n== {title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in text:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` with the machine and the time of the run."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {
        "benchmark": name,
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": _cpus(),
            "platform": platform.platform(),
        },
        **result,
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


def scaled(count: int) -> int:
    """``count`` times ``NIVA_BENCH_SCALE`` (default 1): smaller runs for a quick check."""
    import os

    return max(1, round(count * float(os.environ.get("NIVA_BENCH_SCALE", "1"))))
