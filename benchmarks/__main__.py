"""``python -m benchmarks [name ...]``: run the benchmarks (all of them, most important
first, when none is named), print their tables and write ``benchmarks/results/*.json``."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
import tempfile
import time
import traceback

ORDER = (
    "engine_overhead",
    "replay",
    "history_growth",
    "history_footprint",
    "model_load",
    "throughput",
    "api_latency",
    "memory",
    "feel_expressions",
    "dialect_cost",
)


async def main(names: list[str]) -> int:
    """Run the named benchmarks in order; the exit status counts the ones that failed."""
    from benchmarks.common import Bench

    bench = Bench()
    failed = 0
    try:
        for name in names:
            module = importlib.import_module(f"benchmarks.{name}")
            began = time.perf_counter()
            try:
                await module.run(bench)
            except Exception:
                failed += 1
                traceback.print_exc()
                print(f"!! {name} failed")
            print(f"({name}: {time.perf_counter() - began:.0f} s)", flush=True)
    finally:
        await bench.close()
    return failed


if __name__ == "__main__":
    # Whatever reads the default data directory gets a scratch one, never ./.niva.
    os.environ.setdefault("NIVA_DATA_DIR", tempfile.mkdtemp(prefix="niva-bench-data-"))
    logging.basicConfig(level=logging.WARNING)
    wanted = sys.argv[1:] or list(ORDER)
    unknown = [n for n in wanted if n not in ORDER]
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    status = asyncio.run(main(wanted))
    # Leave without interpreter finalisation: the Temporal core's threads outlive the event
    # loop, and finalising Python under them can abort the process ("PyGILState_Release:
    # thread state must be current"), turning a finished run into a failed one.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(min(status, 125))
