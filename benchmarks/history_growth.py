"""History growth: events per simulated year and the longest run of a hundred-year case
(continue-as-new keeps every run short), on the time-skipping server."""

from __future__ import annotations

from typing import Any

from benchmarks.annual_chain import YEARS, hundred_year_chain
from benchmarks.common import Bench, print_table, write_result

__all__ = ["run"]

NAME = "history_growth"
LIMIT = 2_000


async def run(bench: Bench) -> dict[str, Any]:
    """Measure the annual model's chain; print the table and return the result."""
    chain, seconds = await hundred_year_chain(bench)
    lengths = [len(h.events) for h in chain]
    total = sum(lengths)
    rows = [
        [
            "annual report (test_long_running)",
            YEARS,
            len(chain),
            total,
            total / YEARS,
            max(lengths),
            seconds,
        ]
    ]
    print_table(
        "History growth over a hundred simulated years",
        ["model", "years", "runs", "events", "events/year", "largest run", "seconds"],
        rows,
    )
    result = {
        "models": {
            "no_annual": {
                "years": YEARS,
                "runs": len(chain),
                "events": total,
                "events_per_year": total / YEARS,
                "run_lengths": lengths,
                "largest_run": max(lengths),
                "seconds": seconds,
            }
        },
        "target": f"largest run <= {LIMIT} events",
        "met": max(lengths) <= LIMIT,
    }
    write_result(NAME, result)
    return result
