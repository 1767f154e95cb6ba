"""A case that outlives its version's calendar snapshot, on the time-skipping server: it
adds the years it needs through a local activity recorded in its history, counts its
deadlines with them, and replays with the recorded days whatever holiday library the
worker has."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import holidays
import pytest
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

import activities.models
from process_models import calendars
from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn, running_cases
from workflows import WORKFLOWS
from workflows.state import InstanceState

DATED = bpmn("""
<bpmn:process id="se_far_deadline" isExecutable="true">
  <bpmn:extensionElements>
    <niva:timezone value="Europe/Stockholm"/>
    <niva:calendar value="SE"/>
  </bpmn:extensionElements>
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Renew"/>
  <bpmn:userTask id="Renew" name="Förnya"/>
  <bpmn:boundaryEvent id="Deadline" attachedToRef="Renew">
    <bpmn:timerEventDefinition><bpmn:timeDate>=due</bpmn:timeDate></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Renew" targetRef="Done"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Deadline" targetRef="Lapsed"/>
  <bpmn:endEvent id="Done"/>
  <bpmn:endEvent id="Lapsed"/>
</bpmn:process>
""")


@pytest.fixture
async def cases(
    own_time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    # Versions snapshot one year ahead only, so that a case outlives its snapshot soon.
    monkeypatch.setattr(calendars, "YEARS_AFTER", 1)
    calendars.snapshot.cache_clear()
    async with running_cases(
        own_time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running
    calendars.snapshot.cache_clear()


async def _state_when(
    cases: Cases, handle: WorkflowHandle[Any, Any], ready: Callable[[InstanceState], bool]
) -> InstanceState:
    """The case's state once ``ready`` holds (its local activity may still be running)."""
    for _ in range(100):
        state = await cases.internal(handle)
        if ready(state):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError("the case did not get there")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def test_a_deadline_beyond_the_snapshot_counts_with_the_years_the_case_adds(
    cases: Cases, monkeypatch: pytest.MonkeyPatch
):
    cases.deploy(DATED)
    reference = cases.store.source("se_far_deadline", None).reference
    deployed = calendars.calendar_from_reference(reference)
    assert deployed is not None
    assert deployed.last_year < 2040
    # Julafton 2040 is a Monday; juldagen and annandag jul follow.
    handle = await cases.start("se_far_deadline", {"due": "2040-12-24"})
    state = await _state_when(cases, handle, lambda s: bool(s.calendar_years))
    [timer] = state.timers.values()
    assert timer.fire_at == _at("2040-12-28T00:00:00+01:00")  # end of Thursday 27 December
    [task] = (await cases.view(handle)).open_tasks
    assert task.due == _at("2040-12-28T00:00:00+01:00")
    assert "12-24" in state.calendar_years["2040"]
    [added] = [e for e in state.audit if e.kind == "calendar_extended"]
    assert (added.detail or "").startswith(f"SE {deployed.last_year + 1}..2041 (holidays ")

    # The library swapped for one that knows no holidays: the case replays as it ran, from
    # the years its history recorded.
    history = await handle.fetch_history()
    monkeypatch.setattr(holidays, "country_holidays", lambda *args, **kwargs: {})
    calendars.snapshot.cache_clear()
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
        workflow_runner=SandboxedWorkflowRunner(),
    )
    replay = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert replay.replay_failure is None


async def test_a_case_near_the_end_of_its_snapshot_adds_the_next_years(cases: Cases):
    cases.deploy(DATED)
    # A deadline within the snapshot: only the clock asks for more years.
    handle = await cases.start("se_far_deadline", {"due": "2027-06-25"})
    state = await _state_when(cases, handle, lambda s: bool(s.calendar_years))
    [timer] = state.timers.values()
    assert timer.fire_at == _at("2027-06-29T00:00:00+02:00")  # midsommarafton → Monday
    this_year = datetime.now(UTC).year
    years = sorted(int(year) for year in state.calendar_years)
    assert years[-1] == this_year + calendars.EXTEND_AHEAD
    assert "06-06" in state.calendar_years[str(years[-1])]  # nationaldagen


async def test_years_that_cannot_be_had_leave_a_trail_entry_and_the_case_goes_on(
    cases: Cases, monkeypatch: pytest.MonkeyPatch
):
    cases.deploy(DATED)

    def unavailable(calendar: str, first_year: int, last_year: int) -> calendars.CalendarSnapshot:
        raise ValueError("no holiday data for those years")

    monkeypatch.setattr(activities.models, "snapshot", unavailable)
    handle = await cases.start("se_far_deadline", {"due": "2040-12-24"})
    state = await _state_when(
        cases, handle, lambda s: any(e.kind == "calendar_not_extended" for e in s.audit)
    )
    # Beyond the calendar's years, Saturdays and Sundays only: Monday 24 December stays.
    [timer] = state.timers.values()
    assert timer.fire_at == _at("2040-12-25T00:00:00+01:00")
    assert state.calendar_years == {}
    [failed] = [e for e in state.audit if e.kind == "calendar_not_extended"]
    assert "no holiday data for those years" in (failed.detail or "")
    await cases.complete(handle, "Renew")
    assert (await handle.result()).outcome == "Done"


def test_an_extension_reaches_past_the_clock_and_the_latest_timer_but_not_for_ever():
    base = calendars.WorkingCalendar.of(calendars.snapshot("NO", 2026, 2030))
    assert calendars.extension_wanted(base, 2019) is None
    wanted = calendars.extension_wanted(base, 2026)
    assert wanted is not None
    assert (wanted.first_year, wanted.last_year) == (2031, 2026 + calendars.YEARS_AFTER)
    far = calendars.extension_wanted(base, 2026, latest_year=2500)
    assert far is not None
    assert far.last_year == 2026 + calendars.MAX_YEARS_AHEAD
