"""Payload encryption: the server holds ciphertext only, while the worker, the API (whose
client comes from `worker.connect`), the Web UI's codec server and replay, given the keys,
see the plain values; keys rotate without losing old payloads."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

import worker
from process_models.deployments import ModelFile, ModelStore
from process_models.store import FileBlobStore
from starter.api.app import create_app
from starter.codec import ENCODING, KEY_ID_METADATA, AesGcmCodec, CodecKeyError, codec_from_settings
from starter.codec_server import create_codec_app
from starter.payload_store import default_document_store, niva_payload_codec
from starter.settings import ApiSettings, CodecSettings, WorkerSettings
from tests.reliability.support import target_host
from tests.workflows import activities_for_tests
from tests.workflows.harness import bpmn
from workflows import WORKFLOWS

SECRET = "19121212-1212"
UI = "http://localhost:8233"

MODEL = bpmn("""
<bpmn:process id="rel_codec" name="Codec" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Decide"/>
  <bpmn:userTask id="Decide" name="Besluta"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Decide" targetRef="End"/>
  <bpmn:endEvent id="End" name="Klar"/>
</bpmn:process>
""")


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


async def test_codec_rotation_encrypts_with_newest_and_decrypts_with_any():
    old, new = _key(), _key()
    before = codec_from_settings(CodecSettings(keys={"2025": old}))
    assert before is not None
    sealed_old = await before.encode([_payload(SECRET)])
    assert sealed_old[0].metadata["encoding"] == ENCODING
    assert SECRET.encode() not in sealed_old[0].SerializeToString()

    after = codec_from_settings(CodecSettings(keys={"2025": old, "2026": new}))
    assert after is not None
    assert after.key_id == "2026"
    sealed_new = await after.encode([_payload(SECRET)])
    assert sealed_new[0].metadata[KEY_ID_METADATA] == b"2026"
    assert [p.data for p in await after.decode(sealed_old + sealed_new)] == [
        json.dumps(SECRET).encode()
    ] * 2
    plain = _payload("not encrypted")
    assert await after.decode([plain]) == [plain]

    with pytest.raises(CodecKeyError, match="'2026'"):
        await before.decode(sealed_new)
    tampered = Payload()
    tampered.CopyFrom(sealed_new[0])
    tampered.data = tampered.data[:-1] + bytes([tampered.data[-1] ^ 1])
    with pytest.raises(ValueError, match="fails authentication"):
        await after.decode([tampered])
    # The key id is authenticated: a payload cannot be moved under another key's name.
    relabelled = Payload()
    relabelled.CopyFrom(sealed_old[0])
    relabelled.metadata[KEY_ID_METADATA] = b"2026"
    with pytest.raises(ValueError, match="fails authentication"):
        await after.decode([relabelled])


def test_codec_settings_refuse_bad_keys():
    with pytest.raises(CodecKeyError, match="not base64"):
        codec_from_settings(CodecSettings(keys={"k": "***"}))
    with pytest.raises(CodecKeyError, match="10 bytes"):
        codec_from_settings(CodecSettings(keys={"k": base64.b64encode(b"0123456789").decode()}))
    with pytest.raises(CodecKeyError, match="'missing'"):
        codec_from_settings(CodecSettings(keys={"k": _key()}, encrypt_with="missing"))
    assert codec_from_settings(CodecSettings()) is None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _encrypted(payload: dict[str, Any]) -> bool:
    metadata = payload.get("metadata", {})
    return base64.b64decode(metadata.get("encoding", "")) == ENCODING


async def test_history_holds_ciphertext_while_api_codec_server_and_replay_read_it(
    temporal_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    keys = {"2025": _key(), "2026": _key()}
    monkeypatch.setenv("NIVA_CODEC_KEYS", json.dumps(keys))
    monkeypatch.setenv("TEMPORAL_ADDRESS", target_host(temporal_env.client))
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "default")
    client = await worker.connect()  # as the worker and the API connect
    assert client.data_converter.payload_codec is not None
    task_queue = f"rel-codec-{uuid.uuid4().hex[:8]}"
    store = ModelStore(FileBlobStore(tmp_path / "models"))
    store.deploy([ModelFile(name="codec.bpmn", content=MODEL.encode())])
    tokens = {"tok": {"subject": "officer-1", "org": "SE-SOS", "roles": ["officer"]}}
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text(json.dumps(tokens))
    app = create_app(
        ApiSettings(tokens_file=tokens_file), store=store, task_queue=task_queue
    )  # no client handed in: the API connects through worker.connect()
    headers = {"Authorization": "Bearer tok"}
    running = worker.build_worker(
        client,
        WorkerSettings(task_queue=task_queue),
        store=store,
        activities=activities_for_tests.ALL,
    )
    async with (
        running,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        started = await http.post(
            "/instances",
            json={
                "process_id": "rel_codec",
                "business_key": uuid.uuid4().hex[:8],
                "title": "Encrypted case",
                "variables": {"personnummer": SECRET},
            },
            headers=headers,
        )
        assert started.status_code == 201, started.text
        instance_id = started.json()["instance_id"]
        view = (await http.get(f"/instances/{instance_id}", headers=headers)).json()
        assert view["variables"]["personnummer"] == SECRET  # the API reads plain values
        task_id = view["open_tasks"][0]["task_id"]
        done = await http.post(
            f"/instances/{instance_id}/tasks/{task_id}/complete",
            json={"payload": {"note": f"checked {SECRET}"}},
            headers=headers,
        )
        assert done.status_code == 200, done.text
        await client.get_workflow_handle(instance_id).result()

    # What the server stores, read without the keys: ciphertext only.
    raw = await Client.connect(target_host(temporal_env.client))
    history = await raw.get_workflow_handle(instance_id).fetch_history()
    text = history.to_json()
    assert SECRET not in text
    assert base64.b64encode(SECRET.encode()).decode() not in text
    events = json.loads(text)["events"]
    started_event = events[0]["workflowExecutionStartedEventAttributes"]
    inputs = started_event["input"]["payloads"]
    assert inputs
    assert all(_encrypted(p) for p in inputs)

    # The Web UI's codec server decodes them for an allowed origin.
    codec_app = create_codec_app(settings=CodecSettings(keys=keys, cors_origins=[UI]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=codec_app), base_url="http://codec"
    ) as http:
        preflight = await http.options(
            "/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == UI
        stranger = await http.options(
            "/decode",
            headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in stranger.headers
        decoded = await http.post("/decode", json={"payloads": inputs}, headers={"Origin": UI})
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["access-control-allow-origin"] == UI
        plain = base64.b64decode(decoded.json()["payloads"][0]["data"]).decode()
        assert SECRET in plain
        encoded = await http.post("/encode", json=decoded.json())
        assert all(_encrypted(p) for p in encoded.json()["payloads"])
        again = await http.post("/decode", json=encoded.json())
        assert again.json() == decoded.json()
        unknown_key = {
            "metadata": {"encoding": _b64(ENCODING), KEY_ID_METADATA: _b64(b"nope")},
            "data": _b64(b"0" * 40),
        }
        bad_payloads: list[dict[str, Any]] = [unknown_key, {"data": 5}, {"metadata": []}]
        for bad in bad_payloads:
            refused = await http.post("/decode", json={"payloads": [bad]})
            assert refused.status_code == 400, (bad, refused.text)

    # Replay with the keys (a fresh codec, as a replay tool would build) reproduces the run.
    codec = codec_from_settings(CodecSettings(keys=keys))
    assert isinstance(codec, AesGcmCodec)
    # With the document store, where model sources and large payloads are kept.
    chain = niva_payload_codec(default_document_store(), encryption=codec)
    converter = dataclasses.replace(client.data_converter, payload_codec=chain)
    result = await Replayer(workflows=WORKFLOWS, data_converter=converter).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None, result.replay_failure
