"""The worker against a real dev server: it connects, registers niva's workflows, and
answers the readiness probe; without a worker the probe fails instead of hanging."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import SearchAttributeKey

import worker
from process_models.deployments import ModelStore
from process_models.registry import TaskType, default_registry
from process_models.store import FileBlobStore
from service_contract import BUILTIN_TASK_TYPE_NAMES
from starter.settings import WorkerSettings
from workflows import search_attributes


async def test_probe_completes_with_worker_running(client: Client, task_queue: str):
    settings = WorkerSettings(task_queue=task_queue)
    async with worker.build_worker(client, settings):
        await worker.probe(client, task_queue, execution_timeout=timedelta(seconds=20))


async def test_probe_fails_without_worker(client: Client, task_queue: str):
    with pytest.raises(WorkflowFailureError) as caught:
        await worker.probe(client, task_queue, execution_timeout=timedelta(seconds=2))
    assert "timed out" in str(caught.value.cause).lower()


async def test_connect_follows_temporal_address(client: Client):
    target = client.service_client.config.target_host
    connected = await worker.connect(env={"TEMPORAL_ADDRESS": target})
    assert connected.service_client.config.target_host == target
    await connected.service_client.check_health()


async def test_search_attributes_registered_on_test_server(client: Client):
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    key: SearchAttributeKey  # type: ignore[type-arg]
    for key in search_attributes.ALL:
        assert listed.custom_attributes[key.name] == key.indexed_value_type.value


async def test_default_worker_implements_every_registered_task_type(
    client: Client, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NIVA_DATA_DIR", str(tmp_path))
    store = ModelStore(FileBlobStore(tmp_path / "models"))
    assert set(BUILTIN_TASK_TYPE_NAMES) <= set(store.registry.task_types)

    built = worker.build_worker(client, WorkerSettings(task_queue=task_queue), store=store)

    assert built is not None


async def test_default_worker_refuses_a_registered_task_type_without_activity(
    client: Client, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NIVA_DATA_DIR", str(tmp_path))
    registry = default_registry.copy()
    registry.register_task_type(TaskType(name="archive_case", description="not implemented"))
    store = ModelStore(FileBlobStore(tmp_path / "models"), registry=registry)

    with pytest.raises(worker.MissingTaskTypesError, match="'archive_case'") as refused:
        worker.build_worker(client, WorkerSettings(task_queue=task_queue), store=store)
    assert refused.value.missing == ["archive_case"]
