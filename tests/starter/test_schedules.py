"""Timer start events become Temporal Schedules that follow deployments."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from process_models.deployments import DeployLimits
from process_models.timers import parse_timer
from starter.schedules import schedule_id, schedule_spec, sync_schedules
from tests.workflows import activities_for_tests
from tests.workflows.harness import bpmn, running_cases

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def test_yearly_cycle_is_a_calendar_on_its_day():
    spec, limit = schedule_spec(
        parse_timer("cycle", "R/2027-03-01/P1Y"), STOCKHOLM, now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    [calendar] = spec.calendars
    assert (calendar.month[0].start, calendar.day_of_month[0].start, calendar.hour[0].start) == (
        3,
        1,
        0,
    )
    assert spec.time_zone_name == "Europe/Stockholm"
    assert spec.start_at == datetime(2027, 3, 1, tzinfo=STOCKHOLM)
    assert limit is None


def test_yearly_cycle_stays_within_the_years_temporal_accepts():
    spec, _ = schedule_spec(
        parse_timer("cycle", "R/2030-03-01/P2Y"), STOCKHOLM, now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    [years] = spec.calendars[0].year
    assert (years.start, years.end, years.step) == (2030, 2100, 2)


def test_quarterly_cycle_names_its_months():
    spec, _ = schedule_spec(
        parse_timer("cycle", "R/2027-02-15/P3M"), STOCKHOLM, now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert [r.start for r in spec.calendars[0].month] == [2, 5, 8, 11]


def test_exact_cycle_with_count_is_a_limited_interval():
    spec, limit = schedule_spec(
        parse_timer("cycle", "R3/PT12H"), STOCKHOLM, now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert spec.intervals[0].every.total_seconds() == 12 * 3600
    assert limit == 3


def test_date_is_one_start():
    spec, limit = schedule_spec(
        parse_timer("date", "2027-06-01T09:00:00+02:00"),
        STOCKHOLM,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert [r.start for r in spec.calendars[0].year] == [2027]
    assert limit == 1


def timer_start(cycle: str, *, with_timer: bool = True) -> str:
    timer = f"<bpmn:timerEventDefinition><bpmn:timeCycle>{cycle}</bpmn:timeCycle></bpmn:timerEventDefinition>"
    return bpmn(f"""
    <bpmn:process id="scheduled" name="Schemalagd" isExecutable="true">
      <bpmn:startEvent id="Manual"/>
      <bpmn:sequenceFlow id="f0" sourceRef="Manual" targetRef="Review"/>
      {'<bpmn:startEvent id="Yearly">' + timer + '</bpmn:startEvent><bpmn:sequenceFlow id="f1" sourceRef="Yearly" targetRef="Review"/>' if with_timer else ""}
      <bpmn:userTask id="Review"/>
      <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
      <bpmn:endEvent id="End"/>
    </bpmn:process>
    """)


async def test_schedules_start_cases_and_follow_redeployments(
    client: Client, task_queue: str, tmp_path: Path
):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        # A cycle of seconds, so that the schedule starts a case while the test waits.
        cases.store.limits = DeployLimits(min_cycle_seconds=1)
        cases.deploy(timer_start("R/PT2S"))
        assert await sync_schedules(client, cases.store, task_queue=task_queue) == [
            schedule_id("scheduled", "Yearly")
        ]
        handle = client.get_schedule_handle(schedule_id("scheduled", "Yearly"))
        started: list[str] = []
        for _ in range(40):
            started = [a.action.workflow_id for a in (await handle.describe()).info.recent_actions]
            if started:
                break
            await asyncio.sleep(0.5)
        assert started, "the schedule started no case"
        case = client.get_workflow_handle(started[0])
        view = await cases.view(case)
        assert view.business_key.startswith("Yearly-")
        assert [t.task_id for t in view.open_tasks] == ["Review"]
        await handle.pause()
        for workflow_id in started:
            await client.get_workflow_handle(workflow_id).terminate("test done")

        # Same content again: nothing to change. A version without the timer: removed.
        cases.deploy(timer_start("R/PT2S", with_timer=False))
        assert await sync_schedules(client, cases.store, task_queue=task_queue) == []
        # Asked by id: the list of schedules comes from visibility, which lags.
        with pytest.raises(RPCError) as gone:
            await client.get_schedule_handle(schedule_id("scheduled", "Yearly")).describe()
        assert gone.value.status == RPCStatusCode.NOT_FOUND
