"""Deadlines as the law counts them, on the time-skipping server: a process's working-day
calendar moves a deadline off a non-working day to the end of the next working day, a
reminder to the working day before, and leaves a timer that opts out alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import holidays
import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from process_models import calendars
from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, bpmn, running_cases
from workflows import WORKFLOWS
from workflows.state import InstanceState, Timer


@pytest.fixture
async def cases(own_time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    # A server of its own: the dates below are absolute, and the session's server may
    # already have skipped past them.
    async with running_cases(
        own_time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


def _model(process_id: str, zone: str, calendar: str, deadline: str, reminder: str) -> str:
    return bpmn(f"""
<bpmn:process id="{process_id}" isExecutable="true">
  <bpmn:extensionElements>
    <niva:timezone value="{zone}"/>
    <niva:calendar value="{calendar}"/>
  </bpmn:extensionElements>
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Report"/>
  <bpmn:userTask id="Report" name="Rapport"/>
  <bpmn:boundaryEvent id="Deadline" name="Fristen løper ut" attachedToRef="Report">
    <bpmn:timerEventDefinition><bpmn:timeDate>{deadline}</bpmn:timeDate></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:boundaryEvent id="Remind" cancelActivity="false" attachedToRef="Report">
    <bpmn:timerEventDefinition><bpmn:timeDate>{reminder}</bpmn:timeDate></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:boundaryEvent id="OptOut" cancelActivity="false" attachedToRef="Report">
    <bpmn:extensionElements><niva:calendar value="none"/></bpmn:extensionElements>
    <bpmn:timerEventDefinition><bpmn:timeDate>{reminder}</bpmn:timeDate></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Report" targetRef="Done"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Deadline" targetRef="Closed"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Remind" targetRef="Reminded"/>
  <bpmn:sequenceFlow id="f5" sourceRef="OptOut" targetRef="Reminded2"/>
  <bpmn:endEvent id="Done" name="Levert"/>
  <bpmn:endEvent id="Closed" name="Fristen utløpt"/>
  <bpmn:endEvent id="Reminded"/>
  <bpmn:endEvent id="Reminded2"/>
</bpmn:process>
""")


# The annual report is due 1 March (date-only: the end of that day); its reminder is the
# end of the day 14 days earlier.
NO_ANNUAL = _model(
    "no_annual_report",
    "Europe/Oslo",
    "NO",
    "=due",
    '=end_of_day(date(due) - duration("336h"))',
)
# A Swedish referral: ten weeks from when it was sent; the reminder a week before.
SE_REFERRAL = _model(
    "se_referral",
    "Europe/Stockholm",
    "SE",
    '=add_duration(timestamp(sent), "P10W")',
    '=add_duration(timestamp(sent), "P9W")',
)


# A Swedish deadline given as a date.
SE_DATED = _model(
    "se_dated",
    "Europe/Stockholm",
    "SE",
    "=due",
    '=end_of_day(date(due) - duration("336h"))',
)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _timers(state: InstanceState) -> dict[str, Timer]:
    return {t.element_id: t for t in state.timers.values()}


def _fired(state: InstanceState) -> dict[str, datetime]:
    """When each timer was due, by element, from the trail's ``timer`` entries."""
    return {
        e.element_id: datetime.fromisoformat(e.detail)
        for e in state.audit
        if e.kind == "timer" and e.element_id and e.detail
    }


async def _details(handle: WorkflowHandle[Any, Any]) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def test_norwegian_annual_report_due_on_a_saturday_closes_monday(cases: Cases):
    cases.deploy(NO_ANNUAL)
    handle = await cases.start("no_annual_report", {"due": "2031-03-01"})
    state = await cases.internal(handle)
    timers = _timers(state)
    # 1 March 2031 is a Saturday: the deadline runs to the end of Monday 3 March, Oslo time.
    assert timers["Deadline"].fire_at == _at("2031-03-04T00:00:00+01:00")
    # The reminder's day, Saturday 15 February, moves back to the end of Friday 14 February;
    # the timer that opts out keeps its Saturday.
    assert timers["Remind"].fire_at == _at("2031-02-15T00:00:00+01:00")
    assert timers["OptOut"].fire_at == _at("2031-02-16T00:00:00+01:00")
    [task] = (await cases.view(handle)).open_tasks
    assert task.due == _at("2031-03-04T00:00:00+01:00")

    moves = {e.element_id: e.detail or "" for e in state.audit if e.kind == "working_day"}
    assert set(moves) == {"Deadline", "Remind"}
    assert moves["Deadline"].startswith("2031-03-01T23:00:00+00:00 -> 2031-03-03T23:00:00+00:00")
    assert "domstolloven § 149" in moves["Deadline"]

    details = await _details(handle)
    assert "due 2031-03-03 (moved from 2031-03-01, not a working day)" in details

    result = await handle.result()
    assert result.outcome == "Fristen utløpt"
    final = await cases.internal(handle)
    fired = _fired(final)
    assert fired["Deadline"] == _at("2031-03-04T00:00:00+01:00")
    assert fired["Remind"] == _at("2031-02-15T00:00:00+01:00")
    assert fired["OptOut"] == _at("2031-02-16T00:00:00+01:00")


async def test_swedish_referral_ending_on_midsommarafton_closes_the_next_working_day(
    cases: Cases, monkeypatch: pytest.MonkeyPatch
):
    cases.deploy(SE_REFERRAL)
    # Sent Friday 16 April 2027: ten weeks end on Friday 25 June, midsommarafton.
    handle = await cases.start("se_referral", {"sent": "2027-04-16T10:00:00+02:00"})
    timers = _timers(await cases.internal(handle))
    assert timers["Deadline"].fire_at == _at("2027-06-29T00:00:00+02:00")  # end of Mon 28 June
    # Nine weeks: Friday 18 June, a working day; nothing moves.
    assert timers["Remind"].fire_at == _at("2027-06-18T10:00:00+02:00")
    result = await handle.result()
    assert result.outcome == "Fristen utløpt"
    fired = _fired(await cases.internal(handle))
    assert fired["Deadline"] == _at("2027-06-29T00:00:00+02:00")

    # The holiday library swapped for one that knows no holidays at all: a new deployment
    # would see it, the recorded case replays exactly as it ran.
    history = await handle.fetch_history()
    # The days the case counts with travel in its first event, with the library's version.
    started = history.events[0].workflow_execution_started_event_attributes
    first_event = b"".join(p.data for p in started.input.payloads).decode()
    assert '"niva:calendar"' in first_event
    assert '"06-25"' in first_event
    monkeypatch.setattr(holidays, "country_holidays", lambda *args, **kwargs: {})
    calendars.snapshot.cache_clear()
    try:
        assert calendars.snapshot("SE", 2027, 2027).days == {"2027": []}
        replayer = Replayer(
            workflows=WORKFLOWS,
            data_converter=pydantic_data_converter,
            workflow_runner=SandboxedWorkflowRunner(),
        )
        replay = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert replay.replay_failure is None
    finally:
        calendars.snapshot.cache_clear()


async def test_a_model_without_calendar_keeps_calendar_days(cases: Cases):
    cases.deploy(NO_ANNUAL.replace('<niva:calendar value="NO"/>', ""))
    handle = await cases.start("no_annual_report", {"due": "2031-03-01"})
    state = await cases.internal(handle)
    assert _timers(state)["Deadline"].fire_at == _at("2031-03-02T00:00:00+01:00")
    assert not [e for e in state.audit if e.kind == "working_day"]


@pytest.mark.parametrize(
    ("model", "process_id", "due", "closes"),
    [
        # 17 May 2027, a Monday: Constitution Day, to the end of Tuesday the 18th.
        (NO_ANNUAL, "no_annual_report", "2027-05-17", "2027-05-19T00:00:00+02:00"),
        # Julafton 2027, a Friday, then the weekend of juldagen and annandag jul.
        (SE_DATED, "se_dated", "2027-12-24", "2027-12-28T00:00:00+01:00"),
        # Midsommarafton 2027.
        (SE_DATED, "se_dated", "2027-06-25", "2027-06-29T00:00:00+02:00"),
        # An ordinary Thursday stays.
        (SE_DATED, "se_dated", "2027-03-11", "2027-03-12T00:00:00+01:00"),
    ],
    ids=["17-may", "julafton", "midsommarafton", "thursday"],
)
async def test_deadline_on_a_date_closes_on_a_working_day(
    cases: Cases, model: str, process_id: str, due: str, closes: str
):
    cases.deploy(model)
    handle = await cases.start(process_id, {"due": due})
    [task] = (await cases.view(handle)).open_tasks
    assert task.due == _at(closes)
