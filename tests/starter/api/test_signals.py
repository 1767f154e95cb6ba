"""``POST /signals/{name}`` and ``niva signals broadcast`` on a real dev server: a signal
reaches every case waiting for it whose subscription admits the caller and starts a case of
each process it may start; a repeated ``signal_id`` is answered with the first result and
reaches no case again; a case that does not admit the caller tells nothing of itself."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from temporalio.client import Client

from activities.signals import waiting_cases_query
from tests.starter.api.test_cli_commands import niva
from tests.support.api import Api
from tests.support.signals import REVIEW, STARTED, WATCH, renamed
from workflows.signals import broadcast_id, signal_start_business_key

_SETTLE = 30.0
"""The longest a test waits for the dev server to reach a state (never a timer race)."""


def own() -> str:
    """A suffix for this test's signal names (`tests.support.signals.renamed`)."""
    return "-" + uuid.uuid4().hex[:8]


async def broadcast(api: Api, subject: str, name: str, **body: Any) -> httpx.Response:
    """POST /signals/{name} as ``subject``."""
    return await api.http.post(
        f"/signals/{quote(name, safe='')}", json=body, headers=api.auth(subject)
    )


async def listed(client: Client, name: str, expected: set[str]) -> None:
    """Wait until visibility lists exactly ``expected`` as waiting for signal ``name``."""
    query = waiting_cases_query(name)
    async with asyncio.timeout(_SETTLE):
        while {w.id async for w in client.list_workflows(query)} != expected:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def internal(api: Api, instance_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await api.client.get_workflow_handle(instance_id).query(
        "instance_state"
    )
    return result


async def test_broadcast_signals_reaches_three_cases_starts_one_and_not_again(api: Api):
    alert = "alert" + (suffix := own())
    await api.deploy(renamed(WATCH, suffix), renamed(STARTED, suffix))
    watching = [await api.start("sig_watch", f"w-{n}") for n in range(3)]
    await listed(api.client, alert, set(watching))

    first = await broadcast(api, "operator", alert, variables={"level": 1}, signal_id="s-1")

    assert first.status_code == 200, first.text
    body = first.json()
    key = signal_start_business_key(broadcast_id("operator", alert, "s-1"), "AlertStart")
    assert body == {
        "signal_id": "s-1",
        "delivered_to": sorted(watching),
        "started": [f"sig_started:{key}"],
    }
    for case in watching:
        state = await internal(api, case)
        assert (state["visits"]["OnAlert"], state["variables"]["level"]) == (1, 1)
    view = await api.client.get_workflow_handle(body["started"][0]).query("state")
    assert view["variables"] == {"level": 1}

    again = await broadcast(api, "operator", alert, variables={"level": 2}, signal_id="s-1")

    assert again.status_code == 200, again.text
    assert again.json() == body
    for case in watching:
        state = await internal(api, case)
        assert (state["visits"]["OnAlert"], state["variables"]["level"]) == (1, 1)


async def test_broadcast_signals_refused_by_every_case_tells_nothing_of_them(api: Api):
    suffix = own()
    await api.deploy(*(renamed(d, suffix) for d in (WATCH, STARTED, REVIEW)))
    watching = await api.start("sig_watch", "w-9")
    review = await api.start("sig_review", "r-9", {"region": "SE-C"})
    await listed(api.client, "alert" + suffix, {watching})
    await listed(api.client, "reminder" + suffix, {review})

    # The officer is no operator: the watch and the starters of sig_started refuse it.
    officer = await broadcast(api, "sos-officer", "alert" + suffix)
    # Region AB is no candidate of the reminder of a case of region C.
    region = await broadcast(api, "registrator-ab", "reminder" + suffix)

    for response in (officer, region):
        assert response.status_code == 200, response.text
        assert (response.json()["delivered_to"], response.json()["started"]) == ([], [])
    assert "OnAlert" not in (await internal(api, watching))["visits"]
    state = await internal(api, review)
    assert not [e for e in state["audit"] if e["kind"] == "signal"]
    assert state["signals_taken"] == {}

    reminded = await broadcast(api, "registrator-c", "reminder" + suffix)
    assert reminded.json()["delivered_to"] == [review]


async def test_broadcast_signals_is_refused_to_auditors_and_bad_input(api: Api, monkeypatch):
    auditor = await broadcast(api, "auditor", "alert")
    assert auditor.status_code == 403, auditor.text
    assert auditor.json()["error"] == "forbidden"

    for name, body, where in [
        ("al\u200bert", {}, "name"),
        ("a" * 201, {}, "name"),
        ("alert", {"signal_id": "a\nb"}, "signal_id"),
        ("alert", {"variables": [1]}, "variables"),
        ("alert", {"extra": 1}, "extra"),
    ]:
        response = await broadcast(api, "operator", name, **body)
        assert response.status_code == 422, (name, body, response.text)
        error = response.json()
        assert error["error"] == "invalid", error
        assert [f["loc"][1] for f in error["fields"]][:1] == [where], (name, body, error)

    monkeypatch.setenv("NIVA_LIMITS_MAX_VARIABLES_BYTES", "2000")
    large = await broadcast(api, "operator", "alert", variables={"text": "x" * 2000})
    assert large.status_code == 413, large.text
    assert large.json()["error"] == "payload_too_large"


async def test_cli_broadcasts_a_signal(api: Api, served: str, tmp_path: Path):
    alert = "alert" + (suffix := own())
    await api.deploy(renamed(WATCH, suffix))
    case = await api.start("sig_watch", "w-cli")
    await listed(api.client, alert, {case})

    result = await niva(
        "signals",
        "broadcast",
        alert,
        "--variables",
        '{"level": 7}',
        "--signal-id",
        "cli-1",
        url=served,
        token=api.tokens["operator"],
    )

    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{alert} (cli-1) delivered to {case}"
    assert (await internal(api, case))["variables"]["level"] == 7
