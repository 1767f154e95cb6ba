"""The pure parts of the case limits: timer cycles after downtime, the minimum cycle period,
the expression cost budget, and the one source of the limits' defaults."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from process_models.errors import ExpressionError, TimerSpecError
from process_models.expressions import compile_expression
from process_models.limits import DEFAULT_LIMITS, MIN_CYCLE_PERIOD, EngineLimits
from process_models.timers import check_cycle_period, missed_firings, next_fire, parse_timer
from starter.settings import LimitSettings

STOCKHOLM = ZoneInfo("Europe/Stockholm")
ARMED = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def test_a_cycle_after_downtime_skips_what_it_missed_and_fires_next_after_now():
    spec = parse_timer("cycle", "R/PT1H")
    now = ARMED + timedelta(hours=10, minutes=30)
    # It fired once (late, at now): the nine later repetitions up to now are skipped.
    skipped = missed_firings(spec, armed_at=ARMED, fired=1, now=now, tz=STOCKHOLM)
    assert skipped == 9
    assert next_fire(spec, armed_at=ARMED, fired=1 + skipped, tz=STOCKHOLM) == ARMED + timedelta(
        hours=11
    )


def test_a_cycle_on_time_skips_nothing():
    spec = parse_timer("cycle", "R/P1W")
    on_time = ARMED + timedelta(weeks=1)
    assert missed_firings(spec, armed_at=ARMED, fired=1, now=on_time, tz=STOCKHOLM) == 0


def test_a_microsecond_cycle_after_a_day_is_skipped_in_one_step():
    spec = parse_timer("cycle", "R/PT0.000001S")
    now = ARMED + timedelta(days=1)
    started = time.perf_counter()
    skipped = missed_firings(spec, armed_at=ARMED, fired=1, now=now, tz=STOCKHOLM)
    assert time.perf_counter() - started < 0.5
    following = next_fire(spec, armed_at=ARMED, fired=1 + skipped, tz=STOCKHOLM)
    assert following is not None
    assert now < following <= now + timedelta(microseconds=1)


def test_a_counted_cycle_keeps_its_count_when_it_skips():
    spec = parse_timer("cycle", "R3/PT1H")
    now = ARMED + timedelta(days=2)
    skipped = missed_firings(spec, armed_at=ARMED, fired=1, now=now, tz=STOCKHOLM)
    assert next_fire(spec, armed_at=ARMED, fired=1 + skipped, tz=STOCKHOLM) is None


def test_a_monthly_cycle_with_a_start_skips_to_the_next_month_after_now():
    spec = parse_timer("cycle", "R/2027-01-31T08:00:00Z/P1M")
    now = datetime(2027, 6, 15, tzinfo=UTC)
    skipped = missed_firings(spec, armed_at=ARMED, fired=1, now=now, tz=STOCKHOLM)
    following = next_fire(spec, armed_at=ARMED, fired=1 + skipped, tz=STOCKHOLM)
    assert following is not None
    assert following > now
    previous = next_fire(spec, armed_at=ARMED, fired=skipped, tz=STOCKHOLM)
    assert previous is not None
    assert previous <= now


def test_cycles_shorter_than_the_minimum_period_are_refused():
    check_cycle_period(parse_timer("cycle", "R/PT1M"), MIN_CYCLE_PERIOD)
    check_cycle_period(parse_timer("cycle", "R/P1M"), MIN_CYCLE_PERIOD)
    check_cycle_period(parse_timer("duration", "PT1S"), MIN_CYCLE_PERIOD)
    with pytest.raises(TimerSpecError, match="at least PT60S"):
        check_cycle_period(parse_timer("cycle", "R/PT0.000001S"), MIN_CYCLE_PERIOD)
    with pytest.raises(TimerSpecError, match="NIVA_LIMITS_MIN_CYCLE_SECONDS"):
        check_cycle_period(parse_timer("cycle", "R/PT59S"), MIN_CYCLE_PERIOD)
    check_cycle_period(parse_timer("cycle", "R/PT2S"), timedelta(seconds=1))


def _evaluate(
    source: str, variables: dict[str, Any], budget: int = DEFAULT_LIMITS.expression_cost
) -> Any:
    return compile_expression(source, element_id="Check").evaluate(
        variables, now=ARMED, tz=STOCKHOLM, budget=budget
    )


def test_nested_comprehensions_over_large_lists_are_refused_before_they_run():
    big = list(range(5_000))
    started = time.perf_counter()
    with pytest.raises(ExpressionError, match="NIVA_LIMITS_EXPRESSION_COST") as refused:
        _evaluate("=l.all(x, l.all(y, x + y >= 0))", {"l": big})
    assert time.perf_counter() - started < 0.5
    assert refused.value.element_id == "Check"
    assert "5,000 items 2 level(s) deep" in str(refused.value)


def test_the_budget_counts_the_largest_reachable_collection_and_map_filter_cost():
    assert _evaluate("=l.all(x, x >= 0)", {"l": list(range(5_000))}) is True
    assert _evaluate("=l.all(x, l.all(y, x + y >= 0))", {"l": list(range(100))}) is True
    # map() copies its growing result at each step: n items cost about n².
    assert len(_evaluate("=l.map(x, x * 2)", {"l": list(range(1_000))})) == 1_000
    with pytest.raises(ExpressionError):
        _evaluate("=l.map(x, x * 2)", {"l": list(range(1_001))})
    # Nested data counts too, and vars reaches every variable.
    with pytest.raises(ExpressionError):
        _evaluate("=vars.a.all(x, vars.a.all(y, true))", {"a": {"deep": list(range(2_000))}})
    # A smaller budget refuses sooner; expressions without comprehensions have no cost.
    with pytest.raises(ExpressionError):
        _evaluate("=l.all(x, x >= 0)", {"l": list(range(2_000))}, budget=1_000)
    assert _evaluate("=size(l)", {"l": list(range(100_000))}, budget=1_000) == 100_000


def test_the_limits_have_one_source_of_defaults_and_a_setting_each(
    monkeypatch: pytest.MonkeyPatch,
):
    assert LimitSettings().engine_limits() == EngineLimits()
    assert EngineLimits().min_cycle_period == MIN_CYCLE_PERIOD
    monkeypatch.setenv("NIVA_LIMITS_MAX_MULTI_INSTANCE", "20")
    monkeypatch.setenv("NIVA_LIMITS_MIN_CYCLE_SECONDS", "300")
    limits = LimitSettings().engine_limits()
    assert type(limits) is EngineLimits
    assert (limits.max_multi_instance, limits.min_cycle_seconds) == (20, 300)
    for name in EngineLimits.model_fields:
        assert EngineLimits.model_fields[name].description, name
