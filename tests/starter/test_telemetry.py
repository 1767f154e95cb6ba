"""Traces from an API request to an activity, Temporal's metrics for Prometheus, and the
log context bound in requests and activities."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import worker
from service_contract import ServiceCall
from starter.api.app import create_app
from starter.api.auth import ensure_dev_tokens, read_tokens_file
from starter.settings import ApiSettings, WorkerSettings
from starter.telemetry import configure_tracing, metrics_runtime, tracing_enabled
from tests.support import log_audit
from tests.support.net import free_port
from tests.workflows.harness import bpmn, running_cases

SERVICE_FIRST = bpmn("""
<bpmn:process id="traced" name="Traced" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Notify"/>
  <bpmn:serviceTask id="Notify" name="Underrätta">
    <bpmn:extensionElements><niva:taskDefinition type="echo"/></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Notify" targetRef="Decide"/>
  <bpmn:userTask id="Decide" name="Besluta">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f3" sourceRef="Decide" targetRef="End"/>
  <bpmn:endEvent id="End" name="Klar"/>
</bpmn:process>
""")

SEEN_CONTEXT: list[dict[str, Any]] = []


@activity.defn(name="echo")
async def echo_with_context(call: ServiceCall) -> dict[str, Any]:
    """Remember the log context the activity runs in."""
    SEEN_CONTEXT.append(structlog.contextvars.get_contextvars())
    structlog.get_logger("niva.test").info("echo ran")
    return {"echoed": call.inputs}


def by_id(spans: list[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {span.context.span_id: span for span in spans}


def ancestors(span: ReadableSpan, spans: dict[int, ReadableSpan]) -> list[str]:
    """The names of the span's parents, nearest first, as far as they were recorded."""
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in spans:
        span = spans[parent.span_id]
        names.append(span.name)
        parent = span.parent
    return names


async def wait_for_span(exporter: InMemorySpanExporter, prefix: str, within: float = 15.0):
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_api_start_traces_through_workflow_to_activity(
    temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
):
    exporter = InMemorySpanExporter()
    tracing = configure_tracing("niva-test", exporter=exporter, env={})
    traced = Client(**{**temporal_env.client.config(), "interceptors": list(tracing.interceptors)})
    tokens_file = ensure_dev_tokens(tmp_path)
    tokens = {e.subject: t for t, e in read_tokens_file(tokens_file).items()}
    log_audit.secret(*tokens.values(), what="dev token")
    async with running_cases(traced, task_queue, tmp_path, activities=[echo_with_context]) as cases:
        cases.deploy(SERVICE_FIRST)
        app = create_app(
            ApiSettings(tokens_file=tokens_file),
            client=traced,
            store=cases.store,
            task_queue=task_queue,
            tracing=tracing,
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://niva") as http:
            response = await http.post(
                "/instances",
                json={"process_id": "traced", "business_key": uuid.uuid4().hex[:8], "title": "T"},
                headers={"Authorization": f"Bearer {tokens['sos-officer']}"},
            )
        assert response.status_code == 201, response.text
        cases.started.append(traced.get_workflow_handle(response.json()["instance_id"]))
        [run_activity] = await wait_for_span(exporter, "RunActivity:echo")

    spans = exporter.get_finished_spans()
    index = by_id(list(spans))
    [api_span] = [s for s in spans if s.name.startswith("POST /instances") and s.parent is None]
    # API request → client start → (in the workflow) start activity → activity.
    chain = ancestors(run_activity, index)
    assert chain == ["StartActivity:echo", "StartWorkflow:traced", api_span.name], chain
    # The workflow's own span hangs off the same start.
    [run_workflow] = [s for s in spans if s.name == "RunWorkflow:traced"]
    assert ancestors(run_workflow, index) == ["StartWorkflow:traced", api_span.name]
    assert {s.context.trace_id for s in spans if s.name in chain} == {api_span.context.trace_id}
    assert run_activity.context.trace_id == api_span.context.trace_id
    assert api_span.resource.attributes["service.name"] == "niva-test"


async def test_activity_log_context_names_case_and_task(client: Client, task_queue: str, tmp_path):
    SEEN_CONTEXT.clear()
    async with running_cases(client, task_queue, tmp_path, activities=[echo_with_context]) as cases:
        cases.deploy(SERVICE_FIRST)
        with structlog.testing.capture_logs(
            processors=[structlog.contextvars.merge_contextvars]
        ) as logs:
            handle = await cases.start("traced", business_key="ctx-1")
            await wait_until(lambda: bool(SEEN_CONTEXT))
    [context] = SEEN_CONTEXT
    description = await handle.describe()
    assert context["workflow_id"] == handle.id == "traced:ctx-1"
    assert context["run_id"] == description.run_id
    assert context["activity"] == "echo"
    assert context["task_id"] == "Notify"
    [line] = [entry for entry in logs if entry["event"] == "echo ran"]
    assert line["task_id"] == "Notify"
    assert line["workflow_id"] == handle.id
    # Nothing leaks out of the activity into the test's own context.
    assert "task_id" not in structlog.contextvars.get_contextvars()


async def wait_until(predicate, within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


async def test_api_request_binds_request_id_and_principal(client: Client, tmp_path: Path):
    tokens_file = ensure_dev_tokens(tmp_path)
    tokens = {e.subject: t for t, e in read_tokens_file(tokens_file).items()}
    log_audit.secret(*tokens.values(), what="dev token")
    app = create_app(
        ApiSettings(tokens_file=tokens_file), client=client, tracing=configure_tracing(env={})
    )
    transport = httpx.ASGITransport(app=app)
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as logs:
        async with httpx.AsyncClient(transport=transport, base_url="http://niva") as http:
            response = await http.get(
                "/instances/nope:1",
                headers={
                    "Authorization": f"Bearer {tokens['sos-officer']}",
                    "X-Request-ID": "req-42",
                },
            )
            fresh = await http.get("/health")
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "req-42"
    assert len(fresh.headers["x-request-id"]) == 32
    [line] = [e for e in logs if e["event"] == "request" and e.get("request_id") == "req-42"]
    assert line["status"] == 404
    assert line["path"] == "/instances/nope:1"
    assert line["principal"] == "sos-officer"
    assert line["org"] == "SE-SOS"
    [health] = [e for e in logs if e["event"] == "request" and e["path"] == "/health"]
    assert "principal" not in health
    assert structlog.contextvars.get_contextvars() == {}


def test_tracing_is_off_unless_otel_variables_ask():
    assert not tracing_enabled({})
    assert not configure_tracing(env={}).enabled
    assert configure_tracing(env={}).interceptors == ()
    assert tracing_enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_enabled({"OTEL_TRACES_EXPORTER": "otlp"})
    assert not tracing_enabled({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"})
    assert not tracing_enabled({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})


def test_tracing_with_otlp_exporter_gives_interceptor():
    tracing = configure_tracing(
        "niva-api", env={"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SERVICE_NAME": "api-7"}
    )
    assert tracing.enabled
    [interceptor] = tracing.interceptors
    assert tracing.provider is not None
    assert tracing.provider.resource.attributes["service.name"] == "api-7"
    tracing.provider.shutdown()
    del interceptor


def test_unknown_traces_exporter_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"'zipkin'.*'otlp'.*'console'.*'none'"):
        configure_tracing(env={"OTEL_TRACES_EXPORTER": "zipkin"})


def test_metrics_settings_default_off_and_bind_address():
    assert WorkerSettings().metrics_bind_address is None
    assert metrics_runtime(None) is None
    assert WorkerSettings(metrics_port=9464).metrics_bind_address == "127.0.0.1:9464"
    assert (
        WorkerSettings(metrics_port=9464, metrics_host="::1").metrics_bind_address == "[::1]:9464"
    )


async def test_worker_serves_temporal_metrics_for_prometheus(
    temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, monkeypatch
):
    port = free_port()
    settings = WorkerSettings(task_queue=task_queue, metrics_port=port)
    target = temporal_env.client.service_client.config.target_host
    client = await worker.connect(
        env={"TEMPORAL_ADDRESS": target}, metrics_bind_address=settings.metrics_bind_address
    )
    async with running_cases(client, task_queue, tmp_path, activities=[echo_with_context]) as cases:
        cases.deploy(SERVICE_FIRST)
        await cases.start("traced", business_key=f"metrics-{uuid.uuid4().hex[:6]}")
        async with httpx.AsyncClient() as http:
            text = ""
            for _ in range(50):
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                if "temporal_activity_execution_latency" in text:
                    break
                await asyncio.sleep(0.2)
    assert "temporal_request" in text
    assert "temporal_workflow_task_execution_latency" in text
    assert "temporal_activity_execution_latency" in text
    assert f'task_queue="{task_queue}"' in text
    # A second connect on the same address reuses the endpoint instead of failing to bind.
    assert metrics_runtime(settings.metrics_bind_address) is metrics_runtime(
        settings.metrics_bind_address
    )
