"""Worker memory: the RSS of a ``niva worker`` subprocess idle, and with N open cases each
waiting on a timer; per open case = (RSS at N - RSS idle) / N.

The worker keeps at most ``max_cached_workflows`` (the SDK's default, 1,000) cases in its
cache and evicts the rest, replaying them from history when they wake; so beyond 1,000 open
cases the RSS measures the cache, not the number of cases.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.common import Bench, bpmn, deploy, print_table, scaled, task_queue, write_result
from process_models.deployments import ModelStore
from process_models.store import FileBlobStore
from starter.cases import start_case

__all__ = ["run"]

NAME = "memory"
STEPS = (1_000, 3_000)
"""Open cases at each measurement (10,000 takes too long to start on a 2-core machine
shared with the server; NIVA_BENCH_MEMORY_STEPS=1000,10000 asks for it)."""

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


async def run(bench: Bench) -> dict[str, Any]:
    """Measure the worker's RSS; print the table and return the result."""
    env = await bench.dev()
    client = env.client
    data_dir = bench.tmp / f"memory-data-{uuid.uuid4().hex[:6]}"
    store = ModelStore(FileBlobStore(data_dir / "models"))
    deploy(store, TIMER)
    queue = task_queue("memory")
    steps = tuple(
        int(s) for s in os.environ.get("NIVA_BENCH_MEMORY_STEPS", "").split(",") if s
    ) or tuple(scaled(s) for s in STEPS)
    environment = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "NIVA_DATA_DIR": str(data_dir),
        "NIVA_WORKER_TASK_QUEUE": queue,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starter.cli",
        "worker",
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    measurements: list[dict[str, Any]] = []
    try:

        async def start(n: int, wait: str) -> None:
            gate = asyncio.Semaphore(50)

            async def one() -> None:
                async with gate:
                    await start_case(
                        client,
                        store,
                        process_id="bench_timer",
                        business_key=uuid.uuid4().hex[:12],
                        title="Timer",
                        task_queue=queue,
                        variables={"wait": wait},
                    )

            await asyncio.gather(*(one() for _ in range(n)))

        async def processed(n: int) -> None:
            """Wait until the worker ran the first task of ``n`` cases (it publishes the
            search attributes then)."""
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                count = await client.count_workflows(
                    'NivaProcessId = "bench_timer" AND NivaIncident = false '
                    'AND ExecutionStatus = "Running"'
                )
                if count.count >= n:
                    return
                await asyncio.sleep(1)
            raise RuntimeError(f"the worker did not pick up {n} cases in time")

        # Idle: the worker started and ran one short case (imports and sandbox loaded).
        await start(1, "PT1S")
        await asyncio.sleep(5)
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
    finally:
        process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), timeout=20)
        if process.returncode is None:
            process.kill()
            await process.wait()
    rows = [
        [m["open_cases"], m["rss_kib"] / 1024, m.get("kib_per_case", "-")] for m in measurements
    ]
    print_table(
        "Worker RSS with open cases waiting on a timer (max_cached_workflows=1000, the default)",
        ["open cases", "RSS MiB", "KiB per case"],
        rows,
    )
    at_cache = next(m for m in measurements if m["open_cases"] >= min(1000, steps[0]))
    result = {
        "max_cached_workflows": 1000,
        "measurements": measurements,
        "kib_per_case_within_cache": at_cache["kib_per_case"],
        "target": "<= 40 KB per open case",
        "met": at_cache["kib_per_case"] * 1.024 <= 40,
    }
    write_result(NAME, result)
    return result
