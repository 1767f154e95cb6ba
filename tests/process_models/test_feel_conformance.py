"""The FEEL conformance table (tests/process_models/feel_conformance.py), row by row."""

from __future__ import annotations

import pytest

from process_models.feel import compile_feel, compile_unary_tests, render
from tests.process_models.feel_conformance import NOW, ROWS, UNARY_ROWS, VARIABLES, ZONE


def test_table_has_at_least_300_expressions() -> None:
    assert len(ROWS) >= 300
    expressions = [expression for expression, _ in ROWS]
    duplicates = sorted({e for e in expressions if expressions.count(e) > 1})
    assert duplicates == []


@pytest.mark.parametrize(("expression", "expected"), ROWS, ids=[e[:60] for e, _ in ROWS])
def test_feel_expression_matches_camunda(expression: str, expected: str) -> None:
    result = compile_feel(expression).value(VARIABLES, now=NOW, tz=ZONE)
    assert render(result) == expected


@pytest.mark.parametrize(
    ("value", "tests", "expected"),
    UNARY_ROWS,
    ids=[f"{v!r} {t}" for v, t, _ in UNARY_ROWS],
)
def test_feel_unary_tests_match_camunda(value: object, tests: str, expected: bool) -> None:
    unary = compile_unary_tests(tests)
    assert unary.matches(value, VARIABLES, now=NOW, tz=ZONE) is expected
