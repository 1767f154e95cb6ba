"""The yearly public follow-up, built from rows the real ``record_follow_up`` activity wrote
(each follow-up submitted twice, as a retry would): its figures are the sums of what was
submitted, once each; and ``niva report follow-up`` writes it as HTML, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities.statistics import StatisticsStore
from starter.cli import app
from starter.follow_up_report import build_report, render_csv, render_html
from starter.settings import ServiceSettings
from tests.support.follow_ups import SUBMITTED, record_all

YEAR = 2025
REPOSITORY = Path(__file__).resolve().parents[2]
SUBMITTED_IN_YEAR = [s for s in SUBMITTED if s.year == YEAR]


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    """A data directory whose statistics store holds `SUBMITTED`, each recorded twice."""
    directory = tmp_path / "data"
    store = StatisticsStore.sqlite(directory / "statistics.sqlite3")
    await record_all(store)
    store.dispose()
    return directory


def _store(data_dir: Path) -> StatisticsStore:
    return StatisticsStore.sqlite(data_dir / "statistics.sqlite3")


def test_report_figures_are_the_sums_of_the_submitted_follow_ups(data_dir: Path):
    report = build_report(_store(data_dir), YEAR)
    # Care areas in the order of nhv_care_areas.yaml, with its names and ids.
    assert [(a.id, a.name) for a in report.care_areas] == [
        ("glomustumorer", "Glomustumörer"),
        ("svar-leversvikt", "Svår leversvikt"),
    ]
    for area in report.care_areas:
        submitted = [s for s in SUBMITTED_IN_YEAR if s.care_area == area.name]
        assert area.totals.units == len(area.units) == len(submitted)
        assert area.totals.patients == sum(s.patients for s in submitted)
        assert area.totals.treatments == sum(s.treatments for s in submitted)
        assert area.totals.complications == sum(s.complications for s in submitted)
        for region in report.regions:
            assert area.patients_by_home_region[region.id] == sum(
                s.regions.get(region.id, 0) for s in submitted
            )
    liver = report.care_areas[1]
    # Length of stay weighted by patients: (6.0·40 + 8.0·30 + 5.0·10) / 80.
    assert liver.totals.average_length_of_stay_days == 6.6
    # Skåne's review found the conditions unmet.
    assert liver.totals.units_meeting_conditions == 2
    karolinska = next(u for u in liver.units if u.holder == "SE-AB")
    assert karolinska.holder_name == "Region Stockholm"
    assert karolinska.patients_by_year == {2024: 33, 2025: 40}
    assert len(report.regions) == 21


def test_report_of_a_year_without_follow_ups_is_empty(data_dir: Path):
    report = build_report(_store(data_dir), 2019)
    assert report.care_areas == []
    assert "Inga uppföljningar har registrerats för 2019" in render_html(report)


def test_report_html_has_a_table_and_two_charts_per_care_area(data_dir: Path):
    html = render_html(build_report(_store(data_dir), YEAR))
    sections = html.split('<section class="care-area"')[1:]
    assert len(sections) == 2
    for section, units in zip(sections, (1, 3), strict=True):
        assert section.count('<tr class="unit">') == units
        assert section.count("<svg") == 2
        # Volume chart: a column per unit and year with data; regions: one bar each.
        assert section.count('class="bar"') >= units + 21
    assert "Patienter per enhet 2024–2025" in sections[1]
    assert "<script" not in html
    # Public figures only: the unit's free text never reaches the report.
    assert "Andersson" not in html


def test_report_csv_has_one_row_per_unit_with_home_regions(data_dir: Path):
    rows = list(csv.DictReader(io.StringIO(render_csv(build_report(_store(data_dir), YEAR)))))
    assert len(rows) == len(SUBMITTED_IN_YEAR)
    skane = next(r for r in rows if r["region_id"] == "SE-M")
    assert skane["care_area"] == "Svår leversvikt"
    assert skane["conditions_met_reviewed"] == "false"
    assert skane["patients_from_SE-M"] == "10"
    assert sum(int(r["patients"]) for r in rows) == sum(s.patients for s in SUBMITTED_IN_YEAR)


def _niva(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("fmt", ["html", "csv", "json"])
def test_cli_report_follow_up_writes_each_format(data_dir: Path, tmp_path: Path, fmt: str):
    out = tmp_path / f"report.{fmt}"
    code, _, err = _niva(
        "report", "follow-up", "--year", str(YEAR), "--format", fmt, "-o", str(out),
        "--data-dir", str(data_dir),
    )  # fmt: skip
    assert code == 0, err
    assert "2 care areas, 4 units in 2025" in err
    text = out.read_text(encoding="utf-8")
    if fmt == "json":
        report = json.loads(text)
        assert report["year"] == YEAR
        assert [a["totals"]["patients"] for a in report["care_areas"]] == [12, 80]
    elif fmt == "csv":
        assert text.startswith("year,care_area_id,care_area,region_id,")
        assert len(text.strip().splitlines()) == 1 + 4
    else:
        assert text.startswith("<!DOCTYPE html>")
        assert text.count("<svg") == 4


def test_cli_report_follow_up_prints_to_stdout(data_dir: Path):
    code, out, _ = _niva(
        "report", "follow-up", "--year", str(YEAR), "-f", "json", "--data-dir", str(data_dir)
    )
    assert code == 0
    assert json.loads(out)["care_areas"][0]["name"] == "Glomustumörer"


@pytest.mark.parametrize("flag", ["--out", "--out-dir"])
def test_cli_report_follow_up_out_writes_all_three(data_dir: Path, tmp_path: Path, flag: str):
    out_dir = tmp_path / "published"
    code, _, err = _niva(
        "report", "follow-up", "--year", str(YEAR), flag, str(out_dir),
        "--data-dir", str(data_dir),
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "follow-up.csv",
        "follow-up.json",
        "index.html",
    ]
    assert json.loads((out_dir / "follow-up.json").read_text())["year"] == YEAR


def test_cli_report_follow_up_rejects_an_unknown_format(data_dir: Path):
    code, _, err = _niva(
        "report", "follow-up", "--year", str(YEAR), "-f", "xml", "--data-dir", str(data_dir)
    )
    assert code == 2
    assert re.search(r"'xml' is not one of", err)


def test_cli_report_follow_up_unreadable_store_exits_3(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("NIVA_SERVICE_STATISTICS_URL", "sqlite:////nonexistent/dir/stats.db")
    code, _, err = _niva("report", "follow-up", "--year", str(YEAR), "--data-dir", str(tmp_path))
    assert code == 3
    assert "statistics store cannot be read" in err


def test_cli_report_follow_up_names_what_it_reads_where_stderr_is_no_terminal(data_dir: Path):
    code, out, err = _niva(
        "report", "follow-up", "--year", str(YEAR), "-f", "json", "--data-dir", str(data_dir)
    )
    assert code == 0
    # The bar's label once, no bar: a log or a pipe gets no control characters.
    assert err.count("Reading the follow-ups of 2021–2025") == 1
    assert "#" not in err
    assert json.loads(out)["year"] == YEAR


def test_cli_report_follow_up_draws_a_progress_bar_on_a_terminal(data_dir: Path, tmp_path: Path):
    primary, secondary = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "starter.cli", "report", "follow-up", "--year", str(YEAR),
             "--out", str(tmp_path / "published"), "--data-dir", str(data_dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary,
            cwd=REPOSITORY, timeout=60, check=False,
        )  # fmt: skip
        os.close(secondary)
        secondary = -1
        terminal = b""
        while select.select([primary], [], [], 0.5)[0]:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not chunk:
                break
            terminal += chunk
    finally:
        os.close(primary)
        if secondary != -1:
            os.close(secondary)
    assert done.returncode == 0, terminal.decode(errors="replace")
    text = terminal.decode()
    assert (
        "Reading the follow-ups of 2021–2025  [####################################]  100%" in text
    )
    assert (tmp_path / "published" / "index.html").is_file()


def test_cli_report_follow_up_reads_the_store_named_by_niva_stats_url(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("NIVA_SERVICE_STATISTICS_URL", raising=False)
    monkeypatch.setenv("NIVA_STATS_URL", f"sqlite:///{data_dir / 'statistics.sqlite3'}")
    empty = tmp_path / "elsewhere"
    code, out, err = _niva(
        "report", "follow-up", "--year", str(YEAR), "-f", "json", "--data-dir", str(empty)
    )
    assert code == 0, err
    assert [a["totals"]["patients"] for a in json.loads(out)["care_areas"]] == [12, 80]
    assert not (empty / "statistics.sqlite3").exists()


def test_service_settings_read_both_names_of_the_statistics_url(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NIVA_STATS_URL", raising=False)
    monkeypatch.setenv("NIVA_SERVICE_STATISTICS_URL", "postgresql+psycopg://old@db/niva")
    url = ServiceSettings().statistics_url
    assert url is not None
    assert url.get_secret_value() == "postgresql+psycopg://old@db/niva"
    monkeypatch.setenv("NIVA_STATS_URL", "postgresql+psycopg://new@db/niva")
    url = ServiceSettings().statistics_url
    assert url is not None
    assert url.get_secret_value() == "postgresql+psycopg://new@db/niva"
    assert ServiceSettings(statistics_url="sqlite:///x.db").statistics_url is not None
