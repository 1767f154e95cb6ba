"""Engine overhead: the reference process run by the interpreter against the same process
written by hand, on the same dev server, driven by the same client code.

Each trial completes ``CASES`` cases with ``CONCURRENCY`` driver coroutines (start, three
``complete_task`` updates, wait for the result). The two kinds alternate trial by trial,
after a warm-up of each; the median of ``REPEATS`` trials is reported.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

import worker
from benchmarks.common import (
    Bench,
    bench_echo,
    median,
    print_table,
    scaled,
    task_queue,
    write_result,
)
from benchmarks.handwritten import (
    HANDWRITTEN_TYPE,
    HandwrittenCase,
    HandwrittenStart,
    handwritten_runner,
)
from benchmarks.reference_model import ACTOR, PROCESS_ID, REFERENCE, TASK_IDS, payload
from process_models.deployments import ModelStore
from starter.cases import start_case
from starter.settings import WorkerSettings
from starter.telemetry import StructlogActivityInterceptor
from workflows import search_attributes as sa
from workflows.contract import CompleteTaskInput, CompleteTaskResult, InstanceResult

__all__ = ["Kinds", "drive", "reference_kinds", "run"]

NAME = "engine_overhead"
CONCURRENCY = 20
REPEATS = 3

Starter = Callable[[str], Awaitable[WorkflowHandle[Any, InstanceResult]]]


@dataclass
class Kinds:
    """How to start a case of each kind on running workers."""

    interpreted: Starter
    handwritten: Starter


@asynccontextmanager
async def reference_kinds(bench: Bench, client: Client) -> AsyncIterator[Kinds]:
    """Workers for both kinds (each on its own task queue) and their starters."""
    store: ModelStore = bench.store(REFERENCE)
    interpreted_queue = task_queue("interpreted")
    handwritten_queue = task_queue("handwritten")
    settings = WorkerSettings(task_queue=interpreted_queue)

    async def interpreted(key: str) -> WorkflowHandle[Any, InstanceResult]:
        return await start_case(
            client,
            store,
            process_id=PROCESS_ID,
            business_key=key,
            title="Benchmark case",
            task_queue=interpreted_queue,
        )

    async def handwritten(key: str) -> WorkflowHandle[Any, InstanceResult]:
        # The same start options start_case gives the interpreter.
        return await client.start_workflow(
            HANDWRITTEN_TYPE,
            HandwrittenStart(process_id=PROCESS_ID, business_key=key, title="Benchmark case"),
            id=f"{HANDWRITTEN_TYPE}:{key}",
            task_queue=handwritten_queue,
            result_type=InstanceResult,
            static_summary=f"Reference: Benchmark case {key}",
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.PROCESS_ID, PROCESS_ID),
                    SearchAttributePair(sa.PROCESS_VERSION, "1"),
                    SearchAttributePair(sa.BUSINESS_KEY, key),
                    SearchAttributePair(sa.JURISDICTION, "-"),
                ]
            ),
        )

    hand_worker = Worker(
        client,
        task_queue=handwritten_queue,
        workflows=[HandwrittenCase],
        workflow_runner=handwritten_runner(),
        activities=[bench_echo],
        max_concurrent_activities=settings.max_concurrent_activities,
        interceptors=[StructlogActivityInterceptor()],
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
    )
    async with (
        worker.build_worker(client, settings, store=store, activities=[bench_echo]),
        hand_worker,
    ):
        yield Kinds(interpreted=interpreted, handwritten=handwritten)


async def drive(
    start: Starter, cases: int, concurrency: int = CONCURRENCY
) -> tuple[float, list[WorkflowHandle[Any, InstanceResult]]]:
    """Run ``cases`` cases to the end with ``concurrency`` coroutines; seconds taken."""
    keys = [uuid.uuid4().hex[:12] for _ in range(cases)]
    handles: list[WorkflowHandle[Any, InstanceResult]] = []

    async def one_driver() -> None:
        while keys:
            handle = await start(keys.pop())
            for task_id in TASK_IDS:
                await handle.execute_update(
                    "complete_task",
                    CompleteTaskInput(task_id=task_id, payload=payload(task_id), actor=ACTOR),
                    result_type=CompleteTaskResult,
                )
            result = await handle.result()
            if result.outcome != "Stor":
                raise RuntimeError(f"{handle.id} ended {result.outcome!r}, expected 'Stor'")
            handles.append(handle)

    began = time.perf_counter()
    await asyncio.gather(*(one_driver() for _ in range(concurrency)))
    return time.perf_counter() - began, handles


async def run(bench: Bench) -> dict[str, Any]:
    """Measure both kinds; print the table and return the result."""
    env = await bench.dev()
    cases = scaled(150)
    rates: dict[str, list[float]] = {"interpreted": [], "handwritten": []}
    events: dict[str, list[int]] = {}
    async with reference_kinds(bench, env.client) as kinds:
        starters = {"interpreted": kinds.interpreted, "handwritten": kinds.handwritten}
        for start in starters.values():
            await drive(start, CONCURRENCY)  # warm-up: imports, sandbox, caches
        for repeat in range(REPEATS):
            order = ["interpreted", "handwritten"]
            if repeat % 2:
                order.reverse()
            for kind in order:
                seconds, handles = await drive(starters[kind], cases)
                rates[kind].append(cases / seconds)
                if repeat == REPEATS - 1:
                    events[kind] = [len((await h.fetch_history()).events) for h in handles[:10]]
    interpreted = median(rates["interpreted"])
    handwritten = median(rates["handwritten"])
    ratio = interpreted / handwritten
    print_table(
        f"Engine overhead: {cases} cases per trial, {CONCURRENCY} drivers, {REPEATS} trials",
        ["kind", "cases/s (median)", "trials", "events per case"],
        [
            [kind, median(r), " ".join(f"{x:.1f}" for x in r), median(events[kind])]
            for kind, r in rates.items()
        ]
        + [["ratio interpreted/hand-written", ratio, "", ""]],
    )
    result = {
        "cases_per_trial": cases,
        "concurrency": CONCURRENCY,
        "trials": rates,
        "median_cases_per_second": {"interpreted": interpreted, "handwritten": handwritten},
        "events_per_case": {k: median(v) for k, v in events.items()},
        "ratio": ratio,
        "target": ">= 0.9",
        "met": ratio >= 0.9,
    }
    write_result(NAME, result)
    return result


async def record_histories(bench: Bench, cases: int) -> dict[str, list[WorkflowHistory]]:
    """Histories of ``cases`` finished cases of each kind (for the replay benchmark)."""
    env = await bench.dev()
    histories: dict[str, list[WorkflowHistory]] = {}
    async with reference_kinds(bench, env.client) as kinds:
        for kind, start in (("interpreted", kinds.interpreted), ("handwritten", kinds.handwritten)):
            _, handles = await drive(start, cases, concurrency=min(cases, CONCURRENCY))
            histories[kind] = [await h.fetch_history() for h in handles]
    return histories
