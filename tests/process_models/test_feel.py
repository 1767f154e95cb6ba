"""FEEL beyond the conformance table: determinism, bounds, errors and the evaluate interface."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from process_models.errors import ExpressionError
from process_models.feel import (
    FeelError,
    FeelLimitError,
    FeelLimits,
    FeelSyntaxError,
    compile_feel,
    render,
)
from process_models.feel.parser import parse_expression
from process_models.regex import RegexError, compile_regex
from process_models.timers import TimerSpec
from tests.support.feel_workflow import FeelEvaluation, FeelRunInput

NOW = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
STOCKHOLM = ZoneInfo("Europe/Stockholm")

_CLOCK_READS = {"now", "today", "utcnow", "time", "time_ns", "monotonic", "perf_counter"}


# --- determinism --------------------------------------------------------------------------


def test_evaluating_twice_gives_the_same_result() -> None:
    expr = compile_feel(
        '{d: today() + duration("P1M"), t: now(), r: 1 / 3, '
        "xs: sort(for i in [3, 1, 2] return i * 1.1, function(a, b) a < b), "
        "c: context merge([{b: 1}, {a: 2}])}"
    )
    first = expr.evaluate({}, now=NOW, tz=STOCKHOLM)
    second = expr.evaluate({}, now=NOW, tz=STOCKHOLM)
    assert first == second
    assert first == {
        "d": "2026-04-01",
        "t": "2026-03-01T11:30:00@Europe/Stockholm",
        "r": 1 / 3,
        "xs": [1.1, 2.2, 3.3],
        "c": {"b": 1, "a": 2},
    }


def test_now_and_today_follow_the_case_clock_not_the_wall_clock() -> None:
    expr = compile_feel('string(today()) + " " + string(now())')
    # 23:30 UTC on 31 December is already 1 January in Stockholm.
    late = datetime(2030, 12, 31, 23, 30, tzinfo=UTC)
    assert expr.evaluate({}, now=late, tz=STOCKHOLM) == (
        "2031-01-01 2031-01-01T00:30:00@Europe/Stockholm"
    )
    assert expr.evaluate({}, now=late, tz=ZoneInfo("UTC")) == "2030-12-31 2030-12-31T23:30:00@UTC"


def test_evaluation_never_reads_a_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden() -> float:
        raise AssertionError("the wall clock was read")

    for name in ("time", "time_ns", "monotonic", "perf_counter"):
        monkeypatch.setattr(time, name, forbidden)
    calls: list[str] = []

    def profile(frame: object, event: str, arg: object) -> None:
        # C functions (datetime.now, date.today, time.time) show up as c_call events.
        if event == "c_call" and getattr(arg, "__name__", "") in _CLOCK_READS:
            calls.append(f"{getattr(arg, '__qualname__', arg)}")

    expr = compile_feel(
        'for d in [today(), date(now()), date("2024-01-31") + duration("P1M")] '
        "return d.weekday + now().hour"
    )
    sys.setprofile(profile)
    try:
        result = expr.evaluate({}, now=NOW, tz=STOCKHOLM)
    finally:
        sys.setprofile(None)
    assert result == [18, 18, 15]
    assert calls == []


def test_numbers_are_decimals_not_floats() -> None:
    expr = compile_feel("0.1 + 0.2")
    value = expr.value({}, now=NOW, tz=STOCKHOLM)
    assert render(value) == "0.3"
    assert compile_feel("rate * 3 = 0.3").evaluate({"rate": 0.1}, now=NOW, tz=STOCKHOLM) is True


def test_a_text_is_parsed_once() -> None:
    text = "1 + 41 + 0"
    before = parse_expression.cache_info().hits
    compile_feel(text)
    compile_feel("=" + text)
    assert parse_expression.cache_info().hits == before + 1


# --- bounds -------------------------------------------------------------------------------


def test_a_for_over_ten_million_items_fails_at_once() -> None:
    expr = compile_feel("for i in 1..10000000 return i")
    started = time.perf_counter()
    with pytest.raises(FeelLimitError) as caught:
        expr.evaluate({}, now=NOW, tz=STOCKHOLM)
    assert time.perf_counter() - started < 0.5
    assert caught.value.limit == "max_list_size"
    assert "10,000,000 items" in str(caught.value)
    assert "max_list_size = 100,000" in str(caught.value)


def test_nested_iterations_stop_at_the_step_limit() -> None:
    expr = compile_feel(
        "some i in 1..1000, j in 1..1000 satisfies false", limits=FeelLimits(max_steps=10_000)
    )
    with pytest.raises(FeelLimitError) as caught:
        expr.evaluate({}, now=NOW, tz=STOCKHOLM)
    assert caught.value.limit == "max_steps"


def test_a_large_variable_cannot_grow_past_the_list_limit() -> None:
    expr = compile_feel("for x in xs return x", limits=FeelLimits(max_list_size=1_000))
    with pytest.raises(FeelLimitError, match="max_list_size"):
        expr.evaluate({"xs": list(range(5_000))}, now=NOW, tz=STOCKHOLM)


def test_recursion_stops_at_the_call_depth_limit() -> None:
    expr = compile_feel("{f: function(g, n) if n = 0 then 0 else g(g, n - 1), r: f(f, 100000)}.r")
    with pytest.raises(FeelLimitError) as caught:
        expr.evaluate({}, now=NOW, tz=STOCKHOLM)
    assert caught.value.limit == "max_call_depth"
    shallow = compile_feel("{f: function(g, n) if n = 0 then 0 else g(g, n - 1), r: f(f, 10)}.r")
    assert shallow.evaluate({}, now=NOW, tz=STOCKHOLM) == 0


def test_strings_cannot_grow_past_the_string_limit() -> None:
    expr = compile_feel(
        'string join(for i in 1..1000 return "0123456789")',
        limits=FeelLimits(max_string_length=5_000),
    )
    with pytest.raises(FeelLimitError, match="max_string_length"):
        expr.evaluate({}, now=NOW, tz=STOCKHOLM)


@pytest.mark.parametrize("pattern", ["^(a+)+$", "^(a|a)*$", "^(a|aa)+$", "(\\\\w+\\\\s?)*$"])
def test_patterns_that_backtrack_in_re_run_in_linear_time(pattern: str) -> None:
    # Each takes exponential time in Python's re on this input; the pattern may come from a
    # variable, and a workflow task cannot be interrupted.
    expr = compile_feel("matches(s, p)")
    started = time.perf_counter()
    matched = expr.evaluate({"s": "a" * 5_000 + "!", "p": pattern}, now=NOW, tz=STOCKHOLM)
    assert matched is (pattern.endswith("*$") and "w" in pattern)
    assert time.perf_counter() - started < 0.5


def test_a_pattern_that_needs_backtracking_is_null_and_says_why() -> None:
    with pytest.raises(RegexError, match="no backreferences or lookaround"):
        compile_regex("(a)\\1")
    assert compile_feel('matches("aa", "(a)\\\\1")').evaluate({}, now=NOW, tz=STOCKHOLM) is None


def test_regular_expression_flags() -> None:
    def run(text: str) -> object:
        return compile_feel(text).evaluate({}, now=NOW, tz=STOCKHOLM)

    assert run('matches("ABC", "abc", "i")') is True
    assert run('matches("a\\nb", "a.b")') is False
    assert run('matches("a\\nb", "a.b", "s")') is True
    assert run('matches("x\\nab", "^ab", "m")') is True
    assert run('matches("ab", "a b", "x")') is True
    assert run('matches("a b", "a[ ]b", "x")') is True
    assert run('replace("a1b2", "(\\\\d)", "$1$1")') == "a11b22"
    assert run('matches("ab", "ab", "q")') is None


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(FeelSyntaxError, match="nests too deeply"):
        compile_feel("-" * 5_000 + "1")


# --- errors -------------------------------------------------------------------------------


def test_a_syntax_error_names_line_and_column_with_a_caret() -> None:
    with pytest.raises(FeelSyntaxError) as caught:
        compile_feel("x > > 3", element_id="Gateway_1")
    error = caught.value
    assert (error.line, error.column) == (1, 5)
    assert "line 1, column 5: unexpected '>'" in str(error)
    assert "\n  x > > 3\n      ^" in str(error)
    assert error.element_id == "Gateway_1"
    assert isinstance(error, ExpressionError)


def test_a_syntax_error_on_a_later_line_points_there() -> None:
    with pytest.raises(FeelSyntaxError) as caught:
        compile_feel("if x > 1\nthen 1\nelse * 2")
    assert (caught.value.line, caught.value.column) == (3, 6)


def test_an_expression_that_ends_too_early_points_past_its_end() -> None:
    with pytest.raises(FeelSyntaxError) as caught:
        compile_feel('substring("abc"')
    assert caught.value.column == len('substring("abc"') + 1
    assert "ends too early" in str(caught.value)


def test_a_name_with_a_space_needs_backticks() -> None:
    # Camunda's names hold no whitespace; `first name` is how a model reads such a variable.
    with pytest.raises(FeelSyntaxError, match="column 7: unexpected 'name'"):
        compile_feel("first name")
    assert (
        compile_feel("`first name`").evaluate({"first name": "Ada"}, now=NOW, tz=STOCKHOLM) == "Ada"
    )


def test_an_unknown_character_is_named() -> None:
    with pytest.raises(FeelSyntaxError, match="column 3: unexpected character '#'"):
        compile_feel("x # 1")


def test_an_empty_expression_is_a_syntax_error() -> None:
    with pytest.raises(FeelSyntaxError, match="empty"):
        compile_feel("=  ")


def test_a_failed_assert_is_an_error() -> None:
    expr = compile_feel('assert(x, x >= 0, "x must not be negative")')
    assert expr.evaluate({"x": 1}, now=NOW, tz=STOCKHOLM) == 1
    with pytest.raises(FeelError, match="assertion failed: x must not be negative"):
        expr.evaluate({"x": -1}, now=NOW, tz=STOCKHOLM)


# --- the evaluate interface (as process_models.expressions.Expression) -------------------


def test_evaluate_returns_json_values() -> None:
    expr = compile_feel(
        '={n: 2, f: 2.5, s: "a", d: date("2024-01-31") + duration("P1M"), '
        't: time("08:00:00"), p: duration("PT36H"), m: duration("P14M"), l: [null, true]}'
    )
    assert expr.evaluate({}, now=NOW, tz=STOCKHOLM) == {
        "n": 2,
        "f": 2.5,
        "s": "a",
        "d": "2024-02-29",
        "t": "08:00:00",
        "p": "P1DT12H",
        "m": "P1Y2M",
        "l": [None, True],
    }


def test_evaluate_refuses_a_result_json_cannot_hold() -> None:
    with pytest.raises(FeelError, match="a function"):
        compile_feel("function(a) a").evaluate({}, now=NOW, tz=STOCKHOLM)


def test_evaluate_reads_reference_data() -> None:
    expr = compile_feel("reference.fee * 2")
    assert expr.evaluate({}, now=NOW, tz=STOCKHOLM, reference={"fee": 100}) == 200


def test_evaluate_bool_takes_null_as_false_and_refuses_other_values() -> None:
    expr = compile_feel("=amount > 1000")
    assert expr.evaluate_bool({"amount": 1200}, now=NOW, tz=STOCKHOLM) is True
    assert expr.evaluate_bool({}, now=NOW, tz=STOCKHOLM) is False
    with pytest.raises(FeelError, match='must yield a boolean, but yielded "yes"'):
        compile_feel('"yes"').evaluate_bool({}, now=NOW, tz=STOCKHOLM)


def test_evaluate_timer_reads_durations_dates_and_date_times() -> None:
    def fire(text: str, **variables: object) -> datetime:
        return compile_feel(text).evaluate_timer(variables, now=NOW, tz=STOCKHOLM)

    assert fire('duration("PT36H")') == NOW + timedelta(hours=36)
    # A month later at the same wall-clock time, 11:30 in Stockholm, now in summer time.
    assert fire('duration("P1M")') == datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
    assert fire('date and time("2026-03-02T08:00:00Z")') == datetime(2026, 3, 2, 8, tzinfo=UTC)
    # A local date-time is in the process's zone (UTC+1 in March).
    assert fire('date and time("2026-03-02T08:00:00")') == datetime(2026, 3, 2, 7, tzinfo=UTC)
    # A date is a date-only deadline: the end of that day, in the process's zone.
    assert fire('date("2026-03-02")') == datetime(2026, 3, 2, 23, tzinfo=UTC)
    assert fire("due", due="PT1H") == NOW + timedelta(hours=1)
    with pytest.raises(FeelError, match="a timer expression must yield"):
        fire("42")


def test_evaluate_cycle_reads_a_cycle_or_a_duration() -> None:
    cycle = compile_feel('"R3/PT1H"').evaluate_cycle({}, now=NOW, tz=STOCKHOLM)
    assert isinstance(cycle, TimerSpec)
    every = compile_feel('duration("P1D")').evaluate_cycle({}, now=NOW, tz=STOCKHOLM)
    assert isinstance(every, TimerSpec)
    with pytest.raises(FeelError, match="cycle"):
        compile_feel("1").evaluate_cycle({}, now=NOW, tz=STOCKHOLM)


def test_a_naive_clock_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compile_feel("now()").evaluate({}, now=datetime(2026, 1, 1), tz=STOCKHOLM)


# --- inside Temporal's sandbox ------------------------------------------------------------


async def test_feel_runs_in_the_strict_workflow_sandbox_on_the_workflow_clock(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The default sandbox re-imports and restricts everything the workflow module imports,
    # so FEEL (and lark under it) must import and run without I/O or the wall clock.
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[FeelEvaluation],
        workflow_runner=SandboxedWorkflowRunner(),
        # Any error fails the case at once rather than retrying the workflow task for ever.
        workflow_failure_exception_types=[Exception],
    ):
        result = await time_skipping_env.client.execute_workflow(
            FeelEvaluation.run,
            FeelRunInput(
                expressions=[
                    "string(now())",
                    "today()",
                    'date("2024-01-31") + duration("P1M")',
                    "count(items[item > 1])",
                ],
                variables={"items": [1, 2, 3]},
            ),
            id=f"feel-{task_queue}",
            task_queue=task_queue,
        )
    clock = datetime.fromisoformat(result.now).astimezone(STOCKHOLM)
    assert result.results == [
        compile_feel("string(now())").evaluate({}, now=clock, tz=STOCKHOLM),
        clock.date().isoformat(),
        "2024-02-29",
        2,
    ]
