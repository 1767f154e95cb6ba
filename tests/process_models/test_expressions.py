"""CEL expressions: compilation checks, bindings, niva's date functions, JSON results."""

from __future__ import annotations

import json
import time as clock
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from process_models.calendars import CEL_FUNCTIONS as CALENDAR_FUNCTIONS
from process_models.errors import ExpressionError
from process_models.expressions import (
    MAX_EXPRESSION_LENGTH,
    NIVA_FUNCTIONS,
    compile_expression,
    is_expression,
)
from process_models.timers import parse_datetime, parse_timer

STOCKHOLM = ZoneInfo("Europe/Stockholm")
OSLO = ZoneInfo("Europe/Oslo")
NOW = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)


def run(source: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("tz", STOCKHOLM)
    return compile_expression(source, element_id="Task_1").evaluate(variables or {}, **kwargs)


def fails(source: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        run(source, variables, **kwargs)
    return caught.value


def compile_fails(source: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source, element_id="Flow_7", line=42)
    return caught.value


# --- literals and compilation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=x", True), ("  =x", True), ("\n=x", True), ("x", False), ("a=b", False), ("", False)],
)
def test_is_expression_only_with_leading_equals(value: str, expected: bool) -> None:
    assert is_expression(value) is expected


def test_evaluate_literal_is_itself() -> None:
    expression = compile_expression("se.nhv.ExpertReport")
    assert expression.is_literal
    assert expression.evaluate({}, now=NOW, tz=OSLO) == "se.nhv.ExpertReport"


def test_compile_keeps_source_and_cel_text() -> None:
    expression = compile_expression("= amount > 1000 ", element_id="Gw", line=3)
    assert (expression.source, expression.cel, expression.element_id, expression.line) == (
        "= amount > 1000 ",
        "amount > 1000",
        "Gw",
        3,
    )
    assert "amount" in expression.variables


def test_compile_error_names_element_line_column_and_expression() -> None:
    error = compile_fails("=amount >")
    text = str(error)
    assert text.startswith("Flow_7: line 42: syntax error at column 9")
    assert "expecting a value" in text
    assert "(expression: =amount >)" in text
    assert "IDENTIFIER" not in text
    assert "<input>" not in text
    assert error.element_id == "Flow_7"


def test_compile_error_reports_every_syntax_error() -> None:
    reason = compile_fails("=a ++ b )").reason
    assert "column 4" in reason
    assert "column 8" in reason
    assert "end of expression" in reason


def test_compile_rejects_empty_expression() -> None:
    assert "nothing follows '='" in compile_fails("=  ").reason


def test_compile_rejects_unknown_function_by_name() -> None:
    reason = compile_fails("=days_until(deadline) > 3").reason
    assert "unknown function days_until()" in reason
    assert "add_months" in reason  # offers niva's functions


@pytest.mark.parametrize("source", ["=max(1, 2)", "=bool('true')", "=math.greatest([1, 2])"])
def test_compile_rejects_functions_cel_does_not_implement(source: str) -> None:
    assert "unknown function" in compile_fails(source).reason


def test_compile_accepts_builtins_and_niva_functions() -> None:
    source = (
        "=size(s) > 0 && s.startsWith('a') && s.matches('^a') && int('1') == 1 && "
        "timestamp('2027-01-01T00:00:00Z').getFullYear() == 2027 && "
        "type(1) == int && [1].exists(x, x in [1]) && !false && -1 < 0 && "
        "optional.of(1).orValue(2) == 1 && year(now) > 2000"
    )
    assert compile_expression(source).evaluate({"s": "abc"}, now=NOW, tz=OSLO) is True


def test_compile_rejects_too_long_expression() -> None:
    at_limit = "=" + "1" + " " * (MAX_EXPRESSION_LENGTH - 1)
    assert compile_expression(at_limit).evaluate({}, now=NOW, tz=OSLO) == 1
    too_long = "=" + "1+" * (MAX_EXPRESSION_LENGTH // 2) + "1"
    assert "more than the 2000 allowed" in compile_fails(too_long).reason


def test_compile_rejects_map_nested_in_a_comprehension() -> None:
    reason = compile_fails("=xs.map(a, xs.map(b, a + b))").reason
    assert "map() inside map()" in reason
    assert (
        "filter() inside exists()"
        in compile_fails("=xs.exists(a, size(xs.filter(b, b > a)) > 0)").reason
    )


def test_compile_rejects_comprehensions_three_deep() -> None:
    reason = compile_fails("=xs.all(a, xs.all(b, xs.exists(c, a + b == c)))").reason
    assert "nest 3 deep" in reason


def test_compile_rejects_too_many_comprehensions() -> None:
    source = "=" + " && ".join(f"xs.all(a{i}, a{i} > 0)" for i in range(9))
    assert "9 comprehensions" in compile_fails(source).reason


def test_compile_allows_chained_and_two_deep_tests() -> None:
    variables = {"xs": [1, 2, 3]}
    assert run("=xs.map(a, a * 2).filter(b, b > 2)", variables) == [4, 6]
    assert run("=xs.exists(a, xs.exists(b, a == b + 2))", variables) is True
    assert run("=xs.map(a, xs.exists(b, b > a))", variables) == [True, True, False]


def test_compile_comprehension_guard_ignores_strings_and_comments() -> None:
    source = '=\'xs.map(a, xs.map(b, b))\' + r\'\\\' + """.all(""" // xs.all(a, xs.map(b, 1))\n'
    assert run(source) == "xs.map(a, xs.map(b, b))\\.all("


# --- runtime errors -----------------------------------------------------------------------


def test_runtime_undefined_variable_names_it_and_the_known_ones() -> None:
    error = fails("=decision == 'approved'", {"amount": 1, "region": "SE1"})
    assert error.reason == "undefined variable 'decision' (the instance has: amount, region)"
    assert str(error).startswith("Task_1: ")


def test_runtime_type_error_is_explained() -> None:
    assert "CEL does not convert between int" in fails("=amount + 1.5", {"amount": 1}).reason


def test_runtime_missing_key_and_index() -> None:
    assert "no such key: 'b'" in fails("=m.b", {"m": {"a": 1}}).reason
    assert "out of bounds" in fails("=xs[3]", {"xs": [1]}).reason


def test_runtime_division_by_zero_and_overflow() -> None:
    assert fails("=1 / x", {"x": 0}).reason == "division by zero"
    assert "overflow" in fails("=x + 1", {"x": 2**63 - 1}).reason


def test_runtime_niva_function_error_keeps_its_message() -> None:
    assert fails("=add_months('2027-01-01', 1)").reason == (
        "add_months() expects a timestamp as its first argument, got string; "
        "convert a string with timestamp(s) or date(s)"
    )
    assert fails("=add_months(now)").reason == "add_months() takes 2 argument(s), got 1"
    assert "'P'" in fails("=add_duration(now, 'P')").reason


def test_runtime_builtin_called_with_wrong_types() -> None:
    reason = fails("=timestamp(1700000000)").reason
    assert reason == "timestamp() does not accept arguments of these types (or this many)"
    assert fails("=timestamp('2027-03-01')").reason.startswith("timestamp(): ")


def test_runtime_rejects_integers_beyond_64_bits_in_variables() -> None:
    assert "beyond the 64-bit integers" in fails("=n > 0", {"n": 2**70}).reason


def test_runtime_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        run("=now", now=datetime(2027, 1, 1))


# --- bool conditions ----------------------------------------------------------------------


def test_evaluate_bool_condition() -> None:
    condition = compile_expression("=amount > 1000 && region in ['SE1', 'SE2']")
    assert condition.evaluate_bool({"amount": 5000, "region": "SE1"}, now=NOW, tz=OSLO) is True
    assert condition.evaluate_bool({"amount": 5, "region": "SE1"}, now=NOW, tz=OSLO) is False


def test_evaluate_bool_rejects_non_bool_result() -> None:
    condition = compile_expression("=amount", element_id="Flow_1")
    with pytest.raises(ExpressionError) as caught:
        condition.evaluate_bool({"amount": 2}, now=NOW, tz=OSLO)
    assert "the condition must yield a bool, but yielded int 2" in str(caught.value)
    assert caught.value.element_id == "Flow_1"


def test_evaluate_bool_rejects_literal() -> None:
    with pytest.raises(ExpressionError, match="must be a CEL expression yielding a bool"):
        compile_expression("true").evaluate_bool({}, now=NOW, tz=OSLO)


# --- bindings -----------------------------------------------------------------------------


def test_now_is_bound_to_the_given_clock_not_the_wall_clock() -> None:
    past = datetime(1999, 12, 31, 23, 59, tzinfo=UTC)
    assert run("=now", now=past) == "1999-12-31T23:59:00Z"
    assert run("=now < timestamp('2000-01-01T00:00:00Z')", now=past) is True


def test_same_inputs_give_same_output() -> None:
    expression = compile_expression("={'due': add_duration(now, 'P10W'), 'n': size(xs)}")
    results = {json.dumps(expression.evaluate({"xs": [1, 2]}, now=NOW, tz=OSLO)) for _ in range(20)}
    assert results == {'{"due": "2027-04-11T09:00:00Z", "n": 2}'}


def test_now_accepts_zoneinfo_aware_datetime() -> None:
    # The cel package cannot convert ZoneInfo-aware datetimes; niva converts to UTC.
    assert run("=now", now=datetime(2027, 6, 1, 12, tzinfo=OSLO)) == "2027-06-01T10:00:00Z"


def test_result_does_not_depend_on_machine_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    source = "=[date('2027-03-01'), end_of_day(now), year(now), start_of_year(now)]"
    before = run(source)
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    clock.tzset()
    try:
        assert run(source) == before
    finally:
        monkeypatch.undo()
        clock.tzset()


def test_map_result_keys_are_sorted_whatever_cel_iteration_order() -> None:
    # cel's maps are hash maps with a random seed per map: without sorting, the key order of
    # a 20-key result changes between evaluations.
    source = "={" + ", ".join(f"'k{i:02d}': {i}" for i in range(20)) + "}"
    for _ in range(5):
        assert list(run(source)) == [f"k{i:02d}" for i in range(20)]


def test_sorted_keys_gives_a_stable_iteration_order() -> None:
    keys = {f"r{i:02d}": i for i in range(20)}
    for _ in range(5):
        assert run("=sorted_keys(m).map(k, m[k])", {"m": keys}) == list(range(20))


def test_variables_are_bound_by_name_and_as_vars() -> None:
    variables = {"amount": 7, "hospital-id": "KS", "vars": "shadowed"}
    assert run("=amount + vars.amount", variables) == 14
    assert run("=vars['hospital-id']", variables) == "KS"
    assert run("=has(vars.missing)", variables) is False


def test_reference_is_bound() -> None:
    reference = {"regions": {"SE1": "Norra", "SE2": "Uppsala-Örebro"}, "meetings": ["2027-03-04"]}
    assert run("=reference.regions[region]", {"region": "SE2"}, reference=reference) == (
        "Uppsala-Örebro"
    )
    assert run("=date(reference.meetings[0]) > now", reference=reference) is True


def test_reference_missing_is_an_empty_map() -> None:
    assert run("=has(reference.regions)") is False


# --- results as JSON ----------------------------------------------------------------------


def test_timestamp_result_is_iso_utc_with_z() -> None:
    assert run("=timestamp('2027-03-01T09:00:00+01:00')") == "2027-03-01T08:00:00Z"
    assert run("=timestamp('2027-03-01T09:00:00.5Z')") == "2027-03-01T09:00:00.500000Z"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("=duration('36h')", "PT36H"),
        ("=duration('90m')", "PT1H30M"),
        ("=duration('1.5s')", "PT1.5S"),
        ("=duration('0s')", "PT0S"),
        ("=timestamp('2027-01-01T00:00:00Z') - timestamp('2027-01-01T01:00:00Z')", "-PT1H"),
    ],
)
def test_duration_result_is_iso_duration_of_exact_time(source: str, expected: str) -> None:
    assert run(source) == expected


def test_nested_results_are_json() -> None:
    result = run("={'b': [now, 1.5, null, true], 'a': optional.of('x')}")
    assert json.dumps(result) == '{"a": "x", "b": ["2027-01-31T10:00:00Z", 1.5, null, true]}'


def test_unrepresentable_results_are_errors() -> None:
    assert "bytes, which JSON cannot hold" in fails("=b'abc'").reason
    assert "non-string keys" in fails("={1: 'a'}").reason
    assert "JSON cannot hold" in fails("=double('NaN')").reason


# --- niva's date functions ----------------------------------------------------------------


def test_date_is_start_of_that_day_in_the_zone() -> None:
    assert run("=date('2027-03-01')") == "2027-02-28T23:00:00Z"
    assert run("=date('2027-07-01')", tz=OSLO) == "2027-06-30T22:00:00Z"


def test_date_rejects_other_forms() -> None:
    assert "YYYY-MM-DD" in fails("=date('1 March')").reason
    assert "day is out of range" in fails("=date('2027-02-30')").reason
    assert "as a string, got int" in fails("=date(20270301)").reason


def test_end_of_day_matches_date_only_deadline() -> None:
    assert run("=end_of_day(date('2027-03-01'))") == "2027-03-01T23:00:00Z"
    deadline = parse_datetime("2027-03-01", STOCKHOLM)
    assert run("=end_of_day(timestamp('2027-03-01T22:59:00Z'))") == (
        deadline.isoformat().replace("+00:00", "Z")
    )


def test_start_of_day_and_end_of_day_around_dst() -> None:
    # 28 March 2027 has 23 hours in Stockholm.
    t = "timestamp('2027-03-28T12:00:00Z')"
    assert run(f"=end_of_day({t}) - start_of_day({t})") == "PT23H"


def test_add_months_clamps_to_month_end() -> None:
    assert run("=add_months(timestamp('2027-01-31T11:00:00Z'), 1)") == "2027-02-28T11:00:00Z"
    assert run("=add_months(timestamp('2028-01-31T11:00:00Z'), 1)") == "2028-02-29T11:00:00Z"
    assert run("=add_months(timestamp('2027-03-31T10:00:00Z'), -1)") == "2027-02-28T11:00:00Z"


def test_add_duration_uses_calendar_arithmetic() -> None:
    # 10 weeks from 09:00 in winter is 09:00 in summer time: 07:00 UTC.
    assert run("=add_duration(timestamp('2027-03-01T08:00:00Z'), 'P10W')") == (
        "2027-05-10T07:00:00Z"
    )
    assert run("=add_duration(timestamp('2027-01-31T08:00:00Z'), 'P1M')") == (
        "2027-02-28T08:00:00Z"
    )


def test_next_date_is_strictly_after_at_midnight_in_the_zone() -> None:
    assert run("=next_date(now, 3, 1)") == "2027-02-28T23:00:00Z"
    assert run("=next_date(date('2027-03-01'), 3, 1)") == "2028-02-29T23:00:00Z"
    assert run("=next_date(timestamp('2027-02-28T22:59:59Z'), 3, 1)") == "2027-02-28T23:00:00Z"


def test_next_date_29_february_is_the_next_leap_day() -> None:
    assert run("=next_date(now, 2, 29)") == "2028-02-28T23:00:00Z"


def test_next_date_rejects_impossible_days() -> None:
    assert "month must be 1-12" in fails("=next_date(now, 13, 1)").reason
    assert "month 4 has no day 31" in fails("=next_date(now, 4, 31)").reason


def test_start_of_year_and_year_use_the_zone() -> None:
    new_year = "timestamp('2026-12-31T23:30:00Z')"  # 00:30 on 1 January 2027 in Stockholm
    assert run(f"=year({new_year})") == 2027
    assert run(f"={new_year}.getFullYear()") == 2026  # CEL's own accessor reads UTC
    assert run(f"=start_of_year({new_year})") == "2026-12-31T23:00:00Z"
    assert run(f"=[month({new_year}), day({new_year})]") == [1, 1]


def test_days_between_counts_calendar_days() -> None:
    assert run("=days_between(date('2027-01-01'), date('2027-03-01'))") == 59
    assert run("=days_between(date('2027-03-01'), date('2027-01-01'))") == -59
    # Across the spring change: 23 hours apart, but one calendar day.
    assert run("=days_between(date('2027-03-28'), date('2027-03-29'))") == 1


def test_every_niva_function_is_tested_here() -> None:
    # The working-day functions are tested with their calendars, in test_calendars.py.
    assert set(NIVA_FUNCTIONS) - set(CALENDAR_FUNCTIONS) == {
        "add_duration",
        "add_months",
        "date",
        "day",
        "days_between",
        "end_of_day",
        "month",
        "next_date",
        "sorted_keys",
        "start_of_day",
        "start_of_year",
        "year",
    }


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(0, 2000),
)
def test_days_between_inverts_add_duration_days(instant: datetime, n: int) -> None:
    expression = compile_expression("=days_between(now, add_duration(now, 'P' + string(n) + 'D'))")
    result = expression.evaluate({"n": n}, now=instant.replace(tzinfo=UTC), tz=OSLO)
    assert result == n


# --- timers from expressions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("=now + duration('2h')", datetime(2027, 1, 31, 12, tzinfo=UTC)),
        ("=duration('2h')", datetime(2027, 1, 31, 12, tzinfo=UTC)),
        ("='P1M'", datetime(2027, 2, 28, 10, tzinfo=UTC)),
        ("P1M", datetime(2027, 2, 28, 10, tzinfo=UTC)),
        ("='2027-03-01'", datetime(2027, 3, 1, 23, tzinfo=UTC)),
        ("='2027-03-01T09:00'", datetime(2027, 3, 1, 8, tzinfo=UTC)),
        ("=date('2027-03-01')", datetime(2027, 2, 28, 23, tzinfo=UTC)),
        ("=string(next_date(now, 3, 1))", datetime(2027, 2, 28, 23, tzinfo=UTC)),
    ],
)
def test_evaluate_timer_accepts_instants_and_durations(source: str, expected: datetime) -> None:
    fire = compile_expression(source).evaluate_timer({}, now=NOW, tz=STOCKHOLM)
    assert fire == expected
    assert fire.tzinfo is UTC


@pytest.mark.parametrize(
    ("source", "expected"),
    [("=42", "yielded int 42"), ("='next week'", "'next week' is unusable")],
)
def test_evaluate_timer_rejects_other_results(source: str, expected: str) -> None:
    with pytest.raises(ExpressionError, match=expected):
        compile_expression(source, element_id="Timer_1").evaluate_timer({}, now=NOW, tz=OSLO)


def test_evaluate_cycle_yields_a_timer_spec() -> None:
    expression = compile_expression("='R' + string(n) + '/P1D'", element_id="Reminder")
    spec = expression.evaluate_cycle({"n": 3}, now=NOW, tz=OSLO)
    assert spec == parse_timer("cycle", "R3/P1D", element_id="Reminder")
    with pytest.raises(ExpressionError, match="period must be longer than zero"):
        compile_expression("='R/P0D'").evaluate_cycle({}, now=NOW, tz=OSLO)


def test_compiled_expression_serves_many_evaluations() -> None:
    expression = compile_expression("=add_months(now, n)")
    first = expression.evaluate({"n": 1}, now=NOW, tz=OSLO)
    second = expression.evaluate({"n": 2}, now=NOW + timedelta(days=1), tz=OSLO)
    assert (first, second) == ("2027-02-28T10:00:00Z", "2027-04-01T09:00:00Z")
