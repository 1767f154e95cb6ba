"""Every error the API answers with, each from its real cause, in the one JSON shape."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

import worker
from process_models.deployments import ModelFile
from process_models.registry import TaskType
from service_contract import ServiceCall
from starter.api.app import create_app
from starter.api.errors import translate, with_retries
from starter.settings import ApiSettings, WorkerSettings
from tests.support.api import LIFE, ONE_TASK, Api, build_app
from tests.support.net import until
from tests.workflows import activities_for_tests
from tests.workflows.harness import bpmn

ERROR_KEYS = {"error", "detail", "fields", "problems", "instance_id", "accepts"}


def assert_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["detail"]
    assert set(body) <= ERROR_KEYS
    return body


# --- 401 ------------------------------------------------------------------------------------


async def test_request_without_valid_token_is_unauthorized(api: Api, tmp_path: Path):
    for headers in ({}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer nope"}):
        response = await api.http.get("/instances", headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_token_in_tokens_file_is_unauthorized(client: Client, tmp_path: Path):
    tokens = tmp_path / "tokens.yaml"
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    tokens.write_text(
        f"old: {{subject: gone, org: SE-SOS, roles: [officer], expires: '{past}'}}\n"
        "fresh: {subject: here, org: SE-SOS, roles: [officer]}\n"
    )
    app = create_app(ApiSettings(tokens_file=tokens), client=client, task_queue="unused")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        expired = await http.get("/process-models", headers={"Authorization": "Bearer old"})
        body = assert_error(expired, 401, "unauthorized")
        assert "expired" in body["detail"]
        # The file is read again when it changes: the token is revoked without a restart.
        tokens.write_text("other: {subject: here, org: SE-SOS}\n")
        revoked = await http.get("/process-models", headers={"Authorization": "Bearer fresh"})
        assert_error(revoked, 401, "unauthorized")
        tokens.write_text("[not, a, mapping]\n")
        broken = await http.get("/process-models", headers={"Authorization": "Bearer other"})
        assert "must map each token" in assert_error(broken, 503, "unavailable")["detail"]


# --- 403 ------------------------------------------------------------------------------------


async def test_roles_and_auditor_are_enforced_before_the_case_is_asked(api: Api):
    await api.deploy(LIFE)
    instance_id = await api.start("api_life", "roles-1", {"region": "SE-AB"})
    refused = await api.http.post(
        "/process-models",
        content=LIFE.encode(),
        headers={**api.auth("sos-officer"), "Content-Type": "application/xml"},
    )
    assert "needs the role 'modeler'" in assert_error(refused, 403, "forbidden")["detail"]
    for path, body in (
        (f"/instances/{instance_id}/cancel", {"reason": "x"}),
        (f"/instances/{instance_id}/incidents/whatever/retry", {}),
    ):
        response = await api.http.post(path, json=body, headers=api.auth("sos-officer"))
        assert "needs the role 'operator'" in assert_error(response, 403, "forbidden")["detail"]

    # The auditor reads everything and changes nothing.
    shown = await api.http.get(f"/instances/{instance_id}", headers=api.auth("auditor"))
    assert shown.status_code == 200
    mutations = [
        ("/process-models", {"content": LIFE.encode(), "headers": {"Content-Type": "text/xml"}}),
        (
            "/instances",
            {
                "json": {
                    "process_id": "api_life",
                    "business_key": "a",
                    "title": "t",
                    "variables": {"region": "SE-AB"},
                }
            },
        ),
        (
            f"/instances/{instance_id}/tasks/Review/complete",
            {"json": {"payload": {"verdict": "yes"}}},
        ),
        (f"/instances/{instance_id}/messages/supplement", {"json": {"payload": {}}}),
        (f"/instances/{instance_id}/incidents/x/retry", {"json": {}}),
        (f"/instances/{instance_id}/cancel", {"json": {"reason": "audit"}}),
        (f"/instances/{instance_id}/documents", {"files": {"file": ("a.txt", b"x")}}),
    ]
    for path, kwargs in mutations:
        headers = {**api.auth("auditor"), **kwargs.pop("headers", {})}
        response = await api.http.post(path, headers=headers, **kwargs)
        assert "is an auditor" in assert_error(response, 403, "forbidden")["detail"], path


async def test_complete_task_by_non_candidate_is_forbidden_and_never_reaches_history(api: Api):
    await api.deploy(ONE_TASK)
    instance_id = await api.start("api_one", "forbidden-1")
    # The Norwegian agency reads the case, so it is told why (a region would get the 404).
    response = await api.complete(instance_id, "Decide", {"verdict": "yes"}, "hdir-officer")
    body = assert_error(response, 403, "forbidden")
    assert "role officer in organisation SE-SOS" in body["detail"]
    history = await api.client.get_workflow_handle(instance_id).fetch_history()
    assert not [
        e
        for e in history.events
        if e.HasField("workflow_execution_update_admitted_event_attributes")
        or e.HasField("workflow_execution_update_accepted_event_attributes")
    ]


# --- 404 ------------------------------------------------------------------------------------


async def test_unknown_things_are_not_found(api: Api):
    await api.deploy(ONE_TASK)
    instance_id = await api.start("api_one", "missing-1")
    officer = api.auth("sos-officer")
    cases = [
        await api.http.post(
            "/instances",
            json={"process_id": "nope", "business_key": "k", "title": "t"},
            headers=officer,
        ),
        await api.http.post(
            "/instances",
            json={"process_id": "api_one", "version": 9, "business_key": "k", "title": "t"},
            headers=officer,
        ),
        await api.http.get("/process-models/nope", headers=officer),
        await api.http.get("/process-models/api_one/bpmn?version=7", headers=officer),
        await api.http.get("/instances/api_one:no-such-key", headers=officer),
        await api.http.get(f"/instances/{instance_id}/tasks/Nope", headers=officer),
        await api.complete(instance_id, "Nope", {}, "sos-officer"),
        await api.http.post(
            f"/instances/{instance_id}/incidents/nope/retry", json={}, headers=api.auth("operator")
        ),
        await api.http.get(f"/instances/{instance_id}/documents/{'0' * 64}", headers=officer),
        await api.http.get("/no/such/route", headers=officer),
    ]
    details = [assert_error(r, 404, "not_found")["detail"] for r in cases]
    assert "no process 'nope' is deployed (deployed: api_one)" in details[0]
    assert "has no version 9" in details[1]
    assert "open tasks: Decide" in details[5]
    assert "open tasks: Decide" in details[6]
    assert "open incidents: none" in details[7]
    assert "no route GET /no/such/route" in details[9]


async def test_workflow_that_is_not_a_case_is_not_found(api: Api):
    await worker.probe(api.client, api.task_queue)
    [probe] = [w async for w in api.client.list_workflows(f'TaskQueue = "{api.task_queue}"')]
    response = await api.http.get(f"/instances/{probe.id}", headers=api.auth("auditor"))
    assert "not a process instance" in assert_error(response, 404, "not_found")["detail"]


async def test_method_not_allowed_has_the_error_shape(api: Api):
    response = await api.http.delete("/instances", headers=api.auth("auditor"))
    assert_error(response, 405, "method_not_allowed")


# --- 409 ------------------------------------------------------------------------------------


async def test_conflicts_name_their_cause(api: Api):
    await api.deploy(LIFE)
    instance_id = await api.start("api_life", "conflict-1", {"region": "SE-AB"})
    again = await api.http.post(
        "/instances",
        json={
            "process_id": "api_life",
            "business_key": "conflict-1",
            "title": "again",
            "variables": {"region": "SE-AB"},
        },
        headers=api.auth("sos-officer"),
    )
    assert assert_error(again, 409, "conflict")["instance_id"] == instance_id

    nobody_waits = await api.http.post(
        f"/instances/{instance_id}/messages/supplement",
        json={"payload": {}},
        headers=api.auth("sos-officer"),
    )
    body = assert_error(nobody_waits, 409, "conflict")
    assert body["accepts"] == []
    assert "no subscription waits for message 'supplement'" in body["detail"]
    # The region may not read the case yet: it learns nothing of what the case waits for.
    hidden = await api.http.post(
        f"/instances/{instance_id}/messages/supplement",
        json={"payload": {}},
        headers=api.auth("registrator-ab"),
    )
    assert assert_error(hidden, 404, "not_found")["detail"] == f"no such instance: {instance_id}"

    first = await api.complete(instance_id, "Review", {"verdict": "yes"}, "sos-officer")
    assert first.status_code == 200
    second = await api.complete(instance_id, "Review", {"verdict": "yes"}, "sos-officer")
    assert "already completed by sos-officer" in assert_error(second, 409, "conflict")["detail"]

    cancelled = await api.http.post(
        f"/instances/{instance_id}/cancel", json={"reason": "r"}, headers=api.auth("operator")
    )
    assert cancelled.status_code == 200
    for response in (
        await api.http.post(
            f"/instances/{instance_id}/cancel", json={"reason": "r"}, headers=api.auth("operator")
        ),
        await api.http.post(
            f"/instances/{instance_id}/messages/supplement",
            json={"payload": {}},
            headers=api.auth("sos-officer"),
        ),
        await api.http.post(
            f"/instances/{instance_id}/documents",
            files={"file": ("a", b"a")},
            headers=api.auth("sos-officer"),
        ),
        await api.complete(instance_id, "Sign", {}, "hdir-officer"),
    ):
        assert "has ended (cancelled)" in assert_error(response, 409, "conflict")["detail"]
    # The region never read the case: the ended case is as hidden as the running one was.
    hidden = await api.complete(instance_id, "Sign", {}, "registrator-ab")
    assert assert_error(hidden, 404, "not_found")["detail"] == f"no such instance: {instance_id}"


async def test_update_on_ended_case_translates_to_conflict(api: Api):
    await api.deploy(ONE_TASK)
    instance_id = await api.start("api_one", "ended-1")
    assert (
        await api.complete(instance_id, "Decide", {"verdict": "yes"}, "sos-officer")
    ).status_code == 200
    handle = api.client.get_workflow_handle(instance_id)
    await handle.result()
    with pytest.raises(RPCError) as caught:
        await handle.execute_update("cancel", {"reason": "late", "actor": {"subject": "x"}})
    translated = translate(caught.value)
    assert translated is not None
    assert translated.status_code == 409
    assert "the case has ended" in translated.body.detail


# --- 413, 415, 422 --------------------------------------------------------------------------


async def test_bad_bodies_are_refused_with_fields_or_problems(api: Api):
    modeler = api.auth("modeler")
    as_json = await api.http.post("/process-models", json={"x": 1}, headers=modeler)
    assert_error(as_json, 415, "unsupported_media_type")
    broken = LIFE.replace('targetRef="Check"', 'targetRef="Gone"')
    refused = await api.http.post(
        "/process-models",
        content=broken.encode(),
        headers={**modeler, "Content-Type": "application/xml"},
    )
    body = assert_error(refused, 422, "invalid")
    assert any(
        p["element_id"] == "f2" and p["line"] and "Gone" in p["message"] for p in body["problems"]
    )
    not_xml = await api.http.post(
        "/process-models", content=b"hello", headers={**modeler, "Content-Type": "text/xml"}
    )
    assert assert_error(not_xml, 422, "invalid")["problems"]

    await api.deploy(LIFE)
    officer = api.auth("sos-officer")
    missing = await api.http.post("/instances", json={"process_id": "api_life"}, headers=officer)
    body = assert_error(missing, 422, "invalid")
    assert {tuple(f["loc"]) for f in body["fields"]} == {
        ("body", "business_key"),
        ("body", "title"),
    }
    bad_start = await api.http.post(
        "/instances",
        json={"process_id": "api_life", "business_key": "b", "title": "t", "variables": {}},
        headers=officer,
    )
    assert assert_error(bad_start, 422, "invalid")["fields"][0]["loc"] == ["region"]

    instance_id = await api.start("api_life", "invalid-1", {"region": "SE-AB"})
    form = await api.complete(instance_id, "Review", {"verdict": "maybe"}, "sos-officer")
    assert assert_error(form, 422, "invalid")["fields"][0]["loc"] == ["verdict"]
    # The form passes, the model's constraint does not: the case itself refuses it.
    constraint = await api.complete(instance_id, "Review", {"verdict": "no"}, "sos-officer")
    assert "a refusal needs a comment" in assert_error(constraint, 422, "invalid")["detail"]


async def test_uploads_over_the_limit_are_too_large(
    client: Client, task_queue: str, tmp_path: Path
):
    app, tokens, store, _ = build_app(
        client, task_queue, tmp_path, settings=ApiSettings(max_upload_bytes=1000)
    )
    by_subject = {"Authorization": f"Bearer {tokens['modeler']}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        big_model = LIFE.replace(
            "</bpmn:definitions>", "<!--" + "x" * 2000 + "--></bpmn:definitions>"
        )
        response = await http.post(
            "/process-models",
            content=big_model.encode(),
            headers={**by_subject, "Content-Type": "application/xml"},
        )
        assert_error(response, 413, "payload_too_large")
        async with worker.build_worker(
            client,
            WorkerSettings(task_queue=task_queue),
            store=store,
            activities=activities_for_tests.ALL,
        ):
            deployed = await http.post(
                "/process-models",
                content=ONE_TASK.encode(),
                headers={**by_subject, "Content-Type": "application/xml"},
            )
            assert deployed.status_code == 201
            officer = {"Authorization": f"Bearer {tokens['sos-officer']}"}
            started = await http.post(
                "/instances",
                json={"process_id": "api_one", "business_key": "big", "title": "t"},
                headers=officer,
            )
            instance_id = started.json()["instance_id"]
            upload = await http.post(
                f"/instances/{instance_id}/documents",
                files={"file": ("big.pdf", b"%" * 1001)},
                headers=officer,
            )
            assert_error(upload, 413, "payload_too_large")
            small = await http.post(
                f"/instances/{instance_id}/documents",
                files={"file": ("ok.pdf", b"%" * 1000)},
                headers=officer,
            )
            assert small.status_code == 201


# --- 429 ------------------------------------------------------------------------------------


async def test_busy_temporal_is_retried_then_429():
    calls = []

    async def busy() -> str:
        calls.append(1)
        raise RPCError("namespace rate limit exceeded", RPCStatusCode.RESOURCE_EXHAUSTED, b"")

    with pytest.raises(RPCError) as caught:
        await with_retries(busy, attempts=2)
    assert len(calls) == 3
    translated = translate(caught.value)
    assert translated is not None
    assert translated.status_code == 429
    assert translated.headers["Retry-After"]

    outcomes = iter([RPCError("busy", RPCStatusCode.RESOURCE_EXHAUSTED, b""), None])

    async def busy_once() -> str:
        error = next(outcomes)
        if error is not None:
            raise error
        return "done"

    assert await with_retries(busy_once, attempts=1) == "done"


THREE_TASKS = bpmn("""
<bpmn:process id="api_three" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
  <bpmn:parallelGateway id="Fork"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="A"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="B"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Fork" targetRef="C"/>
  <bpmn:sequenceFlow id="f9" sourceRef="Fork" targetRef="Busy"/>
  <bpmn:serviceTask id="Busy">
    <bpmn:extensionElements><niva:taskDefinition type="slow" timeout="PT1H"/></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f10" sourceRef="Busy" targetRef="Join"/>
  <bpmn:userTask id="A"/>
  <bpmn:userTask id="B"/>
  <bpmn:userTask id="C"/>
  <bpmn:sequenceFlow id="f5" sourceRef="A" targetRef="Join"/>
  <bpmn:sequenceFlow id="f6" sourceRef="B" targetRef="Join"/>
  <bpmn:sequenceFlow id="f7" sourceRef="C" targetRef="Join"/>
  <bpmn:parallelGateway id="Join"/>
  <bpmn:sequenceFlow id="f8" sourceRef="Join" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


@activity.defn(name="slow")
async def slow(call: ServiceCall) -> dict[str, str]:
    """Runs until cancelled: the case is never quiet, so it cannot continue as new."""
    await asyncio.sleep(3600)
    return {}


async def test_case_out_of_update_budget_answers_429(tmp_path: Path):
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from starter.dev import installed_binary
    from workflows import search_attributes

    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=installed_binary("temporal"),
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=[
            "--ui-disable-news-fetch",
            "--headless",
            "--dynamic-config-value",
            "history.maxTotalUpdates=2",
        ],
    )
    try:
        task_queue = f"busy-{uuid.uuid4().hex[:8]}"
        app, tokens, store, _ = build_app(env.client, task_queue, tmp_path)
        store.registry.register_task_type(TaskType(name="slow", description="test: never ends"))
        auth = {"Authorization": f"Bearer {tokens['sos-officer']}"}
        settings = WorkerSettings(task_queue=task_queue, graceful_shutdown_seconds=0)
        async with (
            worker.build_worker(env.client, settings, store=store, activities=[slow]),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            modeler = {"Authorization": f"Bearer {tokens['modeler']}", "Content-Type": "text/xml"}
            assert (
                await http.post("/process-models", content=THREE_TASKS.encode(), headers=modeler)
            ).status_code == 201
            started = await http.post(
                "/instances",
                json={"process_id": "api_three", "business_key": "b", "title": "t"},
                headers=auth,
            )
            instance_id = started.json()["instance_id"]
            statuses = []
            for task in ("A", "B", "C"):
                response = await http.post(
                    f"/instances/{instance_id}/tasks/{task}/complete",
                    json={"payload": {}},
                    headers=auth,
                )
                statuses.append(response.status_code)
            assert statuses == [200, 200, 429]
            assert response.headers["retry-after"]
            assert_error(response, 429, "too_many_requests")
    finally:
        await env.shutdown()


# --- 503 ------------------------------------------------------------------------------------


async def test_unreachable_temporal_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"t": {"subject": "s", "org": "SE-SOS", "roles": ["officer"]}}))
    app = create_app(ApiSettings(tokens_file=tokens), task_queue="unused")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        response = await http.get("/instances/p:k", headers={"Authorization": "Bearer t"})
        assert "Temporal is unreachable" in assert_error(response, 503, "unavailable")["detail"]
        assert response.headers["retry-after"]
        health = await http.get("/health")
        assert health.status_code == 503
        assert health.json()["temporal"] == "unreachable"


async def test_case_without_worker_is_unavailable(client: Client, task_queue: str, tmp_path: Path):
    app, tokens, store, _ = build_app(
        client, task_queue, tmp_path, settings=ApiSettings(query_timeout_seconds=1)
    )
    store.deploy([ModelFile(name="one.bpmn", content=ONE_TASK.encode())])
    auth = {"Authorization": f"Bearer {tokens['sos-officer']}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        started = await http.post(
            "/instances",
            json={"process_id": "api_one", "business_key": "idle", "title": "t"},
            headers=auth,
        )
        assert started.status_code == 201
        response = await http.get(f"/instances/{started.json()['instance_id']}", headers=auth)
        assert "is a worker running" in assert_error(response, 503, "unavailable")["detail"]
    await client.get_workflow_handle(started.json()["instance_id"]).terminate("test done")


async def test_inbox_names_cases_whose_worker_is_gone(
    client: Client, task_queue: str, tmp_path: Path
):
    app, tokens, store, _ = build_app(
        client, task_queue, tmp_path, settings=ApiSettings(query_timeout_seconds=1)
    )
    store.deploy([ModelFile(name="one.bpmn", content=ONE_TASK.encode())])
    auth = {"Authorization": f"Bearer {tokens['sos-officer']}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        async with worker.build_worker(
            client,
            WorkerSettings(task_queue=task_queue),
            store=store,
            activities=activities_for_tests.ALL,
        ):
            started = await http.post(
                "/instances",
                json={"process_id": "api_one", "business_key": "orphan", "title": "t"},
                headers=auth,
            )
            instance_id = started.json()["instance_id"]

            async def in_inbox() -> bool:
                inbox = (await http.get("/tasks", headers=auth)).json()
                return [t["task_id"] for t in inbox["tasks"]] == ["Decide"]

            await until(in_inbox)
        inbox = await http.get("/tasks", headers=auth)
        assert inbox.status_code == 200
        assert inbox.json()["tasks"] == []
        assert inbox.json()["unanswered"] == [instance_id]
    await client.get_workflow_handle(instance_id).terminate("test done")
