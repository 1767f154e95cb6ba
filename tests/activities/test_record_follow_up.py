"""``record_follow_up`` on a real SQLite file (and a real PostgreSQL where one is
installed): one row per permit and year, whatever the retries."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.settings import ActivitySettings
from activities.statistics import RecordFollowUpActivity, StatisticsStore
from tests.support.follow_ups import SUBMITTED, record, record_all
from tests.support.postgres import running_postgres

LIVER = SUBMITTED[0]


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """A throwaway PostgreSQL server of Debian's ``postgresql`` package (skips without it)."""
    with running_postgres(tmp_path / "pg") as url:
        yield url


@pytest.fixture
def store(tmp_path: Path) -> StatisticsStore:
    return StatisticsStore.sqlite(tmp_path / "statistics.sqlite3")


def _table_rows(path: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()


async def test_record_follow_up_retried_writes_one_row(store: StatisticsStore, tmp_path: Path):
    first = await record(store, LIVER)
    once = _table_rows(tmp_path / "statistics.sqlite3", "nhv_follow_ups")
    again = await record(store, LIVER)
    assert first == again
    assert (first.permit_case_id, first.year) == (LIVER.case_id, 2025)
    assert _table_rows(tmp_path / "statistics.sqlite3", "nhv_follow_ups") == once
    [row] = store.follow_ups([2025])
    assert (row.patients, row.treatments, row.complications) == (40, 52, 3)
    assert row.average_length_of_stay_days == 6.0
    assert row.patients_by_home_region == {"SE-AB": 25, "SE-BD": 5, "SE-C": 10}
    assert row.recorded_at.isoformat() == "2026-05-20T10:00:00+00:00"
    assert row.task_id == "RecordFollowUp#1"


async def test_record_follow_up_again_replaces_the_figures_of_that_year(store: StatisticsStore):
    await record(store, LIVER)
    corrected = dataclasses.replace(LIVER, patients=41, regions={"SE-AB": 26, "SE-C": 10})
    await record(store, corrected, visit=2)
    [row] = store.follow_ups([2025])
    assert row.patients == 41
    # The home regions of that year are replaced, not merged: SE-BD is gone.
    assert row.patients_by_home_region == {"SE-AB": 26, "SE-C": 10}
    assert row.task_id == "RecordFollowUp#2"


async def test_record_follow_up_keys_by_permit_and_year(store: StatisticsStore):
    await record_all(store)
    rows = store.follow_ups([2024, 2025])
    assert len(rows) == len(SUBMITTED) == 5
    assert sorted((r.permit_case_id, r.year) for r in rows) == sorted(
        (s.case_id, s.year) for s in SUBMITTED
    )
    assert [r.year for r in store.follow_ups([2024])] == [2024]


async def test_record_follow_up_keeps_no_free_text(store: StatisticsStore, tmp_path: Path):
    skane = SUBMITTED[2]
    assert skane.comments
    await record(store, skane)
    dump = "\n".join(sqlite3.connect(tmp_path / "statistics.sqlite3").iterdump())
    assert "Andersson" not in dump
    assert "comments" not in dump


async def test_record_follow_up_without_home_regions_is_recorded(store: StatisticsStore):
    older = dataclasses.replace(LIVER, regions={})
    await record(store, older)
    [row] = store.follow_ups([2025])
    assert row.patients_by_home_region == {}


async def test_record_follow_up_with_wrong_inputs_is_not_retried(store: StatisticsStore):
    call = LIVER.call()
    call.inputs.pop("holder")
    activity = RecordFollowUpActivity(store)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activity.record_follow_up, call)
    assert caught.value.non_retryable
    assert caught.value.type == "InvalidInput"
    assert "holder" in str(caught.value)
    assert store.follow_ups([2025]) == []


def test_statistics_store_defaults_to_sqlite_in_the_data_dir(tmp_path: Path):
    settings = ActivitySettings.in_data_dir(tmp_path)
    store = StatisticsStore.from_settings(settings)
    assert store.dialect == "sqlite"
    assert store.follow_ups([2025]) == []
    assert (tmp_path / "statistics.sqlite3").is_file()


async def test_record_follow_up_on_postgresql_is_idempotent(postgres_url: str, tmp_path: Path):
    settings = ActivitySettings.in_data_dir(tmp_path, statistics_url=postgres_url)
    store = StatisticsStore.from_settings(settings)
    try:
        assert store.dialect == "postgresql"
        await record_all(store)
        corrected = dataclasses.replace(LIVER, regions={"SE-AB": 40})
        await record(store, corrected, visit=2)
        rows = {(r.permit_case_id, r.year): r for r in store.follow_ups([2024, 2025])}
        assert len(rows) == 5
        liver = rows[(LIVER.case_id, 2025)]
        assert liver.patients_by_home_region == {"SE-AB": 40}
        assert liver.recorded_at.isoformat() == "2026-05-20T10:00:00+00:00"
    finally:
        store.dispose()
