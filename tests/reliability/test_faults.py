"""More faults: ten clients racing for one task, two workers sharing a queue (one stopped
mid-run), and the Temporal server itself restarted on its database under load."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from starter.dev import installed_binary
from tests.reliability.figures import record_figures
from tests.reliability.support import (
    OFFICER,
    DriverFigures,
    Losses,
    WorkerProcess,
    check_cases,
    check_mail,
    deploy_model,
    drive_case,
    instance_state,
    smtp_env,
    start_cases,
    target_host,
)
from tests.support.mail import Mailbox
from tests.support.net import free_port
from workflows import search_attributes
from workflows.contract import CompleteTaskInput, CompleteTaskResult, InstanceView


def _worker(client: Client, data_dir: Path, mailbox: Mailbox, queue: str, name: str):
    return WorkerProcess(
        address=target_host(client),
        data_dir=data_dir,
        task_queue=queue,
        log_path=data_dir / f"{name}.log",
        extra_env=smtp_env(mailbox),
    )


async def _open_task(handle) -> str:
    for _ in range(100):
        with contextlib.suppress(Exception):
            view = await handle.query("state", result_type=InstanceView)
            if view.open_tasks:
                return view.open_tasks[0].task_id
        await asyncio.sleep(0.2)
    raise AssertionError(f"{handle.id} opened no task")


async def test_one_task_completed_by_ten_clients_has_one_effect(
    temporal_env: WorkflowEnvironment, data_dir: Path, mailbox: Mailbox
):
    client = temporal_env.client
    store = deploy_model(data_dir)
    queue = f"rel-race-{uuid.uuid4().hex[:8]}"
    worker = _worker(client, data_dir, mailbox, queue, "worker")
    worker.start()
    try:
        [handle] = await start_cases(client, store, queue, 1, "example.org")
        task_id = await _open_task(handle)
        # Five clients share one idempotency key, five use keys of their own.
        keys = ["shared"] * 5 + [f"own-{i}" for i in range(5)]

        async def complete(key: str) -> CompleteTaskResult | ApplicationError:
            try:
                return await handle.execute_update(
                    "complete_task",
                    CompleteTaskInput(
                        task_id=task_id, payload={"by": key}, actor=OFFICER, idempotency_key=key
                    ),
                    result_type=CompleteTaskResult,
                )
            except WorkflowUpdateFailedError as err:
                cause = err.cause
            assert isinstance(cause, ApplicationError), cause
            return cause

        outcomes = await asyncio.gather(*(complete(k) for k in keys))
        state = await instance_state(handle)
    finally:
        worker.stop()

    firsts = [o for o in outcomes if isinstance(o, CompleteTaskResult) and not o.duplicate]
    assert len(firsts) == 1, outcomes
    winner = keys[outcomes.index(firsts[0])]
    for key, outcome in zip(keys, outcomes, strict=True):
        if outcome is firsts[0]:
            continue
        if key == winner:  # the same request repeated: the first answer again
            assert isinstance(outcome, CompleteTaskResult), outcome
            assert outcome.duplicate
            assert outcome.completed == firsts[0].completed
        else:
            assert isinstance(outcome, ApplicationError), (key, outcome)
            assert outcome.type == "Conflict", outcome
    recorded = [e for e in state.audit if e.kind == "task_completed" and e.task_id == task_id]
    assert len(recorded) == 1
    assert state.completed_tasks[task_id].idempotency_key == winner
    record_figures(
        "bounded",
        "10 clients, one task",
        faults=0,
        requests=len(keys),
        cases=1,
        losses=len(recorded) - 1,
        notes=f"1 completion; {sum(isinstance(o, ApplicationError) for o in outcomes)} "
        "Conflict, the rest the first answer again",
    )


async def _identities(handle) -> set[str]:
    history = await handle.fetch_history()
    found = set()
    for event in history.events:
        if event.HasField("activity_task_started_event_attributes"):
            found.add("A:" + event.activity_task_started_event_attributes.identity)
        if event.HasField("workflow_task_started_event_attributes"):
            found.add("W:" + event.workflow_task_started_event_attributes.identity)
    return found


async def _activity_pids(handles) -> set[str]:
    identities = set().union(*[await _identities(h) for h in handles])
    return {i[2:].split("@")[0] for i in identities if i.startswith("A:")}


async def _started(worker: WorkerProcess) -> None:
    for _ in range(150):
        if "worker started" in worker.log_text():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"worker did not start: {worker.log_text()[-2000:]}")


async def test_two_workers_share_a_queue_and_stopping_one_loses_nothing(
    temporal_env: WorkflowEnvironment, data_dir: Path, mailbox: Mailbox
):
    """Cases stick to the worker that ran them first and their activities run there
    (eager dispatch), so the order is arranged: the second worker alone takes the first
    cases, both poll while more start, then the second stops gracefully before the first
    cases' last steps, which the first worker must then run."""
    client = temporal_env.client
    store = deploy_model(data_dir)
    queue = f"rel-pair-{uuid.uuid4().hex[:8]}"
    first = _worker(client, data_dir, mailbox, queue, "first")
    second = _worker(client, data_dir, mailbox, queue, "second")
    figures = DriverFigures()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    gate = asyncio.Event()
    drivers: list[asyncio.Task[None]] = []

    def drive(handle) -> None:
        drivers.append(
            asyncio.create_task(
                drive_case(handle, figures, deadline=deadline, think=(0.0, 1.0), gate=gate)
            )
        )

    try:
        second.start()
        await _started(second)
        handles = await start_cases(client, store, queue, 6, "example.org", started=drive)
        while str(second.process.pid) not in await _activity_pids(handles):
            assert loop.time() < deadline, "the second worker ran no activity"
            await asyncio.sleep(0.3)
        first.start()
        await _started(first)
        handles += await start_cases(client, store, queue, 6, "example.org", started=drive)
        await asyncio.sleep(2.0)
        second.stop()
        gate.set()
        await asyncio.gather(*drivers)
        losses = Losses()
        await check_cases(handles, data_dir, losses)
        check_mail(mailbox, handles, losses)
        ran = await _activity_pids(handles)
    finally:
        for task in drivers:
            task.cancel()
        first.stop()
        second.stop()
    pids = {str(first.process.pid), str(second.process.pid)}
    assert losses.count() == 0, losses
    assert ran == pids, f"activities ran on {ran}, the workers are {pids}"
    record_figures(
        "bounded",
        "two workers, one stopped",
        faults=1,
        requests=figures.requests,
        cases=len(handles),
        losses=losses.count(),
        notes=f"activities on {len(ran)} workers",
    )


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


@contextlib.asynccontextmanager
async def _dev_server(db: Path, port: int, log: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    args = [installed_binary("temporal"), "server", "start-dev", "--headless"]
    args += ["--db-filename", str(db), "--port", str(port), "--ip", "127.0.0.1"]
    args += ["--ui-port", str(free_port()), "--http-port", str(free_port())]
    args += ["--metrics-port", str(free_port()), "--log-level", "warn"]
    for key in search_attributes.ALL:
        args += ["--search-attribute", f"{key.name}={key._metadata_type}"]
    process = _spawn(args, log)
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


async def _connect(address: str) -> Client:
    for _ in range(100):
        with contextlib.suppress(Exception):
            client = await Client.connect(address, data_converter=pydantic_data_converter)
            await client.count_workflows()
            return client
        await asyncio.sleep(0.3)
    raise AssertionError(f"no Temporal server answered on {address}")


async def test_server_restarted_on_its_database_continues_every_case(
    data_dir: Path, mailbox: Mailbox, tmp_path: Path
):
    port = free_port()
    address = f"127.0.0.1:{port}"
    db, log = tmp_path / "t.db", tmp_path / "server.log"
    store = deploy_model(data_dir)
    queue = f"rel-restart-{uuid.uuid4().hex[:8]}"
    figures = DriverFigures()
    loop = asyncio.get_running_loop()
    restarts = 0
    async with _dev_server(db, port, log) as server:
        client = await _connect(address)
        worker = WorkerProcess(
            address=address,
            data_dir=data_dir,
            task_queue=queue,
            log_path=data_dir / "worker.log",
            extra_env=smtp_env(mailbox),
        )
        worker.start()
        try:
            handles = await start_cases(client, store, queue, 8, "example.org")
            deadline = loop.time() + 150
            drivers = [
                asyncio.create_task(drive_case(h, figures, deadline=deadline, think=(0.5, 4.0)))
                for h in handles
            ]
            for _ in range(2):
                await asyncio.sleep(3.0)
                server.kill()  # the hardest stop: no flush, no goodbye
                server.wait(timeout=10)
                restarts += 1
                server = _spawn(list(server.args), log)
                await _connect(address)
            await asyncio.gather(*drivers)
            losses = Losses()
            await check_cases(handles, data_dir, losses)
            check_mail(mailbox, handles, losses)
        finally:
            worker.stop()
            server.kill()
            server.wait(timeout=10)
    assert losses.count() == 0, losses
    record_figures(
        "bounded",
        "Temporal server restarted",
        faults=restarts,
        requests=figures.requests,
        cases=len(handles),
        losses=losses.count(),
        notes=f"SQLite database kept; {figures.errors} errors retried",
    )
