"""Whole-case throughput: 21-region referrals driven to their end by an automated client on
the dev server; cases per minute and workflow tasks per second.

The model is the referral of ``tests/workflows/test_engine_scenarios.py`` (a multi-instance
user task over the 21 regions with a deadline, a reminder and an extension message): each
region answers its own task through ``complete_task``, then the case closes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType

import worker
from benchmarks.common import Bench, bench_echo, print_table, scaled, task_queue, write_result
from starter.cases import start_case
from starter.settings import WorkerSettings
from tests.workflows.test_engine_scenarios import REFERRAL, REGIONS, region
from workflows.contract import CompleteTaskInput, CompleteTaskResult

__all__ = ["run"]

NAME = "throughput"
CONCURRENCY = 10


async def run(bench: Bench) -> dict[str, Any]:
    """Drive the referrals; print the table and return the result."""
    env = await bench.dev()
    client = env.client
    store = bench.store(REFERRAL)
    queue = task_queue("referral")
    cases = scaled(30)
    deadline = (datetime.now(UTC) + timedelta(weeks=10)).isoformat()
    keys = [uuid.uuid4().hex[:12] for _ in range(cases)]
    handles = []

    async def driver() -> None:
        while keys:
            handle = await start_case(
                client,
                store,
                process_id="referral",
                business_key=keys.pop(),
                title="Remiss",
                task_queue=queue,
                variables={"regions": list(REGIONS), "deadline": deadline},
            )
            for org in REGIONS:
                await handle.execute_update(
                    "complete_task",
                    CompleteTaskInput(
                        task_id=f"Answer:{org}", payload={"supports": True}, actor=region(org)
                    ),
                    result_type=CompleteTaskResult,
                )
            result = await handle.result()
            if result.outcome != "Remissen stängd":
                raise RuntimeError(f"{handle.id} ended {result.outcome!r}")
            handles.append(handle)

    echo = _echo_under_test_name()
    async with worker.build_worker(
        client, WorkerSettings(task_queue=queue), store=store, activities=[bench_echo, echo]
    ):
        began = time.perf_counter()
        await asyncio.gather(*(driver() for _ in range(CONCURRENCY)))
        seconds = time.perf_counter() - began
    workflow_tasks = 0
    events = 0
    for handle in handles:
        history = await handle.fetch_history()
        events += len(history.events)
        workflow_tasks += sum(
            1
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        )
    per_minute = cases / seconds * 60
    tasks_per_second = workflow_tasks / seconds
    print_table(
        f"Whole-case throughput: {cases} referrals to 21 regions, {CONCURRENCY} drivers",
        [
            "cases",
            "updates",
            "seconds",
            "cases/min",
            "workflow tasks",
            "workflow tasks/s",
            "events/case",
        ],
        [
            [
                cases,
                cases * len(REGIONS),
                seconds,
                per_minute,
                workflow_tasks,
                tasks_per_second,
                events / cases,
            ]
        ],
    )
    result = {
        "model": "referral (tests/workflows/test_engine_scenarios.py REFERRAL), 21 regions",
        "cases": cases,
        "concurrency": CONCURRENCY,
        "updates": cases * len(REGIONS),
        "seconds": seconds,
        "cases_per_minute": per_minute,
        "workflow_tasks_completed": workflow_tasks,
        "workflow_tasks_per_second": tasks_per_second,
        "events_per_case": events / cases,
    }
    write_result(NAME, result)
    return result


def _echo_under_test_name() -> Any:
    from benchmarks.annual_chain import _echo

    return _echo
