"""A migration batch whose worker is SIGKILLed mid-batch migrates every case exactly once.

The worker running both the batch and its cases is a ``niva worker`` subprocess. The test
follows the batch through ``GET /migrations/{id}`` and kills the worker once some, but not
all, of its cases are migrated; a new worker resumes the batch. Every case must then run
on the target version with exactly one migration in its trail, and the batch's history
must show activities completed by both workers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities import ActivitySettings
from activities.document_store import FilesystemDocumentStore
from benchmarks.history_footprint import with_converter
from process_models.deployments import ModelFile, ModelStore
from starter.audit import build_trail, load_case
from starter.cases import start_case
from starter.payload_store import niva_data_converter
from tests.reliability.support import WorkerProcess, instance_state, target_host
from tests.support.api import build_app
from tests.workflows.harness import bpmn
from workflows.migration_batch import MIGRATE_ONE_ACTIVITY, batch_workflow_id

_STARTING_AT_ONCE = 20
"""Cases started (and later checked) concurrently: enough to keep the server busy, few
enough for a loaded two-core machine."""


def _model(process_id: str, version: int) -> str:
    """One user task, named by the version, then the end."""
    return bpmn(f"""
<bpmn:process id="{process_id}" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review" name="Granska (v{version})"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def _bounded(calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run ``calls`` at most `_STARTING_AT_ONCE` at a time, answers in order."""
    room = asyncio.Semaphore(_STARTING_AT_ONCE)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with room:
            return await call()

    return list(await asyncio.gather(*(one(call) for call in calls)))


async def _until(
    check: Callable[[], Awaitable[bool]], within: float, what: Callable[[], str]
) -> None:
    """Poll ``check`` until it holds; fail with ``what()`` after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {within:.0f} s: {what()}")
        await asyncio.sleep(0.05)


class _Batches:
    """``/migrations`` of an app on the workers' task queue and model store."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}
        self.report: dict[str, Any] = {}
        self.last_error = ""

    async def start(self, body: dict[str, Any]) -> str:
        response = await self.http.post("/migrations", json=body, headers=self.headers)
        assert response.status_code == 202, response.text
        migration_id: str = response.json()["migration_id"]
        return migration_id

    async def poll(self, migration_id: str) -> dict[str, Any]:
        """The report, or the last one seen when no worker answers the query now (a killed
        worker's): the caller polls again, and shows `last_error` if it gives up."""
        try:
            response = await self.http.get(f"/migrations/{migration_id}", headers=self.headers)
        except Exception as exc:
            self.last_error = repr(exc)
            return self.report
        if response.status_code == 200:
            self.report = response.json()
        else:
            self.last_error = f"{response.status_code}: {response.text[:500]}"
        return self.report


def documents(data_dir: Path) -> FilesystemDocumentStore:
    """The document store of the ``niva worker`` of ``data_dir``."""
    return FilesystemDocumentStore(ActivitySettings.in_data_dir(data_dir).documents_dir)


@pytest.fixture
def client(temporal_env: WorkflowEnvironment, data_dir: Path) -> Client:
    """A client reading payloads as the ``niva worker`` of ``data_dir`` writes them (large
    ones, such as a 200-case report, are kept in its document store)."""
    return with_converter(temporal_env.client, niva_data_converter(documents(data_dir)))


@pytest.fixture
async def batches(
    client: Client, data_dir: Path, task_queue: str
) -> AsyncIterator[tuple[_Batches, ModelStore]]:
    """The API (without a worker of its own) on ``data_dir``'s model store."""
    app, tokens, store, _ = build_app(client, task_queue, data_dir)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://niva.test"
    ) as http:
        yield _Batches(http, tokens["operator"]), store


async def run_kill(
    client: Client,
    data_dir: Path,
    task_queue: str,
    batches: _Batches,
    store: ModelStore,
    *,
    cases: int,
) -> None:
    """Migrate ``cases`` cases in one batch, SIGKILLing its worker mid-batch."""
    process_id = f"rel_migrate_{uuid.uuid4().hex[:8]}"
    store.deploy([ModelFile(name=f"{process_id}.bpmn", content=_model(process_id, 1).encode())])
    worker = WorkerProcess(
        address=target_host(client),
        data_dir=data_dir,
        task_queue=task_queue,
        log_path=data_dir / "worker.log",
    )
    worker.start()
    try:
        handles = await _bounded(
            [
                partial(
                    start_case,
                    client,
                    store,
                    process_id=process_id,
                    business_key=f"case-{i:03d}",
                    title=f"Case {i}",
                    task_queue=task_queue,
                )
                for i in range(cases)
            ]
        )
        instances = [handle.id for handle in handles]
        store.deploy([ModelFile(name=f"{process_id}.bpmn", content=_model(process_id, 2).encode())])
        migration_id = await batches.start(
            {
                "source": {"process_id": process_id, "version": 1},
                "target": {"process_id": process_id, "version": 2},
                "instances": instances,
            }
        )

        def migrated() -> int:
            return len(batches.report.get("migrated", []))

        async def partly_migrated() -> bool:
            await batches.poll(migration_id)
            return migrated() > 0

        await _until(
            partly_migrated, 60, lambda: f"no case migrated: {batches.report} {batches.last_error}"
        )
        first_pid = worker.process.pid if worker.process else 0
        worker.kill()
        at_kill = migrated()
        batch = client.get_workflow_handle(batch_workflow_id(migration_id))
        description = await batch.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING, "the batch ended early"
        assert 0 < at_kill < cases, f"killed with {at_kill} of {cases} migrated"

        worker.start()
        second_pid = worker.process.pid if worker.process else 0

        async def completed() -> bool:
            return (await batches.poll(migration_id)).get("status") == "completed"

        await _until(
            completed,
            180,
            lambda: (
                f"batch stuck at {migrated()} of {cases} ({batches.last_error}); "
                "worker log:\n" + worker.log_text()[-3000:]
            ),
        )
        report = batches.report
        assert report["refused"] == []
        assert report["total"] == cases
        assert sorted(report["migrated"]) == sorted(instances), "a case migrated twice or never"

        states = await _bounded([partial(instance_state, h) for h in handles])
        for handle, state in zip(handles, states, strict=True):
            assert (state.process_id, state.version) == (process_id, 2), handle.id
            assert [m.migration_id for m in state.migrations] == [migration_id], handle.id
            assert [t.name for t in state.activities.values()] == ["Granska (v2)"], handle.id
        # The trail (read from the histories of all the case's runs) shows one migration.
        histories = await _bounded([partial(load_case, h.id, client=client) for h in handles])
        for handle, case in zip(handles, histories, strict=True):
            trail = build_trail(case, store=documents(data_dir))
            entries = [d for d in trail.decisions if d.kind == "migrated"]
            assert len(entries) == 1, f"{handle.id}: {entries}"

        # The batch outlived its first worker: each worker completed some of its cases.
        completed_by: set[str] = set()
        async for event in batch.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                completed_by.add(event.activity_task_started_event_attributes.identity)
        pids = {identity.split("@", 1)[0] for identity in completed_by}
        assert {str(first_pid), str(second_pid)} <= pids, completed_by
        scheduled = [
            event.activity_task_scheduled_event_attributes.activity_type.name
            async for event in batch.fetch_history_events()
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
        assert scheduled.count(MIGRATE_ONE_ACTIVITY) == cases
    finally:
        worker.stop()


async def test_migration_batch_survives_worker_sigkill(
    client: Client, data_dir: Path, task_queue: str, batches: tuple[_Batches, ModelStore]
):
    await run_kill(client, data_dir, task_queue, *batches, cases=200)
