"""``GET /reports/follow-up/{year}``: the yearly public follow-up, readable without a token,
from rows the real ``record_follow_up`` activity wrote; and the HTML page as Debian's
chromium draws it."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from activities.statistics import StatisticsStore
from process_models.reference import load_reference
from starter.api.app import create_app
from starter.demo_se import record_demo_follow_ups
from tests.support.browser import chromium_page, served_app
from tests.support.follow_ups import SUBMITTED, record_all

YEAR = 2025
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "reports"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The API (no Temporal needed for reports) on a store holding `SUBMITTED`, twice each."""
    store = StatisticsStore.sqlite(tmp_path / "statistics.sqlite3")
    await record_all(store)
    application = create_app(tokens={})
    application.state.statistics = store
    yield application
    store.dispose()


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://niva") as client:
        yield client


async def test_get_follow_up_report_json_without_a_token(http: httpx.AsyncClient):
    response = await http.get(f"/reports/follow-up/{YEAR}", params={"format": "json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    report = response.json()
    assert report["year"] == YEAR
    liver = report["care_areas"][1]
    assert liver["name"] == "Svår leversvikt"
    assert liver["totals"]["patients"] == sum(
        s.patients for s in SUBMITTED if s.year == YEAR and s.care_area == "Svår leversvikt"
    )
    assert liver["patients_by_home_region"]["SE-M"] == 16


async def test_get_follow_up_report_html_is_the_default(http: httpx.AsyncClient):
    response = await http.get(f"/reports/follow-up/{YEAR}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text.count("<svg") == 4


async def test_get_follow_up_report_csv(http: httpx.AsyncClient):
    response = await http.get(f"/reports/follow-up/{YEAR}?format=csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["unit"] for r in rows} >= {"Karolinska Universitetssjukhuset", "Region Uppsala"}


async def test_get_follow_up_report_year_out_of_range_is_422(http: httpx.AsyncClient):
    response = await http.get("/reports/follow-up/1999")
    assert response.status_code == 422
    assert response.json()["error"]


async def test_get_follow_up_report_unknown_format_is_422(http: httpx.AsyncClient):
    response = await http.get(f"/reports/follow-up/{YEAR}?format=pdf")
    assert response.status_code == 422


async def test_get_follow_up_report_is_in_the_openapi_document_as_public(app: FastAPI):
    operation = app.openapi()["paths"]["/reports/follow-up/{year}"]["get"]
    assert "security" not in operation
    assert set(operation["responses"]["200"]["content"]) == {
        "application/json",
        "text/html",
        "text/csv",
    }


@pytest.mark.browser
async def test_follow_up_report_renders_its_charts_in_chromium(app: FastAPI):
    async with served_app(app) as base, chromium_page(width=1280, height=900) as page:
        await page.goto(f"{base}/reports/follow-up/{YEAR}")
        areas = page.locator("section.care-area")
        assert await areas.count() == 2
        for index in range(2):
            area = areas.nth(index)
            assert await area.locator("tr.unit").count() >= 1
            await _assert_charts_drawn(area)
        # Karolinska's 2025 column (40 patients) stands taller than its 2024 one (33).
        liver = areas.nth(1).locator("svg.chart").first
        columns = liver.locator("rect.bar")
        heights = {}
        for i in range(await columns.count()):
            title = await columns.nth(i).locator("title").text_content()
            box = await columns.nth(i).bounding_box()
            heights[title] = box["height"] if box else 0.0
        tall = heights["Karolinska Universitetssjukhuset, 2025: 40"]
        short = heights["Karolinska Universitetssjukhuset, 2024: 33"]
        assert tall > short > 0
        assert abs(tall / short - 40 / 33) < 0.05
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "follow-up.png", full_page=True)


@pytest.mark.browser
async def test_demo_report_of_last_year_has_a_row_and_charts_for_every_demo_care_area(
    tmp_path: Path,
):
    last_year = date.today().year - 1
    store = StatisticsStore.sqlite(tmp_path / "statistics.sqlite3")
    await record_demo_follow_ups(store, today=date.today())
    application = create_app(tokens={})
    application.state.statistics = store
    names = [str(a["name"]) for a in load_reference()["nhv_care_areas"]]
    try:
        async with served_app(application) as base, chromium_page(width=1280, height=900) as page:
            await page.goto(f"{base}/reports/follow-up/{last_year}")
            areas = page.locator("section.care-area")
            assert await areas.count() == len(names) == 9
            for index, name in enumerate(names):
                area = areas.nth(index)
                assert await area.locator("h2").inner_text() == name
                assert await area.locator("tr.unit").count() >= 2, name
                await _assert_charts_drawn(area)
                # Every unit has a column in the volume chart for each of the three years.
                volume = area.locator("svg.chart").first
                assert await volume.locator("rect.bar").count() >= 2 * 3, name
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=ARTIFACTS / "demo-follow-up.png", full_page=True)
    finally:
        store.dispose()


async def _assert_charts_drawn(area: Any) -> None:
    """The care area's two charts are drawn, each at a readable size."""
    charts = area.locator("svg.chart")
    assert await charts.count() == 2
    for chart in range(2):
        box = await charts.nth(chart).bounding_box()
        assert box is not None
        assert box["width"] > 300
        assert box["height"] > 100
