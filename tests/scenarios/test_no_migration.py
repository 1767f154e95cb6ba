"""The Norwegian 2024 change as a migration: running v1 applications moved to v2 with the
shipped plan (``process_models/no/migrations/``), on the dev server with the real
activities. One waiting for Helsedirektoratet's decision goes on with the directorate's
recommendation and ends with HOD's decision; one waiting for the RHF's application keeps
its task, now due with the round's 31 August."""

from __future__ import annotations

import pytest
import yaml
from temporalio.client import WorkflowUpdateFailedError

from tests.scenarios.test_no_national_services import (
    ALL_NO_FILES,
    APPLICATION,
    HDIR,
    HOD,
    HSO,
    NO_DIR,
    REQUEST,
    application,
    cases_real_time,  # noqa: F401 (the fixture)
    closes,
    open_task,
    shipped_files,
)
from tests.workflows.harness import Cases
from workflows.candidates import Actor
from workflows.migration import MIGRATE_UPDATE, MigrateInput, MigrateResult, MigrationPlan

PLAN_FILE = NO_DIR / "migrations" / "no_national_service_application_v1_to_v2.yaml"
OPERATOR = Actor(subject="drift@niva", org="NO-HDIR", roles=["operator"])


async def _v1_case(cases: Cases, business_key: str, *, to_decision: bool):
    handle = await cases.start(
        APPLICATION,
        REQUEST,
        version=1,
        start_event="RequestReceived",
        business_key=business_key,
    )
    consider = await open_task(handle, "ConsiderRequest")
    await cases.complete(handle, consider.task_id, {"will_apply": True}, actor=HSO)
    apply = await open_task(handle, "Apply")
    if not to_decision:
        return handle
    await cases.complete(handle, apply.task_id, application(), actor=HSO)
    assess = await open_task(handle, "Assess")
    await cases.complete(
        handle,
        assess.task_id,
        {"conditions_met": True, "recommendation": "approve", "assessment": "Anbefales."},
        actor=HDIR,
    )
    await open_task(handle, "Decide")
    return handle


async def test_v1_applications_migrate_to_the_2024_rules(cases_real_time: Cases):  # noqa: F811
    cases = cases_real_time
    cases.store.deploy(shipped_files(*ALL_NO_FILES))
    plan = MigrationPlan.model_validate(yaml.safe_load(PLAN_FILE.read_text(encoding="utf-8")))
    deciding = await _v1_case(cases, "mig-deciding", to_decision=True)
    applying = await _v1_case(cases, "mig-applying", to_decision=False)

    # A request the RHF has not answered yet has no place in the 2024 rules: refused.
    considering = await cases.start(
        APPLICATION, REQUEST, version=1, start_event="RequestReceived", business_key="mig-req"
    )
    await open_task(considering, "ConsiderRequest")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await considering.execute_update(
            MIGRATE_UPDATE,
            MigrateInput(migration_id="no-2024", plan=plan, actor=OPERATOR),
            result_type=MigrateResult,
        )
    assert "'ConsiderRequest' has no counterpart" in str(refused.value.cause)
    assert (await cases.view(considering)).version == 1

    for handle in (deciding, applying):
        result = await handle.execute_update(
            MIGRATE_UPDATE,
            MigrateInput(migration_id="no-2024", plan=plan, actor=OPERATOR),
            result_type=MigrateResult,
        )
        assert result.changes[0] == (
            "no_national_service_application v1 -> no_national_service_application v2"
        )

    # Waiting for the RHF's application: the same task, now due with the round.
    apply = await open_task(applying, "Apply")
    assert apply.task_id == "Apply"
    assert apply.name == "Søknad til RHF"
    assert apply.due == closes(2027, 8, 31)

    # Waiting for Helsedirektoratet's decision: it recommends now, and HOD decides.
    recommend = await open_task(deciding, "Recommend")
    assert recommend.task_id == "Decide"
    assert recommend.candidates == ["org:NO-HDIR/group:officer"]
    await cases.complete(
        deciding,
        recommend.task_id,
        {"conditions_met": True, "recommendation": "reject", "assessment": "For lite volum."},
        actor=HDIR,
    )
    decide = await open_task(deciding, "Decide")
    assert decide.name == "Vedtak i HOD"
    assert decide.candidates == ["org:NO-HOD/group:officer"]
    await cases.complete(
        deciding,
        decide.task_id,
        {"decision": "rejected", "grounds": "Tjenesten kan gis regionalt."},
        actor=HOD,
    )
    result = await deciding.result()
    assert result.outcome == "Avslått"
    assert result.variables["decided_by"] == "Helse- og omsorgsdepartementet"
    assert result.variables["recommendation"]["recommendation"] == "reject"
