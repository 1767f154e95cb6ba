"""The operator's view in the real Temporal Web UI, in Debian's chromium through Playwright.

A dev server with its UI, a worker and a running referral case; the UI lists the case for a
Niva* query given in the URL, and the case page shows the static summary and the current
details (the referral's progress and deadline, the open task). Screenshots are kept under
``tests/artifacts/ui/`` for people to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from starter.dev import installed_binary
from tests.starter.operator_case import ANSWERED, PROCESS_ID, REGIONS, start_referral
from tests.support.browser import CHROMIUM_FLAGS, chromium_executable, playwright_or_skip
from tests.support.net import free_port
from tests.workflows import activities_for_tests
from tests.workflows.harness import running_cases
from workflows import search_attributes

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "ui"


async def text_with_frames(page: Any, needle: str, within: float) -> str:
    """The text of the page and all its frames, once it contains ``needle``."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        parts = []
        for frame in page.frames:
            with contextlib.suppress(Exception):  # a frame that is being replaced
                parts.append(await frame.inner_text("body"))
        text = "\n".join(parts)
        if needle in text or asyncio.get_running_loop().time() > deadline:
            return text
        await asyncio.sleep(0.3)


@pytest.fixture(scope="module")
async def ui_env() -> AsyncIterator[tuple[WorkflowEnvironment, int]]:
    """A dev server of its own with the Web UI on a free port."""
    ui_port = free_port()
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=installed_binary("temporal"),
        search_attributes=search_attributes.ALL,
        ui=True,
        ui_port=ui_port,
        dev_server_extra_args=["--ui-disable-news-fetch"],
    )
    try:
        yield env, ui_port
    finally:
        await env.shutdown()


async def test_operator_finds_case_by_query_and_reads_its_details(
    ui_env: tuple[WorkflowEnvironment, int], task_queue: str, tmp_path: Path
):
    async_playwright = playwright_or_skip()
    env, ui_port = ui_env
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    business_key = f"ui-{uuid.uuid4().hex[:6]}"
    async with running_cases(
        env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        handle = await start_referral(cases, business_key)
        query = f'NivaProcessId = "{PROCESS_ID}" AND NivaCandidates IN ("org:SE-BD")'
        for _ in range(50):  # visibility is eventually consistent
            if [w.id async for w in env.client.list_workflows(query)]:
                break
            await asyncio.sleep(0.2)

        base = f"http://127.0.0.1:{ui_port}/namespaces/{env.client.namespace}"
        list_url = f"{base}/workflows?query={urllib.parse.quote(query)}"
        async with async_playwright() as playwright:
            try:
                browser = await playwright.chromium.launch(
                    executable_path=chromium_executable(), args=CHROMIUM_FLAGS, headless=True
                )
            except Exception as exc:  # a broken chromium install, not a broken niva
                pytest.skip(f"chromium cannot be started by playwright: {exc}")
            page = await browser.new_page(viewport={"width": 1600, "height": 1100})
            try:
                await page.goto(list_url)
                row = page.get_by_text(handle.id, exact=True).first
                await row.wait_for(timeout=30_000)
                await page.screenshot(path=ARTIFACTS / "workflow-list.png", full_page=True)
                listed = await page.content()
                assert handle.id in listed

                await row.click()
                await page.wait_for_url(f"**/workflows/{urllib.parse.quote(handle.id)}/**")
                await page.screenshot(path=ARTIFACTS / "case-timeline.png")
                # UI 2.54 shows the summary and the current details under "User Metadata".
                await page.get_by_text("User Metadata", exact=True).first.click()
                # The summary and the details are Markdown, rendered in sandboxed frames.
                text = await text_with_frames(page, "answered, closes", within=30)
                await page.screenshot(path=ARTIFACTS / "case-page.png", full_page=True)
                # The UI shows "/" in metadata as a look-alike slash (U+2215).
                assert re.search("Remiss om nationell högspecialiserad vård: Remiss 2026.17", text)
                assert f"{ANSWERED} of {len(REGIONS)} answered, closes 2027-05-18" in text
                assert "Bereda beslut — role officer in organisation SE-SOS" in text
                assert "Remisstiden löper ut at 2027-05-18" in text
                assert "SE-BD" in text
                assert "Anna Andersson" not in text
            except Exception:
                await page.screenshot(path=ARTIFACTS / "failure.png", full_page=True)
                (ARTIFACTS / "failure.txt").write_text(await text_with_frames(page, "", 0))
                raise
            finally:
                await browser.close()
