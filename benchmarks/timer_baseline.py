"""The yardstick of the memory benchmark: a plain Temporal workflow that does what a niva
case waiting on a timer does (its search attributes, its current details, one timer with a
summary) and nothing more, with a worker of its own.

``python -m benchmarks.timer_baseline`` runs that worker on ``NIVA_WORKER_TASK_QUEUE``
against the server named by ``TEMPORAL_*`` until it is terminated.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from benchmarks.handwritten import HandwrittenStart, handwritten_runner
    from starter.settings import WorkerSettings
    from worker import connect
    from workflows import search_attributes as sa

__all__ = ["BASELINE_TYPE", "PlainTimer"]

BASELINE_TYPE = "bench_plain_timer"


@workflow.defn(name=BASELINE_TYPE)
class PlainTimer:
    """Publish the case, then wait on one timer of 30 days."""

    @workflow.run
    async def run(self, start: HandwrittenStart) -> None:
        """Publish, wait, end."""
        workflow.upsert_search_attributes(
            [
                sa.PROCESS_ID.value_set(start.process_id),
                sa.PROCESS_VERSION.value_set("1"),
                sa.BUSINESS_KEY.value_set(start.business_key),
                sa.JURISDICTION.value_set("-"),
                sa.INCIDENT.value_set(False),
            ]
        )
        workflow.set_current_details(f"**{start.title}** — `{start.process_id}` version 1")
        await workflow.sleep(timedelta(days=30), summary="Vänta")


async def main() -> None:
    """Run the baseline worker until terminated."""
    client = await connect()
    worker = Worker(
        client,
        task_queue=WorkerSettings().task_queue,
        workflows=[PlainTimer],
        workflow_runner=handwritten_runner("benchmarks.timer_baseline"),
    )
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
