"""API latency: task completion through the HTTP API (uvicorn on a loopback port) with 1, 10
and 50 concurrent clients; p50, p95 and p99 of ``POST …/tasks/{id}/complete``.

Each client completes the one task of its own cases one after another; the cases are
started beforehand (not timed). Server, worker and clients share one process and the
machine's two cores, as in ``niva dev``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import (
    Bench,
    bpmn,
    deploy,
    median,
    niva_process,
    percentile,
    print_table,
    scaled,
    task_queue,
    write_result,
)
from process_models.deployments import ModelStore
from process_models.store import FileBlobStore
from starter.cases import start_case

__all__ = ["run"]

NAME = "api_latency"
CLIENTS_AND_CASES = ((1, 60), (10, 20), (50, 6))
"""Concurrent clients, and completions per client."""

ONE_TASK = bpmn("""
<bpmn:process id="bench_one_task" name="One task" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Decide"/>
  <bpmn:userTask id="Decide" name="Besluta">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Decide" targetRef="End"/>
  <bpmn:endEvent id="End" name="Beslutad"/>
</bpmn:process>
""")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_pid() -> int | None:
    """The dev server's process (the ``temporal server start-dev`` child), if found."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes().split(b"\0")
                if b"start-dev" in command and any(c.endswith(b"temporal") for c in command):
                    return int(entry.name)
    return None


async def _serving(base: str, api: asyncio.subprocess.Process) -> None:
    """Wait until the API answers ``/health``."""
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        for _ in range(600):
            if api.returncode is not None:
                raise RuntimeError(f"the API exited with {api.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("the API did not come up in 60 s")


async def run(bench: Bench) -> dict[str, Any]:
    """Measure the latencies; print the table and return the result."""
    env = await bench.dev()
    client = env.client
    data_dir = bench.tmp / f"api-data-{uuid.uuid4().hex[:6]}"
    store = ModelStore(FileBlobStore(data_dir / "models"))
    deploy(store, ONE_TASK)
    queue = task_queue("api")
    token = secrets.token_urlsafe(24)
    tokens_file = bench.tmp / f"tokens-{uuid.uuid4().hex[:6]}.json"
    tokens_file.write_text(
        json.dumps({token: {"subject": "bench-officer", "org": "SE-SOS", "roles": ["officer"]}})
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    latencies: dict[int, list[float]] = {}
    cpu_ms: dict[int, dict[str, float]] = {}
    async with (
        niva_process("worker", client=client, data_dir=data_dir, queue=queue) as worker,
        niva_process(
            "api",
            "--port",
            str(port),
            client=client,
            data_dir=data_dir,
            queue=queue,
            NIVA_API_TOKENS_FILE=str(tokens_file),
        ) as api,
    ):
        await _serving(base, api)

        async def start(n: int) -> list[str]:
            ids = []
            for _ in range(n):
                handle = await start_case(
                    client,
                    store,
                    process_id="bench_one_task",
                    business_key=uuid.uuid4().hex[:12],
                    title="API",
                    task_queue=queue,
                )
                ids.append(handle.id)
            return ids

        async def one_client(instance_ids: list[str], out: list[float]) -> None:
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
                for instance_id in instance_ids:
                    began = time.perf_counter()
                    response = await http.post(
                        f"/instances/{instance_id}/tasks/Decide/complete",
                        json={"payload": {"verdict": "yes"}},
                    )
                    out.append(time.perf_counter() - began)
                    if response.status_code != 200:
                        raise RuntimeError(f"{response.status_code}: {response.text}")

        # Warm-up: the first requests connect and import.
        await one_client(await start(5), [])
        pids = {
            "server": _server_pid(),
            "worker": worker.pid,
            "api": api.pid,
            "clients": os.getpid(),
        }
        for clients, per_client in CLIENTS_AND_CASES:
            per_client = scaled(per_client)
            batches = [await start(per_client) for _ in range(clients)]
            # Let the workflows' first tasks settle before timing.
            await asyncio.sleep(1.0)
            out: list[float] = []
            before = {k: _cpu_seconds(pid) for k, pid in pids.items() if pid is not None}
            await asyncio.gather(*(one_client(b, out) for b in batches))
            cpu_ms[clients] = {
                k: (_cpu_seconds(pids[k] or 0) - v) * 1000 / len(out) for k, v in before.items()
            }
            latencies[clients] = out
    rows = []
    result_rows: dict[str, Any] = {}
    for clients, values in latencies.items():
        ms = [v * 1000 for v in values]
        p50, p95, p99 = (percentile(ms, p) for p in (50, 95, 99))
        rows.append([clients, len(ms), p50, p95, p99])
        result_rows[str(clients)] = {
            "completions": len(ms),
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "median_ms": median(ms),
        }
    single_p50 = result_rows["1"]["p50_ms"]
    ten_p99 = result_rows["10"]["p99_ms"]
    ratio = ten_p99 / single_p50
    print_table(
        "Task completion through the HTTP API (ms)",
        ["clients", "completions", "p50", "p95", "p99"],
        [*rows, ["p99@10 / p50@1", "", "", "", ratio]],
    )
    # Where the CPU goes: with every process on the same cores, the CPU one completion
    # costs in all of them bounds the completions per second, and so the queueing of
    # concurrent clients.
    parts = sorted({k for per in cpu_ms.values() for k in per})
    cpu_rows = [
        [clients, *(per.get(k, 0.0) for k in parts), sum(per.values())]
        for clients, per in cpu_ms.items()
    ]
    print_table("CPU per completion (ms), by process", ["clients", *parts, "total"], cpu_rows)
    cores = os.cpu_count() or 1
    ten_cpu = sum(cpu_ms[10].values())
    print(
        f"CPU-bound ceiling at 10 clients: {cores} cores / {ten_cpu:.1f} ms = "
        f"{cores * 1000 / ten_cpu:.0f} completions/s"
    )
    result = {
        "clients": result_rows,
        "cpu_ms_per_completion": {str(c): per for c, per in cpu_ms.items()},
        "cpu_bound_completions_per_second_at_10": cores * 1000 / ten_cpu,
        "ratio_p99_at_10_over_p50_at_1": ratio,
        "target": "<= 4",
        "met": ratio <= 4,
    }
    write_result(NAME, result)
    return result
