"""Camunda 8 models from public repositories run unmodified to their end events.

Each model under ``tests/data/camunda8/<repository>/`` (see its ``SOURCES.md``) is deployed
byte for byte through the API on a real Temporal dev server and driven as its repository's
own tests drive it: its job types are served by a test job worker on the job workers' queue
(``niva-jobs``), returning what the model's gateways and mappings need; user tasks are
completed through the API; messages are published by correlation key through
``POST /messages``; short timers pass on the dev server's clock. Each test asserts the end
event(s) the case reached (the case's node visits) and what the model computes.

The store's registry is the shipped one: the test task types ``echo`` and ``fail`` of
`tests.workflows.harness.registry_with_test_types` would shadow the job type ``fail`` of
``demoProcess.bpmn``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from temporalio.client import Client

import worker
from activities.document_store import FilesystemDocumentStore
from activities.publication import waiting_cases_query
from process_models.deployments import ModelFile, ModelStore
from process_models.registry import default_registry
from process_models.store import FileBlobStore
from service_contract import JOBS_TASK_QUEUE, JobCall
from starter.api.app import create_app
from starter.api.auth import ensure_dev_tokens, read_tokens_file
from starter.settings import ApiSettings, WorkerSettings
from tests.support import log_audit
from tests.support.api import Api
from tests.support.job_worker import JobHandler, JobWorker, job_bpmn_error, running_job_worker
from tests.workflows import activities_for_tests
from workflows.interpreter import Interpreter
from workflows.model import load_model
from workflows.state import InstanceState

DATA = Path(__file__).resolve().parents[1] / "data" / "camunda8"
JS_SDK = DATA / "camunda-8-js-sdk"
PYZEEBE = DATA / "pyzeebe"
SPRING = DATA / "spring-zeebe"
ZPT = DATA / "zeebe-process-test"

_SETTLE = 30.0
"""The longest a test waits for the dev server to reach a state (never a timer race)."""

USER = "sos-officer"
"""Starts the cases and completes their user tasks (the models name no candidates)."""

PUBLISHER = "sos-officer"
"""Publishes the messages (the models' subscriptions name no candidates)."""


@pytest.fixture
async def api(
    client: Client, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    """The app and a worker on the test's task queue, with the shipped registry; jobs go to
    the default job workers' queue, ``niva-jobs``."""
    monkeypatch.delenv("NIVA_WORKER_JOBS_TASK_QUEUE", raising=False)
    tokens_file = ensure_dev_tokens(tmp_path)
    tokens = {entry.subject: token for token, entry in read_tokens_file(tokens_file).items()}
    log_audit.secret(*tokens.values(), what="dev token")
    store = ModelStore(FileBlobStore(tmp_path / "models"), registry=default_registry.copy())
    documents = FilesystemDocumentStore(tmp_path / "documents")
    settings = ApiSettings().model_copy(update={"tokens_file": tokens_file})
    app = create_app(
        settings, client=client, store=store, task_queue=task_queue, document_store=documents
    )
    running = worker.build_worker(
        client,
        WorkerSettings(task_queue=task_queue),
        store=store,
        activities=activities_for_tests.ALL,
    )
    async with (
        running,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://niva.test"
        ) as http,
    ):
        running_api = Api(app, http, tokens, store, documents, client, task_queue)
        try:
            yield running_api
        finally:
            await _terminate_running(running_api)


async def _terminate_running(api: Api) -> None:
    """End whatever a failed test left running, so no job of it outlives the test."""
    async for execution in api.client.list_workflows(
        f"TaskQueue = '{api.task_queue}' AND ExecutionStatus = 'Running'"
    ):
        with contextlib.suppress(Exception):
            await api.client.get_workflow_handle(execution.id).terminate("test ended")


# --- driving a case -----------------------------------------------------------------------


async def deploy(api: Api, *paths: Path) -> None:
    """Deploy the files unmodified, each as the modeller would upload it."""
    for path in paths:
        response = await api.http.post(
            "/process-models",
            files=[("files", (path.name, path.read_bytes()))],
            headers=api.auth("modeler"),
        )
        assert response.status_code in (200, 201), response.text


@contextlib.asynccontextmanager
async def serving(api: Api, handlers: dict[str, JobHandler]) -> AsyncIterator[JobWorker]:
    """A job worker for ``handlers`` on ``niva-jobs`` until the block ends."""
    async with running_job_worker(api.client, JOBS_TASK_QUEUE, JobWorker(handlers)) as jobs:
        yield jobs


def returns(result: dict[str, Any] | None = None) -> JobHandler:
    """A job handler that completes every job with ``result``."""

    async def handle(job: JobCall) -> dict[str, Any] | None:
        return result

    return handle


async def state(api: Api, instance_id: str) -> dict[str, Any]:
    """The case's internal state (its variables, visits, open tasks)."""
    result: dict[str, Any] = await api.client.get_workflow_handle(instance_id).query(
        "instance_state"
    )
    return result


async def until(
    api: Api, instance_id: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The case's state once ``check`` holds for it."""
    async with asyncio.timeout(_SETTLE):
        # The case moves on the worker's time (jobs, the dev server's timers): poll it.
        while not check(current := await state(api, instance_id)):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    return current


def open_tasks(current: dict[str, Any], element_id: str) -> list[str]:
    """The ids of the open activities of ``element_id`` (``requestReview#2`` the second
    time the case enters ``requestReview``)."""
    return [a["id"] for a in current["activities"].values() if a["element_id"] == element_id]


async def complete(api: Api, instance_id: str, element_id: str, payload: dict[str, Any]) -> None:
    """Wait for the user task to open, then complete it through the API."""
    current = await until(api, instance_id, lambda s: bool(open_tasks(s, element_id)))
    (task_id,) = open_tasks(current, element_id)
    done = await api.complete(instance_id, quote(task_id, safe=""), payload, USER)
    assert done.status_code == 200, done.text


async def publish(api: Api, name: str, key: str, **variables: Any) -> list[str]:
    """``POST /messages`` by correlation key; the cases it reached."""
    response = await api.http.post(
        "/messages",
        json={"name": name, "correlation_key": key, "variables": variables},
        headers=api.auth(PUBLISHER),
    )
    assert response.status_code == 200, response.text
    delivered: list[str] = response.json()["delivered_to"]
    return delivered


async def publish_to(api: Api, instance_id: str, name: str, key: str, **variables: Any) -> None:
    """Publish once visibility lists the case as waiting for ``name`` with ``key``."""
    query = waiting_cases_query(name, key)
    async with asyncio.timeout(_SETTLE):
        # The dev server indexes a subscription a moment after the case upserts it.
        while not await _listed(api, query, instance_id):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert await publish(api, name, key, **variables) == [instance_id]


async def _listed(api: Api, query: str, instance_id: str) -> bool:
    return instance_id in {w.id async for w in api.client.list_workflows(query)}


async def ended(api: Api, instance_id: str) -> dict[str, Any]:
    """The case's final state once it has ended (completed)."""
    async with asyncio.timeout(_SETTLE):
        await api.client.get_workflow_handle(instance_id).result()
    final = await state(api, instance_id)
    assert final["ended"], final
    assert not final["incidents"], final["incidents"]
    return final


def reached(final: dict[str, Any]) -> set[str]:
    """The activities the case entered (by element id), and its outcome: the name, or
    else the id, of the last end event it reached."""
    return {key.split(":")[0] for key in final["visits"]} | {final["outcome"]}


# --- camunda/camunda-8-js-sdk ---------------------------------------------------------------


async def test_client_deploy_workflow_message_wins_the_event_based_gateway(api: Api):
    await deploy(api, JS_SDK / "Client-DeployWorkflow.bpmn")
    handlers = {
        "demo-service": returns(),
        "process-message": returns({"processed": True}),
        "time-out": returns({"timedOut": True}),
    }
    async with serving(api, handlers) as jobs:
        case = await api.start("test-process", "deploy-1", {"uniqueId": "u-1"}, subject=USER)
        await publish_to(api, case, "Message_In", "u-1", answer=42)
        final = await ended(api, case)
    assert {"ServiceTask_1ng04rq", "EndEvent_1mns3uj"} <= reached(final)
    assert "ServiceTask_1rszkg1" not in reached(final)
    assert [c.type for c in jobs.calls] == ["demo-service", "process-message"]
    assert final["variables"]["answer"] == 42
    assert final["variables"]["processed"] is True


async def test_client_deploy_workflow_timer_wins_without_a_message(api: Api):
    await deploy(api, JS_SDK / "Client-DeployWorkflow.bpmn")
    handlers = {
        "demo-service": returns(),
        "process-message": returns({"processed": True}),
        "time-out": returns({"timedOut": True}),
    }
    async with serving(api, handlers) as jobs:
        case = await api.start("test-process", "deploy-2", {"uniqueId": "u-2"}, subject=USER)
        # The model's PT5S timer passes on the dev server's clock.
        final = await ended(api, case)
    assert {"ServiceTask_1rszkg1", "EndEvent_1mns3uj"} <= reached(final)
    assert [c.type for c in jobs.calls] == ["demo-service", "time-out"]
    assert final["variables"]["timedOut"] is True


async def test_client_throw_error_is_caught_at_the_subprocess_with_its_variables(api: Api):
    await deploy(api, JS_SDK / "Client-ThrowError.bpmn")

    async def throw(job: JobCall) -> None:
        raise job_bpmn_error("BUSINESS_ERROR", "Well, that didn't work", {"something": "BAD"})

    handlers = {"throw-bpmn-error-task": throw, "sad-flow": returns()}
    async with serving(api, handlers) as jobs:
        case = await api.start("throw-bpmn-error", "throw-1", subject=USER)
        final = await ended(api, case)
    # Both end events are named "End": the sad flow's task tells which one ended it.
    assert final["outcome"] == "End"
    assert "Task_1h8n9x5" in reached(final)
    assert [c.type for c in jobs.calls] == ["throw-bpmn-error-task", "sad-flow"]
    # The boundary's output mapping takes the error's variable into the process.
    assert final["variables"]["something"] == "BAD"


async def test_tasklist_test_process_completes_its_embedded_form(api: Api):
    await deploy(api, JS_SDK / "TasklistTestProcess.bpmn")
    case = await api.start("TasklistTestProcess", "tasklist-1", subject=USER)
    await complete(api, case, "Activity_0urphmi", {"field_1dqp4e0": "Ada"})
    final = await ended(api, case)
    assert "Event_0kj9onz" in reached(final)
    assert final["variables"]["field_1dqp4e0"] == "Ada"


@pytest.mark.parametrize(("condition", "path"), [(True, "pathA"), (False, "pathB")])
async def test_conditional_pathway_takes_the_path_of_its_condition(
    api: Api, condition: bool, path: str
):
    await deploy(api, JS_SDK / "conditional-pathway.bpmn")
    handlers = {"wait": returns(), "pathA": returns(), "pathB": returns()}
    async with serving(api, handlers) as jobs:
        case = await api.start(
            "condition-test", f"cond-{path}", {"conditionVariable": condition}, subject=USER
        )
        final = await ended(api, case)
    assert "EndEvent_1g2ztlo" in reached(final)
    assert [c.type for c in jobs.calls] == ["wait", path]


async def test_message_correlation_test_receives_the_message_of_its_order(api: Api):
    await deploy(api, JS_SDK / "message-correlation-test.bpmn")
    # A number as key, as the model's example output has it: published as its string form.
    case = await api.start("message-correlation-test", "corr-1", {"orderId": 1}, subject=USER)
    other = await api.start("message-correlation-test", "corr-2", {"orderId": 2}, subject=USER)
    await publish_to(api, case, "MESSAGE_CORRELATION_TEST_CATCH", "1", correlated=True)
    final = await ended(api, case)
    assert final["outcome"] == "Message Correlation Test Complete"
    assert final["variables"]["correlated"] is True
    assert not (await state(api, other))["ended"]


async def test_zeebe_user_task_is_completed_through_the_api(api: Api):
    await deploy(api, JS_SDK / "zeebe-user-task.bpmn")
    case = await api.start("zeebe-user-task-test", "zut-1", subject=USER)
    await complete(api, case, "Activity_1d6heog", {"done": True})
    final = await ended(api, case)
    assert final["outcome"] == "Zeebe User Task test completed"
    assert final["variables"]["done"] is True


# --- camunda-community-hub/pyzeebe ----------------------------------------------------------


async def pyzeebe_task(job: JobCall) -> dict[str, Any]:
    """pyzeebe's integration test worker: fails when told to, else echoes its input."""
    if job.variables.get("should_throw"):
        raise RuntimeError("Error thrown")
    return {"output": f"{job.variables['input']}-done"}


async def test_pyzeebe_test_process_maps_the_job_output(api: Api):
    await deploy(api, PYZEEBE / "test.bpmn")
    async with serving(api, {"test": pyzeebe_task}) as jobs:
        case = await api.start(
            "test", "py-1", {"input": "hello", "should_throw": False}, subject=USER
        )
        final = await ended(api, case)
    assert "Event_1bh2p7v" in reached(final)
    assert final["variables"]["output"] == "hello-done"
    assert jobs.calls[0].inputs == {"input": "hello", "should_throw": False}


async def test_pyzeebe_test_process_starts_by_message(api: Api):
    await deploy(api, PYZEEBE / "test.bpmn")
    async with serving(api, {"test": pyzeebe_task}):
        started = await publish(
            api, "start_test_process", "py-msg", input="by message", should_throw=False
        )
        assert len(started) == 1
        final = await ended(api, started[0])
    assert final["outcome"] == "Event_1bh2p7v"
    assert final["audit"][0]["element_id"] == "Event_0hg01mt"
    assert final["variables"]["output"] == "by message-done"


# --- camunda-community-hub/spring-zeebe -----------------------------------------------------


async def test_spring_zeebe_demo_process_ends_after_the_failing_task_s_error(api: Api):
    await deploy(api, SPRING / "demoProcess.bpmn")

    async def fail(job: JobCall) -> None:
        raise job_bpmn_error("DOESNT_WORK", "On purpose")

    handlers = {"foo": returns({"fooed": True}), "bar": returns(), "fail": fail}
    async with serving(api, handlers) as jobs:
        case = await api.start("demoProcess", "demo-1", {"a": "from a"}, subject=USER)
        final = await ended(api, case)
    assert final["outcome"] == "Ended after error"
    assert [c.element_id for c in jobs.calls] == ["taskA", "taskB", "Activity_0m0rnae", "taskC"]
    assert jobs.calls[0].inputs == {"foo": "from a"}
    # Task A maps only its output ``bar`` (= its input ``foo``).
    assert final["variables"]["bar"] == "from a"
    assert "foo" not in final["variables"]


# --- camunda/zeebe-process-test -------------------------------------------------------------


async def test_start_end_runs_to_its_end(api: Api):
    await deploy(api, ZPT / "start-end.bpmn")
    case = await api.start("start-end", "se-1", subject=USER)
    final = await ended(api, case)
    assert final["outcome"] == "Event_0ahcnkn"


async def test_call_activity_calls_start_end(api: Api):
    await deploy(api, ZPT / "start-end.bpmn", ZPT / "call-activity.bpmn")
    case = await api.start("call-activity", "ca-1", subject=USER)
    final = await ended(api, case)
    assert {"callactivity", "Event_1w612bd"} <= reached(final)
    assert len(final["children"]) == 1


async def test_automated_tests_run_once_per_operating_system(api: Api):
    await deploy(api, ZPT / "automated-tests.bpmn")
    async with serving(api, {"runTests": returns()}) as jobs:
        case = await api.start("automatedTestsProcess", "at-1", subject=USER)
        final = await ended(api, case)
    assert "Event_0mdz5cy" in reached(final)
    assert sorted(c.variables["operatingSystem"] for c in jobs.calls) == [
        "macos",
        "ubuntu",
        "windows",
    ]


async def test_looping_servicetask_loops_total_loops_times(api: Api):
    await deploy(api, ZPT / "looping-servicetask.bpmn")
    async with serving(api, {"test": returns()}) as jobs:
        case = await api.start("looping-servicetask", "loop-1", {"totalLoops": 3}, subject=USER)
        final = await ended(api, case)
    assert final["outcome"] == "End event"
    assert jobs.attempts("test") == 3
    assert final["variables"]["loopAmount"] == 3


async def test_message_event_receives_its_message_by_key(api: Api):
    await deploy(api, ZPT / "message-event.bpmn")
    case = await api.start("message-event", "me-1", {"correlationKey": "ck-1"}, subject=USER)
    await publish_to(api, case, "message", "ck-1", received="yes")
    final = await ended(api, case)
    assert "Event_1pevv8z" in reached(final)
    assert final["variables"]["received"] == "yes"


async def test_timer_events_end_at_the_fast_flow_s_terminate_end(api: Api):
    await deploy(api, ZPT / "test_timer_events.bpmn")
    async with serving(api, {"SimpleLog01": returns()}) as jobs:
        case = await api.start("Process_Timer_Test_01", "timer-1", subject=USER)
        final = await ended(api, case)
    assert final["outcome"] == "EndEvent_FastFlow"
    assert jobs.attempts("SimpleLog01") == 1


async def test_pr_created_review_rejected_then_approved_merges_and_deploys(api: Api):
    await deploy(api, ZPT / "automated-tests.bpmn", ZPT / "pr-created.bpmn")
    handlers = {"runTests": returns(), "deploySnapshot": returns(), "remindReviewer": returns()}
    async with serving(api, handlers) as jobs:
        started = await publish(api, "prCreated", "pr-7", prId="pr-7")
        assert len(started) == 1
        case = started[0]
        await complete(api, case, "requestReview", {})
        await publish_to(api, case, "reviewReceived", "pr-7", reviewResult="rejected")
        await complete(api, case, "makeChanges", {})
        await complete(api, case, "requestReview", {})
        await publish_to(api, case, "reviewReceived", "pr-7", reviewResult="approved")
        await complete(api, case, "mergeCode", {})
        final = await ended(api, case)
    assert "Event_12sbcc5" in reached(final)
    assert final["visits"]["requestReview"] == 2
    assert "remindReviewer" not in reached(final)
    assert jobs.attempts("runTests") == 3
    assert jobs.attempts("deploySnapshot") == 1
    assert final["variables"]["reviewResult"] == "approved"


# --- Zeebe maps the outputs of the events it passes (the interpreter alone) -----------------

EVENT_OUTPUTS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_outputs"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="c8-event-outputs" isExecutable="true">
    <bpmn:startEvent id="Start">
      <bpmn:extensionElements>
        <zeebe:ioMapping><zeebe:output source="=0" target="count"/></zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Passed"/>
    <bpmn:intermediateThrowEvent id="Passed">
      <bpmn:extensionElements>
        <zeebe:ioMapping>
          <zeebe:output source="=count + 1" target="count"/>
          <zeebe:output source="=&#34;yes&#34;" target="flags.passed"/>
        </zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:intermediateThrowEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="Passed" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_start_and_none_throw_events_map_their_outputs(tmp_path: Path):
    store = ModelStore(FileBlobStore(tmp_path), registry=default_registry.copy())
    store.deploy([ModelFile(name="outputs.bpmn", content=EVENT_OUTPUTS.encode())])
    case = InstanceState(
        process_id="c8-event-outputs", version=1, business_key="k", title="Case", variables={}
    )
    interpreter = Interpreter(load_model(store.source("c8-event-outputs")), case)
    now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    interpreter.start(now, start_event=None, actor=None)
    interpreter.run(now)
    assert interpreter.state.ended
    assert interpreter.state.outcome == "End"
    assert interpreter.state.variables == {"count": 1, "flags": {"passed": "yes"}}
