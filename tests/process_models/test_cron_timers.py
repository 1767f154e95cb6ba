"""Cron ``timeCycle`` values (Spring's six-field cron, as Camunda 8 reads them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from process_models.bpmn import read_bpmn
from process_models.cron import parse_cron
from process_models.errors import TimerSpecError
from process_models.timers import check_cycle_period, missed_firings, next_fire, parse_timer
from process_models.validation import validate
from starter.schedules import schedule_spec

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _firings(expr: str, after: datetime, count: int, tz: ZoneInfo = STOCKHOLM) -> list[str]:
    spec = parse_timer("cycle", expr)
    fired = [next_fire(spec, armed_at=after, fired=n, tz=tz) for n in range(count)]
    return [f.astimezone(tz).isoformat() if f else "none" for f in fired]


MONDAY = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)  # 08:00 in Stockholm


def test_weekdays_at_nine_in_the_process_zone():
    assert _firings("0 0 9 * * MON-FRI", MONDAY, 6) == [
        "2027-03-01T09:00:00+01:00",
        "2027-03-02T09:00:00+01:00",
        "2027-03-03T09:00:00+01:00",
        "2027-03-04T09:00:00+01:00",
        "2027-03-05T09:00:00+01:00",
        "2027-03-08T09:00:00+01:00",
    ]


def test_hours_steps_names_and_both_day_fields_must_match():
    assert _firings("0 0 9-17/4 * * *", MONDAY, 4) == [
        "2027-03-01T09:00:00+01:00",
        "2027-03-01T13:00:00+01:00",
        "2027-03-01T17:00:00+01:00",
        "2027-03-02T09:00:00+01:00",
    ]
    # Spring's rule: the 13th *and* a Friday (Vixie cron would take either).
    assert _firings("0 0 12 13 * FRI", MONDAY, 2) == [
        "2027-08-13T12:00:00+02:00",
        "2028-10-13T12:00:00+02:00",
    ]
    # Sunday is 0 and 7; ? stands for any day.
    assert _firings("0 30 8 ? JAN-DEC 7", MONDAY, 1) == ["2027-03-07T08:30:00+01:00"]


def test_month_rules_last_day_last_weekday_nearest_weekday_and_nth():
    assert _firings("0 0 0 L * ?", MONDAY, 2) == [
        "2027-03-31T00:00:00+02:00",
        "2027-04-30T00:00:00+02:00",
    ]
    assert _firings("0 0 0 L-2 2 ?", MONDAY, 2) == [
        "2028-02-27T00:00:00+01:00",
        "2029-02-26T00:00:00+01:00",
    ]
    # The last weekday of July 2027 (the 31st is a Saturday).
    assert _firings("0 0 10 LW 7 ?", MONDAY, 1) == ["2027-07-30T10:00:00+02:00"]
    # The weekday nearest the 15th of May 2027 (a Saturday): Friday the 14th.
    assert _firings("0 0 10 15W 5 ?", MONDAY, 1) == ["2027-05-14T10:00:00+02:00"]
    assert _firings("0 0 10 ? * FRIL", MONDAY, 1) == ["2027-03-26T10:00:00+01:00"]
    assert _firings("0 0 10 ? * MON#2", MONDAY, 1) == ["2027-03-08T10:00:00+01:00"]
    assert _firings("@monthly", MONDAY, 1) == ["2027-04-01T00:00:00+02:00"]


def test_daylight_saving_days():
    # 28 March 2027: Stockholm skips 02:00-03:00; 31 October: 02:00-03:00 happens twice.
    spring = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
    assert _firings("0 30 2 * * *", spring, 3) == [
        "2027-03-28T03:30:00+02:00",  # skipped: fires when the clock jumps
        "2027-03-29T02:30:00+02:00",
        "2027-03-30T02:30:00+02:00",
    ]
    autumn = datetime(2027, 10, 30, 12, 0, tzinfo=UTC)
    assert _firings("0 30 2 * * *", autumn, 2) == [
        "2027-10-31T02:30:00+02:00",  # the first of the two, once
        "2027-11-01T02:30:00+01:00",
    ]
    # Every half hour across the skipped hour: 02:00 and 02:30 both jump to 03:00/03:30,
    # each instant once.
    night = datetime(2027, 3, 28, 0, 15, tzinfo=UTC)  # 01:15 CET
    assert _firings("0 0/30 1-3 * * *", night, 4) == [
        "2027-03-28T01:30:00+01:00",
        "2027-03-28T03:00:00+02:00",
        "2027-03-28T03:30:00+02:00",
        "2027-03-29T01:00:00+02:00",
    ]


def test_late_cron_cycle_skips_missed_firings():
    spec = parse_timer("cycle", "0 0 9 * * *")
    now = MONDAY + timedelta(days=10)
    # Fired once (day 1); ten days passed: nine more fell due meanwhile.
    assert missed_firings(spec, armed_at=MONDAY, fired=1, now=now, tz=STOCKHOLM) == 9
    nxt = next_fire(spec, armed_at=MONDAY, fired=10, tz=STOCKHOLM)
    assert nxt == datetime(2027, 3, 11, 8, 0, tzinfo=UTC)


def test_a_long_running_cycle_finds_its_next_firing_quickly():
    spec = parse_timer("cycle", "0 0 * * * *")
    # Ten years of hourly firings: counted day by day, not firing by firing.
    nth = next_fire(spec, armed_at=MONDAY, fired=24 * 3650, tz=STOCKHOLM)
    assert nth is not None
    assert (nth - MONDAY) > timedelta(days=3649)


def test_malformed_cron_names_the_field():
    with pytest.raises(TimerSpecError, match="the hour field"):
        parse_cron("0 0 25 * * *")
    with pytest.raises(TimerSpecError, match="day-of-week"):
        parse_cron("0 0 9 ? * MON#6")
    with pytest.raises(TimerSpecError, match="runs backwards"):
        parse_cron("0 0 9-5 * * *")


def test_minimum_cycle_period_applies_to_cron():
    spec = parse_timer("cycle", "*/10 * * * * *")
    with pytest.raises(TimerSpecError, match="at least"):
        check_cycle_period(spec, timedelta(minutes=1))
    # Across midnight counts too: 23:59 and 00:00 are a minute apart.
    assert parse_cron("0 0,59 0,23 * * *").shortest_gap() == timedelta(minutes=1)


def _model(cycle: str, *, start: bool = False) -> str:
    timer = f"<bpmn:timerEventDefinition><bpmn:timeCycle>{cycle}</bpmn:timeCycle>"
    timer += "</bpmn:timerEventDefinition>"
    if start:
        body = f"""<bpmn:startEvent id="Start">{timer}</bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="End"/>
    <bpmn:endEvent id="End"/>"""
    else:
        body = f"""<bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Task"/>
    <bpmn:userTask id="Task"/>
    <bpmn:boundaryEvent id="Remind" attachedToRef="Task" cancelActivity="false">{timer}
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="Remind" targetRef="End2"/>
    <bpmn:endEvent id="End2"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Task" targetRef="End"/>
    <bpmn:endEvent id="End"/>"""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="urn:t">
  <bpmn:process id="cron" isExecutable="true">
    {body}
  </bpmn:process>
</bpmn:definitions>
"""


def _messages(source: str) -> list[str]:
    return [p.message for p in validate(read_bpmn(source.encode()))]


def test_validation_accepts_cron_cycles_and_refuses_bad_ones():
    assert _messages(_model("0 0 9 * * MON-FRI")) == []
    [short] = _messages(_model("*/5 * * * * *"))
    assert "fires 5 s apart" in short
    [never] = _messages(_model("0 0 0 30 2 ?"))
    assert "never fires" in never
    [field] = _messages(_model("0 0 9 * * MONDAY"))
    assert "day-of-week" in field
    [start] = _messages(_model("0 0 9 L * ?", start=True))
    assert "Temporal schedule" in start
    assert _messages(_model("0 0 9 * * MON-FRI", start=True)) == []


def test_timer_start_cron_becomes_a_calendar_schedule():
    spec = parse_timer("cycle", "0 15 9 * * MON-FRI")
    schedule, count = schedule_spec(spec, STOCKHOLM, now=MONDAY)
    assert count is None
    assert schedule.time_zone_name == "Europe/Stockholm"
    [calendar] = schedule.calendars
    assert [r.start for r in calendar.hour] == [9]
    assert [r.start for r in calendar.minute] == [15]
    assert [r.start for r in calendar.day_of_week] == [1, 2, 3, 4, 5]
