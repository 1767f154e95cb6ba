"""Dialect cost: the workflow-task time of the same case in the niva dialect (CEL) and in
the Camunda 8 dialect (zeebe extensions, FEEL).

The reference process (`benchmarks.reference_model`) and `REFERENCE_CAMUNDA8`, the same
process as Camunda Modeler's "Camunda 8" mode writes it, run ``CASES`` cases each on the dev
server. Their histories are then replayed, the two sets alternating, ``REPEATS`` times: a
replay runs every workflow task of a case again and nothing else, so its time is the
workflow-task time the dialect costs. The target: Camunda 8 at most 1.1 times CEL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

import worker
from benchmarks.common import (
    BENCH_TASK_TYPE,
    Bench,
    bench_echo,
    median,
    print_table,
    scaled,
    task_queue,
    write_result,
)
from benchmarks.engine_overhead import Starter, drive
from benchmarks.reference_model import PROCESS_ID, REFERENCE, reference_flow
from benchmarks.replay import replay_seconds
from starter.cases import start_case
from starter.settings import WorkerSettings
from workflows import WORKFLOWS
from workflows.contract import InstanceResult
from workflows.sandbox import shared_runner

__all__ = ["REFERENCE_CAMUNDA8", "run"]

NAME = "dialect_cost"
REPEATS = 5
CAMUNDA8_ID = "bench_reference_c8"


def _user_task(task_id: str, name: str) -> str:
    return f"""
    <bpmn:userTask id="{task_id}" name="{name}">
      <bpmn:extensionElements>
        <zeebe:userTask />
        <zeebe:assignmentDefinition candidateGroups="org:SE-SOS/officer" />
      </bpmn:extensionElements>
    </bpmn:userTask>"""


def _service_task(task_id: str, name: str) -> str:
    return f"""
    <bpmn:serviceTask id="{task_id}" name="{name}">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="{BENCH_TASK_TYPE}" />
        <zeebe:ioMapping>
          <zeebe:input source="=amount" target="amount" />
          <zeebe:output source="=task_id" target="{task_id.lower()}" />
        </zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:serviceTask>"""


REFERENCE_CAMUNDA8 = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="defs"
    targetNamespace="urn:niva:bench" modeler:executionPlatform="Camunda Cloud">
  <bpmn:process id="{CAMUNDA8_ID}" name="Reference" isExecutable="true">{
    reference_flow(_user_task, _service_task)
}
  </bpmn:process>
</bpmn:definitions>
"""
"""The reference process in the Camunda 8 dialect: the same elements, candidates, mappings
and condition, so the two cases do the same work."""


@asynccontextmanager
async def dialect_starters(bench: Bench, client: Client) -> AsyncIterator[dict[str, Starter]]:
    """A worker running both models, and a starter for each dialect."""
    store = bench.store(REFERENCE, REFERENCE_CAMUNDA8)
    queue = task_queue("dialects")

    def starter(process_id: str) -> Starter:
        async def start(key: str) -> WorkflowHandle[Any, InstanceResult]:
            return await start_case(
                client,
                store,
                process_id=process_id,
                business_key=key,
                title="Benchmark case",
                task_queue=queue,
            )

        return start

    settings = WorkerSettings(task_queue=queue)
    async with worker.build_worker(client, settings, store=store, activities=[bench_echo]):
        yield {"cel": starter(PROCESS_ID), "feel": starter(CAMUNDA8_ID)}


async def run(bench: Bench) -> dict[str, Any]:
    """Record the cases of both dialects, replay them alternately; print and return."""
    env = await bench.dev()
    cases = scaled(100)
    histories: dict[str, list[WorkflowHistory]] = {}
    async with dialect_starters(bench, env.client) as starters:
        for dialect, start in starters.items():
            _, handles = await drive(start, cases, concurrency=min(cases, 20))
            histories[dialect] = [await h.fetch_history() for h in handles]
    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=shared_runner()
    )
    seconds: dict[str, list[float]] = {"cel": [], "feel": []}
    for dialect in seconds:  # warm-up: imports, sandbox, the model cache
        await replay_seconds(replayer, histories[dialect][:5])
    for repeat in range(REPEATS):
        order = ["cel", "feel"] if repeat % 2 == 0 else ["feel", "cel"]
        for dialect in order:
            seconds[dialect].append(await replay_seconds(replayer, histories[dialect]))
    per_case = {d: median(s) / cases * 1000 for d, s in seconds.items()}
    events = {d: median([len(h.events) for h in hs]) for d, hs in histories.items()}
    ratio = per_case["feel"] / per_case["cel"]
    print_table(
        f"Dialect cost: {cases} cases per dialect replayed, {REPEATS} trials",
        ["dialect", "ms per case (median)", "trials (s)", "events per case"],
        [
            [
                "niva (CEL)" if d == "cel" else "Camunda 8 (FEEL)",
                per_case[d],
                " ".join(f"{x:.2f}" for x in s),
                events[d],
            ]
            for d, s in seconds.items()
        ]
        + [["ratio Camunda 8 / niva", ratio, "", ""]],
    )
    result = {
        "cases": cases,
        "trials_seconds": seconds,
        "ms_per_case": per_case,
        "events_per_case": events,
        "ratio": ratio,
        "target": "<= 1.1",
        "met": ratio <= 1.1,
    }
    write_result(NAME, result)
    return result
