"""Model sources and large payloads out of the event history (`starter.payload_store`).

The codecs on their own (a model stored once, tampering caught, the claim check's
threshold, encryption in the chain); the recorded histories replaying unchanged through
niva's converter; a Swedish designation case at its referral run through the real worker
path before and after (bytes, no model source in any event, the input as the UI shows it,
one model document for two cases, export, replay, verify, the codec server); and a case
started before the change finishing on a worker with it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from typer.testing import CliRunner

import worker
from activities import ActivitySettings, build_activities
from activities.document_store import FilesystemDocumentStore
from activities.errors import DocumentIntegrityError, DocumentNotFoundError
from benchmarks.history_footprint import (
    designation_at_referral,
    history_bytes,
    model_documents,
    model_source_events,
    shipped_store,
    with_converter,
)
from process_models.deployments import ModelStore
from process_models.store import FileBlobStore
from starter.audit import build_trail, export_case, read_histories, verify_stored_payloads
from starter.cli import app
from starter.codec import ENCODING as ENCRYPTED
from starter.codec import AesGcmCodec
from starter.codec_server import create_codec_app
from starter.demo_se import nomination
from starter.payload_store import (
    LARGE_PAYLOAD_BYTES,
    MODEL_METADATA,
    MODEL_REFERENCE_KEY,
    STORED_METADATA,
    model_reference_ids,
    niva_data_converter,
    niva_payload_codec,
)
from starter.settings import CodecSettings, WorkerSettings
from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn, registry_with_test_types
from workflows import WORKFLOWS
from workflows.contract import InstanceResult, StartInstanceInput
from workflows.sandbox import shared_runner

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))
DESIGNATION = "se_nhv_designation"
_to_payload = pydantic_data_converter.payload_converter.to_payload


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The data directory (document store) of the worker, the CLI and replay: the test's."""
    monkeypatch.setenv("NIVA_DATA_DIR", str(tmp_path / "data"))
    for name in list(os.environ):
        if name.startswith(("NIVA_SERVICE_", "NIVA_CODEC_")):
            monkeypatch.delenv(name)
    return tmp_path / "data"


def _documents(data_dir: Path) -> FilesystemDocumentStore:
    return FilesystemDocumentStore(ActivitySettings.in_data_dir(data_dir).documents_dir)


def _start(store: ModelStore, key: str) -> Payload:
    start = StartInstanceInput(
        model=store.source(DESIGNATION),
        business_key=key,
        title=key,
        variables=nomination(key, ["SE-NPO-PSYKISK"]),
    )
    payload = _to_payload(start)
    assert payload is not None
    return payload


def _objects(store: FilesystemDocumentStore) -> list[Path]:
    return [p for p in (store.root / "objects").rglob("*") if p.is_file()]


async def test_a_model_source_is_stored_once_and_read_back(tmp_path: Path):
    models = shipped_store(tmp_path / "models")
    documents = FilesystemDocumentStore(tmp_path / "documents")
    codec = niva_payload_codec(documents)
    first, second = _start(models, "a"), _start(models, "b")

    encoded = await codec.encode([first, second])

    ids = [model_reference_ids(p) for p in encoded]
    assert ids[0] == ids[1]
    assert len(ids[0]) == 1
    assert len(_objects(documents)) == 1  # one model version, stored once for both cases
    shown = json.loads(encoded[0].data)  # what the Temporal UI shows: JSON, no BPMN
    source = models.source(DESIGNATION)
    assert shown["model"] == {
        "process_id": DESIGNATION,
        "version": source.version,
        "content_hash": source.content_hash,
        MODEL_REFERENCE_KEY: ids[0][0],
    }
    assert shown["variables"] == nomination("a", ["SE-NPO-PSYKISK"])
    assert encoded[0].ByteSize() * 20 < first.ByteSize()
    assert b"bpmn" not in encoded[0].data

    decoded = await codec.decode(encoded)
    for original, restored in zip((first, second), decoded, strict=True):
        assert MODEL_METADATA not in restored.metadata
        assert json.loads(restored.data) == json.loads(original.data)
        convert = pydantic_data_converter.payload_converter
        assert convert.from_payload(restored, StartInstanceInput) == convert.from_payload(
            original, StartInstanceInput
        )
    # A payload recorded before the codec (model inline) passes through unchanged.
    assert await codec.decode([first]) == [first]


async def test_a_missing_or_altered_model_document_fails_loudly(tmp_path: Path):
    models = shipped_store(tmp_path / "models")
    documents = FilesystemDocumentStore(tmp_path / "documents")
    [encoded] = await niva_payload_codec(documents).encode([_start(models, "a")])
    [path] = _objects(documents)

    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b"Remiss", b"Remisz", 1))
    with pytest.raises(DocumentIntegrityError):
        await niva_payload_codec(documents).decode([encoded])  # a fresh worker's cache
    path.unlink()
    with pytest.raises(DocumentNotFoundError):
        await niva_payload_codec(documents).decode([encoded])


async def test_large_payloads_are_claim_checked_from_the_threshold(tmp_path: Path):
    documents = FilesystemDocumentStore(tmp_path / "documents")
    codec = niva_payload_codec(documents)

    def sized(size: int) -> Payload:
        """A payload of exactly ``size`` serialized bytes."""
        for length in range(size, 0, -1):
            payload = Payload(metadata={"encoding": b"binary/plain"}, data=b"x" * length)
            if payload.ByteSize() == size:
                return payload
        raise AssertionError(size)

    below, at = sized(LARGE_PAYLOAD_BYTES - 1), sized(LARGE_PAYLOAD_BYTES)
    encoded = await codec.encode([below, at])
    assert encoded[0] == below
    assert STORED_METADATA in encoded[1].metadata
    assert encoded[1].ByteSize() < 300
    assert await codec.decode(encoded) == [below, at]


async def test_with_encryption_the_model_is_still_shared_and_the_case_encrypted(tmp_path: Path):
    models = shipped_store(tmp_path / "models")
    documents = FilesystemDocumentStore(tmp_path / "documents")
    codec = niva_payload_codec(
        documents, encryption=AesGcmCodec({"k": os.urandom(32)}, encrypt_with="k")
    )
    first, second = _start(models, "a"), _start(models, "b")
    encoded = await codec.encode([first, second])

    assert all(p.metadata["encoding"] == ENCRYPTED for p in encoded)
    assert len(_objects(documents)) == 1  # the model, in plain JSON, shared
    decoded = await codec.decode(encoded)
    assert [json.loads(p.data) for p in decoded] == [json.loads(p.data) for p in (first, second)]


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_histories_replay_through_the_stored_converter(path: Path, tmp_path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=niva_data_converter(FilesystemDocumentStore(tmp_path / "documents")),
        workflow_runner=shared_runner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_a_case_recorded_before_reads_through_trail_verify_and_codec_server(
    tmp_path: Path,
):
    documents = FilesystemDocumentStore(tmp_path / "documents")  # empty: nothing stored
    case = read_histories(HISTORIES[0].parent / "se_nhv_designation_full.json")

    assert await verify_stored_payloads(case, documents) == []
    trail = build_trail(case, store=documents)
    assert {m.process_id for m in trail.models} >= {DESIGNATION}
    [inline] = case.runs[0].first.workflow_execution_started_event_attributes.input.payloads
    codec_app = create_codec_app(settings=CodecSettings(), store=documents)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=codec_app), base_url="http://codec"
    ) as http:
        body = {"payloads": [json_format.MessageToDict(inline)]}
        answer = await http.post("/decode", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == body


async def _cli(*args: str) -> Result:
    """The CLI in a thread: its commands run their own event loop."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_designation_at_referral_before_and_after(
    temporal_env: WorkflowEnvironment, tmp_path: Path, data_dir: Path
):
    settings = ActivitySettings.in_data_dir(data_dir)
    documents = _documents(data_dir)
    clients = {
        "inline": temporal_env.client,  # the plain pydantic converter: every case until now
        "stored": with_converter(temporal_env.client, niva_data_converter(documents)),
    }
    histories: dict[str, WorkflowHistory] = {}
    out = tmp_path / "export"
    for label, client in clients.items():
        queue = f"test-{label}-{uuid.uuid4().hex[:8]}"
        models = shipped_store(tmp_path / f"models-{label}")
        async with worker.build_worker(
            client,
            WorkerSettings(task_queue=queue),
            store=models,
            activities=build_activities(settings),
        ):
            handle = await designation_at_referral(client, models, queue, f"{label}-1")
            histories[label] = await handle.fetch_history()
            if label == "stored":
                second = await designation_at_referral(client, models, queue, f"{label}-2")
                second_history = await second.fetch_history()
                exported = await export_case(
                    handle.id, out, client=client, archive=None, query_engine=False
                )
                await second.terminate("test finished")
            await handle.terminate("test finished")

    inline, stored = histories["inline"], histories["stored"]
    assert model_source_events(inline), "before: the model is in the history"
    assert model_source_events(stored) == []
    assert model_source_events(second_history) == []
    assert history_bytes(stored) * 4 <= history_bytes(inline), (
        history_bytes(stored),
        history_bytes(inline),
    )

    # The input as the Temporal UI shows it: the model's reference and the start variables.
    [shown] = stored.events[0].workflow_execution_started_event_attributes.input.payloads
    start = json.loads(shown.data)
    assert set(start["model"]) == {"process_id", "version", "content_hash", MODEL_REFERENCE_KEY}
    assert start["model"]["process_id"] == DESIGNATION
    assert start["variables"] == nomination("Vårdområde stored-1", ["SE-NPO-PSYKISK"])
    assert len(shown.data) < 1_000

    # One model version, one document, for both cases.
    assert model_documents(stored) == model_documents(second_history)
    [model_id] = model_documents(stored)
    assert json.loads(documents.get(model_id))["process_id"] == DESIGNATION

    # The trail read the model from the store; replay and verify work on the export.
    assert [m.process_id for m in exported.trail.models] == [DESIGNATION]
    case = read_histories(out)
    assert [check.ok for check in await verify_stored_payloads(case, documents)] == [True]
    replayed = await _cli("audit", "replay", str(out))
    assert replayed.exit_code == 0, replayed.output
    verified = await _cli("audit", "verify", str(out))
    assert verified.exit_code == 0, verified.output
    assert "1 stored payload(s) checked, 0 fail" in verified.output

    # The codec server shows the input as the history holds it: reference and variables.
    codec_app = create_codec_app(settings=CodecSettings(), store=documents)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=codec_app), base_url="http://codec"
    ) as http:
        answer = await http.post("/decode", json={"payloads": [json_format.MessageToDict(shown)]})
    assert answer.status_code == 200, answer.text
    assert json.loads(base64.b64decode(answer.json()["payloads"][0]["data"])) == start

    # An altered model document: verify names it and fails.
    path = documents.root / "objects" / model_id[:2] / model_id
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b"se_nhv", b"se_nhw", 1))
    tampered = await _cli("audit", "verify", str(out))
    assert tampered.exit_code == 1, tampered.output
    assert f"MISMATCH model {model_id}" in tampered.output


TWO_STEPS = bpmn("""
<bpmn:process id="ext_two_steps" name="Två steg" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="First"/>
  <bpmn:userTask id="First" name="Först"/>
  <bpmn:sequenceFlow id="f2" sourceRef="First" targetRef="Second"/>
  <bpmn:userTask id="Second" name="Sedan"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Second" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def _open(cases: Cases, handle: WorkflowHandle[Any, Any], task_id: str) -> None:
    for _ in range(200):
        if any(t.task_id == task_id for t in (await cases.view(handle)).open_tasks):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{task_id} never opened")


async def test_a_case_started_before_finishes_on_a_worker_with_the_store(
    temporal_env: WorkflowEnvironment, tmp_path: Path, data_dir: Path
):
    models = ModelStore(FileBlobStore(tmp_path / "models"), registry=registry_with_test_types())
    queue = f"test-before-{uuid.uuid4().hex[:8]}"
    before = temporal_env.client
    after = with_converter(before, niva_data_converter(_documents(data_dir)))
    settings = WorkerSettings(task_queue=queue)

    async with worker.build_worker(
        before, settings, store=models, activities=activities_for_tests.ALL
    ):
        cases = Cases(before, queue, models)
        cases.deploy(TWO_STEPS)
        handle = await cases.start("ext_two_steps")
        await _open(cases, handle, "First")
        await cases.complete(handle, "First")
    # The new worker has no cached copy: it replays the inline history, then carries on.
    async with worker.build_worker(
        after, settings, store=models, activities=activities_for_tests.ALL
    ):
        cases = Cases(after, queue, models)
        resumed = after.get_workflow_handle(handle.id, result_type=InstanceResult)
        await _open(cases, resumed, "Second")
        await cases.complete(resumed, "Second")
        result = await resumed.result()
    assert isinstance(result, InstanceResult)
    history = await resumed.fetch_history()
    assert model_source_events(history) == [1]  # recorded before: left as it was


CALLER = bpmn("""
<bpmn:process id="ext_caller" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:callActivity id="Review" name="Granskning">
    <bpmn:extensionElements>
      <niva:calledElement processId="ext_called"/>
      <niva:input target="topic" source="=topic"/>
      <niva:output target="verdict" source="=result.verdict"/>
    </bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
<bpmn:process id="ext_called" isExecutable="true">
  <bpmn:startEvent id="CStart"/>
  <bpmn:sequenceFlow id="c1" sourceRef="CStart" targetRef="Work"/>
  <bpmn:userTask id="Work"/>
  <bpmn:sequenceFlow id="c2" sourceRef="Work" targetRef="CEnd"/>
  <bpmn:endEvent id="CEnd"/>
</bpmn:process>
""")


async def test_a_call_activity_keeps_its_model_lookup_and_child_start_out_of_the_history(
    temporal_env: WorkflowEnvironment, tmp_path: Path, data_dir: Path
):
    models = ModelStore(FileBlobStore(tmp_path / "models"), registry=registry_with_test_types())
    queue = f"test-call-{uuid.uuid4().hex[:8]}"
    client = with_converter(temporal_env.client, niva_data_converter(_documents(data_dir)))
    async with worker.build_worker(
        client, WorkerSettings(task_queue=queue), store=models, activities=activities_for_tests.ALL
    ):
        cases = Cases(client, queue, models)
        cases.deploy(CALLER)
        handle = await cases.start("ext_caller", {"topic": "levers"}, business_key="c1")
        child = client.get_workflow_handle("ext_called:c1")
        for _ in range(200):
            try:
                await _open(cases, child, "Work")
                break
            except RPCError:  # the child is not started yet
                await asyncio.sleep(0.05)
        await cases.complete(child, "Work", {"verdict": "ok"})
        result = await client.get_workflow_handle(handle.id, result_type=InstanceResult).result()
    assert result.variables["verdict"] == "ok"
    parent_history = await handle.fetch_history()
    kinds = {e.event_type for e in parent_history.events}
    assert EventType.EVENT_TYPE_MARKER_RECORDED in kinds  # the model lookup's marker
    assert EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED in kinds
    assert model_source_events(parent_history) == []
    assert model_source_events(await child.fetch_history()) == []
