"""``POST /messages`` and ``niva messages publish`` on a real dev server: a message published
by correlation key reaches every case waiting with that key whose subscription admits the
publisher, none otherwise; with a ttl it waits, durably, for a case to subscribe; a repeated
``message_id`` is answered with the first result."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from activities.publication import waiting_cases_query
from tests.starter.api.test_cli_commands import niva
from tests.support.api import Api
from tests.support.correlation import FULFIL, ORDER
from workflows.candidates import Actor
from workflows.publication import (
    PUBLICATION_WORKFLOW,
    PublicationOutcome,
    PublishMessageInput,
    message_start_business_key,
    publication_id,
)

_SETTLE = 30.0
"""The longest a test waits for the dev server to reach a state (never a timer race)."""


async def publish(api: Api, subject: str, **body: Any) -> httpx.Response:
    """POST /messages as ``subject``."""
    return await api.http.post("/messages", json=body, headers=api.auth(subject))


async def order(api: Api, business_key: str, order_id: str, region: str = "SE-AB") -> str:
    """Start an order case waiting for ``payment`` with ``order_id``."""
    return await api.start("corr_order", business_key, {"order_id": order_id, "region": region})


async def listed(client: Client, name: str, key: str, expected: set[str]) -> None:
    """Wait until visibility lists exactly ``expected`` as waiting for ``name`` with ``key``
    (the dev server indexes a moment after the case upserts)."""
    query = waiting_cases_query(name, key)
    async with asyncio.timeout(_SETTLE):
        while {w.id async for w in client.list_workflows(query)} != expected:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def internal(api: Api, instance_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await api.client.get_workflow_handle(instance_id).query(
        "instance_state"
    )
    return result


async def test_publish_messages_reaches_every_case_waiting_with_the_key(api: Api):
    await api.deploy(ORDER)
    first = await order(api, "o-1", "A-1")
    second = await order(api, "o-2", "A-1")
    other = await order(api, "o-3", "B-2")
    await listed(api.client, "payment", "A-1", {first, second})

    response = await publish(
        api, "registrator-ab", name="payment", correlation_key="A-1", variables={"paid": 100}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["delivered_to"] == sorted([first, second])
    assert body["buffered_until"] is None
    assert body["message_id"]
    for case in (first, second):
        result = await api.client.get_workflow_handle(case).result()
        assert result["outcome"] == "Betald"
        assert result["variables"]["paid"] == 100
    assert (await internal(api, other))["subscriptions"] != {}
    await listed(api.client, "payment", "A-1", set())


async def test_publish_messages_refused_by_a_case_tells_nothing_of_it(api: Api):
    await api.deploy(ORDER)
    case = await order(api, "o-4", "C-3", region="SE-AB")
    await listed(api.client, "payment", "C-3", {case})

    # Region C is no candidate of the case's subscription: delivered to none, as if no
    # case waited, and the case keeps no trace of it.
    refused = await publish(api, "registrator-c", name="payment", correlation_key="C-3")
    assert refused.status_code == 200, refused.text
    assert refused.json()["delivered_to"] == []
    state = await internal(api, case)
    assert len(state["subscriptions"]) == 1
    assert not [e for e in state["audit"] if e["kind"].startswith("message")]

    auditor = await publish(api, "auditor", name="payment", correlation_key="C-3")
    assert auditor.status_code == 403, auditor.text
    assert auditor.json()["error"] == "forbidden"


async def test_publish_messages_without_subscriber_or_ttl_reaches_none(api: Api):
    response = await publish(api, "sos-officer", name="payment", correlation_key="nobody")
    assert response.status_code == 200, response.text
    assert response.json()["delivered_to"] == []
    assert response.json()["buffered_until"] is None


async def test_publish_messages_again_with_the_message_id_gets_the_first_result(api: Api):
    await api.deploy(ORDER)
    case = await order(api, "o-5", "D-4")
    await listed(api.client, "payment", "D-4", {case})
    body = {"name": "payment", "correlation_key": "D-4", "message_id": "pay-D-4"}

    first = await publish(api, "registrator-ab", **body, variables={"paid": 1})
    await api.client.get_workflow_handle(case).result()  # the case has ended since
    again = await publish(api, "registrator-ab", **body, variables={"paid": 2})

    assert first.status_code == again.status_code == 200
    assert (
        first.json()
        == again.json()
        == {
            "message_id": "pay-D-4",
            "delivered_to": [case],
            "buffered_until": None,
        }
    )
    received = [e for e in (await internal(api, case))["audit"] if e["kind"] == "message"]
    assert len(received) == 1
    # Another principal's same id is their own publication: it reaches no ended case.
    theirs = await publish(api, "registrator-c", **body)
    assert theirs.json()["delivered_to"] == []


async def test_publish_messages_with_ttl_waits_for_a_case_to_subscribe(api: Api):
    await api.deploy(ORDER)
    before = datetime.now(UTC)
    body = {"name": "payment", "correlation_key": "E-5", "ttl": "PT1H", "message_id": "e5"}

    response = await publish(api, "registrator-ab", **body, variables={"paid": 5})

    assert response.status_code == 200, response.text
    kept = response.json()
    assert kept["delivered_to"] == []
    until = datetime.fromisoformat(kept["buffered_until"])
    assert before + timedelta(minutes=59) < until < before + timedelta(minutes=61)
    # A case of another region subscribes first: the publisher may not reach it, so the
    # message waits on; then the region's own case subscribes and receives it, once.
    foreign = await order(api, "o-6", "E-5", region="SE-C")
    case = await order(api, "o-7", "E-5")
    async with asyncio.timeout(_SETTLE):
        result = await api.client.get_workflow_handle(case).result()
    assert result["variables"]["paid"] == 5
    assert (await internal(api, foreign))["subscriptions"] != {}
    publication = api.client.get_workflow_handle(_publication_of(kept, api))
    outcome = await publication.result()
    assert outcome["delivered_later"] == [case]
    again = await publish(api, "registrator-ab", **body)
    assert again.json() == kept


async def test_a_buffered_publication_continues_as_new_and_still_delivers_once(api: Api):
    await api.deploy(ORDER)
    actor = Actor(subject="registrator-ab", org="SE-AB", roles=["registrator"])
    workflow_id = publication_id("registrator-ab", "payment", "H-8", "h8")
    request = PublishMessageInput(
        message_id="h8",
        name="payment",
        correlation_key="H-8",
        variables={"paid": 8},
        actor=actor,
        ttl="PT1H",
        poll_initial_seconds=0.05,
        poll_max_seconds=0.05,
        continue_after_events=100,
    )
    handle = await api.client.start_workflow(
        PUBLICATION_WORKFLOW,
        request,
        id=workflow_id,
        task_queue=api.task_queue,
        result_type=PublicationOutcome,
    )
    first_run = handle.first_execution_run_id
    async with asyncio.timeout(_SETTLE):  # the looks go on in a new run
        while (await handle.describe()).run_id == first_run:  # noqa: ASYNC110
            await asyncio.sleep(0.1)

    case = await order(api, "o-9", "H-8")
    async with asyncio.timeout(_SETTLE):
        outcome = await handle.result()
        result = await api.client.get_workflow_handle(case).result()

    assert outcome.delivered_later == [case]
    assert outcome.first.delivered_to == []
    assert outcome.first.buffered_until is not None
    assert result["variables"]["paid"] == 8
    again = await publish(
        api, "registrator-ab", name="payment", correlation_key="H-8", message_id="h8"
    )
    assert again.json()["buffered_until"] is not None
    assert again.json()["delivered_to"] == []


async def test_publish_messages_starts_one_running_case_per_key_at_a_message_start(api: Api):
    await api.deploy(FULFIL)
    expected = f"corr_fulfil:{message_start_business_key('K-1')}"

    placed = await publish(
        api, "registrator-ab", name="order_placed", correlation_key="K-1", variables={"n": 1}
    )
    again = await publish(api, "registrator-ab", name="order_placed", correlation_key="K-1")
    other = await publish(api, "registrator-ab", name="order_placed", correlation_key="K-2")
    # Region C may not start the process: nothing starts, and it is told nothing of it.
    refused = await publish(api, "registrator-c", name="order_placed", correlation_key="K-3")

    assert placed.json()["delivered_to"] == [expected]
    assert again.json()["delivered_to"] == []  # that key's case runs
    assert other.json()["delivered_to"] == [f"corr_fulfil:{message_start_business_key('K-2')}"]
    assert refused.json()["delivered_to"] == []
    view = await api.client.get_workflow_handle(expected).query("state")
    assert view["variables"] == {"n": 1}
    assert [t["element_id"] for t in view["open_tasks"]] == ["Pack"]
    assert "K-1" not in expected


def _publication_of(kept: dict[str, Any], api: Api) -> str:
    return publication_id("registrator-ab", "payment", "E-5", kept["message_id"])


async def test_publish_messages_refuses_bad_input_with_field_errors(api: Api):
    cases = [
        ({"name": "pay\u200bment", "correlation_key": "k"}, "name"),
        ({"name": "payment", "correlation_key": " k"}, "correlation_key"),
        ({"name": "payment", "correlation_key": "k" * 201}, "correlation_key"),
        ({"name": "payment", "correlation_key": "k", "ttl": "1 hour"}, "ttl"),
        ({"name": "payment", "correlation_key": "k", "ttl": "PT0S"}, "ttl"),
        ({"name": "payment", "correlation_key": "k", "message_id": "a\nb"}, "message_id"),
        ({"name": "payment", "correlation_key": "k", "variables": [1]}, "variables"),
        ({"name": "payment"}, "correlation_key"),
        ({"name": "payment", "correlation_key": "k", "extra": 1}, "extra"),
    ]
    for body, field in cases:
        response = await publish(api, "sos-officer", **body)
        assert response.status_code == 422, (body, response.text)
        error = response.json()
        assert error["error"] == "invalid", error
        assert error["detail"]
        assert [f["loc"][1] for f in error["fields"]][:1] == [field], (body, error)


async def test_publish_messages_refuses_variables_no_case_could_hold(api: Api, monkeypatch):
    monkeypatch.setenv("NIVA_LIMITS_MAX_VARIABLES_BYTES", "2000")
    response = await publish(
        api, "sos-officer", name="payment", correlation_key="k", variables={"text": "x" * 2000}
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "payload_too_large"
    assert "NIVA_LIMITS_MAX_VARIABLES_BYTES" in response.json()["detail"]


async def test_cli_publishes_messages(api: Api, served: str, tmp_path: Path):
    await api.deploy(ORDER)
    case = await order(api, "o-8", "F-6")
    await listed(api.client, "payment", "F-6", {case})
    region = api.tokens["registrator-ab"]

    args = ("messages", "publish", "payment", "--key", "F-6", "--message-id", "f6")
    sent = await niva(*args, "--variables", '{"paid": 6}', url=served, token=region)
    assert sent.exit_code == 0, sent.output
    assert sent.output.strip() == f"payment (f6) delivered to {case}"

    kept = await niva(
        "messages",
        "publish",
        "payment",
        "-k",
        "G-7",
        "--ttl",
        "PT1H",
        "--json",
        url=served,
        token=region,
    )
    assert kept.exit_code == 0, kept.output
    assert '"buffered_until"' in kept.output

    bad = await niva(
        "messages", "publish", "payment", "-k", "G-7", "--ttl", "soon", url=served, token=region
    )
    assert bad.exit_code == 1
    assert "422" in bad.stderr
