"""The NHV demo of ``niva dev``: nine care areas at nine stages, started once; and the demo
follow-ups of the three years before the current one, recorded once, in every care area."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from temporalio.client import Client

from activities import ActivitySettings, build_activities
from activities.statistics import StatisticsStore
from process_models.reference import load_reference
from starter.demo_se import demo_actor, record_demo_follow_ups, start_se_demo_cases
from starter.follow_up_report import build_report
from tests.scenarios.nhv import se_model_files
from tests.workflows.harness import running_cases
from workflows.contract import InstanceView


async def view(client: Client, workflow_id: str) -> InstanceView:
    return await client.get_workflow_handle(workflow_id).query("state", result_type=InstanceView)


async def test_demo_cases_start_at_their_stages_and_only_once(
    client: Client, task_queue: str, tmp_path: Path
):
    settings = ActivitySettings.in_data_dir(tmp_path / "data")
    async with running_cases(
        client, task_queue, tmp_path, activities=build_activities(settings)
    ) as cases:
        cases.store.deploy(se_model_files())
        started = await start_se_demo_cases(client, cases.store, task_queue)
        assert len(started) == 9
        stages: dict[str, tuple[str, list[str]]] = {}
        for workflow_id in started:
            case = await view(client, workflow_id)
            stages[case.business_key] = (
                case.outcome or "running",
                sorted({t.element_id for t in case.open_tasks}),
            )
        assert stages == {
            "glomustumorer": ("running", ["Prioritise"]),
            "konsdysfori": ("Inte prioriterat", []),
            "neuroendokrina-tumorer": ("running", ["ExpertReport"]),
            "osteogenesis-imperfecta": ("Olämpligt som NHV", []),
            "svar-leversvikt": ("running", ["ReferralResponse"]),
            "svarbehandlat-sjalvskadebeteende": ("running", ["B1Analysis"]),
            "svarbehandlade-atstorningar": ("running", ["Decide"]),
            "vissa-kateteringrepp-hjarta": ("Inte nationell högspecialiserad vård", []),
            "vissa-neuromuskulara-sjukdomar": ("Beslutat som nationell högspecialiserad vård", []),
        }
        referral = await view(client, "se_nhv_designation:svar-leversvikt")
        assert len(referral.open_tasks) == 14
        allocation = await view(client, "se_nhv_permit_allocation:vissa-neuromuskulara-sjukdomar")
        assert sorted(allocation.variables["applications"]) == ["SE-AB", "SE-M", "SE-O"]
        assert allocation.variables["units"] == 2

        # Started again (niva dev restarts), nothing new is started.
        assert await start_se_demo_cases(client, cases.store, task_queue, demo_actor) == []


async def test_demo_follow_ups_fill_every_care_area_of_last_years_report_once(tmp_path: Path):
    store = StatisticsStore.sqlite(tmp_path / "statistics.sqlite3")
    today = date(2026, 12, 5)
    written = await record_demo_follow_ups(store, today=today)
    # niva dev restarted: the same rows, upserted, nothing added.
    assert await record_demo_follow_ups(store, today=today) == written
    rows = store.follow_ups(range(2018, 2031))
    assert len(rows) == len(written) == len({(r.permit_case_id, r.year) for r in rows})
    assert {r.year for r in rows} == {2023, 2024, 2025}
    assert all(r.permit_case_id.startswith("se_nhv_permit:demo-") for r in rows)

    areas = [str(a["name"]) for a in load_reference()["nhv_care_areas"]]
    report = build_report(store, 2025)
    assert [a.name for a in report.care_areas] == areas
    for area in report.care_areas:
        assert len(area.units) in (2, 3), area.name
        assert area.totals.patients == sum(u.patients for u in area.units) > 0
        for unit in area.units:
            assert list(unit.patients_by_year) == [2023, 2024, 2025], unit.unit_name
            assert sum(unit.patients_by_home_region.values()) == unit.patients
            # Most patients come from the unit's own region.
            assert max(unit.patients_by_home_region, key=unit.patients_by_home_region.get) in (
                unit.holder,
                "SE-AB",
                "SE-O",
            )
            assert unit.treatments >= unit.patients
    # The current year has no follow-ups yet: they are reported in March of the next.
    assert build_report(store, 2026).care_areas == []
    store.dispose()
