"""The diagram pages in Debian's chromium through Playwright, served by the API over HTTP.

A referral case with two of three answers shows ``2/3`` on the referral task, marked
``niva-active``, and ``niva-completed`` on the steps before it; a case parked at a gateway
shows ``niva-incident`` with the error; the process page counts the cases per element,
for a test case and for the Swedish demo cases of ``niva dev``. The page asks for the token
once: a reload in the same tab keeps it. Screenshots are kept under
``tests/artifacts/diagrams/`` for people to look at.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from activities import ActivitySettings, build_activities
from starter.api.routes.diagrams import BPMN_JS_DIST
from starter.demo_se import start_se_demo_cases
from tests.scenarios.nhv import se_model_files
from tests.support.api import LIFE, Api, build_app
from tests.support.browser import (
    CHROMIUM_FLAGS,
    chromium_executable,
    chromium_page,
    playwright_or_skip,
    served_app,
)
from tests.support.diagram_case import PROCESS_ID, drawn, referral_two_of_three
from tests.workflows.harness import running_cases
from workflows.contract import InstanceView

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "diagrams"


def _bpmn_js_or_skip() -> None:
    if not (BPMN_JS_DIST / "bpmn-navigated-viewer.production.min.js").is_file():
        pytest.skip("bpmn-js is not installed (run `npm ci` at the repository root)")


async def _ready(page: Any) -> None:
    await page.wait_for_selector("body[data-ready]", timeout=30_000)
    assert await page.get_attribute("body", "data-ready") == "yes", await page.inner_text(
        "#problem"
    )


def _shape(element_id: str) -> str:
    return f'.djs-element[data-element-id="{element_id}"]'


async def _classes(page: Any, element_id: str) -> list[str]:
    value = await page.get_attribute(_shape(element_id), "class")
    return (value or "").split()


async def _overlay(page: Any, element_id: str, css: str) -> str:
    text: str = await page.inner_text(f'.djs-overlays[data-container-id="{element_id}"] {css}')
    return text


async def test_case_and_process_pages_mark_where_cases_stand(api: Api, served: str):
    async_playwright = playwright_or_skip()
    _bpmn_js_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    instance_id = await referral_two_of_three(api, f"page-{uuid.uuid4().hex[:6]}")
    await api.deploy(drawn(LIFE))
    broken = await api.start("api_life", f"page-{uuid.uuid4().hex[:6]}", {"region": "SE-AB"})
    done = await api.complete(broken, "Review", {"verdict": "yes"}, "sos-officer")
    assert done.status_code == 200, done.text

    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(
                executable_path=chromium_executable(), args=CHROMIUM_FLAGS, headless=True
            )
        except Exception as exc:  # a broken chromium install, not a broken niva
            pytest.skip(f"chromium cannot be started by playwright: {exc}")
        page = await browser.new_page(viewport={"width": 1400, "height": 700})
        try:
            await page.goto(f"{served}/instances/{instance_id}/diagram")
            await page.fill("#token", api.tokens["sos-officer"])
            await page.click("#login button")
            await _ready(page)

            assert "niva-active" in await _classes(page, "Referral")
            assert await _overlay(page, "Referral", ".niva-count") == "2/3"
            assert await _overlay(page, "Referral", ".niva-due") == "due 2099-05-18"
            for passed in ("Start", "Intake", "Route"):
                assert "niva-completed" in await _classes(page, passed), passed
            for ahead in ("Decide", "Done", "Rejected"):
                classes = await _classes(page, ahead)
                assert "niva-completed" not in classes, ahead
                assert "niva-active" not in classes, ahead
            assert "niva-taken" in await _classes(page, "f2")
            assert "niva-taken" not in await _classes(page, "f4")
            await page.screenshot(path=str(ARTIFACTS / "case.png"))

            # The same tab keeps the token: the incident case opens without asking again.
            await page.goto(f"{served}/instances/{broken}/diagram")
            await _ready(page)
            assert await page.is_hidden("#login")
            assert "niva-incident" in await _classes(page, "Check")
            assert "amount" in await _overlay(page, "Check", ".niva-error")
            assert "niva-completed" in await _classes(page, "Review")
            await page.screenshot(path=str(ARTIFACTS / "incident.png"))

            state_url = f"/process-models/{PROCESS_ID}/versions/1/diagram/state"
            for _ in range(100):  # visibility lags the cases by about a second
                counts = (await api.http.get(state_url, headers=api.auth("sos-officer"))).json()
                if counts["running"] == 1 and "Referral" in counts["elements"]:
                    break
                await asyncio.sleep(0.1)
            await page.goto(f"{served}/process-models/{PROCESS_ID}/versions/1/diagram")
            await _ready(page)
            assert "niva-waiting" in await _classes(page, "Referral")
            assert await _overlay(page, "Referral", ".niva-waiting-count") == "1"
            await page.screenshot(path=str(ARTIFACTS / "process.png"))

            # A region that takes no part in the case is told so, without the diagram.
            await page.evaluate("sessionStorage.clear()")
            await page.goto(f"{served}/instances/{instance_id}/diagram")
            await page.fill("#token", api.tokens["registrator-o"])
            await page.click("#login button")
            await page.wait_for_selector("#problem:not([hidden])")
            assert "may not read it" in await page.inner_text("#problem")
        finally:
            await browser.close()


async def test_process_page_counts_the_demo_cases_per_element(
    client: Client, task_queue: str, tmp_path: Path
):
    _bpmn_js_or_skip()
    settings = ActivitySettings.in_data_dir(tmp_path / "data")
    async with running_cases(
        client, task_queue, tmp_path, activities=build_activities(settings)
    ) as cases:
        cases.store.deploy(se_model_files())
        # A prefix of its own: the session's server may hold the demo of another test.
        prefix = f"page-{uuid.uuid4().hex[:6]}-"
        started = await start_se_demo_cases(client, cases.store, task_queue, key_prefix=prefix)
        assert len(started) == 9
        # Where each running demo case waits, by its own state: the count to expect.
        expected: Counter[str] = Counter()
        versions: set[int] = set()
        running = 0
        for workflow_id in started:
            handle = client.get_workflow_handle(workflow_id)
            view = await handle.query("state", result_type=InstanceView)
            if view.status == "running":
                running += 1
                versions.add(view.version)
                expected.update({t.element_id for t in view.open_tasks})
        assert running == 5
        assert expected == Counter(
            ["Prioritise", "ExpertReport", "ReferralResponse", "B1Analysis", "Decide"]
        )
        (version,) = versions

        app, tokens, _, _ = build_app(client, task_queue, tmp_path)
        auth = {"Authorization": f"Bearer {tokens['sos-officer']}"}
        state_url = f"/process-models/se_nhv_designation/versions/{version}/diagram/state"
        async with served_app(app, lifespan=True) as base:
            async with httpx.AsyncClient(base_url=base, headers=auth) as http:
                for _ in range(100):  # visibility lags the cases by about a second
                    state = (await http.get(state_url)).json()
                    waiting = {e: c["waiting"] for e, c in state["elements"].items()}
                    if state["running"] == running and waiting == dict(expected):
                        break
                    await asyncio.sleep(0.1)
            assert state["running"] == running
            assert waiting == dict(expected)
            assert state["with_incident"] == 0

            async with chromium_page(width=1600, height=800) as page:
                await page.goto(
                    f"{base}/process-models/se_nhv_designation/versions/{version}/diagram"
                )
                await page.fill("#token", tokens["sos-officer"])
                await page.click("#login button")
                await _ready(page)
                for element_id, count in expected.items():
                    assert "niva-waiting" in await _classes(page, element_id), element_id
                    shown = await _overlay(page, element_id, ".niva-waiting-count")
                    assert shown == str(count), element_id
                assert "niva-waiting" not in await _classes(page, "AppointExpertGroup")
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "demo-process.png"))
