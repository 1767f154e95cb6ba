"""What a request may be: body size, JSON depth, characters, business keys and model size,
each refused with a 4xx that names the limit, through the real app and a real worker."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from starter.settings import ModelSettings
from tests.support.api import ONE_TASK, Api
from tests.support.large_models import linear_model


def assert_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert body["detail"]
    return body


def start_body(business_key: str = "k", **variables: Any) -> dict[str, Any]:
    return {
        "process_id": "api_one",
        "business_key": business_key,
        "title": "t",
        "variables": variables,
    }


async def post_start(api: Api, content: bytes) -> httpx.Response:
    return await api.http.post(
        "/instances",
        content=content,
        headers={**api.auth("sos-officer"), "Content-Type": "application/json"},
    )


# --- size --------------------------------------------------------------------------------


async def test_start_with_a_15_mb_body_is_too_large(api: Api):
    await api.deploy(ONE_TASK)
    big = json.dumps(start_body(note="x" * 15 * 1024 * 1024)).encode()
    body = assert_error(await post_start(api, big), 413, "payload_too_large")
    assert "NIVA_API_MAX_BODY_BYTES" in body["detail"]


async def test_streamed_body_over_the_limit_is_too_large(api: Api):
    await api.deploy(ONE_TASK)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"process_id": "api_one", "business_key": "k", "title": "t", "variables": {"n": "'
        for _ in range(5):
            yield b"x" * 1024 * 1024
        yield b'"}}'

    response = await api.http.post(
        "/instances",
        content=chunks(),
        headers={**api.auth("sos-officer"), "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")


async def test_model_over_the_size_limit_is_too_large(api: Api):
    padding = "<!--" + "x" * (1024 * 1024) + "-->"
    response = await api.http.post(
        "/process-models",
        content=ONE_TASK.replace("</bpmn:definitions>", padding + "</bpmn:definitions>").encode(),
        headers={**api.auth("modeler"), "Content-Type": "application/xml"},
    )
    body = assert_error(response, 413, "payload_too_large")
    assert "NIVA_MODELS_MAX_BYTES" in body["detail"]
    assert api.store.process_ids() == []


async def test_model_over_the_element_limit_is_invalid(api: Api):
    response = await api.http.post(
        "/process-models",
        content=linear_model(5_001),
        headers={**api.auth("modeler"), "Content-Type": "application/xml"},
    )
    body = assert_error(response, 422, "invalid")
    (problem,) = body["problems"]
    assert problem["element_id"] == "big"
    assert "5,001 flow elements" in problem["message"]
    assert "NIVA_MODELS_MAX_ELEMENTS" in problem["message"]


async def test_model_with_a_colon_in_its_process_id_is_invalid(api: Api):
    response = await api.http.post(
        "/process-models",
        content=ONE_TASK.replace('id="api_one"', 'id="api:one"').encode(),
        headers={**api.auth("modeler"), "Content-Type": "application/xml"},
    )
    body = assert_error(response, 422, "invalid")
    assert any(p["element_id"] == "api:one" and "':'" in p["message"] for p in body["problems"]), (
        body
    )


# --- JSON --------------------------------------------------------------------------------


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


async def test_json_nested_deeper_than_the_limit_is_refused_at_once(api: Api):
    await api.deploy(ONE_TASK)
    deep = json.dumps(start_body("deep", v=nested(200))).encode()
    body = assert_error(await post_start(api, deep), 400, "bad_request")
    assert "NIVA_API_MAX_JSON_DEPTH" in body["detail"]
    # Brackets inside strings are not nesting; 60 levels inside the body's own 2 are fine.
    shallow = json.dumps(start_body("shallow", v=nested(60), s="[" * 500)).encode()
    assert (await post_start(api, shallow)).status_code == 201


async def test_lone_surrogate_escape_is_bad_request_over_http(api: Api, served: str):
    await api.deploy(ONE_TASK)
    headers = {**api.auth("sos-officer"), "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=served) as http:
        for escape in ("\\ud800", "\\udfff", "\\ud800x", "\\udc00\\ud800"):
            raw = b'{"process_id": "api_one", "business_key": "s", "title": "t", '
            raw += b'"variables": {"v": "' + escape.encode() + b'"}}'
            response = await http.post("/instances", content=raw, headers=headers)
            body = assert_error(response, 400, "bad_request")
            assert "surrogate" in body["detail"]
        # The connection is intact, and a surrogate pair (one character) is welcome.
        pair = b'{"process_id": "api_one", "business_key": "s", "title": "\\ud83d\\ude00"}'
        started = await http.post("/instances", content=pair, headers=headers)
        assert started.status_code == 201, started.text


# --- NUL and ids -------------------------------------------------------------------------


async def test_nul_in_a_filter_or_path_is_bad_request_without_internal_text(api: Api):
    officer = api.auth("sos-officer")
    for url in ("/instances?business_key=a%00b", "/tasks?process_id=%00", "/instances/a%00b"):
        response = await api.http.get(url, headers=officer)
        body = assert_error(response, 400, "bad_request")
        assert "NUL" in body["detail"]
        assert "sqlite" not in response.text.lower()


async def test_business_keys_follow_the_id_rules(api: Api):
    await api.deploy(ONE_TASK)
    started = await post_start(api, json.dumps(start_body("DUP")).encode())
    assert started.status_code == 201
    for key in ("DUP ", "DUP\u200b", "a:b", "a#2", "\u202eDUP", "DUP\u00a0X", "x" * 201):
        response = await post_start(api, json.dumps(start_body(key)).encode())
        body = assert_error(response, 422, "invalid")
        assert body["fields"][0]["loc"] == ["body", "business_key"], key
    # A decomposed key is the composed one: the same case.
    composed = unicodedata.normalize("NFC", "Ärende Å")
    first = await post_start(api, json.dumps(start_body(composed)).encode())
    assert first.json()["instance_id"] == f"api_one:{composed}"
    again = await post_start(
        api, json.dumps(start_body(unicodedata.normalize("NFD", composed))).encode()
    )
    assert assert_error(again, 409, "conflict")["instance_id"] == f"api_one:{composed}"


def test_model_settings_feed_the_deploy_limits(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NIVA_MODELS_MAX_BYTES", "2048")
    monkeypatch.setenv("NIVA_MODELS_MAX_ELEMENTS", "10")
    limits = ModelSettings().deploy_limits(min_cycle_seconds=5)
    assert (limits.max_model_bytes, limits.max_elements, limits.min_cycle_seconds) == (
        2048,
        10,
        5,
    )
