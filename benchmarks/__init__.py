"""Reproducible performance measurements of niva (``make bench``; not run in CI).

One module per benchmark, each with an ``async def run(bench: Bench) -> dict`` that prints a
table and returns what `benchmarks.common.write_result` stores in
``benchmarks/results/<name>.json``. Targets are ratios measured in the same run, because the
absolute numbers on a shared machine are noisy.
"""
