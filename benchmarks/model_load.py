"""Model load: niva's reader against SpiffWorkflow's parser on the same MIWG reference file.

Three loaders, timed in turn within one run so that the machine's load affects them alike:

- niva's full read (`read_bpmn` + `blockers_by_process`): everything a round trip keeps,
  the diagram and the XML of every element niva does not model included; what an upload
  or a deployment does.
- niva's execution read (`read_bpmn(..., for_execution=True)` + `blockers_by_process`):
  what the engine does when it loads a deployed model to run it.
- SpiffWorkflow's `BpmnParser` building the workflow specs: the executable representation
  only (no diagram, no vendor extensions kept).

The target, model load no slower than SpiffWorkflow, is judged on the execution read: both
then build the executable representation from the same file. SpiffWorkflow is compared on
the largest reference file it parses (it refuses files without an executable process, or
with data it cannot resolve); niva alone is also timed on the largest file of the suite.
"""

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
REPEATS = 25
REFERENCE_DIR = SHARED / "conformance" / "bpmn-miwg" / "reference"

Loader = Callable[[Path], int]


def niva_load(path: Path) -> int:
    """Read ``path`` in full (diagram and unmodelled XML kept) and check it; the processes."""
    definitions = read_bpmn(path)
    return len(blockers_by_process(definitions))


def niva_execution_load(path: Path) -> int:
    """Read ``path`` for execution, as the engine does, and check it; the processes."""
    definitions = read_bpmn(path, for_execution=True)
    return len(blockers_by_process(definitions))


def spiff_load(path: Path) -> int:
    """Parse ``path`` with SpiffWorkflow into workflow specs; the number of specs.

    SpiffWorkflow builds specs of executable processes only (it refuses the others), so
    a file it "can parse" is one that loads and yields at least one spec.
    """
    from SpiffWorkflow.bpmn.parser import BpmnParser

    parser = BpmnParser()
    parser.add_bpmn_file(str(path))
    specs = parser.find_all_specs()
    if not specs:
        raise ValueError("no executable process (SpiffWorkflow parses only those)")
    return len(specs)


def _timed(loaders: dict[str, Loader], path: Path) -> dict[str, float]:
    """The median milliseconds of each loader on ``path``, the loaders taking turns."""
    for load in loaders.values():
        load(path)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in loaders}
    for _ in range(REPEATS):
        for name, load in loaders.items():
            began = time.perf_counter()
            load(path)
            times[name].append(time.perf_counter() - began)
    return {name: median(values) * 1000 for name, values in times.items()}


def _spiff_file(files: list[Path]) -> tuple[Path | None, dict[str, str]]:
    """The largest file SpiffWorkflow parses, and why it failed on the larger ones."""
    skipped: dict[str, str] = {}
    for candidate in files:
        try:
            spiff_load(candidate)
        except Exception as exc:
            skipped[candidate.name] = f"{type(exc).__name__}: {str(exc)[:200]}"
            continue
        return candidate, skipped
    return None, skipped


async def run(bench: object) -> dict[str, Any]:
    """Measure the three loaders; print the table and return the result."""
    if not REFERENCE_DIR.is_dir():
        raise RuntimeError(f"the conformance corpus is not beside the repository: {REFERENCE_DIR}")
    files = sorted(REFERENCE_DIR.glob("*.bpmn"), key=lambda p: p.stat().st_size, reverse=True)
    largest = files[0]
    spiff_file, skipped = _spiff_file(files)
    if spiff_file is None:
        raise RuntimeError("SpiffWorkflow parses none of the reference files")
    niva_loaders: dict[str, Loader] = {"niva": niva_load, "niva_execution": niva_execution_load}
    rows: list[list[Any]] = []
    measured: dict[str, Any] = {}
    targets = [spiff_file] if spiff_file == largest else [spiff_file, largest]
    for path in targets:
        loaders = dict(niva_loaders)
        if path == spiff_file:
            loaders["spiff"] = spiff_load
        ms = _timed(loaders, path)
        spiff = ms.get("spiff")
        size = path.stat().st_size
        for label, key in (
            ("niva full read + blockers", "niva"),
            ("niva execution read + blockers", "niva_execution"),
            ("SpiffWorkflow BpmnParser", "spiff"),
        ):
            if key in ms:
                ratio = "-" if spiff is None else ms[key] / spiff
                rows.append([path.name, size, label, ms[key], ratio])
        measured[path.name] = {
            "bytes": size,
            "niva_ms": ms["niva"],
            "niva_execution_ms": ms["niva_execution"],
            "spiff_ms": spiff,
            "niva_over_spiff": None if spiff is None else ms["niva"] / spiff,
            "niva_execution_over_spiff": None if spiff is None else ms["niva_execution"] / spiff,
            "execution_over_full": ms["niva_execution"] / ms["niva"],
        }
    print_table(
        f"Model load (median of {REPEATS}, loaders in turn); target judged on the "
        "execution read: niva execution ms <= SpiffWorkflow ms",
        ["file", "bytes", "reader", "median ms", "time / Spiff"],
        rows,
    )
    print(
        "The execution read (read_bpmn(..., for_execution=True)) is what the engine runs; "
        "like SpiffWorkflow it keeps no diagram and no unmodelled XML. The full read keeps "
        "both for a round trip."
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
        "niva_ms": compared["niva_ms"],
        "niva_execution_ms": compared["niva_execution_ms"],
        "spiff_ms": compared["spiff_ms"],
        "niva_over_spiff": compared["niva_over_spiff"],
        "niva_execution_over_spiff": compared["niva_execution_over_spiff"],
        "files": measured,
        "target": "niva's execution read (read_bpmn(for_execution=True) + blockers_by_process) "
        "no slower than SpiffWorkflow's BpmnParser on the same file; the full read, which also "
        "keeps the diagram and unmodelled XML, is reported for comparison",
        "met": compared["niva_execution_ms"] <= compared["spiff_ms"],
    }
    write_result(NAME, result)
    return result
