"""History footprint: the bytes of a case's history with its model source inline (as before
`starter.payload_store`) and with model sources and large payloads in the document store,
measured in the same run on the same servers, and the replay of both.

- A Swedish designation case (the shipped ``se_nhv_designation``) driven to its referral
  (21 regional tasks open), on the dev server: history bytes and events, the largest
  payload, whether any event holds a model source, and how many model documents two cases
  leave in the store.
- The hundred-year annual case (`benchmarks.annual_chain`'s model) on the time-skipping
  server: the bytes of its whole continue-as-new chain.
- Worker memory: the Python heap (tracemalloc) a worker keeps per cached designation case.
- Replay: the same histories through `Replayer`, inline payloads with the plain pydantic
  converter, stored ones with niva's (a fresh converter each time, so every model is read
  from the store once, as a worker that starts cold does).
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

import worker
from activities import ActivitySettings, build_activities
from activities.document_store import DocumentStore, FilesystemDocumentStore
from benchmarks.annual_chain import ANNUAL, YEARS, _echo
from benchmarks.common import Bench, fetch_chain, print_table, task_queue, write_result
from process_models.deployments import ModelStore
from process_models.shipped import shipped_model_files
from process_models.store import FileBlobStore
from starter.cases import start_case
from starter.demo_se import (
    REGIONS,
    demo_actor,
    expert_group,
    expert_report,
    nomination,
    prioritisation,
)
from starter.payload_store import model_reference_ids, niva_data_converter, payloads_in
from starter.settings import WorkerSettings
from workflows import WORKFLOWS
from workflows.contract import CompleteTaskInput, CompleteTaskResult, OpenTask
from workflows.sandbox import shared_runner

__all__ = [
    "designation_at_referral",
    "history_bytes",
    "model_documents",
    "model_source_events",
    "run",
    "shipped_store",
    "with_converter",
]

NAME = "history_footprint"
DESIGNATION = "se_nhv_designation"
REPLAYS = 5
MEMORY_CASES = 30

_MODEL_MARKERS = (b'"bpmn"', b"www.omg.org/spec/BPMN/20100524/MODEL")


def history_bytes(history: WorkflowHistory) -> int:
    """The serialized size of the history's events, as the server stores and sends them."""
    return History(events=history.events).ByteSize()


def model_source_events(history: WorkflowHistory) -> list[int]:
    """The ids of the events that hold a model source (its BPMN text) in any payload."""
    return [
        event.event_id
        for event in history.events
        if any(
            marker in payload.SerializeToString()
            for payload in payloads_in(event)
            for marker in _MODEL_MARKERS
        )
    ]


def largest_payload(history: WorkflowHistory) -> int:
    """The size of the largest payload in the history."""
    return max((p.ByteSize() for event in history.events for p in payloads_in(event)), default=0)


def with_converter(client: Client, converter: DataConverter) -> Client:
    """The same connection (and interceptors, such as time skipping's) with ``converter``."""
    config = client.config()
    config["data_converter"] = converter
    return Client(**config)


def shipped_store(directory: Path) -> ModelStore:
    """A model store under ``directory`` with the shipped models deployed."""
    store = ModelStore(FileBlobStore(directory))
    store.deploy(shipped_model_files())
    return store


async def _open_tasks(handle: WorkflowHandle[Any, Any]) -> list[OpenTask]:
    tasks: list[OpenTask] = await handle.query("open_tasks", result_type=list[OpenTask])
    return tasks


async def _complete(
    handle: WorkflowHandle[Any, Any], task_id: str, payload: dict[str, Any], org: str, role: str
) -> None:
    for _ in range(600):
        if any(t.task_id == task_id for t in await _open_tasks(handle)):
            break
        await asyncio.sleep(0.05)
    await handle.execute_update(
        "complete_task",
        CompleteTaskInput(task_id=task_id, payload=payload, actor=demo_actor(org, role)),
        result_type=CompleteTaskResult,
    )


async def designation_at_referral(
    client: Client, store: ModelStore, queue: str, key: str
) -> WorkflowHandle[Any, Any]:
    """A designation case started, prioritised, given its expert group and report, and
    waiting for the 21 regions' referral responses (a worker must serve ``queue``)."""
    handle = await start_case(
        client,
        store,
        process_id=DESIGNATION,
        business_key=key,
        title=f"Vårdområde {key}",
        task_queue=queue,
        variables=nomination(f"Vårdområde {key}", ["SE-NPO-PSYKISK"]),
        actor=demo_actor("SE-NPO-PSYKISK", "npo"),
    )
    await _complete(handle, "Prioritise", prioritisation(), "SE-SOS", "officer")
    await _complete(handle, "AppointExpertGroup", expert_group(), "SE-SOS", "officer")
    await _complete(handle, "ExpertReport", expert_report(), "SE-SOS", "expert")
    expected = {f"ReferralResponse:{region}" for region in REGIONS}
    for _ in range(600):
        if expected <= {t.task_id for t in await _open_tasks(handle)}:
            return handle
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{handle.id}: the referral did not open")


def model_documents(history: WorkflowHistory) -> set[str]:
    """The model documents the history's payloads refer to."""
    return {
        doc_id
        for event in history.events
        for payload in payloads_in(event)
        for doc_id in model_reference_ids(payload)
    }


async def _designations(
    clients: dict[str, Client], tmp: Path
) -> tuple[dict[str, WorkflowHistory], list[set[str]]]:
    """A designation at referral per client (each with its own worker), and the model
    documents two cases of the last client refer to."""
    histories: dict[str, WorkflowHistory] = {}
    models: list[set[str]] = []
    for label, client in clients.items():
        queue = task_queue(f"footprint-{label}")
        store = shipped_store(tmp / f"models-{label}")
        settings = ActivitySettings.in_data_dir(tmp / "data")
        async with worker.build_worker(
            client,
            WorkerSettings(task_queue=queue),
            store=store,
            activities=build_activities(settings),
        ):
            handle = await designation_at_referral(client, store, queue, uuid.uuid4().hex[:8])
            histories[label] = await handle.fetch_history()
            second = await designation_at_referral(client, store, queue, uuid.uuid4().hex[:8])
            models = [
                model_documents(histories[label]),
                model_documents(await second.fetch_history()),
            ]
            for case in (handle, second):
                await case.terminate("benchmark finished")
    return histories, models


async def _chain(client: Client, bench: Bench, label: str) -> list[WorkflowHistory]:
    store = bench.store(ANNUAL)
    queue = task_queue(f"footprint-chain-{label}")
    async with worker.build_worker(
        client, WorkerSettings(task_queue=queue), store=store, activities=[_echo]
    ):
        handle = await start_case(
            client,
            store,
            process_id="no_annual",
            business_key=f"hundred-years-{label}",
            title="Hundred years",
            task_queue=queue,
            variables={"years": 0},
            continue_after_events=100,
        )
        await handle.result()
        return await fetch_chain(client, handle.id, handle.first_execution_run_id or "")


async def replay_rate(
    histories: Sequence[WorkflowHistory], converter: Callable[[], DataConverter]
) -> float:
    """Events replayed per second, ``REPLAYS`` times over with a fresh converter each."""
    events = sum(len(h.events) for h in histories) * REPLAYS
    began = time.perf_counter()
    for _ in range(REPLAYS):
        replayer = Replayer(
            workflows=WORKFLOWS,
            data_converter=converter(),
            workflow_runner=shared_runner(),
        )
        for history in histories:
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            if result.replay_failure is not None:
                raise RuntimeError(f"{history.workflow_id} did not replay: {result.replay_failure}")
    return events / (time.perf_counter() - began)


async def cached_case_bytes(client: Client, tmp: Path, label: str, cases: int) -> float:
    """Python heap (tracemalloc) the worker keeps per cached designation case waiting at
    its first task, after one warm-up case has loaded the model."""
    queue = task_queue(f"footprint-memory-{label}")
    store = shipped_store(tmp / f"models-memory-{label}")
    settings = ActivitySettings.in_data_dir(tmp / "data")

    async def start(key: str) -> None:
        handle = await start_case(
            client,
            store,
            process_id=DESIGNATION,
            business_key=key,
            title=key,
            task_queue=queue,
            variables=nomination(key, ["SE-NPO-PSYKISK"]),
        )
        for _ in range(600):
            if any(t.task_id == "Prioritise" for t in await _open_tasks(handle)):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{handle.id}: Prioritise did not open")

    async with worker.build_worker(
        client, WorkerSettings(task_queue=queue), store=store, activities=build_activities(settings)
    ):
        await start(f"{label}-warm-{uuid.uuid4().hex[:6]}")
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(cases):
                await start(f"{label}-{i}-{uuid.uuid4().hex[:6]}")
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    return (after - before) / cases


async def run(bench: Bench) -> dict[str, Any]:
    """Measure before and after; print the tables and return the result."""
    documents: DocumentStore = FilesystemDocumentStore(
        ActivitySettings.in_data_dir(bench.tmp / "data").documents_dir
    )

    def stored() -> DataConverter:
        return niva_data_converter(documents)

    dev = await bench.dev()
    designations, models = await _designations(
        {
            "inline": with_converter(dev.client, pydantic_data_converter),
            "stored": with_converter(dev.client, stored()),
        },
        bench.tmp,
    )
    memory = {
        label: await cached_case_bytes(client, bench.tmp, label, MEMORY_CASES)
        for label, client in (
            ("inline", with_converter(dev.client, pydantic_data_converter)),
            ("stored", with_converter(dev.client, stored())),
        )
    }
    skipping = await bench.time_skipping()
    chains = {
        "inline": await _chain(
            with_converter(skipping.client, pydantic_data_converter), bench, "a"
        ),
        "stored": await _chain(with_converter(skipping.client, stored()), bench, "b"),
    }
    converters: dict[str, Callable[[], DataConverter]] = {
        "inline": lambda: pydantic_data_converter,
        "stored": stored,
    }
    result: dict[str, Any] = {"designation_at_referral": {}, "hundred_year_chain": {}}
    rows = []
    for label in ("inline", "stored"):
        history = designations[label]
        chain = chains[label]
        designation = {
            "worker_heap_bytes_per_cached_case": memory[label],
            "events": len(history.events),
            "bytes": history_bytes(history),
            "largest_payload": largest_payload(history),
            "events_with_model_source": len(model_source_events(history)),
            "replay_events_per_second": await replay_rate([history], converters[label]),
        }
        hundred = {
            "runs": len(chain),
            "events": sum(len(h.events) for h in chain),
            "bytes": sum(history_bytes(h) for h in chain),
            "events_with_model_source": sum(len(model_source_events(h)) for h in chain),
            "replay_events_per_second": await replay_rate(chain, converters[label]),
        }
        result["designation_at_referral"][label] = designation
        result["hundred_year_chain"][label] = hundred
        rows.append(
            [
                label,
                designation["events"],
                designation["bytes"],
                designation["largest_payload"],
                designation["events_with_model_source"],
                designation["replay_events_per_second"],
                designation["worker_heap_bytes_per_cached_case"] / 1024,
                hundred["bytes"],
                hundred["events_with_model_source"],
                hundred["replay_events_per_second"],
            ]
        )
    before = result["designation_at_referral"]["inline"]["bytes"]
    after = result["designation_at_referral"]["stored"]["bytes"]
    result["designation_ratio"] = after / before
    result["chain_ratio"] = (
        result["hundred_year_chain"]["stored"]["bytes"]
        / result["hundred_year_chain"]["inline"]["bytes"]
    )
    result["model_documents_per_case"] = [sorted(ids) for ids in models]
    result["model_document_shared"] = len(models[0]) == 1 and models[0] == models[1]
    result["target"] = "designation at referral <= 1/4 of the inline bytes, no model source"
    result["met"] = (
        after * 4 <= before
        and result["designation_at_referral"]["stored"]["events_with_model_source"] == 0
        and result["hundred_year_chain"]["stored"]["events_with_model_source"] == 0
        and result["model_document_shared"]
    )
    print_table(
        f"History footprint: designation at referral; {YEARS}-year chain",
        [
            "payloads",
            "events",
            "bytes",
            "largest payload",
            "events w/ model",
            "replay ev/s",
            "heap KiB/cached case",
            "chain bytes",
            "chain w/ model",
            "chain replay ev/s",
        ],
        rows,
    )
    print(
        f"designation: {result['designation_ratio']:.1%} of the inline bytes; chain: "
        f"{result['chain_ratio']:.1%}; two cases share one model document: "
        f"{result['model_document_shared']}"
    )
    write_result(NAME, result)
    return result
