"""The NHV demo cases of ``niva dev``: nine care areas at nine stages, started once."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client

from activities import ActivitySettings, build_activities
from starter.demo_se import demo_actor, start_se_demo_cases
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
