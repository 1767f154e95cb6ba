"""A ``se_nhv_permit`` change as a migration: from 2027 Socialstyrelsen checks that each
yearly follow-up is complete before it reviews it (version 2's CheckFollowUp, due in
working days). Permits at different points of their year move to version 2 with the
shipped plan (``process_models/se/migrations/``), on the time-skipping server with the real
activities: one waiting for its year's follow-up to open, one with the follow-up task open,
one waiting for the nämnd's meeting on a revocation. Each then runs on the new rules."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import yaml
from temporalio.client import WorkflowHandle

from starter.demo_se import annual_follow_up, follow_up_review
from tests.scenarios.nhv import BOARD, OFFICER, SE_DIR, Nhv, region
from tests.scenarios.test_se_nhv import (
    PERMIT_START,
    STOCKHOLM,
    closes,
    local,
    nhv,  # noqa: F401 (the fixture)
)
from tests.support.working_days import calendar_for
from workflows.candidates import Actor
from workflows.migration import MIGRATE_UPDATE, MigrateInput, MigrateResult, MigrationPlan

PLAN_FILE = SE_DIR / "migrations" / "se_nhv_permit_v1_to_v2.yaml"
OPERATOR = Actor(subject="drift@sos", org="SE-SOS", roles=["operator"])


def check_closes(received: datetime) -> datetime:
    """When the completeness check of a follow-up received at ``received`` closes: the end
    of the tenth working day after."""
    day = local(received).date()
    return closes(calendar_for("SE", day.year).add_working_days(day, 10))


async def migrate(run: Nhv, handle: WorkflowHandle[Any, Any], plan: MigrationPlan) -> None:
    await run.quiet(handle)
    result = await handle.execute_update(
        MIGRATE_UPDATE,
        MigrateInput(migration_id="se-2027", plan=plan, actor=OPERATOR),
        result_type=MigrateResult,
    )
    assert result.changes[0] == "se_nhv_permit v1 -> se_nhv_permit v2"
    view = await run.view(handle)
    assert view.version == 2


async def checked_and_reviewed(
    run: Nhv, handle: WorkflowHandle[Any, Any], holder: str, year: int, *, incomplete: bool
) -> None:
    """The follow-up open on ``handle`` reported, checked (once sent back for completion
    when ``incomplete``), reviewed and published, on version 2's rules."""
    follow_up = await run.open_task(handle, "AnnualFollowUp")
    await run.cases.complete(
        handle, follow_up.task_id, annual_follow_up(year - 1), actor=region(holder)
    )
    received = await run.now()
    check = await run.open_task(handle, "CheckFollowUp")
    assert check.candidates == ["org:SE-SOS/group:officer"]
    assert check.due == check_closes(received)
    if incomplete:
        await run.cases.complete(
            handle,
            check.task_id,
            {"complete": False, "missing": "Vårdtid per patient saknas."},
            actor=OFFICER,
        )
        again = await run.open_task(handle, "AnnualFollowUp")
        assert again.task_id != follow_up.task_id
        assert again.due == check_closes(await run.now())
        await run.cases.complete(
            handle, again.task_id, annual_follow_up(year - 1), actor=region(holder)
        )
        check = await run.open_task(handle, "CheckFollowUp")
    await run.cases.complete(handle, check.task_id, {"complete": True}, actor=OFFICER)
    review = await run.open_task(handle, "ReviewFollowUp")
    assert review.due == closes(date(year, 5, 31))
    await run.cases.complete(handle, review.task_id, follow_up_review(), actor=OFFICER)
    view = await run.settled(handle, "AwaitEvent")
    assert view.version == 2
    assert [f["year"] for f in view.variables["follow_ups"]] == [year - 1]
    assert view.variables["follow_up_check"]["complete"] is True


async def test_permits_migrate_to_the_completeness_check(nhv: Nhv):  # noqa: F811
    plan = MigrationPlan.model_validate(yaml.safe_load(PLAN_FILE.read_text(encoding="utf-8")))
    today = local(await nhv.now()).date()
    start = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    permits: dict[str, WorkflowHandle[Any, Any]] = {}
    for holder in ("SE-AB", "SE-O", "SE-M"):
        permits[holder] = await nhv.start(
            "se_nhv_permit",
            {
                **PERMIT_START,
                "holder": holder,
                "start_date": start.isoformat(),
                "decision_date": today.isoformat(),
            },
            version=1,
            business_key=f"osteogenesis-2027:{holder}",
            title="Osteogenesis Imperfecta",
        )
    waiting, following_up, revoking = permits["SE-AB"], permits["SE-O"], permits["SE-M"]
    await nhv.advance_to(datetime.combine(start, time(12), STOCKHOLM), *permits.values())
    for handle in permits.values():
        view = await nhv.settled(handle, "AwaitEvent")
        assert view.version == 1

    # Before the year's follow-up opens: the permit waits as before, on version 2.
    await migrate(nhv, waiting, plan)
    # During a revocation: the region asked, the case waits for the nämnd's next meeting.
    await nhv.cases.message(
        revoking, "request_revocation", {"reason": "Verksamheten ses över."}, region("SE-M")
    )
    await nhv.settled(revoking, "RevocationMeeting")
    await migrate(nhv, revoking, plan)
    decide = await nhv.open_task(revoking, "DecideRevocation", skip=timedelta(days=5))
    await nhv.cases.complete(
        revoking,
        decide.task_id,
        {"revoke": False, "motivation": "Verksamheten fortsätter."},
        actor=BOARD,
    )
    await nhv.settled(revoking, "AwaitEvent")

    # With the follow-up task open: the same task and deadline, then the check.
    year = start.year + 1
    opened = await nhv.open_task(following_up, "AnnualFollowUp", skip=timedelta(days=10))
    assert (await nhv.view(following_up)).version == 1
    await migrate(nhv, following_up, plan)
    kept = await nhv.open_task(following_up, "AnnualFollowUp")
    assert (kept.task_id, kept.due) == (opened.task_id, opened.due)
    assert kept.due == closes(date(year, 3, 31))

    # Each goes through its year on the new rules.
    await checked_and_reviewed(nhv, waiting, "SE-AB", year, incomplete=True)
    await checked_and_reviewed(nhv, following_up, "SE-O", year, incomplete=False)
    await checked_and_reviewed(nhv, revoking, "SE-M", year, incomplete=False)
    for handle in permits.values():
        migrations = (await nhv.cases.internal(handle)).migrations
        assert [(m.source, m.target) for m in migrations] == [
            ("se_nhv_permit v1", "se_nhv_permit v2")
        ]
