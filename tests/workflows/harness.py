"""Run process models on a real Temporal server: deploy BPMN text, start cases, drive them."""

from __future__ import annotations

import contextlib
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle

import worker
from process_models.deployments import ModelFile, ModelStore
from process_models.registry import Registry, TaskType, default_registry
from process_models.store import FileBlobStore
from starter.cases import start_case
from starter.settings import WorkerSettings
from workflows.candidates import Actor
from workflows.contract import (
    CompleteTaskInput,
    CompleteTaskResult,
    CorrelateMessageInput,
    CorrelateMessageResult,
    InstanceResult,
    InstanceView,
)
from workflows.state import InstanceState

BPMN_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:niva="urn:niva:bpmn:1" id="defs" targetNamespace="urn:niva:test">
"""


def bpmn(body: str) -> str:
    """A BPMN document around ``body`` (messages, errors and one or more processes)."""
    return BPMN_HEADER + textwrap.dedent(body) + "\n</bpmn:definitions>\n"


OFFICER = Actor(subject="officer-1", org="SE-SOS", roles=["officer"])


class Cases:
    """Deploy models and drive cases against one worker's task queue."""

    def __init__(self, client: Client, task_queue: str, store: ModelStore) -> None:
        self.client = client
        self.task_queue = task_queue
        self.store = store
        self.started: list[WorkflowHandle[object, InstanceResult]] = []

    async def terminate_running(self) -> None:
        """End what a test left running: on the time-skipping server a case whose timer
        fires with no worker left blocks time skipping for every later test."""
        pending = [h.id for h in self.started]
        seen: set[str] = set()
        while pending:
            workflow_id = pending.pop()
            if workflow_id in seen:
                continue
            seen.add(workflow_id)
            handle = self.client.get_workflow_handle(workflow_id)
            with contextlib.suppress(Exception):  # never started, or closed long ago
                pending.extend((await self.internal(handle)).children)
            with contextlib.suppress(Exception):  # already closed
                await handle.terminate("test finished")

    def deploy(self, *documents: str) -> None:
        self.store.deploy(
            [ModelFile(name=f"model{i}.bpmn", content=d.encode()) for i, d in enumerate(documents)]
        )

    async def start(
        self, process_id: str, variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> WorkflowHandle[object, InstanceResult]:
        handle = await start_case(
            self.client,
            self.store,
            process_id=process_id,
            business_key=kwargs.pop("business_key", uuid.uuid4().hex[:10]),
            title=kwargs.pop("title", "Test case"),
            task_queue=self.task_queue,
            variables=variables or {},
            **kwargs,
        )
        self.started.append(handle)
        return handle

    @staticmethod
    async def view(handle: WorkflowHandle[Any, Any]) -> InstanceView:
        return await handle.query("state", result_type=InstanceView)

    @staticmethod
    async def internal(handle: WorkflowHandle[Any, Any]) -> InstanceState:
        return await handle.query("instance_state", result_type=InstanceState)

    @staticmethod
    async def complete(
        handle: WorkflowHandle[Any, Any],
        task_id: str,
        payload: dict[str, Any] | None = None,
        actor: Actor = OFFICER,
        idempotency_key: str | None = None,
    ) -> CompleteTaskResult:
        return await handle.execute_update(
            "complete_task",
            CompleteTaskInput(
                task_id=task_id,
                payload=payload or {},
                actor=actor,
                idempotency_key=idempotency_key,
            ),
            result_type=CompleteTaskResult,
        )

    @staticmethod
    async def message(
        handle: WorkflowHandle[Any, Any],
        name: str,
        payload: dict[str, Any] | None = None,
        actor: Actor = OFFICER,
    ) -> CorrelateMessageResult:
        return await handle.execute_update(
            "correlate_message",
            CorrelateMessageInput(name=name, payload=payload or {}, actor=actor),
            result_type=CorrelateMessageResult,
        )


def registry_with_test_types(forms: dict[str, type[BaseModel]] | None = None) -> Registry:
    """The shipped registry plus the test task types ``echo`` and ``fail``."""
    registry = default_registry.copy()
    for name in ("echo", "fail", "bpmn_fail"):
        registry.register_task_type(TaskType(name=name, description=f"test: {name}"))
    for key, form in (forms or {}).items():
        registry.register_form(key, form)
    return registry


@asynccontextmanager
async def running_cases(
    client: Client,
    task_queue: str,
    directory: Path,
    *,
    activities: list[Callable[..., Any]],
    registry: Registry | None = None,
) -> AsyncIterator[Cases]:
    """A worker with the given activities, and a model store in ``directory``."""
    store = ModelStore(
        FileBlobStore(directory / "models"), registry=registry or registry_with_test_types()
    )
    settings = WorkerSettings(task_queue=task_queue)
    async with worker.build_worker(client, settings, store=store, activities=activities):
        cases = Cases(client, task_queue, store)
        try:
            yield cases
        finally:
            await cases.terminate_running()
