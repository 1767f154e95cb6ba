"""ISO 8601 timers: parsing, calendar arithmetic in the process's zone, and fire times."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from process_models.errors import TimerSpecError
from process_models.timers import (
    IsoDuration,
    TimerSpec,
    add_duration,
    add_months,
    next_fire,
    parse_datetime,
    parse_timer,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")
OSLO = ZoneInfo("Europe/Oslo")


def local(
    tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


def d(text: str) -> IsoDuration:
    return IsoDuration.parse(text)


# --- IsoDuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["P10W", "P6M", "P1Y2M3DT4H5M6.5S", "PT0S", "PT36H", "P1W2D", "PT0.000001S"]
)
def test_iso_duration_str_round_trips_canonical_forms(text: str) -> None:
    assert str(IsoDuration.parse(text)) == text


def test_iso_duration_parse_reads_parts() -> None:
    parsed = d("P1Y2M3W4DT5H6M7.25S")
    assert (parsed.years, parsed.months, parsed.weeks, parsed.days) == (1, 2, 3, 4)
    assert (parsed.hours, parsed.minutes, parsed.seconds) == (5, 6, Decimal("7.25"))


def test_iso_duration_parse_accepts_lower_case_comma_and_whitespace() -> None:
    assert d("  p1dt1,5s\n") == IsoDuration(days=1, seconds=Decimal("1.5"))


def test_iso_duration_zero_forms_print_as_pt0s() -> None:
    assert str(d("P0D")) == "PT0S"
    assert d("P0D").is_zero


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P", "expected an ISO 8601 duration PnYnMnWnDTnHnMnS"),
        ("PT", "expected an ISO 8601 duration PnYnMnWnDTnHnMnS"),
        ("P1DT", "expected an ISO 8601 duration PnYnMnWnDTnHnMnS"),
        ("10 days", "expected an ISO 8601 duration PnYnMnWnDTnHnMnS"),
        ("P1.5D", "expected an ISO 8601 duration PnYnMnWnDTnHnMnS"),
        ("", "expected an ISO 8601 duration PnYnMnWnDTnHnMnS"),
        ("-P1D", "cannot be negative"),
        ("PT1.1234567S", "at most 6 decimals"),
    ],
)
def test_iso_duration_parse_rejects_with_element_and_form(text: str, expected: str) -> None:
    with pytest.raises(TimerSpecError) as caught:
        IsoDuration.parse(text, element_id="Timer_Reminder")
    assert str(caught.value).startswith("Timer_Reminder: ")
    assert expected in caught.value.reason
    assert caught.value.element_id == "Timer_Reminder"
    assert caught.value.value == text


durations = st.builds(
    IsoDuration,
    years=st.integers(0, 50),
    months=st.integers(0, 50),
    weeks=st.integers(0, 60),
    days=st.integers(0, 400),
    hours=st.integers(0, 100),
    minutes=st.integers(0, 100),
    seconds=st.decimals(min_value=0, max_value=10_000, places=6),
)


@given(durations)
def test_iso_duration_parse_str_round_trip_property(duration: IsoDuration) -> None:
    assert IsoDuration.parse(str(duration)) == duration


def test_iso_duration_times_scales_every_part() -> None:
    assert d("P1Y1M1W1DT1H1M1.5S").times(3) == d("P3Y3M3W3DT3H3M4.5S")


# --- add_duration -------------------------------------------------------------------------


def test_add_duration_one_month_from_31_january_is_end_of_february() -> None:
    assert add_duration(local(STOCKHOLM, 2027, 1, 31, 12), d("P1M"), STOCKHOLM) == local(
        STOCKHOLM, 2027, 2, 28, 12
    )


def test_add_duration_one_month_from_31_january_in_leap_year_is_29_february() -> None:
    assert add_duration(local(STOCKHOLM, 2028, 1, 31, 12), d("P1M"), STOCKHOLM) == local(
        STOCKHOLM, 2028, 2, 29, 12
    )


def test_add_duration_one_year_from_29_february_is_28_february() -> None:
    assert add_duration(local(OSLO, 2028, 2, 29, 9), d("P1Y"), OSLO) == local(OSLO, 2029, 2, 28, 9)
    assert add_duration(local(OSLO, 2028, 2, 29, 9), d("P4Y"), OSLO) == local(OSLO, 2032, 2, 29, 9)


def test_add_duration_months_before_days() -> None:
    # 31 Jan + 1 month = 28 Feb, + 1 day = 1 Mar (days first would give 1 Apr).
    assert add_duration(local(STOCKHOLM, 2027, 1, 31), d("P1M1D"), STOCKHOLM) == local(
        STOCKHOLM, 2027, 3, 1
    )


def test_add_duration_day_across_spring_forward_keeps_wall_clock() -> None:
    # Stockholm moves to summer time on 28 March 2027: that day has 23 hours.
    start = local(STOCKHOLM, 2027, 3, 27, 9)
    result = add_duration(start, d("P1D"), STOCKHOLM)
    assert result.astimezone(STOCKHOLM).replace(tzinfo=None) == datetime(2027, 3, 28, 9)
    assert result - start == timedelta(hours=23)


def test_add_duration_hours_across_spring_forward_are_elapsed_time() -> None:
    result = add_duration(local(STOCKHOLM, 2027, 3, 27, 9), d("PT24H"), STOCKHOLM)
    assert result.astimezone(STOCKHOLM).replace(tzinfo=None) == datetime(2027, 3, 28, 10)


def test_add_duration_week_across_fall_back_in_oslo_keeps_wall_clock() -> None:
    # Oslo returns to standard time on 31 October 2027: that week has 169 hours.
    start = local(OSLO, 2027, 10, 27, 8)
    result = add_duration(start, d("P1W"), OSLO)
    assert result.astimezone(OSLO).replace(tzinfo=None) == datetime(2027, 11, 3, 8)
    assert result - start == timedelta(hours=169)


def test_add_duration_into_spring_forward_gap_moves_forward_by_the_gap() -> None:
    result = add_duration(local(STOCKHOLM, 2027, 3, 27, 2, 30), d("P1D"), STOCKHOLM)
    assert result.astimezone(STOCKHOLM).replace(tzinfo=None) == datetime(2027, 3, 28, 3, 30)


def test_add_duration_into_repeated_hour_keeps_the_original_offset() -> None:
    summer = local(OSLO, 2027, 10, 30, 2, 30)  # +02:00
    winter = local(OSLO, 2027, 11, 1, 2, 30)  # +01:00
    assert add_duration(summer, d("P1D"), OSLO) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    back = add_months(winter, -1, OSLO)  # 1 October, no ambiguity: summer time
    assert back == datetime(2027, 10, 1, 0, 30, tzinfo=UTC)


def test_add_duration_returns_utc() -> None:
    result = add_duration(local(STOCKHOLM, 2027, 6, 1, 12), d("PT1H"), STOCKHOLM)
    assert result.tzinfo is UTC
    assert result == datetime(2027, 6, 1, 11, tzinfo=UTC)


def test_add_duration_decimal_seconds() -> None:
    start = datetime(2027, 1, 1, tzinfo=UTC)
    assert add_duration(start, d("PT1.5S"), STOCKHOLM) - start == timedelta(seconds=1.5)


def test_add_duration_rejects_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_duration(datetime(2027, 1, 1), d("P1D"), STOCKHOLM)


def test_add_duration_beyond_year_9999_is_a_timer_error() -> None:
    with pytest.raises(TimerSpecError, match="beyond the year 9999"):
        add_duration(local(STOCKHOLM, 9999, 6, 1), d("P1Y"), STOCKHOLM)


def test_add_months_negative_clamps_to_month_end() -> None:
    assert add_months(local(STOCKHOLM, 2027, 3, 31, 10), -1, STOCKHOLM) == local(
        STOCKHOLM, 2027, 2, 28, 10
    )


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
    st.integers(0, 600),
)
def test_add_duration_months_is_monotone_in_the_date(first: date, second: date, n: int) -> None:
    # At noon, which no European DST change touches. (Instants within one day are not
    # monotone in general: month-end clamping maps 30 Jan 23:00 after 31 Jan 00:30.)
    low, high = sorted((first, second))
    months = IsoDuration(months=n)
    at_noon = [datetime.combine(x, time(12), tzinfo=STOCKHOLM) for x in (low, high)]
    shifted = [add_duration(t, months, STOCKHOLM).astimezone(STOCKHOLM) for t in at_noon]
    assert shifted[0] <= shifted[1]
    assert all(s.time() == time(12) for s in shifted)
    assert shifted[0].day == min(low.day, _month_length(shifted[0].year, shifted[0].month))


def _month_length(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - date(year, month, 1)).days


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)).filter(
        lambda wall: wall.hour not in (2, 3)
    ),
    st.integers(0, 3000),
)
def test_add_duration_days_keep_wall_clock_property(wall: datetime, n: int) -> None:
    # Away from 02:00-03:59, where Europe's DST changes happen, every wall time exists once.
    result = add_duration(wall.replace(tzinfo=OSLO), IsoDuration(days=n), OSLO)
    assert result.astimezone(OSLO).replace(tzinfo=None) == wall + timedelta(days=n)


# --- parse_datetime -----------------------------------------------------------------------


def test_parse_datetime_with_offset() -> None:
    assert parse_datetime("2027-03-01T00:00:00+01:00", OSLO) == datetime(
        2027, 2, 28, 23, tzinfo=UTC
    )


def test_parse_datetime_with_z_and_fraction() -> None:
    assert parse_datetime("2027-03-01T08:00:00.25Z", OSLO) == datetime(
        2027, 3, 1, 8, 0, 0, 250000, tzinfo=UTC
    )


def test_parse_datetime_without_offset_is_local_to_the_zone() -> None:
    assert parse_datetime("2027-07-01T09:00", STOCKHOLM) == datetime(2027, 7, 1, 7, tzinfo=UTC)
    assert parse_datetime("2027-01-01T09:00:00", STOCKHOLM) == datetime(2027, 1, 1, 8, tzinfo=UTC)


def test_parse_datetime_date_only_is_end_of_that_day_in_the_zone() -> None:
    winter = parse_datetime("2027-03-01", STOCKHOLM)
    summer = parse_datetime("2027-07-01", OSLO)
    assert winter == datetime(2027, 3, 1, 23, tzinfo=UTC)
    assert summer == datetime(2027, 7, 1, 22, tzinfo=UTC)
    assert winter.astimezone(STOCKHOLM).replace(tzinfo=None) == datetime(2027, 3, 2)


def test_parse_datetime_date_only_at_end_of_year() -> None:
    assert parse_datetime("2027-12-31", OSLO) == datetime(2027, 12, 31, 23, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2027-02-30", "not a real date or time"),
        ("2027-03-01T24:00", "not a real date or time"),
        ("2027-03-01T09:00+25:00", "not a real date or time"),
        ("next tuesday", "expected an ISO 8601 date-time"),
        ("01/03/2027", "expected an ISO 8601 date-time"),
        ("9999-12-31", "not a real date or time"),
    ],
)
def test_parse_datetime_rejects_with_element_id(value: str, expected: str) -> None:
    with pytest.raises(TimerSpecError) as caught:
        parse_datetime(value, OSLO, element_id="Deadline")
    assert str(caught.value).startswith("Deadline: ")
    assert expected in caught.value.reason


# --- parse_timer --------------------------------------------------------------------------


def test_parse_timer_duration() -> None:
    spec = parse_timer("duration", " P10W ", element_id="T")
    assert (spec.kind, spec.duration, spec.element_id) == ("duration", d("P10W"), "T")


def test_parse_timer_date_keeps_value_for_the_zone_to_resolve() -> None:
    spec = parse_timer("date", "2027-03-01")
    assert (spec.kind, spec.at) == ("date", "2027-03-01")


@pytest.mark.parametrize(
    ("value", "count", "start", "period"),
    [
        ("R/P1Y", None, None, "P1Y"),
        ("R6/P1D", 6, None, "P1D"),
        ("R3/2027-03-01T00:00:00Z/P1Y", 3, "2027-03-01T00:00:00Z", "P1Y"),
        ("R/2027-01-01/P1M", None, "2027-01-01", "P1M"),
        ("r2/PT12H", 2, None, "PT12H"),
    ],
)
def test_parse_timer_cycle_forms(
    value: str, count: int | None, start: str | None, period: str
) -> None:
    spec = parse_timer("cycle", value)
    assert (spec.kind, spec.repetitions, spec.at, str(spec.duration)) == (
        "cycle",
        count,
        start,
        period,
    )


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("cycle", "R/P0D", "period must be longer than zero"),
        ("cycle", "P1D", "expected a repeating interval"),
        ("cycle", "R/P1D/2027-01-01", "period/end) is not supported"),
        ("cycle", "R/2027-01-01/2027-02-01", "start/end is not supported"),
        # Unix cron's five fields: Camunda 8 reads Spring's six (seconds first).
        ("cycle", "0 9 * * MON", "or a cron expression of six fields"),
        ("cycle", "R/2027-13-01/P1D", "not a real date"),
        ("cycle", "Rx/P1D", "expected a repeating interval"),
        ("date", "soon", "expected an ISO 8601 date-time"),
        ("duration", "10d", "expected an ISO 8601 duration"),
        ("duration", "   ", "the timeDuration is empty"),
        ("date", "=deadline", "compile it with compile_expression"),
    ],
)
def test_parse_timer_rejects_with_element_id(kind: str, value: str, expected: str) -> None:
    with pytest.raises(TimerSpecError) as caught:
        parse_timer(kind, value, element_id="Timer_1")
    assert str(caught.value).startswith("Timer_1: ")
    assert expected in caught.value.reason


def test_timer_spec_round_trips_through_json() -> None:
    spec = parse_timer("cycle", "R3/2027-03-01/P1Y2DT0.5S", element_id="T")
    assert TimerSpec.model_validate_json(spec.model_dump_json()) == spec


# --- next_fire ----------------------------------------------------------------------------

ARMED = datetime(2027, 2, 15, 9, 30, tzinfo=UTC)


def test_next_fire_duration_fires_once() -> None:
    spec = parse_timer("duration", "P10W")
    # 10:30 in Stockholm, ten weeks on: still 10:30 there, now in summer time.
    assert next_fire(spec, armed_at=ARMED, fired=0, tz=STOCKHOLM) == local(
        STOCKHOLM, 2027, 4, 26, 10, 30
    )
    assert next_fire(spec, armed_at=ARMED, fired=1, tz=STOCKHOLM) is None


def test_next_fire_duration_of_months_uses_calendar() -> None:
    spec = parse_timer("duration", "P6M")
    armed = local(STOCKHOLM, 2027, 8, 31, 10)
    assert next_fire(spec, armed_at=armed, fired=0, tz=STOCKHOLM) == local(
        STOCKHOLM, 2028, 2, 29, 10
    )


def test_next_fire_date_only_deadline_is_end_of_day_in_process_zone() -> None:
    spec = parse_timer("date", "2027-03-01")
    assert next_fire(spec, armed_at=ARMED, fired=0, tz=OSLO) == local(OSLO, 2027, 3, 2)
    assert next_fire(spec, armed_at=ARMED, fired=0, tz=ZoneInfo("UTC")) == datetime(
        2027, 3, 2, tzinfo=UTC
    )
    assert next_fire(spec, armed_at=ARMED, fired=1, tz=OSLO) is None


def test_next_fire_date_with_offset_ignores_zone() -> None:
    spec = parse_timer("date", "2027-03-01T00:00:00+01:00")
    assert next_fire(spec, armed_at=ARMED, fired=0, tz=ZoneInfo("Asia/Tokyo")) == datetime(
        2027, 2, 28, 23, tzinfo=UTC
    )


def test_next_fire_bounded_cycle_is_exhausted_after_its_count() -> None:
    spec = parse_timer("cycle", "R6/P1D")
    fires = [next_fire(spec, armed_at=ARMED, fired=n, tz=STOCKHOLM) for n in range(7)]
    assert fires[:6] == [ARMED + timedelta(days=n) for n in range(1, 7)]
    assert fires[6] is None


def test_next_fire_r0_never_fires() -> None:
    assert next_fire(parse_timer("cycle", "R0/P1D"), armed_at=ARMED, fired=0, tz=OSLO) is None


def test_next_fire_yearly_cycle_from_arming_lands_on_1_march_for_30_years() -> None:
    armed = local(STOCKHOLM, 2027, 3, 1)
    spec = parse_timer("cycle", "R/P1Y")
    fires = [next_fire(spec, armed_at=armed, fired=n, tz=STOCKHOLM) for n in range(30)]
    assert [f.astimezone(STOCKHOLM).replace(tzinfo=None) for f in fires if f] == [
        datetime(2028 + n, 3, 1) for n in range(30)
    ]


def test_next_fire_yearly_cycle_with_date_start_lands_on_1_march_for_30_years() -> None:
    spec = parse_timer("cycle", "R30/2027-03-01/P1Y")
    armed = local(OSLO, 2027, 1, 10, 14)
    fires = [next_fire(spec, armed_at=armed, fired=n, tz=OSLO) for n in range(31)]
    # A date as a cycle's start is the start of that day: every 1 March at 00:00 in Oslo.
    assert [f.astimezone(OSLO).replace(tzinfo=None) for f in fires if f] == [
        datetime(2027 + n, 3, 1) for n in range(30)
    ]
    assert fires[30] is None


def test_next_fire_yearly_cycle_from_29_february_does_not_drift() -> None:
    spec = parse_timer("cycle", "R/2028-02-29T12:00:00+01:00/P1Y")
    armed = datetime(2028, 1, 1, tzinfo=UTC)
    fires = [next_fire(spec, armed_at=armed, fired=n, tz=STOCKHOLM) for n in range(5)]
    days = [f.astimezone(STOCKHOLM).date() for f in fires if f]
    assert days == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


def test_next_fire_monthly_cycle_from_31st_clamps_each_month_separately() -> None:
    spec = parse_timer("cycle", "R/2027-01-31T10:00/P1M")
    armed = local(STOCKHOLM, 2027, 1, 1)
    fires = [next_fire(spec, armed_at=armed, fired=n, tz=STOCKHOLM) for n in range(4)]
    assert [f.astimezone(STOCKHOLM).date() for f in fires if f] == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
    ]
    assert all(f.astimezone(STOCKHOLM).hour == 10 for f in fires if f)


def test_next_fire_cycle_with_past_start_begins_at_first_repetition_after_arming() -> None:
    spec = parse_timer("cycle", "R/2020-01-01/P1M")
    assert next_fire(spec, armed_at=ARMED, fired=0, tz=OSLO) == local(OSLO, 2027, 3, 1)
    assert next_fire(spec, armed_at=ARMED, fired=1, tz=OSLO) == local(OSLO, 2027, 4, 1)


def test_next_fire_cycle_at_exact_start_fires_at_start() -> None:
    spec = parse_timer("cycle", "R/2027-03-01T00:00:00Z/PT1H")
    start = datetime(2027, 3, 1, tzinfo=UTC)
    assert next_fire(spec, armed_at=start, fired=0, tz=OSLO) == start


def test_next_fire_cycle_count_includes_repetitions_before_arming() -> None:
    spec = parse_timer("cycle", "R3/2020-01-01/P1Y")
    assert next_fire(spec, armed_at=ARMED, fired=0, tz=OSLO) is None


def test_next_fire_short_period_long_after_start_is_exact() -> None:
    spec = parse_timer("cycle", "R/2020-01-01T00:00:00Z/PT7S")
    result = next_fire(spec, armed_at=ARMED, fired=0, tz=OSLO)
    assert result is not None
    elapsed = (result - datetime(2020, 1, 1, tzinfo=UTC)).total_seconds()
    assert elapsed % 7 == 0
    assert ARMED <= result < ARMED + timedelta(seconds=7)


def test_next_fire_rejects_naive_armed_at_and_negative_fired() -> None:
    spec = parse_timer("duration", "P1D")
    with pytest.raises(ValueError, match="armed_at must be timezone-aware"):
        next_fire(spec, armed_at=datetime(2027, 1, 1), fired=0, tz=OSLO)
    with pytest.raises(ValueError, match="fired must not be negative"):
        next_fire(spec, armed_at=ARMED, fired=-1, tz=OSLO)


def test_next_fire_overflow_names_the_element() -> None:
    spec = parse_timer("duration", "P9000Y", element_id="Timer_Far")
    with pytest.raises(TimerSpecError) as caught:
        next_fire(spec, armed_at=ARMED, fired=0, tz=OSLO)
    assert caught.value.element_id == "Timer_Far"
    assert "beyond the year 9999" in str(caught.value)
