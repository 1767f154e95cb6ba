"""Worker memory: the RSS of a ``niva worker`` subprocess idle, and with N open cases each
waiting on a timer; per open case = (RSS at N - RSS idle) / N.

The worker keeps at most ``max_cached_workflows`` (the SDK's default, 1,000) cases in its
cache and evicts the rest, replaying them from history when they wake; so beyond 1,000 open
cases the RSS grows with the cache, not with the number of cases. The RSS per *cached* case
(at 1,000) is measured too, against a plain Temporal workflow doing the same visibility work
and waiting on one timer (`benchmarks.timer_baseline`) in a worker of its own.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.common import (
    Bench,
    bpmn,
    deploy,
    niva_process,
    print_table,
    scaled,
    task_queue,
    write_result,
)
from benchmarks.handwritten import HandwrittenStart
from benchmarks.timer_baseline import BASELINE_TYPE
from process_models.deployments import ModelStore
from process_models.store import FileBlobStore
from starter.cases import start_case

__all__ = ["run"]

NAME = "memory"
STEPS = (1_000, 10_000)
"""Open cases at each measurement (``NIVA_BENCH_MEMORY_STEPS=1000,3000`` asks for others)."""

TIMER = bpmn("""
<bpmn:process id="bench_timer" name="Timer" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Wait"/>
  <bpmn:intermediateCatchEvent id="Wait" name="Vänta">
    <bpmn:timerEventDefinition><bpmn:timeDuration>=wait</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Wait" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


def rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def _settled_rss(pid: int) -> int:
    """The RSS once it stops moving (within 1 % over two seconds)."""
    previous = rss_kib(pid)
    for _ in range(15):
        await asyncio.sleep(2)
        now = rss_kib(pid)
        if abs(now - previous) <= previous / 100:
            return now
        previous = now
    return previous


async def _measure(
    bench: Bench,
    process_id: str,
    steps: tuple[int, ...],
    *,
    start_one: Callable[[str, str, str], Awaitable[object]],
    worker_module: str,
    worker_args: tuple[str, ...],
    data_dir: Path,
    queue: str,
) -> list[dict[str, Any]]:
    """RSS of a worker subprocess idle and at each number of open cases in ``steps``."""
    client = (await bench.dev()).client

    async def start(n: int, wait: str) -> None:
        gate = asyncio.Semaphore(50)

        async def one() -> None:
            async with gate:
                await start_one(process_id, uuid.uuid4().hex[:12], wait)

        await asyncio.gather(*(one() for _ in range(n)))

    async def processed(n: int) -> None:
        """Wait until the worker ran the first task of ``n`` cases (both kinds publish
        their search attributes then)."""
        deadline = time.monotonic() + 1200
        while time.monotonic() < deadline:
            count = await client.count_workflows(
                f'NivaProcessId = "{process_id}" AND NivaIncident = false '
                'AND ExecutionStatus = "Running"'
            )
            if count.count >= n:
                return
            await asyncio.sleep(1)
        raise RuntimeError(f"the worker did not pick up {n} cases in time")

    measurements: list[dict[str, Any]] = []
    async with niva_process(
        *worker_args, client=client, data_dir=data_dir, queue=queue, module=worker_module
    ) as process:
        # Idle: the worker started and ran one short case (imports and sandbox loaded).
        await start(1, "PT1S")
        await processed(1)
        idle = await _settled_rss(process.pid)
        measurements.append({"open_cases": 0, "rss_kib": idle})
        opened = 0
        for target in steps:
            began = time.perf_counter()
            await start(target - opened, "P30D")
            opened = target
            await processed(opened)
            rss = await _settled_rss(process.pid)
            measurements.append(
                {
                    "open_cases": opened,
                    "rss_kib": rss,
                    "kib_per_case": (rss - idle) / opened,
                    "seconds_to_open": time.perf_counter() - began,
                }
            )
    return measurements


async def run(bench: Bench) -> dict[str, Any]:
    """Measure the worker's RSS; print the table and return the result."""
    client = (await bench.dev()).client
    data_dir = bench.tmp / f"memory-data-{uuid.uuid4().hex[:6]}"
    store = ModelStore(FileBlobStore(data_dir / "models"))
    deploy(store, TIMER)
    steps = tuple(
        int(s) for s in os.environ.get("NIVA_BENCH_MEMORY_STEPS", "").split(",") if s
    ) or tuple(scaled(s) for s in STEPS)
    niva_queue, plain_queue = task_queue("memory"), task_queue("memory-plain")

    async def start_niva(process_id: str, key: str, wait: str) -> object:
        return await start_case(
            client,
            store,
            process_id=process_id,
            business_key=key,
            title="Timer",
            task_queue=niva_queue,
            variables={"wait": wait},
        )

    async def start_plain(process_id: str, key: str, wait: str) -> object:
        start = HandwrittenStart(process_id=process_id, business_key=key, title="Timer")
        return await client.start_workflow(
            BASELINE_TYPE, start, id=f"{process_id}:{key}", task_queue=plain_queue
        )

    niva = await _measure(
        bench,
        "bench_timer",
        steps,
        start_one=start_niva,
        worker_module="starter.cli",
        worker_args=("worker",),
        data_dir=data_dir,
        queue=niva_queue,
    )
    cached = min(1000, steps[0])
    plain = await _measure(
        bench,
        BASELINE_TYPE,
        (cached,),
        start_one=start_plain,
        worker_module="benchmarks.timer_baseline",
        worker_args=(),
        data_dir=data_dir,
        queue=plain_queue,
    )
    rows = [
        [kind, m["open_cases"], m["rss_kib"] / 1024, m.get("kib_per_case", "-")]
        for kind, measured in (("niva", niva), ("plain workflow", plain))
        for m in measured
    ]
    print_table(
        "Worker RSS with open cases waiting on a timer (max_cached_workflows=1000, the default)",
        ["worker", "open cases", "RSS MiB", "KiB per case"],
        rows,
    )
    at_cache = next(m for m in niva if m["open_cases"] == cached)
    largest = niva[-1]
    plain_at_cache = plain[-1]["kib_per_case"]
    result = {
        "max_cached_workflows": 1000,
        "measurements": niva,
        "baseline_measurements": plain,
        "open_cases": largest["open_cases"],
        "kib_per_open_case": largest["kib_per_case"],
        "kib_per_cached_case": at_cache["kib_per_case"],
        "baseline_kib_per_cached_case": plain_at_cache,
        "target": "<= 40 KB per open case (RSS at 10,000 open cases - RSS idle) / 10,000",
        "met": largest["kib_per_case"] * 1.024 <= 40,
    }
    write_result(NAME, result)
    return result
