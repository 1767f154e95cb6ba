"""Sweden's NHV processes as shipped, run as whole cases on the time-skipping server.

The three models (``se_nhv_designation``, ``se_nhv_permit_allocation``, ``se_nhv_permit``)
run with the real ``notify`` (file outbox), ``render_document`` and ``record_follow_up``
(SQLite) activities, so every message, document and statistic a case produces is produced
and read back here. One care area goes
from nomination to permits and through years of follow-up; the other tests take the
branches: not prioritised, unsuitable, not NHV, no applicants, a withdrawn nomination.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities import ActivitySettings, build_activities
from activities.statistics import StatisticsStore
from starter import demo_se
from starter.demo_se import (
    annual_follow_up,
    application,
    b1_analysis,
    b2_statement,
    decision,
    expert_group,
    expert_report,
    follow_up_review,
    nomination,
    permit_decision,
    prioritisation,
    referral_response,
)
from tests.scenarios.nhv import (
    B1,
    B2,
    BOARD,
    EXPERT,
    OFFICER,
    Nhv,
    address,
    npo,
    region,
    se_model_files,
)
from tests.support import working_days
from tests.workflows.harness import running_cases

STOCKHOLM = ZoneInfo("Europe/Stockholm")
REGIONS = list(demo_se.REGIONS)
MEETING_DAYS = {(3, 12), (6, 11), (9, 17), (12, 17)}
"""The nämnd's meeting days by the calendar's rule (the test clock is past 2024)."""
MEETING_MIDNIGHTS = {(month, day, 0, 0) for month, day in MEETING_DAYS}


@pytest.fixture
async def nhv(
    own_time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Nhv]:
    settings = ActivitySettings.in_data_dir(tmp_path / "data")
    async with running_cases(
        own_time_skipping_env.client, task_queue, tmp_path, activities=build_activities(settings)
    ) as cases:
        cases.store.deploy(se_model_files())
        yield Nhv(own_time_skipping_env, cases, settings)


def local(moment: datetime) -> datetime:
    return moment.astimezone(STOCKHOLM)


def end_of_day(day: date) -> datetime:
    """The instant a date-only deadline falls due: midnight after ``day`` in Stockholm."""
    return datetime.combine(day + timedelta(days=1), time(), STOCKHOLM)


def closes(day: date) -> datetime:
    """When a deadline whose last day is ``day`` closes: the models declare the SE calendar,
    so the end of that day or of the next weekday (lag 1930:173 2 §)."""
    return working_days.closes("SE", STOCKHOLM, day)


def closes_at(nominal: datetime | str) -> datetime:
    """When a deadline due at ``nominal`` (a case variable, say) closes."""
    if isinstance(nominal, str):
        nominal = datetime.fromisoformat(nominal)
    return working_days.deadline("SE", STOCKHOLM, nominal)


def reminded(nominal: datetime) -> datetime:
    """When a reminder due at ``nominal`` goes out: then, or on the working day before."""
    return working_days.reminded("SE", STOCKHOLM, nominal)


async def test_care_area_from_nomination_to_three_permits(nhv: Nhv, record_history):
    key = "svar-leversvikt"
    designation = await nhv.start(
        "se_nhv_designation",
        nomination("Svår leversvikt", ["SE-NPO-MAGTARM"]),
        business_key=key,
        title="Svår leversvikt",
        actor=npo("SE-NPO-MAGTARM"),
    )

    # Prioritisation and the sakkunniggrupp; the review is due six months on.
    await nhv.complete(designation, "Prioritise", prioritisation(), OFFICER)
    await nhv.complete(designation, "AppointExpertGroup", expert_group(), OFFICER)
    appointed = await nhv.now()
    review = await nhv.task(designation, "ExpertReport")
    assert review.due is not None
    assert local(review.due).time() == time()
    nominal = datetime.fromisoformat((await nhv.view(designation)).variables["review_deadline"])
    assert timedelta(days=181) <= nominal - appointed <= timedelta(days=185)
    assert review.due == closes_at(nominal)
    assert nhv.recipients(designation.id, "NotifyReviewStart") == [address("SE-SOS", "nhv")]
    # The reminder goes out 14 days before the deadline (on a working day), not before.
    reminder_at = reminded(nominal.astimezone(UTC) - timedelta(days=14))
    await nhv.advance_to(reminder_at - timedelta(days=1), designation)
    assert nhv.recipients(designation.id, "RemindReview") == []
    await nhv.advance_to(reminder_at + timedelta(days=1), designation)
    assert nhv.recipients(designation.id, "RemindReview") == [address("SE-SOS", "nhv")]
    await nhv.complete(designation, "ExpertReport", expert_report(units=3), EXPERT)

    # The referral: a package, a message to every region, one task per region.
    referral = await nhv.tasks(designation, "ReferralResponse", 21)
    assert sorted(t.task_id for t in referral) == sorted(f"ReferralResponse:{r}" for r in REGIONS)
    [deadline] = {t.due for t in referral}
    assert deadline is not None
    view = await nhv.view(designation)
    package = nhv.document(view.variables["referral_documents"], "text/html").decode()
    assert "Svår leversvikt" in package
    assert "högst 3 enheter" in package
    assert nhv.document(view.variables["referral_documents"], "application/pdf")[:5] == b"%PDF-"
    assert nhv.recipients(designation.id, "SendReferral") == sorted(address(r) for r in REGIONS)

    # A region answers only its own task.
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.complete(
            designation, "ReferralResponse:SE-AB", referral_response(), actor=region("SE-C")
        )
    assert caught.value.cause.type == "Forbidden"
    answering, silent = REGIONS[:15], REGIONS[15:]
    for org in answering:
        await nhv.cases.complete(
            designation,
            f"ReferralResponse:{org}",
            referral_response(supports=org != "SE-M"),
            actor=region(org),
        )

    # Socialstyrelsen extends the referral by two weeks: the deadline and the reminder move,
    # and the regions that have not answered hear of it.
    extended_to = local(deadline).date() + timedelta(days=13)
    result = await nhv.cases.message(
        designation, "extend_referral_deadline", {"deadline": extended_to.isoformat()}, OFFICER
    )
    assert result.received_by == ["ReferralExtended"]
    await nhv.quiet(designation)
    remaining = await nhv.tasks(designation, "ReferralResponse", 6)
    assert {t.due for t in remaining} == {closes(extended_to)}
    assert nhv.recipients(designation.id, "NotifyExtension") == sorted(address(r) for r in silent)
    state = await nhv.cases.internal(designation)
    assert any(
        e.kind == "deadline_moved" and e.element_id == "ReferralDeadline" for e in state.audit
    )

    await nhv.advance_to(end_of_day(extended_to) - timedelta(days=13), designation)
    assert nhv.recipients(designation.id, "RemindReferral") == sorted(address(r) for r in silent)
    # The deadline closes the referral with the answers received; the rest are "no answer".
    await nhv.task(designation, "B1Analysis", skip=timedelta(days=7))
    assert await nhv.now() >= end_of_day(extended_to)
    view = await nhv.view(designation)
    assert view.variables["referral_no_answer"] == silent
    register = {entry["body"]: entry["answer"] for entry in view.variables["referral_register"]}
    assert [r for r, a in register.items() if a == "no answer"] == silent
    assert register["SE-M"]["supports_units"] is False
    assert register["SE-AB"] == referral_response()
    assert nhv.recipients(designation.id, "NotifyNoAnswer") == sorted(address(r) for r in silent)
    assert nhv.recipients(designation.id, "HandOverToB1") == [address("SE-NHV-B1", "secretariat")]

    await nhv.complete(designation, "B1Analysis", b1_analysis(), B1)
    await nhv.complete(designation, "Decide", decision(units=3), OFFICER)
    view = await nhv.ended(designation)
    assert view.outcome == "Beslutat som nationell högspecialiserad vård"
    letter = nhv.document(view.variables["decision_documents"], "text/html").decode()
    assert "högst 3 enheter" in letter
    assert "kan inte överklagas" in letter
    assert address("SE-NPO-MAGTARM", "secretariat") in nhv.recipients(designation.id, "NotifyNpo")
    await record_history(designation, "se_nhv_designation_full")

    # The call for applications: 21 regions invited, four apply.
    allocation = await nhv.exists(f"se_nhv_permit_allocation:{key}")
    applications = await nhv.tasks(allocation, "Apply", 21)
    application_deadline = applications[0].due
    assert application_deadline is not None
    nominal = datetime.fromisoformat((await nhv.view(allocation)).variables["application_deadline"])
    assert timedelta(weeks=8) <= nominal - await nhv.now() <= timedelta(weeks=8, days=1)
    assert application_deadline == closes_at(nominal)
    attachment = nhv.documents.put(b"%PDF-1.4 verksamhetsbeskrivning")
    applicants = ["SE-AB", "SE-O", "SE-E", "SE-M"]
    for org in applicants:
        await nhv.cases.complete(
            allocation,
            f"Apply:{org}",
            application(org, attachments=[attachment]),
            actor=region(org),
        )
    await nhv.advance_to(application_deadline - timedelta(days=13), allocation)
    assert nhv.recipients(allocation.id, "RemindApplicants") == sorted(
        address(r) for r in REGIONS if r not in applicants
    )
    await nhv.complete(
        allocation, "B2Statement", b2_statement(applicants), B2, skip=timedelta(days=7)
    )
    assert await nhv.now() >= application_deadline

    # The nämnd decides at its next meeting: two permits for three places.
    meeting = await nhv.task(allocation, "DecidePermits", skip=timedelta(days=5))
    met = local(datetime.fromisoformat((await nhv.view(allocation)).variables["meeting_date"]))
    assert (met.month, met.day, met.hour, met.minute) in MEETING_MIDNIGHTS
    start = (met.date().replace(day=1) + timedelta(days=32)).replace(day=1)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.complete(
            allocation, meeting.task_id, permit_decision(applicants, start), actor=BOARD
        )
    assert "rule permit_count" in str(caught.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.complete(
            allocation, meeting.task_id, permit_decision(["SE-AB", "SE-K"], start), actor=BOARD
        )
    assert "rule permit_applicants_only" in str(caught.value.cause)
    await nhv.cases.complete(
        allocation, meeting.task_id, permit_decision(["SE-AB", "SE-O"], start), actor=BOARD
    )
    permit = await nhv.exists(f"se_nhv_permit:{key}:SE-AB")
    await nhv.exists(f"se_nhv_permit:{key}:SE-O")
    assert (await nhv.view(permit)).variables["permit_holders"] == ["SE-AB", "SE-O"]

    # The vacant place is advertised again, to the regions without a permit.
    again = await nhv.tasks(allocation, "Apply", 19)
    assert "Apply:SE-AB" not in {t.task_id for t in again}
    assert "Apply:SE-E#2" in {t.task_id for t in again}
    view = await nhv.view(allocation)
    assert view.variables["round"] == 2
    assert view.variables["vacancies"] == 1
    await nhv.cases.complete(
        allocation,
        "Apply:SE-E#2",
        application("SE-E", attachments=[attachment]),
        actor=region("SE-E"),
    )
    await nhv.complete(
        allocation, "B2Statement#2", b2_statement(["SE-E"]), B2, skip=timedelta(days=7)
    )
    meeting = await nhv.task(allocation, "DecidePermits#2", skip=timedelta(days=5))
    later = (local(await nhv.now()).date().replace(day=1) + timedelta(days=32)).replace(day=1)
    await nhv.cases.complete(
        allocation, meeting.task_id, permit_decision(["SE-E"], later), actor=BOARD
    )
    view = await nhv.ended(allocation)
    assert view.outcome == "Tillstånden fördelade"
    assert view.variables["permit_holders"] == ["SE-AB", "SE-O", "SE-E"]
    await nhv.exists(f"se_nhv_permit:{key}:SE-E")
    await record_history(allocation, "se_nhv_permit_allocation_readvertised")

    # Each permit is a case of its own: its document is sent, then it waits for its start.
    granted = await nhv.quiet(permit)
    assert granted is not None
    letter = nhv.document(granted.variables["permit_documents"], "text/html").decode()
    assert "Region Stockholm" in letter
    assert "tills vidare" in letter
    assert address("SE-AB") in nhv.recipients(permit.id, "SendPermit")
    started = [
        e.at
        for e in (await nhv.cases.internal(permit)).audit
        if e.kind == "timer" and e.element_id == "PermitStarts"
    ]
    assert [local(at).date() for at in started] == [start]
    third = await nhv.exists(f"se_nhv_permit:{key}:SE-E")
    view = await nhv.settled(third, "PermitStarts")
    assert view.variables["start_date"] == later.isoformat()
    assert view.variables["units"] == 3
    assert view.variables["conditions"] == ["Villkoren i beslutet"]


def reported(year: int) -> dict[str, Any]:
    """A follow-up of ``year`` with its patients per home region (a few regions each year)."""
    return {
        **annual_follow_up(year),
        "patients_by_home_region": {"SE-AB": 20, "SE-C": 10, "SE-M": year % 5},
    }


async def test_permit_followed_up_for_five_years_then_revoked_at_the_regions_request(
    nhv: Nhv, record_history
):
    # A permit case as se_nhv_permit_allocation starts it (started here on its own, so the
    # years of follow-up do not depend on the allocation that granted it).
    today = local(await nhv.now()).date()
    start = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    permit = await nhv.start(
        "se_nhv_permit",
        {
            "holder": "SE-AB",
            "unit_name": "Karolinska Universitetssjukhuset",
            "start_date": start.isoformat(),
            "conditions": ["Multidisciplinärt team dygnet runt"],
            "decision_date": (await nhv.now()).isoformat(),
            "care_area": "Svår leversvikt",
            "definition": "Transplantation och intensivvård vid akut leversvikt.",
            "units": 3,
            "nominating_npos": ["SE-NPO-MAGTARM"],
            "time_limits": {},
        },
        business_key="svar-leversvikt:SE-AB",
        title="Svår leversvikt — Starta tillståndsärenden",
    )
    view = await nhv.settled(permit, "PermitStarts")
    assert address("SE-AB") in nhv.recipients(permit.id, "SendPermit")
    first_year = start.year + 1
    for year in range(first_year, first_year + 5):
        follow_up = await nhv.open_task(permit, "AnnualFollowUp", skip=timedelta(days=10))
        opened = local(await nhv.now())
        assert (opened.year, opened.month) == (year, 3)
        assert follow_up.due == closes(date(year, 3, 31))
        if year == first_year:
            with pytest.raises(WorkflowUpdateFailedError) as caught:
                await nhv.cases.complete(
                    permit, follow_up.task_id, annual_follow_up(year), actor=region("SE-AB")
                )
            assert "rule follow_up_year" in str(caught.value.cause)
        if year == first_year + 1:
            # Late: reminded 14 days before, escalated when 31 March has passed, reopened.
            overdue = closes(date(year, 3, 31))
            await nhv.advance_to(overdue + timedelta(hours=1), permit)
            late = await nhv.open_task(permit, "AnnualFollowUp")
            assert late.task_id != follow_up.task_id
            # Two weeks' grace from when the deadline closed (15 April when 31 March did).
            assert late.due == closes(overdue.date() + timedelta(days=14))
            escalated = [m for m in nhv.mail(permit.id) if m.task.startswith("EscalateFollowUp")]
            assert sorted(m.to for m in escalated) == [
                address("SE-AB", "nhv"),
                address("SE-SOS", "nhv"),
            ]
            follow_up = late
        await nhv.cases.complete(
            permit, follow_up.task_id, reported(year - 1), actor=region("SE-AB")
        )
        # Version 2 (the latest): Socialstyrelsen checks the follow-up is complete first.
        check = await nhv.open_task(permit, "CheckFollowUp")
        await nhv.cases.complete(permit, check.task_id, {"complete": True}, actor=OFFICER)
        review = await nhv.open_task(permit, "ReviewFollowUp")
        assert review.due == closes(date(year, 5, 31))
        await nhv.cases.complete(permit, review.task_id, follow_up_review(), actor=OFFICER)
        await nhv.settled(permit, "AwaitEvent")
    # Only the late year's follow-up was still open when its reminder was due.
    [reminder] = [m for m in nhv.mail(permit.id) if m.task.startswith("RemindFollowUp")]
    due = end_of_day(date(first_year + 1, 3, 31))
    expected = reminded(due.astimezone(UTC) - timedelta(days=14))
    assert abs(reminder.date - expected) < timedelta(minutes=1)
    view = await nhv.view(permit)
    assert [f["year"] for f in view.variables["follow_ups"]] == list(
        range(first_year - 1, first_year + 4)
    )
    # Each reviewed follow-up is in the statistics store of the yearly public follow-up,
    # once per year, with its patients per home region and without its free text.
    store = StatisticsStore.from_settings(nhv.settings)
    rows = store.follow_ups(range(first_year - 1, first_year + 4))
    assert [(r.permit_case_id, r.year) for r in rows] == [
        (permit.id, y) for y in range(first_year - 1, first_year + 4)
    ]
    for row in rows:
        assert row.care_area == "Svår leversvikt"
        assert (row.holder, row.unit_name) == ("SE-AB", "Karolinska Universitetssjukhuset")
        assert (row.patients, row.treatments, row.complications) == (35, 40, 2)
        assert row.review_conditions_met is True
        assert row.patients_by_home_region == reported(row.year)["patients_by_home_region"]

    # The region asks for its permit to be revoked; the nämnd decides at its next meeting.
    result = await nhv.cases.message(
        permit, "request_revocation", {"reason": "Verksamheten flyttas."}, region("SE-AB")
    )
    assert result.received_by == ["RevocationRequested"]
    decide = await nhv.open_task(permit, "DecideRevocation", skip=timedelta(days=5))
    met = local(datetime.fromisoformat((await nhv.view(permit)).variables["meeting_date"]))
    assert (met.month, met.day, met.hour, met.minute) in MEETING_MIDNIGHTS
    await nhv.cases.complete(
        permit,
        decide.task_id,
        {
            "revoke": True,
            "ground": "region_request",
            "effective_date": (met.date() + timedelta(days=90)).isoformat(),
            "motivation": "Regionen har begärt det.",
        },
        actor=BOARD,
    )
    view = await nhv.ended(permit)
    assert view.outcome == "Tillståndet återkallat"
    revocation = nhv.document(view.variables["revocation_documents"], "text/html").decode()
    assert "Regionen har själv begärt" in revocation
    assert address("SE-AB") in nhv.recipients(permit.id, "NotifyRevocation")
    await record_history(permit, "se_nhv_permit_revoked_on_request")


async def designation_until_referral(
    nhv: Nhv, key: str, *, npos: tuple[str, ...] = ("SE-NPO-PSYKISK",)
) -> WorkflowHandle[Any, Any]:
    """A designation case started, prioritised and given its expert group."""
    handle = await nhv.start(
        "se_nhv_designation",
        nomination(key.replace("-", " ").capitalize(), list(npos)),
        business_key=key,
        title=key,
    )
    await nhv.complete(handle, "Prioritise", prioritisation(), OFFICER)
    await nhv.complete(handle, "AppointExpertGroup", expert_group(), OFFICER)
    return handle


async def test_not_prioritised_ends_and_tells_the_npo(nhv: Nhv, record_history):
    handle = await nhv.start(
        "se_nhv_designation",
        nomination("Glomustumörer", ["SE-NPO-NERVSYSTEM"]),
        business_key="glomustumorer",
        title="Glomustumörer",
    )
    [task] = await nhv.tasks(handle, "Prioritise", 1)
    assert task.candidates == ["org:SE-SOS/group:officer"]
    assert task.form_key == "se.nhv.Prioritisation"
    await nhv.complete(handle, "Prioritise", prioritisation(prioritised=False), OFFICER)
    view = await nhv.ended(handle)
    assert view.outcome == "Inte prioriterat"
    assert view.variables["prioritisation"]["prioritised"] is False
    [mail] = [m for m in nhv.mail(handle.id) if m.task == "NotifyNotPrioritised"]
    assert mail.to == address("SE-NPO-NERVSYSTEM", "secretariat")
    assert "inte prioriterat" in mail.text
    await record_history(handle, "se_nhv_designation_not_prioritised")


async def test_unsuitable_after_an_overdue_review_ends_without_referral(nhv: Nhv, record_history):
    handle = await designation_until_referral(nhv, "konsdysfori")
    review = await nhv.task(handle, "ExpertReport")
    assert review.due is not None
    # The group misses its deadline: Socialstyrelsen is told and the review reopens with a
    # month more.
    await nhv.advance_to(review.due + timedelta(hours=1), handle)
    reopened = await nhv.task(handle, "ExpertReport#2")
    assert reopened.due is not None
    assert timedelta(days=28) <= reopened.due - review.due <= timedelta(days=32)
    assert nhv.recipients(handle.id, "EscalateReview") == [address("SE-SOS", "nhv")]
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.complete(
            handle, "ExpertReport#2", {"suitable": True, "motivation": "x"}, actor=EXPERT
        )
    assert "rule expert_report_complete" in str(caught.value.cause.details)
    await nhv.cases.complete(handle, "ExpertReport#2", expert_report(suitable=False), actor=EXPERT)
    view = await nhv.ended(handle)
    assert view.outcome == "Olämpligt som NHV"
    assert "referral_documents" not in view.variables
    assert not [m for m in nhv.mail(handle.id) if m.task == "SendReferral"]
    assert nhv.recipients(handle.id, "NotifyUnsuitable") == [
        address("SE-NPO-PSYKISK", "secretariat")
    ]
    await record_history(handle, "se_nhv_designation_unsuitable")


async def test_expert_group_that_breaks_the_rules_is_rejected(nhv: Nhv):
    handle = await nhv.start(
        "se_nhv_designation",
        nomination("Vissa kateteringrepp hjärta", ["SE-NPO-HJARTA"]),
        business_key="kateteringrepp",
        title="Vissa kateteringrepp hjärta",
    )
    await nhv.complete(handle, "Prioritise", prioritisation(), OFFICER)
    await nhv.task(handle, "AppointExpertGroup")
    members = expert_group()["members"]
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.complete(
            handle, "AppointExpertGroup", {"members": members[:6]}, actor=OFFICER
        )
    assert caught.value.cause.type == "Invalid"
    assert "rule expert_group_size" in str(caught.value.cause.details)
    experts_only = [m for m in members if m["role"] == "expert"]
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.complete(
            handle, "AppointExpertGroup", {"members": experts_only}, actor=OFFICER
        )
    assert "rule expert_group_representative" in str(caught.value.cause.details)
    # Only Socialstyrelsen's officers appoint.
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.complete(
            handle, "AppointExpertGroup", expert_group(), actor=region("SE-AB")
        )
    assert caught.value.cause.type == "Forbidden"
    await nhv.cases.complete(handle, "AppointExpertGroup", expert_group(), actor=OFFICER)
    await nhv.task(handle, "ExpertReport")


async def test_not_nhv_after_a_referral_everyone_answered(nhv: Nhv, record_history):
    handle = await designation_until_referral(
        nhv, "neuroendokrina-tumorer", npos=("SE-NPO-MAGTARM",)
    )
    await nhv.complete(handle, "ExpertReport", expert_report(units=2), EXPERT)
    await nhv.tasks(handle, "ReferralResponse", 21)
    for org in REGIONS:
        await nhv.cases.complete(
            handle, f"ReferralResponse:{org}", referral_response(), actor=region(org)
        )
    # Every region answered: the referral closes before its deadline, nobody is reminded.
    await nhv.task(handle, "B1Analysis")
    view = await nhv.view(handle)
    assert view.variables["referral_no_answer"] == []
    assert all(entry["answer"] != "no answer" for entry in view.variables["referral_register"])
    assert not [m for m in nhv.mail(handle.id) if m.task in ("RemindReferral", "NotifyNoAnswer")]
    await nhv.complete(handle, "B1Analysis", b1_analysis(), B1)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.complete(
            handle, "Decide", {"is_nhv": False, "units": 2, "grounds": "x"}, actor=OFFICER
        )
    assert "rule decision_not_nhv" in str(caught.value.cause.details)
    await nhv.complete(handle, "Decide", decision(units=None), OFFICER)
    view = await nhv.ended(handle)
    assert view.outcome == "Inte nationell högspecialiserad vård"
    letter = nhv.document(view.variables["decision_documents"], "text/html").decode()
    assert "är inte nationell högspecialiserad vård" in letter
    assert address("SE-AB") in nhv.recipients(handle.id, "PublishDecision")
    with pytest.raises(RPCError):
        await nhv.handle("se_nhv_permit_allocation:neuroendokrina-tumorer").describe()
    await record_history(handle, "se_nhv_designation_not_nhv")


async def test_withdrawn_nomination_stops_the_case(nhv: Nhv, record_history):
    handle = await designation_until_referral(nhv, "svarbehandlade-atstorningar")
    await nhv.task(handle, "ExpertReport")
    assert "withdraw_nomination" in (await nhv.view(handle)).accepts_messages
    # Only a nominating NPO may withdraw.
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.message(handle, "withdraw_nomination", {}, npo("SE-NPO-HJARTA"))
    assert caught.value.cause.type == "Forbidden"
    result = await nhv.cases.message(
        handle, "withdraw_nomination", {"reason": "Omprövas"}, npo("SE-NPO-PSYKISK")
    )
    assert result.received_by == ["WithdrawalReceived"]
    view = await nhv.ended(handle)
    assert view.status == "completed"
    assert view.open_tasks == []
    assert nhv.recipients(handle.id, "NotifyWithdrawal") == [address("SE-SOS", "nhv")]
    await record_history(handle, "se_nhv_designation_withdrawn")


async def test_withdrawn_nomination_is_the_outcome(nhv: Nhv):
    handle = await designation_until_referral(nhv, "svarbehandlat-sjalvskadebeteende")
    # Withdrawn once the appointment's notifications have run: a withdrawal that cancels an
    # activity whose result is on its way is answered by Temporal's time-skipping server
    # with ACTIVITY_UNKNOWN, and the case then waits for ever on that server alone.
    await nhv.quiet(handle)
    await nhv.cases.message(handle, "withdraw_nomination", {}, npo("SE-NPO-PSYKISK"))
    view = await nhv.ended(handle)
    assert view.outcome == "Nomineringen återkallad"


ALLOCATION_START = {
    "care_area": "Vissa neuromuskulära sjukdomar",
    "definition": "Utredning och behandling av vissa neuromuskulära sjukdomar.",
    "units": 2,
    "conditions": ["Multidisciplinärt team"],
    "designation_date": "2025-01-15T10:00:00Z",
    "nominating_npos": ["SE-NPO-NERVSYSTEM"],
    "time_limits": {"application_period": "P4W"},
}


async def test_no_applicants_readvertised_then_closed(nhv: Nhv, record_history):
    handle = await nhv.start(
        "se_nhv_permit_allocation",
        ALLOCATION_START,
        business_key="neuromuskulara",
        title="Vissa neuromuskulära sjukdomar",
    )
    first = await nhv.tasks(handle, "Apply", 21)
    deadline = first[0].due
    assert deadline is not None
    # The shortened application period of the case's time limits applies.
    nominal = datetime.fromisoformat((await nhv.view(handle)).variables["application_deadline"])
    assert timedelta(weeks=4) <= nominal - await nhv.now() <= timedelta(weeks=4, days=1)
    assert deadline == closes_at(nominal)
    view = await nhv.view(handle)
    call = nhv.document(view.variables["call_documents"], "text/html").decode()
    assert "högst 2 enheter" in call
    await nhv.complete(
        handle,
        "DecideReadvertise",
        {"readvertise": True, "motivation": "En ny omgång."},
        OFFICER,
        skip=timedelta(days=7),
    )
    await nhv.tasks(handle, "Apply", 21)
    assert (await nhv.view(handle)).variables["round"] == 2
    await nhv.complete(
        handle,
        "DecideReadvertise#2",
        {"readvertise": False, "motivation": "Inget intresse."},
        OFFICER,
        skip=timedelta(days=7),
    )
    view = await nhv.ended(handle)
    assert view.outcome == "Utlysningen stängd utan sökande"
    assert view.variables["applications"] == {}
    assert nhv.recipients(handle.id, "NotifyClosed") == [
        address("SE-NPO-NERVSYSTEM", "secretariat")
    ]
    await record_history(handle, "se_nhv_permit_allocation_no_applicants")


async def test_permit_decision_not_made_at_the_meeting_is_tabled(nhv: Nhv):
    handle = await nhv.start(
        "se_nhv_permit_allocation",
        {**ALLOCATION_START, "units": 1},
        business_key="neuromuskulara-bordlagt",
        title="Vissa neuromuskulära sjukdomar",
    )
    await nhv.tasks(handle, "Apply", 21)
    await nhv.cases.complete(handle, "Apply:SE-O", application("SE-O"), actor=region("SE-O"))
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.complete(handle, "B2Statement", b2_statement(["SE-O", "SE-AB"]), actor=B2)
    # B2 cannot comment yet: the call is still open (the task opens at the deadline).
    assert caught.value.cause.type == "NotFound"
    statement = await nhv.task(handle, "B2Statement", skip=timedelta(days=7))
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.complete(
            handle, statement.task_id, b2_statement(["SE-O", "SE-AB"]), actor=B2
        )
    assert "rule b2_applicants_only" in str(caught.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.complete(handle, statement.task_id, b2_statement([]), actor=B2)
    assert "rule b2_every_application" in str(caught.value.cause)
    await nhv.cases.complete(handle, statement.task_id, b2_statement(["SE-O"]), actor=B2)
    first = await nhv.task(handle, "DecidePermits", skip=timedelta(days=5))
    first_meeting = (await nhv.view(handle)).variables["meeting_date"]
    # Nothing decided within meeting_period (14 days): the matter waits for the next meeting.
    second = await nhv.task(handle, "DecidePermits#2", skip=timedelta(days=10))
    second_meeting = (await nhv.view(handle)).variables["meeting_date"]
    assert first.task_id == "DecidePermits"
    gap = datetime.fromisoformat(second_meeting) - datetime.fromisoformat(first_meeting)
    assert timedelta(days=80) <= gap <= timedelta(days=100)
    met = local(datetime.fromisoformat(second_meeting))
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.complete(
            handle,
            second.task_id,
            permit_decision(["SE-O"], met.date() - timedelta(days=1)),
            actor=BOARD,
        )
    assert "rule permit_start_date" in str(caught.value.cause)
    await nhv.cases.complete(
        handle,
        second.task_id,
        permit_decision(["SE-O"], met.date() + timedelta(days=30)),
        actor=BOARD,
    )
    view = await nhv.ended(handle)
    assert view.outcome == "Tillstånden fördelade"
    await nhv.exists("se_nhv_permit:neuromuskulara-bordlagt:SE-O")


PERMIT_START = {
    "holder": "SE-O",
    "unit_name": "Sahlgrenska Universitetssjukhuset",
    "conditions": ["Multidisciplinärt team dygnet runt"],
    "care_area": "Osteogenesis Imperfecta",
    "definition": "Behandling av svår osteogenesis imperfecta.",
    "units": 2,
    "nominating_npos": ["SE-NPO-SALLSYNTA"],
    "permit_holders": ["SE-AB", "SE-O"],
    "time_limits": {},
}


async def test_permit_kept_after_changed_circumstances_then_revoked_and_readvertised(
    nhv: Nhv, record_history
):
    today = local(await nhv.now()).date()
    start = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    permit = await nhv.start(
        "se_nhv_permit",
        {**PERMIT_START, "start_date": start.isoformat(), "decision_date": today.isoformat()},
        business_key="osteogenesis:SE-O",
        title="Osteogenesis Imperfecta",
    )
    await nhv.settled(permit, "PermitStarts")
    # Socialstyrelsen brings the permit before the nämnd; the nämnd keeps it.
    await nhv.advance_to(datetime.combine(start, time(12), STOCKHOLM), permit)
    await nhv.settled(permit, "AwaitEvent")
    result = await nhv.cases.message(
        permit, "initiate_revocation", {"ground": "circumstances_changed"}, OFFICER
    )
    assert result.received_by == ["RevocationInitiated"]
    decide = await nhv.open_task(permit, "DecideRevocation", skip=timedelta(days=5))
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await nhv.cases.complete(
            permit,
            decide.task_id,
            {
                "revoke": True,
                "ground": "region_request",
                "effective_date": start.isoformat(),
                "motivation": "x",
            },
            actor=BOARD,
        )
    assert "rule revocation_region_request" in str(caught.value.cause)
    await nhv.cases.complete(
        permit,
        decide.task_id,
        {"revoke": False, "motivation": "Förändringen påverkar inte vården."},
        actor=BOARD,
    )
    await nhv.settled(permit, "AwaitEvent")
    assert address("SE-O") in nhv.recipients(permit.id, "NotifyNotRevoked")

    # The first follow-up reports unmet conditions; the review agrees; the nämnd revokes and
    # has the place advertised again.
    year = start.year + 1
    follow_up = await nhv.open_task(permit, "AnnualFollowUp", skip=timedelta(days=10))
    await nhv.cases.complete(
        permit,
        follow_up.task_id,
        annual_follow_up(year - 1, conditions_met=False),
        actor=region("SE-O"),
    )
    check = await nhv.open_task(permit, "CheckFollowUp")
    await nhv.cases.complete(permit, check.task_id, {"complete": True}, actor=OFFICER)
    review = await nhv.open_task(permit, "ReviewFollowUp")
    await nhv.cases.complete(
        permit, review.task_id, follow_up_review(conditions_met=False), actor=OFFICER
    )
    letter = await nhv.open_task(permit, "DecideRevocation", skip=timedelta(days=5))
    view = await nhv.view(permit)
    assert view.variables["proposed_ground"] == "conditions_not_met"
    met = local(datetime.fromisoformat(view.variables["meeting_date"]))
    await nhv.cases.complete(
        permit,
        letter.task_id,
        {
            "revoke": True,
            "ground": "conditions_not_met",
            "effective_date": (met.date() + timedelta(days=30)).isoformat(),
            "motivation": "Teamet har inte kunnat bemannas.",
            "readvertise": True,
        },
        actor=BOARD,
    )
    view = await nhv.ended(permit)
    assert view.outcome == "Tillståndet återkallat"
    revocation = nhv.document(view.variables["revocation_documents"], "text/html").decode()
    assert "Villkoren för tillståndet uppfylls inte längre" in revocation
    # Invited: the regions without a permit for the area; neither the other holder (SE-AB)
    # nor the region that just lost its permit (SE-O).
    allocation = await nhv.exists("se_nhv_permit_allocation:osteogenesis:SE-O")
    invited = {t.task_id for t in await nhv.tasks(allocation, "Apply", 19)}
    assert invited == {f"Apply:{r}" for r in REGIONS if r not in ("SE-AB", "SE-O")}
    view = await nhv.view(allocation)
    assert view.variables["vacancies"] == 1
    assert view.variables["permit_holders"] == ["SE-AB"]
    assert nhv.recipients(allocation.id, "SendCall") == sorted(
        address(r) for r in REGIONS if r not in ("SE-AB", "SE-O")
    )
    await record_history(permit, "se_nhv_permit_revoked_conditions_not_met")
