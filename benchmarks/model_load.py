"""Model load: read and validate the largest file of the BPMN MIWG reference suite with
niva's reader (`read_bpmn` + `blockers_by_process`) against SpiffWorkflow's parser on the
same file, in the same run."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import SHARED, median, print_table, write_result
from process_models.bpmn import read_bpmn
from process_models.bpmn.subset import blockers_by_process

__all__ = ["run"]

NAME = "model_load"
REPEATS = 15
REFERENCE_DIR = SHARED / "conformance" / "bpmn-miwg" / "reference"


def niva_load(path: Path) -> int:
    """Read and validate ``path``; the number of processes."""
    definitions = read_bpmn(path)
    return len(blockers_by_process(definitions))


def spiff_load(path: Path) -> int:
    """Parse ``path`` with SpiffWorkflow into workflow specs; the number of specs.

    SpiffWorkflow builds specs of executable processes only (it refuses the others), so
    a file it "can parse" is one that loads and yields at least one spec.
    """
    from SpiffWorkflow.bpmn.parser import BpmnParser  # type: ignore[import-untyped]

    parser = BpmnParser()
    parser.add_bpmn_file(str(path))
    specs = parser.find_all_specs()
    if not specs:
        raise ValueError("no executable process (SpiffWorkflow parses only those)")
    return len(specs)


def _timed(load: Callable[[Path], int], path: Path) -> list[float]:
    load(path)  # warm-up
    times = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        load(path)
        times.append(time.perf_counter() - began)
    return times


async def run(bench: object) -> dict[str, Any]:
    """Measure both readers; print the table and return the result."""
    if not REFERENCE_DIR.is_dir():
        raise RuntimeError(f"the conformance corpus is not beside the repository: {REFERENCE_DIR}")
    files = sorted(REFERENCE_DIR.glob("*.bpmn"), key=lambda p: p.stat().st_size, reverse=True)
    largest = files[0]
    spiff_file = None
    skipped: dict[str, str] = {}
    for candidate in files:
        try:
            spiff_load(candidate)
        except Exception as exc:
            skipped[candidate.name] = f"{type(exc).__name__}: {str(exc)[:200]}"
            continue
        spiff_file = candidate
        break
    if spiff_file is None:
        raise RuntimeError("SpiffWorkflow parses none of the reference files")
    rows = []
    measured: dict[str, Any] = {}
    targets = [largest] if spiff_file == largest else [largest, spiff_file]
    for path in targets:
        niva = median(_timed(niva_load, path)) * 1000
        spiff = median(_timed(spiff_load, path)) * 1000 if path == spiff_file else None
        rows.append(
            [
                path.name,
                path.stat().st_size,
                niva,
                "-" if spiff is None else spiff,
                "-" if spiff is None else spiff / niva,
            ]
        )
        measured[path.name] = {
            "bytes": path.stat().st_size,
            "niva_ms_median": niva,
            "spiffworkflow_ms_median": spiff,
            "speedup_niva_over_spiff": None if spiff is None else spiff / niva,
        }
    print_table(
        f"Model load (median of {REPEATS})",
        ["file", "bytes", "niva ms", "SpiffWorkflow ms", "Spiff/niva"],
        rows,
    )
    if skipped:
        print(
            "SpiffWorkflow could not parse: " + "; ".join(f"{k} ({v})" for k, v in skipped.items())
        )
    compared = measured[spiff_file.name]
    result = {
        "largest_file": largest.name,
        "compared_file": spiff_file.name,
        "spiffworkflow_failed_on": skipped,
        "files": measured,
        "target": "niva no slower than SpiffWorkflow on the same file",
        "met": compared["niva_ms_median"] <= compared["spiffworkflow_ms_median"],
    }
    write_result(NAME, result)
    return result
