"""Replay: how fast Temporal's ``Replayer`` re-runs recorded histories through the
interpreter, against the hand-written workflow on histories of the same process, and the
replay time of a hundred-year case (every run of its continue-as-new chain).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from benchmarks.annual_chain import YEARS, hundred_year_chain
from benchmarks.common import REPO_ROOT, Bench, median, print_table, scaled, write_result
from benchmarks.engine_overhead import record_histories
from benchmarks.handwritten import HandwrittenCase, handwritten_runner
from workflows import WORKFLOWS
from workflows.sandbox import shared_runner

__all__ = ["replay_seconds", "run"]

NAME = "replay"
REPEATS = 3
STORED = sorted((REPO_ROOT / "tests" / "histories").glob("*.json"))


async def replay_seconds(replayer: Replayer, histories: list[WorkflowHistory]) -> float:
    """Seconds to replay ``histories`` one after another; raises on a replay failure."""
    began = time.perf_counter()
    # One replay worker for the whole set, as ``niva audit replay`` of many runs does.
    results = await replayer.replay_workflows(_each(histories), raise_on_replay_failure=False)
    took = time.perf_counter() - began
    for workflow_id, failure in results.replay_failures.items():
        raise RuntimeError(f"{workflow_id} did not replay: {failure}")
    return took


async def _each(histories: list[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


def _stored() -> list[WorkflowHistory]:
    return [WorkflowHistory.from_json(p.stem, p.read_text()) for p in STORED]


def _events(histories: list[WorkflowHistory]) -> int:
    return sum(len(h.events) for h in histories)


async def run(bench: Bench) -> dict[str, Any]:
    """Measure the replays; print the table and return the result."""
    interpreter = Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=shared_runner()
    )
    handwritten = Replayer(
        workflows=[HandwrittenCase],
        data_converter=pydantic_data_converter,
        workflow_runner=handwritten_runner(),
    )
    recorded = await record_histories(bench, scaled(40))
    chain, produced_seconds = await hundred_year_chain(bench)
    stored = _stored()

    sets: list[tuple[str, Replayer, list[WorkflowHistory]]] = [
        ("reference, interpreted", interpreter, recorded["interpreted"]),
        ("reference, hand-written", handwritten, recorded["handwritten"]),
        (f"tests/histories ({len(stored)} files)", interpreter, stored),
        (f"{YEARS}-year chain ({len(chain)} runs)", interpreter, chain),
    ]
    for _, replayer, histories in sets[:2]:
        await replay_seconds(replayer, histories[:3])  # warm-up
    seconds: dict[str, float] = {}
    for repeat in range(REPEATS):
        order = sets if repeat % 2 == 0 else [sets[1], sets[0], *sets[2:]]
        for label, replayer, histories in order:
            took = await replay_seconds(replayer, histories)
            seconds.setdefault(label, 0.0)
            seconds[label] = took if repeat == 0 else min(seconds[label], took)
    rows = []
    result_sets: dict[str, Any] = {}
    for label, _, histories in sets:
        per_second = len(histories) / seconds[label]
        events_per_second = _events(histories) / seconds[label]
        rows.append(
            [
                label,
                len(histories),
                _events(histories),
                seconds[label],
                per_second,
                events_per_second,
            ]
        )
        result_sets[label] = {
            "histories": len(histories),
            "events": _events(histories),
            "seconds_best_of_3": seconds[label],
            "histories_per_second": per_second,
            "events_per_second": events_per_second,
        }
    ratio = (len(recorded["interpreted"]) / seconds[sets[0][0]]) / (
        len(recorded["handwritten"]) / seconds[sets[1][0]]
    )
    print_table(
        f"Replay (best of {REPEATS})",
        ["histories", "count", "events", "seconds", "histories/s", "events/s"],
        [*rows, ["ratio interpreted/hand-written (histories/s)", "", "", "", ratio, ""]],
    )
    result = {
        "sets": result_sets,
        "stored_files": [Path(p).name for p in STORED],
        "hundred_year_chain": {
            "runs": len(chain),
            "events": _events(chain),
            "replay_seconds": seconds[sets[3][0]],
            "produced_in_seconds": produced_seconds,
        },
        "ratio": ratio,
        "target": ">= 0.9",
        "met": ratio >= 0.9,
        "median_events_per_reference_history": {
            k: median([len(h.events) for h in v]) for k, v in recorded.items()
        },
    }
    write_result(NAME, result)
    return result
