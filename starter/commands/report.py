"""``niva report``: the public reports niva produces from its statistics store.

``follow-up`` reads the statistics store the ``record_follow_up`` activity writes (the
SQLite file in the data directory, ``NIVA_DATA_DIR``, or ``NIVA_STATS_URL``) and renders
Socialstyrelsen's yearly public follow-up (`starter.follow_up_report`), with a progress bar
on stderr while it reads (the bar's label alone where stderr is not a terminal). Exit codes:
0 written, 2 bad usage, 3 the statistics store cannot be read.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from activities.statistics import StatisticsStore
from starter.follow_up_report import (
    FollowUpReport,
    ReportFormat,
    build_report,
    history_years,
    render,
)
from starter.settings import DataSettings, ServiceSettings

__all__ = ["OUT_DIR_FILES", "app", "statistics_store"]

app = typer.Typer(help="Public reports from the statistics store.")

OUT_DIR_FILES: dict[str, ReportFormat] = {
    "index.html": "html",
    "follow-up.csv": "csv",
    "follow-up.json": "json",
}
"""The files ``--out`` writes, and the format of each."""


def statistics_store(data: DataSettings | None = None) -> StatisticsStore:
    """The statistics store the workers write to."""
    return StatisticsStore.from_settings(ServiceSettings().for_data_dir(data or DataSettings()))


@app.command("follow-up")
def follow_up(
    year: Annotated[
        int,
        typer.Option(
            min=2018, max=2100, help="The calendar year reported (follow-ups of March Y+1)."
        ),
    ],
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="html, csv or json.")
    ] = "html",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write here instead of stdout."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "--out-dir",
            file_okay=False,
            help="Write index.html, follow-up.csv and follow-up.json into this folder.",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory [NIVA_DATA_DIR, default ./.niva]")
    ] = None,
) -> None:
    """Socialstyrelsen's yearly public follow-up of the NHV permits: per care area and
    unit, tables and charts (HTML with inline SVG), or CSV or JSON."""
    if output is not None and out_dir is not None:
        typer.echo("niva report follow-up: give --output or --out, not both", err=True)
        raise typer.Exit(2)
    data = DataSettings(dir=data_dir) if data_dir is not None else DataSettings()
    store = statistics_store(data)
    history = history_years(year)
    try:
        with typer.progressbar(
            length=len(history),
            label=f"Reading the follow-ups of {history[0]}–{history[-1]}",
            file=sys.stderr,
        ) as progress:
            report = build_report(store, year, on_year_read=lambda _year: progress.update(1))
    except SQLAlchemyError as exc:
        typer.echo(f"niva report follow-up: the statistics store cannot be read: {exc}", err=True)
        raise typer.Exit(3) from exc
    finally:
        store.dispose()
    if out_dir is not None:
        _write_all(report, out_dir)
        return
    text = render(report, fmt)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"{output}: {_summary(report)}", err=True)


def _write_all(report: FollowUpReport, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, fmt in OUT_DIR_FILES.items():
        (out_dir / name).write_text(render(report, fmt), encoding="utf-8")
    typer.echo(f"{out_dir}: {', '.join(OUT_DIR_FILES)}: {_summary(report)}", err=True)


def _summary(report: FollowUpReport) -> str:
    units = sum(len(area.units) for area in report.care_areas)
    return f"{len(report.care_areas)} care areas, {units} units in {report.year}"
