"""State of an earlier schema version, carried into a case (continue-as-new input), is
upgraded by `workflows.state.MIGRATIONS` when the case reads it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn, running_cases
from workflows import state as state_module
from workflows.contract import InstanceResult, StartInstanceInput


def _from_key(raw: dict[str, Any]) -> dict[str, Any]:
    """A test migration 1 -> 2: version 1 kept the business key under ``key``."""
    raw["business_key"] = raw.pop("key")
    return raw


@pytest.fixture
def schema_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the state schema is at version 2, with a migration from version 1."""
    monkeypatch.setattr(state_module, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(state_module.MIGRATIONS, 1, _from_key)


def _version_one(state: dict[str, Any]) -> dict[str, Any]:
    old = dict(state, schema_version=1, key=state["business_key"])
    del old["business_key"]
    return old


ONE_TASK = bpmn("""
<bpmn:process id="carried" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


async def test_carried_state_of_an_older_schema_is_upgraded_when_a_case_reads_it(
    cases: Cases, monkeypatch: pytest.MonkeyPatch
):
    cases.deploy(ONE_TASK)
    first = await cases.start("carried", business_key="carried-1")
    carried = (await cases.internal(first)).model_dump(mode="json")
    await first.terminate("replaced by the continued run below")
    source = cases.store.source("carried", None)
    monkeypatch.setattr(state_module, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(state_module.MIGRATIONS, 1, _from_key)
    # Sent as JSON, as a continue-as-new carries it: nothing on this side validates it.
    start = {
        "model": source.model_dump(mode="json"),
        "business_key": "carried-1",
        "title": "Test case",
        "state": _version_one(carried),
    }
    handle = await cases.client.start_workflow(
        "carried",
        start,
        id=f"carried:{uuid.uuid4().hex[:10]}",
        task_queue=cases.task_queue,
        result_type=InstanceResult,
    )
    cases.started.append(handle)
    state = await cases.internal(handle)
    assert (state.schema_version, state.business_key) == (2, "carried-1")
    assert list(state.activities) == ["Review"]
    await cases.complete(handle, "Review")
    assert (await handle.result()).outcome == "End"


def test_start_input_upgrades_its_state_through_the_payload_converter(schema_two: None):
    state = {"process_id": "p", "version": 1, "key": "k-1", "title": "t", "schema_version": 1}
    converter = pydantic_data_converter.payload_converter
    payload = converter.to_payloads(
        [{"model": _SOURCE, "business_key": "k-1", "title": "t", "state": state}]
    )[0]
    start = converter.from_payload(payload, StartInstanceInput)
    assert start.state is not None
    assert (start.state.schema_version, start.state.business_key) == (2, "k-1")


def test_state_of_the_current_schema_is_read_as_is(schema_two: None):
    current = {"process_id": "p", "version": 1, "business_key": "k", "title": "t"}
    assert (
        state_module.InstanceState.model_validate({**current, "schema_version": 2}).business_key
        == "k"
    )
    assert state_module.migrate({**current, "schema_version": 2}).schema_version == 2


_SOURCE = {
    "process_id": "p",
    "version": 1,
    "content_hash": "0",
    "timezone": "Europe/Stockholm",
    "bpmn": "<definitions/>",
}
