"""Working-day calendars: the days each skips, deadlines and reminders moved as the law
counts them (dates counted by hand against a printed calendar), the CEL functions, the
``niva:calendar`` setting in files and its snapshot in a deployed version."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from process_models import calendars
from process_models.bpmn import read_bpmn, write_bpmn
from process_models.calendars import (
    SNAPSHOT_KEY,
    WorkingCalendar,
    calendar_from_reference,
    on_working_day,
    snapshot,
)
from process_models.deployments import ModelFile, ModelStore
from process_models.errors import ExpressionError
from process_models.expressions import compile_expression
from process_models.store import FileBlobStore
from process_models.validation import validate

OSLO = ZoneInfo("Europe/Oslo")
STOCKHOLM = ZoneInfo("Europe/Stockholm")
SE = WorkingCalendar.of(snapshot("SE", 2026, 2032))
NO = WorkingCalendar.of(snapshot("NO", 2026, 2032))


def end_of(day: str, tz: ZoneInfo) -> datetime:
    """The instant a date-only deadline on ``day`` falls due: the following midnight."""
    d = date.fromisoformat(day) + timedelta(days=1)
    return datetime(d.year, d.month, d.day, tzinfo=tz)


def effective(calendar: WorkingCalendar, nominal: datetime, tz: ZoneInfo, *, deadline: bool):
    moved = on_working_day(calendar, nominal, tz, deadline=deadline)
    return nominal if moved is None else moved.effective


# --- which days ---------------------------------------------------------------------------


def test_sweden_skips_public_holidays_and_the_aftnar_of_the_law():
    days = {d for d in SE.holidays if d.year == 2027}
    assert date(2027, 6, 25) in days  # midsommarafton
    assert date(2027, 12, 24) in days  # julafton
    assert date(2027, 12, 31) in days  # nyårsafton
    assert date(2027, 6, 6) in days  # nationaldagen
    assert date(2027, 5, 6) in days  # Kristi himmelsfärdsdag
    assert date(2027, 4, 30) not in days  # valborgsmässoafton is a working day
    assert not SE.is_working_day(date(2027, 6, 26))  # a Saturday


def test_norway_skips_public_holidays_and_1_and_17_may_but_not_the_eves():
    assert not NO.is_working_day(date(2027, 5, 17))
    assert not NO.is_working_day(date(2027, 5, 1))  # a Saturday anyway
    assert not NO.is_working_day(date(2031, 5, 1))  # a Thursday
    assert not NO.is_working_day(date(2027, 3, 25))  # skjærtorsdag
    assert NO.is_working_day(date(2027, 12, 24))  # julaften: a Friday, not in § 149
    assert NO.is_working_day(date(2027, 12, 31))


def test_snapshot_records_its_source_and_span():
    snap = snapshot("NO", 2030, 2031)
    assert snap.source.startswith("holidays ")
    assert (snap.first_year, snap.last_year) == (2030, 2031)
    assert "05-17" in snap.days["2031"]
    with pytest.raises(ValueError, match="unknown calendar"):
        snapshot("DK", 2030, 2031)


# --- deadlines and reminders ------------------------------------------------------------------


def test_norwegian_deadline_on_saturday_1_march_2031_runs_to_monday():
    nominal = end_of("2031-03-01", OSLO)
    assert effective(NO, nominal, OSLO, deadline=True) == end_of("2031-03-03", OSLO)


def test_norwegian_deadline_on_17_may_moves_to_the_18th():
    nominal = end_of("2027-05-17", OSLO)  # a Monday
    assert effective(NO, nominal, OSLO, deadline=True) == end_of("2027-05-18", OSLO)


def test_swedish_deadline_on_midsommarafton_2027_runs_to_monday_28_june():
    nominal = datetime(2027, 6, 25, 10, 0, tzinfo=STOCKHOLM)
    assert effective(SE, nominal, STOCKHOLM, deadline=True) == end_of("2027-06-28", STOCKHOLM)


def test_swedish_deadline_on_julafton_2027_runs_to_monday_27_december():
    nominal = end_of("2027-12-24", STOCKHOLM)
    assert effective(SE, nominal, STOCKHOLM, deadline=True) == end_of("2027-12-27", STOCKHOLM)


def test_an_ordinary_thursday_is_unchanged():
    nominal = datetime(2027, 3, 11, 15, 30, tzinfo=STOCKHOLM)
    assert on_working_day(SE, nominal, STOCKHOLM, deadline=True) is None
    assert on_working_day(SE, nominal, STOCKHOLM, deadline=False) is None


def test_a_reminder_on_a_non_working_day_moves_to_the_working_day_before():
    # 14 days before the nominal deadline of Saturday 1 March 2031: Saturday 15 February.
    nominal = end_of("2031-02-15", OSLO)
    assert effective(NO, nominal, OSLO, deadline=False) == end_of("2031-02-14", OSLO)
    morning = datetime(2027, 12, 26, 9, 0, tzinfo=STOCKHOLM)  # annandag jul, a Sunday
    assert effective(SE, morning, STOCKHOLM, deadline=False) == datetime(
        2027, 12, 23, 9, 0, tzinfo=STOCKHOLM
    )


def test_the_trail_note_names_the_law():
    moved = on_working_day(SE, end_of("2027-06-25", STOCKHOLM), STOCKHOLM, deadline=True)
    assert moved is not None
    assert "lag (1930:173)" in moved.note
    assert "2027-06-28" in moved.note


def test_outside_the_snapshot_only_weekends_count():
    short = WorkingCalendar.of(snapshot("NO", 2030, 2030))
    may17 = end_of("2032-05-17", OSLO)  # a Monday, beyond the snapshot
    assert on_working_day(short, may17, OSLO, deadline=True) is None
    saturday = end_of("2032-05-15", OSLO)
    moved = on_working_day(short, saturday, OSLO, deadline=True)
    assert moved is not None
    assert "outside the snapshot" in moved.note


# --- CEL ----------------------------------------------------------------------------------------

REFERENCE = {SNAPSHOT_KEY: snapshot("SE", 2026, 2032).model_dump(mode="json")}
NOW = datetime(2026, 12, 5, tzinfo=UTC)


def cel(text: str, reference=REFERENCE):
    return compile_expression(text).evaluate({}, now=NOW, tz=STOCKHOLM, reference=reference)


def test_calendar_functions_in_cel():
    assert cel('=is_working_day(date("2027-06-25"))') is False
    assert cel('=is_working_day(date("2027-06-24"))') is True
    assert cel('=next_working_day(date("2027-06-25"))') == "2027-06-27T22:00:00Z"
    assert cel('=next_working_day(date("2027-06-24"))') == "2027-06-23T22:00:00Z"
    assert cel('=previous_working_day(date("2027-12-26"))') == "2027-12-22T23:00:00Z"
    assert cel('=add_working_days(date("2027-12-23"), 1)') == "2027-12-26T23:00:00Z"
    assert cel('=add_working_days(date("2027-12-27"), -1)') == "2027-12-22T23:00:00Z"
    # Wednesday 23 June: Thursday 24, then Monday 28 (midsommarafton and the weekend).
    assert cel('=add_working_days(timestamp("2027-06-23T09:15:00+02:00"), 2)') == (
        "2027-06-28T07:15:00Z"
    )


def test_calendar_functions_need_a_calendar():
    with pytest.raises(ExpressionError, match="niva:calendar"):
        cel('=is_working_day(date("2027-06-25"))', reference={})
    with pytest.raises(ExpressionError, match="as an int"):
        cel('=add_working_days(date("2027-06-25"), "2")')


# --- in files and deployments ---------------------------------------------------------------


def process(calendar: str = "SE", timer_calendar: str | None = "none") -> bytes:
    opt_out = (
        f'<bpmn:extensionElements><niva:calendar value="{timer_calendar}"/></bpmn:extensionElements>'
        if timer_calendar
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:niva="urn:niva:bpmn:1" id="defs" targetNamespace="urn:niva:test">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:extensionElements>
      <niva:timezone value="Europe/Stockholm"/>
      <niva:calendar value="{calendar}"/>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Wait"/>
    <bpmn:intermediateCatchEvent id="Wait">
      {opt_out}
      <bpmn:timerEventDefinition><bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="Wait" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()


def test_calendar_settings_are_read_and_written_back():
    defs = read_bpmn(process())
    assert defs.processes[0].calendar == "SE"
    assert defs.processes[0].node("Wait").niva.calendar == "none"
    again = read_bpmn(write_bpmn(defs))
    assert again.processes[0].calendar == "SE"
    assert again.processes[0].node("Wait").niva.calendar == "none"


def test_unknown_calendar_values_are_validation_problems():
    assert validate(read_bpmn(process())) == []
    [problem] = validate(read_bpmn(process(calendar="DK")))
    assert "niva:calendar 'DK'" in problem.message
    assert problem.element_id == "p"
    [problem] = validate(read_bpmn(process(timer_calendar="NO")))
    assert 'value="none"' in problem.message
    assert problem.element_id == "Wait"


def test_deployment_snapshots_the_calendar_around_its_year(tmp_path: Path):
    store = ModelStore(FileBlobStore(tmp_path))
    [result] = store.deploy([ModelFile(name="p.bpmn", content=process())])
    year = result.model.deployed_at.year
    raw = result.model.reference[SNAPSHOT_KEY]
    assert (raw["first_year"], raw["last_year"]) == (
        year - calendars.YEARS_BEFORE,
        year + calendars.YEARS_AFTER,
    )
    source = store.source("p")
    calendar = calendar_from_reference(source.reference)
    assert calendar is not None
    assert calendar.calendar == "SE"
    assert not calendar.is_working_day(date(year + 1, 12, 24))


def test_a_process_without_calendar_snapshots_none(tmp_path: Path):
    store = ModelStore(FileBlobStore(tmp_path))
    [result] = store.deploy([ModelFile(name="p.bpmn", content=process(calendar="none"))])
    assert SNAPSHOT_KEY not in result.model.reference
