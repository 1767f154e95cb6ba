"""The hundred-year case of the replay and history-growth benchmarks: the annual model of
``tests/workflows/test_long_running.py`` run to its end on the time-skipping server.

Produced once per run and shared (``Bench.cache``).
"""

from __future__ import annotations

import time
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHistory

import worker
from benchmarks.common import Bench, bpmn, fetch_chain, task_queue
from service_contract import ServiceCall
from starter.cases import start_case
from starter.settings import WorkerSettings

__all__ = ["ANNUAL", "YEARS", "hundred_year_chain"]

YEARS = 100

ANNUAL = bpmn(f"""
<bpmn:process id="no_annual" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="NextMarch"/>
  <bpmn:intermediateCatchEvent id="NextMarch" name="1 mars">
    <bpmn:timerEventDefinition>
      <bpmn:timeDate>=next_date(now, 3, 1)</bpmn:timeDate>
    </bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="NextMarch" targetRef="AnnualReport"/>
  <bpmn:serviceTask id="AnnualReport" name="Årsrapport">
    <bpmn:extensionElements>
      <niva:taskDefinition type="echo"/>
      <niva:input target="year" source="=year(now)"/>
      <niva:output target="years" source="=years + 1"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f3" sourceRef="AnnualReport" targetRef="More"/>
  <bpmn:exclusiveGateway id="More" default="f5"/>
  <bpmn:sequenceFlow id="f4" sourceRef="More" targetRef="NextMarch">
    <bpmn:conditionExpression>=years &lt; {YEARS}</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f5" sourceRef="More" targetRef="End"/>
  <bpmn:endEvent id="End" name="Avvecklad"/>
</bpmn:process>
""")


@activity.defn(name="echo")
async def _echo(call: ServiceCall) -> dict[str, Any]:
    """The tests' ``echo`` (the model's task type): return the inputs."""
    return {"echoed": call.inputs, "task_id": call.task_id}


async def hundred_year_chain(bench: Bench) -> tuple[list[WorkflowHistory], float]:
    """The histories of every run of a hundred-year case, and the seconds it took."""
    cached: Any = bench.cache.get("annual_chain")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    env = await bench.time_skipping()
    store = bench.store(ANNUAL)
    queue = task_queue("annual")
    began = time.perf_counter()
    async with worker.build_worker(
        env.client,
        WorkerSettings(task_queue=queue),
        store=store,
        activities=[_echo],
    ):
        # The time-skipping server gives every run a ten-year timeout when none is set, so
        # runs continue as new well before that (as in the test).
        handle = await start_case(
            env.client,
            store,
            process_id="no_annual",
            business_key="hundred-years",
            title="Hundred years",
            task_queue=queue,
            variables={"years": 0},
            continue_after_events=100,
        )
        result = await handle.result()
        if result.variables.get("years") != YEARS:
            raise RuntimeError(f"the annual case ended after {result.variables.get('years')}")
        seconds = time.perf_counter() - began
        histories = await fetch_chain(env.client, handle.id, handle.first_execution_run_id or "")
    bench.cache["annual_chain"] = (histories, seconds)
    return histories, seconds
