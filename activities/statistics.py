"""``record_follow_up``: write a permit's yearly follow-up to the statistics store.

Socialstyrelsen publishes, every year, the follow-up of every NHV permit: volumes and
accessibility per care area and unit. Each permit case hands its reviewed follow-up to this
activity, which writes the public figures (patients, treatments, length of stay,
complications, whether the conditions are met, patients per home region) to a SQL
database: SQLite in the data directory by default, PostgreSQL (or any database SQLAlchemy
speaks) by URL. The report (`starter.follow_up_report`) reads them back.

Idempotent per permit and year: the row is keyed by the permit's case id and the calendar
year reported, and written as an upsert, so a retry (or a follow-up corrected and recorded
again) leaves one row with the latest figures. Nothing the holder wrote as free text
(``comments``) is kept: the store holds public figures only, no personal data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects import postgresql, sqlite
from temporalio import activity

from activities.inputs import parse_inputs
from activities.settings import ActivitySettings
from service_contract import RECORD_FOLLOW_UP, ServiceCall

__all__ = [
    "FollowUpFigures",
    "FollowUpRow",
    "RecordFollowUpActivity",
    "RecordFollowUpInput",
    "RecordFollowUpResult",
    "StatisticsStore",
]

log = structlog.get_logger("niva.activities.record_follow_up")

_metadata = sa.MetaData()

_follow_ups = sa.Table(
    "nhv_follow_ups",
    _metadata,
    sa.Column("permit_case_id", sa.String(300), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("care_area", sa.String(500), nullable=False),
    sa.Column("holder", sa.String(20), nullable=False),
    sa.Column("unit_name", sa.String(500), nullable=False),
    sa.Column("patients", sa.Integer, nullable=False),
    sa.Column("treatments", sa.Integer, nullable=False),
    sa.Column("average_length_of_stay_days", sa.Float, nullable=False),
    sa.Column("complications", sa.Integer, nullable=False),
    sa.Column("conditions_met", sa.Boolean, nullable=False),
    sa.Column("review_conditions_met", sa.Boolean, nullable=True),
    sa.Column("task_id", sa.String(300), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

_home_regions = sa.Table(
    "nhv_follow_up_home_regions",
    _metadata,
    sa.Column("permit_case_id", sa.String(300), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("region", sa.String(20), primary_key=True),
    sa.Column("patients", sa.Integer, nullable=False),
    sa.ForeignKeyConstraint(
        ["permit_case_id", "year"],
        [_follow_ups.c.permit_case_id, _follow_ups.c.year],
        ondelete="CASCADE",
    ),
)


class FollowUpFigures(BaseModel):
    """The public figures of form ``se.nhv.AnnualFollowUp``; its free text is ignored."""

    model_config = ConfigDict(extra="ignore")

    year: int = Field(ge=2018, le=2100, description="The calendar year reported.")
    patients: int = Field(ge=0)
    treatments: int = Field(ge=0)
    average_length_of_stay_days: float = Field(ge=0)
    complications: int = Field(ge=0)
    conditions_met: bool = Field(description="The unit's own statement.")
    patients_by_home_region: dict[str, int] | None = Field(
        default=None, description="Patients by home region id; absent in older follow-ups."
    )


class RecordFollowUpInput(BaseModel):
    """The inputs of a ``record_follow_up`` task."""

    model_config = ConfigDict(extra="forbid")

    care_area: str = Field(min_length=1, description="The care area's name.")
    holder: str = Field(min_length=1, description="The permit holder's region id, e.g. SE-AB.")
    unit_name: str = Field(default="", description="The unit that gives the care.")
    follow_up: FollowUpFigures
    review_conditions_met: bool | None = Field(
        default=None, description="Socialstyrelsen's review: the conditions are met."
    )


class RecordFollowUpResult(BaseModel):
    """Where the figures went: the row's key."""

    permit_case_id: str
    year: int


class FollowUpRow(BaseModel):
    """One permit's follow-up of one year, as the store keeps it."""

    permit_case_id: str
    year: int
    care_area: str
    holder: str
    unit_name: str
    patients: int
    treatments: int
    average_length_of_stay_days: float
    complications: int
    conditions_met: bool
    review_conditions_met: bool | None
    patients_by_home_region: dict[str, int] = Field(default_factory=dict)
    task_id: str
    recorded_at: datetime


class StatisticsStore:
    """The follow-up statistics in a SQL database (SQLAlchemy Core).

    The tables are created on first use. Writes are upserts keyed by permit case id and
    year; the home-region rows of that key are replaced in the same transaction.

    Args:
        url: a SQLAlchemy URL: ``sqlite:///path/statistics.sqlite3``,
            ``postgresql+psycopg://user:password@host/db``.
    """

    def __init__(self, url: str) -> None:
        engine_options: dict[str, Any] = {}
        if url.startswith("sqlite"):
            # Workers and the API may share the file: wait for a writer instead of failing.
            engine_options["connect_args"] = {"timeout": 30}
        self._engine = sa.create_engine(url, **engine_options)
        if self._engine.dialect.name == "sqlite":
            sa.event.listen(self._engine, "connect", _sqlite_foreign_keys)
        self._ready = False

    @classmethod
    def from_settings(cls, settings: ActivitySettings) -> StatisticsStore:
        """The store the settings name: ``statistics_url``, else the SQLite file."""
        if settings.statistics_url is not None:
            return cls(settings.statistics_url.get_secret_value())
        return cls.sqlite(settings.statistics_file)

    @classmethod
    def sqlite(cls, path: Path) -> StatisticsStore:
        """A store in the SQLite file ``path`` (its folder is created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}")

    @property
    def dialect(self) -> str:
        """``sqlite``, ``postgresql``, …"""
        return self._engine.dialect.name

    def dispose(self) -> None:
        """Close the pooled connections."""
        self._engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        if not self._ready:
            _metadata.create_all(self._engine)
            self._ready = True
        with self._engine.begin() as connection:
            yield connection

    def record(self, row: FollowUpRow) -> None:
        """Write ``row``, replacing the row of the same permit and year if there is one."""
        values = row.model_dump(exclude={"patients_by_home_region"})
        key = {"permit_case_id": row.permit_case_id, "year": row.year}
        insert: Any
        if self.dialect == "postgresql":
            insert = postgresql.insert(_follow_ups)
        elif self.dialect == "sqlite":
            insert = sqlite.insert(_follow_ups)
        else:
            insert = None
        with self._begin() as connection:
            if insert is not None:
                statement = insert.values(**values).on_conflict_do_update(
                    index_elements=[_follow_ups.c.permit_case_id, _follow_ups.c.year],
                    set_={name: value for name, value in values.items() if name not in key},
                )
                connection.execute(statement)
            else:
                # Another database: the same effect in one transaction.
                connection.execute(sa.delete(_follow_ups).filter_by(**key))
                connection.execute(sa.insert(_follow_ups).values(**values))
            connection.execute(sa.delete(_home_regions).filter_by(**key))
            regions = [
                {**key, "region": region, "patients": patients}
                for region, patients in sorted(row.patients_by_home_region.items())
            ]
            if regions:
                connection.execute(sa.insert(_home_regions), regions)

    def follow_ups(self, years: Sequence[int]) -> list[FollowUpRow]:
        """Every recorded follow-up of ``years``, ordered by care area, holder, year."""
        with self._begin() as connection:
            rows = connection.execute(
                sa.select(_follow_ups)
                .where(_follow_ups.c.year.in_(list(years)))
                .order_by(_follow_ups.c.care_area, _follow_ups.c.holder, _follow_ups.c.year)
            ).mappings()
            found = {(r["permit_case_id"], r["year"]): dict(r) for r in rows}
            regions = connection.execute(
                sa.select(_home_regions).where(_home_regions.c.year.in_(list(years)))
            ).mappings()
            for region in regions:
                entry = found.get((region["permit_case_id"], region["year"]))
                if entry is not None:
                    entry.setdefault("patients_by_home_region", {})[region["region"]] = region[
                        "patients"
                    ]
        for entry in found.values():
            # SQLite keeps no zone; the store writes UTC.
            if entry["recorded_at"].tzinfo is None:
                entry["recorded_at"] = entry["recorded_at"].replace(tzinfo=UTC)
        return [FollowUpRow.model_validate(entry) for entry in found.values()]


def _sqlite_foreign_keys(connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked on each connection.
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class RecordFollowUpActivity:
    """The ``record_follow_up`` activity with its statistics store.

    Args:
        store: where the figures go.
    """

    def __init__(self, store: StatisticsStore) -> None:
        self.store = store

    @classmethod
    def from_settings(cls, settings: ActivitySettings) -> RecordFollowUpActivity:
        """The activity on the store the settings name."""
        return cls(StatisticsStore.from_settings(settings))

    @activity.defn(name=RECORD_FOLLOW_UP)
    async def record_follow_up(self, call: ServiceCall) -> RecordFollowUpResult:
        """Write the follow-up of ``call`` to the store, keyed by case id and year.

        Raises:
            ApplicationError: non-retryable ``InvalidInput``: the model's mappings are wrong.
            Exception: database failures, retried by Temporal.
        """
        request = parse_inputs(call, RecordFollowUpInput)
        figures = request.follow_up
        row = FollowUpRow(
            permit_case_id=call.case_id,
            year=figures.year,
            care_area=request.care_area,
            holder=request.holder,
            unit_name=request.unit_name,
            patients=figures.patients,
            treatments=figures.treatments,
            average_length_of_stay_days=figures.average_length_of_stay_days,
            complications=figures.complications,
            conditions_met=figures.conditions_met,
            review_conditions_met=request.review_conditions_met,
            patients_by_home_region=figures.patients_by_home_region or {},
            task_id=call.task_id,
            # The case's clock, not the wall clock: a retry writes the very same row.
            recorded_at=call.now.astimezone(UTC),
        )
        # The database driver blocks; keep the worker's event loop free.
        await asyncio.to_thread(self.store.record, row)
        log.info("follow-up recorded", year=row.year, store=self.store.dialect)
        return RecordFollowUpResult(permit_case_id=row.permit_case_id, year=row.year)
