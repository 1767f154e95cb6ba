"""FEEL against CEL: the time of one evaluation of equivalent expressions, in the same run.

Each pair says the same thing in both languages over the same variables; the two compiled
expressions take turns, so the machine's load affects them alike. Target: FEEL at most 3×
CEL per evaluation.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks.common import median, print_table, write_result
from process_models.expressions import compile_expression
from process_models.feel import compile_feel

__all__ = ["run"]

NAME = "feel_expressions"
ROUNDS = 15
CALLS = 2_000
TARGET = 3.0
NOW = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Stockholm")
VARIABLES: dict[str, Any] = {
    "amount": 1200,
    "flag": True,
    "name": "Ada",
    "items": list(range(1, 21)),
    "applicant": {"age": 42, "address": {"city": "Umeå"}},
}

PAIRS: tuple[tuple[str, str, str], ...] = (
    ("condition", "=amount > 1000 and flag", "=amount > 1000 && flag"),
    ("equality", '=name = "Ada"', "=name == 'Ada'"),
    (
        "if-then-else",
        '=if amount > 1000 then "review" else "auto"',
        "=amount > 1000 ? 'review' : 'auto'",
    ),
    ("path", "=applicant.address.city", "=applicant.address.city"),
    ("filter + count", "=count(items[item > 10])", "=size(items.filter(i, i > 10))"),
    ("some", "=some i in items satisfies i > 19", "=items.exists(i, i > 19)"),
    ("map", "=for i in items return i * 2", "=items.map(i, i * 2)"),
    (
        "string",
        '=starts with(name, "A") and string length(name) > 2',
        "=name.startsWith('A') && size(name) > 2",
    ),
)


def _per_call_us(expression: Any) -> float:
    began = time.perf_counter()
    for _ in range(CALLS):
        expression.evaluate(VARIABLES, now=NOW, tz=ZONE)
    return (time.perf_counter() - began) / CALLS * 1e6


async def run(bench: object) -> dict[str, Any]:
    """Time every pair; print the table and return the result."""
    rows: list[list[Any]] = []
    measured: dict[str, Any] = {}
    for label, feel_text, cel_text in PAIRS:
        feel = compile_feel(feel_text)
        cel = compile_expression(cel_text)
        assert feel.evaluate(VARIABLES, now=NOW, tz=ZONE) == cel.evaluate(
            VARIABLES, now=NOW, tz=ZONE
        ), label
        feel_times: list[float] = []
        cel_times: list[float] = []
        for _ in range(ROUNDS):
            feel_times.append(_per_call_us(feel))
            cel_times.append(_per_call_us(cel))
        f, c = median(feel_times), median(cel_times)
        rows.append([label, f, c, f / c])
        measured[label] = {"feel_us": f, "cel_us": c, "feel_over_cel": f / c}
    worst = max(m["feel_over_cel"] for m in measured.values())
    print_table(
        f"FEEL vs CEL per evaluation (median of {ROUNDS} rounds of {CALLS:,} calls, in turn); "
        f"target FEEL <= {TARGET:g}x CEL",
        ["expression", "FEEL us", "CEL us", "FEEL / CEL"],
        rows,
    )
    result = {"pairs": measured, "worst_feel_over_cel": worst, "target": TARGET}
    write_result(NAME, result)
    return result
