"""Socialstyrelsen's yearly public follow-up of the NHV permits, from the statistics store.

The report of year Y holds the follow-ups of calendar year Y (reported in March of Y+1),
per care area and unit: patients, treatments, length of stay, complications, whether the
conditions are met (the unit's own statement and Socialstyrelsen's review), and, for
accessibility, the patients per home region. Rendered as HTML (tables, and bar charts as
inline SVG: volume per unit over the last five years, patients per home region), CSV (one
row per unit) and JSON.

Public figures only: the store keeps no free text, and the report adds only names from
the reference data (care areas from ``nhv_care_areas.yaml``, regions from
``organisations.yaml``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from jinja2 import Environment
from pydantic import BaseModel, Field

from activities.statistics import FollowUpRow, StatisticsStore
from process_models.reference import load_reference
from starter.svg_charts import grouped_columns, horizontal_bars

__all__ = [
    "HISTORY_YEARS",
    "CareArea",
    "FollowUpReport",
    "ReportFormat",
    "UnitFigures",
    "build_report",
    "history_years",
    "render",
    "render_csv",
    "render_html",
    "render_json",
]

ReportFormat = Literal["html", "csv", "json"]
"""The formats a report is rendered in."""

MEDIA_TYPES: dict[str, str] = {
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
"""The media type of each format."""

HISTORY_YEARS = 5
"""How many years, the report's year included, the volume charts show."""


class Region(BaseModel):
    """A Swedish region by its id in ``organisations.yaml``."""

    id: str
    name: str


class UnitFigures(BaseModel):
    """One permit holder's unit in the report's year."""

    holder: str = Field(description="The region holding the permit (SE-AB).")
    holder_name: str
    unit_name: str
    patients: int
    treatments: int
    average_length_of_stay_days: float
    complications: int
    conditions_met: bool = Field(description="The unit's own statement.")
    review_conditions_met: bool | None = Field(description="Socialstyrelsen's review.")
    patients_by_home_region: dict[str, int]
    patients_by_year: dict[int, int] = Field(
        description="Patients in each year of the volume chart that has a follow-up."
    )


class AreaTotals(BaseModel):
    """A care area's units together."""

    units: int
    patients: int
    treatments: int
    average_length_of_stay_days: float = Field(description="Weighted by patients.")
    complications: int
    units_meeting_conditions: int = Field(description="By the review, else the unit's word.")


class CareArea(BaseModel):
    """One care area's follow-up: its units, totals and patients per home region."""

    id: str | None = Field(description="The id in nhv_care_areas.yaml; none if not listed.")
    name: str
    units: list[UnitFigures]
    totals: AreaTotals
    patients_by_home_region: dict[str, int] = Field(description="Every region, 0 included.")


class FollowUpReport(BaseModel):
    """The yearly public follow-up of one calendar year."""

    year: int
    history_years: list[int]
    regions: list[Region]
    care_areas: list[CareArea]


def _areas_in_order() -> list[dict[str, str]]:
    areas = load_reference().get("nhv_care_areas") or []
    return [
        {"id": str(a["id"]), "name": str(a["name"])}
        for a in areas
        if isinstance(a, dict) and "id" in a
    ]


def _regions() -> list[Region]:
    organisations = load_reference().get("organisations") or []
    return [
        Region(id=str(o["id"]), name=str(o["name"]))
        for o in organisations
        if isinstance(o, dict) and o.get("kind") == "region" and str(o["id"]).startswith("SE-")
    ]


def history_years(year: int) -> list[int]:
    """The years the report of ``year`` reads: the volume charts' years, ``year`` last."""
    return list(range(year - HISTORY_YEARS + 1, year + 1))


def build_report(
    store: StatisticsStore,
    year: int,
    *,
    on_year_read: Callable[[int], None] | None = None,
) -> FollowUpReport:
    """The report of calendar ``year`` from what ``store`` holds (empty if nothing).

    Args:
        store: the statistics store.
        year: the calendar year reported.
        on_year_read: called with each year of `history_years` once its follow-ups are
            read (the store is read a year at a time, so a progress bar can follow).
    """
    history = history_years(year)
    rows: list[FollowUpRow] = []
    for reported in history:
        rows += store.follow_ups([reported])
        if on_year_read is not None:
            on_year_read(reported)
    return assemble(year, rows, regions=_regions(), history=history)


def assemble(
    year: int,
    rows: Iterable[FollowUpRow],
    *,
    regions: Sequence[Region],
    history: Sequence[int],
) -> FollowUpReport:
    """The report of ``year`` from follow-up rows of ``history`` (the volume charts' years)."""
    names = {r.id: r.name for r in regions}
    known = _areas_in_order()
    by_name = {a["name"]: a for a in known}
    by_id = {a["id"]: a for a in known}
    rows = list(rows)
    this_year = [r for r in rows if r.year == year]
    areas: dict[str, list[FollowUpRow]] = {}
    for row in this_year:
        areas.setdefault(row.care_area, []).append(row)

    def order(area: str) -> tuple[int, str]:
        entry = by_name.get(area) or by_id.get(area)
        return (known.index(entry), area) if entry else (len(known), area)

    report_areas = []
    for area in sorted(areas, key=order):
        entry = by_name.get(area) or by_id.get(area)
        units = []
        for row in sorted(areas[area], key=lambda r: (names.get(r.holder, r.holder), r.unit_name)):
            volumes = {
                r.year: r.patients
                for r in rows
                if r.permit_case_id == row.permit_case_id and r.year in history
            }
            units.append(
                UnitFigures(
                    holder=row.holder,
                    holder_name=names.get(row.holder, row.holder),
                    unit_name=row.unit_name,
                    patients=row.patients,
                    treatments=row.treatments,
                    average_length_of_stay_days=row.average_length_of_stay_days,
                    complications=row.complications,
                    conditions_met=row.conditions_met,
                    review_conditions_met=row.review_conditions_met,
                    patients_by_home_region=row.patients_by_home_region,
                    patients_by_year=dict(sorted(volumes.items())),
                )
            )
        report_areas.append(
            CareArea(
                id=entry["id"] if entry else None,
                name=entry["name"] if entry else area,
                units=units,
                totals=_totals(units),
                patients_by_home_region={
                    r.id: sum(u.patients_by_home_region.get(r.id, 0) for u in units)
                    for r in regions
                },
            )
        )
    return FollowUpReport(
        year=year, history_years=list(history), regions=list(regions), care_areas=report_areas
    )


def _totals(units: Sequence[UnitFigures]) -> AreaTotals:
    patients = sum(u.patients for u in units)
    weighted = sum(u.average_length_of_stay_days * u.patients for u in units)
    return AreaTotals(
        units=len(units),
        patients=patients,
        treatments=sum(u.treatments for u in units),
        average_length_of_stay_days=round(weighted / patients, 1) if patients else 0.0,
        complications=sum(u.complications for u in units),
        units_meeting_conditions=sum(
            1
            for u in units
            if (
                u.review_conditions_met if u.review_conditions_met is not None else u.conditions_met
            )
        ),
    )


def unit_label(unit: UnitFigures) -> str:
    """The unit as the report names it: its name, or its region's when it has none."""
    return unit.unit_name or unit.holder_name


def render_json(report: FollowUpReport) -> str:
    """The report as JSON (the `FollowUpReport` model)."""
    return report.model_dump_json(indent=2) + "\n"


def render_csv(report: FollowUpReport) -> str:
    """One row per care area and unit; a column of patients per home region each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "year",
            "care_area_id",
            "care_area",
            "region_id",
            "region",
            "unit",
            "patients",
            "treatments",
            "average_length_of_stay_days",
            "complications",
            "conditions_met_reported",
            "conditions_met_reviewed",
            *(f"patients_from_{r.id}" for r in report.regions),
        ]
    )
    for area in report.care_areas:
        for unit in area.units:
            reviewed = unit.review_conditions_met
            writer.writerow(
                [
                    report.year,
                    area.id or "",
                    area.name,
                    unit.holder,
                    unit.holder_name,
                    unit_label(unit),
                    unit.patients,
                    unit.treatments,
                    unit.average_length_of_stay_days,
                    unit.complications,
                    str(unit.conditions_met).lower(),
                    "" if reviewed is None else str(reviewed).lower(),
                    *(unit.patients_by_home_region.get(r.id, 0) for r in report.regions),
                ]
            )
    return out.getvalue()


_TEMPLATE = """<!DOCTYPE html>
<html lang="sv">
<head>
<meta charset="utf-8">
<title>Uppföljning av nationell högspecialiserad vård {{ report.year }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 70rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #bbb; padding: 0.25rem 0.5rem; }
td.n { text-align: right; }
tfoot td { font-weight: bold; }
section.care-area { margin-bottom: 2.5rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
</style>
</head>
<body>
<h1>Uppföljning av nationell högspecialiserad vård {{ report.year }}</h1>
<p>Tillståndshavarnas årliga uppföljning av kalenderåret {{ report.year }}, granskad av
Socialstyrelsen: volymer och tillgänglighet per vårdområde och enhet. Offentliga uppgifter;
inga personuppgifter.</p>
{% if not report.care_areas %}
<p class="empty">Inga uppföljningar har registrerats för {{ report.year }}.</p>
{% endif %}
{% for area in report.care_areas %}
<section class="care-area" id="{{ area.id or area.name }}">
<h2>{{ area.name }}</h2>
<table>
<thead><tr><th>Enhet</th><th>Region</th><th>Patienter</th><th>Behandlingar</th>
<th>Medelvårdtid (dagar)</th><th>Komplikationer</th><th>Villkoren uppfylls (enheten)</th>
<th>Villkoren uppfylls (granskningen)</th></tr></thead>
<tbody>
{% for unit in area.units %}
<tr class="unit"><td>{{ label(unit) }}</td><td>{{ unit.holder_name }}</td>
<td class="n">{{ unit.patients }}</td><td class="n">{{ unit.treatments }}</td>
<td class="n">{{ unit.average_length_of_stay_days }}</td><td class="n">{{ unit.complications }}</td>
<td>{{ yes_no(unit.conditions_met) }}</td><td>{{ yes_no(unit.review_conditions_met) }}</td></tr>
{% endfor %}
</tbody>
<tfoot><tr><td>Totalt ({{ area.totals.units }}
{{ 'enhet' if area.totals.units == 1 else 'enheter' }})</td><td></td>
<td class="n">{{ area.totals.patients }}</td><td class="n">{{ area.totals.treatments }}</td>
<td class="n">{{ area.totals.average_length_of_stay_days }}</td>
<td class="n">{{ area.totals.complications }}</td>
<td colspan="2">{{ area.totals.units_meeting_conditions }} av {{ area.totals.units }}
uppfyller villkoren</td></tr></tfoot>
</table>
<div class="charts">
{{ volume_chart(area) }}
{{ region_chart(area) }}
</div>
</section>
{% endfor %}
</body>
</html>
"""

_ENV = Environment(autoescape=True, keep_trailing_newline=True)


def _yes_no(value: bool | None) -> str:
    return "–" if value is None else ("ja" if value else "nej")


def render_html(report: FollowUpReport) -> str:
    """The report as one HTML page, charts inline as SVG (no scripts, no external files)."""
    years = report.history_years

    def volume_chart(area: CareArea) -> str:
        shown = [y for y in years if any(y in u.patients_by_year for u in area.units)]
        return grouped_columns(
            f"Patienter per enhet {shown[0]}–{shown[-1]}"
            if len(shown) > 1
            else "Patienter per enhet",
            [str(y) for y in shown],
            {unit_label(u): [u.patients_by_year.get(y, 0) for y in shown] for u in area.units},
        )

    def region_chart(area: CareArea) -> str:
        names = {r.id: r.name for r in report.regions}
        return horizontal_bars(
            f"Patienter per hemregion {report.year}",
            [(names[r], n) for r, n in area.patients_by_home_region.items()],
        )

    template = _ENV.from_string(_TEMPLATE)
    return template.render(
        report=report,
        label=unit_label,
        yes_no=_yes_no,
        volume_chart=volume_chart,
        region_chart=region_chart,
    )


def render(report: FollowUpReport, fmt: ReportFormat) -> str:
    """The report in ``fmt``."""
    if fmt == "csv":
        return render_csv(report)
    if fmt == "json":
        return render_json(report)
    return render_html(report)
