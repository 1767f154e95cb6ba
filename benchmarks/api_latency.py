"""API latency: task completion through the HTTP API (uvicorn on a loopback port) with 1, 10
and 50 concurrent clients; p50, p95 and p99 of ``POST …/tasks/{id}/complete``.

Each client completes the one task of its own cases one after another; the cases are
started beforehand (not timed). Server, worker and clients share one process and the
machine's two cores, as in ``niva dev``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import time
import uuid
from typing import Any

import httpx
import uvicorn

import worker
from activities.document_store import FilesystemDocumentStore
from benchmarks.common import (
    Bench,
    bench_echo,
    bpmn,
    median,
    percentile,
    print_table,
    scaled,
    task_queue,
    write_result,
)
from starter.api.app import create_app
from starter.cases import start_case
from starter.settings import ApiSettings, WorkerSettings

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


async def run(bench: Bench) -> dict[str, Any]:
    """Measure the latencies; print the table and return the result."""
    env = await bench.dev()
    client = env.client
    store = bench.store(ONE_TASK)
    queue = task_queue("api")
    token = secrets.token_urlsafe(24)
    tokens_file = bench.tmp / f"tokens-{uuid.uuid4().hex[:6]}.json"
    tokens_file.write_text(
        json.dumps({token: {"subject": "bench-officer", "org": "SE-SOS", "roles": ["officer"]}})
    )
    app = create_app(
        ApiSettings(tokens_file=tokens_file),
        client=client,
        store=store,
        task_queue=queue,
        document_store=FilesystemDocumentStore(bench.tmp / "documents"),
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, lifespan="on", access_log=False
        )
    )
    serving = asyncio.create_task(server.serve())
    latencies: dict[int, list[float]] = {}
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        async with worker.build_worker(
            client, WorkerSettings(task_queue=queue), store=store, activities=[bench_echo]
        ):

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
            for clients, per_client in CLIENTS_AND_CASES:
                per_client = scaled(per_client)
                batches = [await start(per_client) for _ in range(clients)]
                # Let the workflows' first tasks settle before timing.
                await asyncio.sleep(1.0)
                out: list[float] = []
                await asyncio.gather(*(one_client(b, out) for b in batches))
                latencies[clients] = out
    finally:
        server.should_exit = True
        await serving
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
    result = {
        "clients": result_rows,
        "ratio_p99_at_10_over_p50_at_1": ratio,
        "target": "<= 4",
        "met": ratio <= 4,
    }
    write_result(NAME, result)
    return result
