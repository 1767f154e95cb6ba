"""A batch of migrations (``POST /migrations``), kept as one durable workflow.

The batch lists its cases (the ids it was given, or the running cases of the plan's source
version a visibility query selects: `LIST_ACTIVITY`), then migrates each through one
activity (`MIGRATE_ONE_ACTIVITY`, `activities.migration`) that sends the case's own
``migrate`` update, keyed by the batch's ``migration_id``, or, for a dry run, checks the
case against the plan without changing it. The activities speak to Temporal and the model
store, which workflow code cannot.

Why a workflow: a worker killed mid-batch leaves it where it was; a retried activity
sends the same update again and the case, which records the migrations it applied,
answers without migrating twice. The migrating activity heartbeats while the case works
on the update, so a batch whose worker died tries the case again within
`HEARTBEAT_TIMEOUT` instead of waiting out the case's whole timeout. Progress is the
``progress`` query; the batch's result is the same report.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.candidates import Actor
    from workflows.migration import MigrationPlan
    from workflows.migration_in_flight import InFlightWork

__all__ = [
    "HEARTBEAT_TIMEOUT",
    "LIST_ACTIVITY",
    "MIGRATE_ONE_ACTIVITY",
    "MIGRATION_WORKFLOW",
    "PROGRESS_QUERY",
    "ListCasesInput",
    "ListCasesResult",
    "MigrateOneInput",
    "MigrateOneResult",
    "MigrationBatch",
    "MigrationBatchInput",
    "MigrationReport",
    "Refusal",
    "batch_workflow_id",
]

MIGRATION_WORKFLOW = "niva.MigrationBatch"
"""The workflow type of a batch."""
LIST_ACTIVITY = "list_migration_cases"
"""The activity that lists the running cases of a version a query selects."""
MIGRATE_ONE_ACTIVITY = "migrate_case"
"""The activity that migrates (or, dry, checks) one case."""
PROGRESS_QUERY = "progress"
"""The query answering the batch's report so far."""

HEARTBEAT_TIMEOUT = timedelta(seconds=10)
"""How long a case's migrating activity may go without a heartbeat before it is tried
again: long enough for a busy worker, short against a dead one."""

_PARALLEL = 5
"""Cases migrated at once: enough to move a few hundred cases in a minute, few enough not
to crowd the workers the cases themselves run on."""

_LANES_PATCH = "niva-migration-batch-lanes"
"""Batches from this patch on keep `_PARALLEL` cases in flight (lanes); those started
before it migrate chunk by chunk, as their histories record."""


def batch_workflow_id(migration_id: str) -> str:
    """The workflow id of the batch ``migration_id``."""
    return f"niva-migration:{migration_id}"


class MigrationBatchInput(BaseModel):
    """A batch: the plan, and the cases by id or by a visibility query."""

    migration_id: str = Field(min_length=1)
    plan: MigrationPlan
    instances: list[str] = Field(default_factory=list)
    query: str | None = Field(
        default=None,
        description="A visibility query narrowing the running cases of the source version.",
    )
    dry_run: bool = False
    actor: Actor
    case_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long one case's migration may take before it is tried again "
        "(a worker that died mid-call is noticed sooner, by its missing heartbeats).",
    )


class Refusal(BaseModel):
    """A case the plan does not fit, and why."""

    instance_id: str
    reason: str


class MigrationReport(BaseModel):
    """Where a batch stands: the cases migrated (or that would be, dry) and refused."""

    migration_id: str
    status: Literal["running", "completed"] = "running"
    dry_run: bool = False
    total: int = 0
    migrated: list[str] = Field(default_factory=list)
    refused: list[Refusal] = Field(default_factory=list)
    changes: dict[str, list[str]] = Field(
        default_factory=dict, description="What migrating changed (or would) per case."
    )
    in_flight: dict[str, list[InFlightWork]] = Field(
        default_factory=dict,
        description="Dry run: per case with any, the work in flight the migration would "
        "wait for, re-arm, arm or cancel.",
    )


class ListCasesInput(BaseModel):
    """List the running cases of the plan's source version a query selects."""

    plan: MigrationPlan
    query: str | None = None


class ListCasesResult(BaseModel):
    """The cases' instance ids, sorted."""

    instance_ids: list[str]


class MigrateOneInput(BaseModel):
    """Migrate one case (or check it, dry)."""

    migration_id: str
    instance_id: str
    plan: MigrationPlan
    dry_run: bool
    actor: Actor


class MigrateOneResult(BaseModel):
    """One case's answer: migrated (or would be) with its changes, or refused with why;
    dry, also the work in flight migrating it would meet."""

    instance_id: str
    migrated: bool
    changes: list[str] = Field(default_factory=list)
    reason: str | None = None
    in_flight: list[InFlightWork] = Field(
        default_factory=list, description="Dry run: the case's work in flight."
    )


@workflow.defn(name=MIGRATION_WORKFLOW)
class MigrationBatch:
    """Migrates the cases of one batch, each once."""

    @workflow.init
    def __init__(self, request: MigrationBatchInput) -> None:
        self._report = MigrationReport(migration_id=request.migration_id, dry_run=request.dry_run)

    @workflow.run
    async def run(self, request: MigrationBatchInput) -> MigrationReport:
        """List the cases, then migrate them a few at a time; answer the report."""
        instances = list(dict.fromkeys(request.instances))
        if request.query is not None or not instances:
            listed: ListCasesResult = await workflow.execute_activity(
                LIST_ACTIVITY,
                ListCasesInput(plan=request.plan, query=request.query),
                result_type=ListCasesResult,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
                summary=f"list cases of {request.plan.source}",
            )
            instances = list(dict.fromkeys([*instances, *listed.instance_ids]))
        self._report.total = len(instances)
        if workflow.patched(_LANES_PATCH):
            await self._migrate_in_lanes(request, instances)
        else:
            await self._migrate_in_chunks(request, instances)
        self._report.status = "completed"
        return self._report

    async def _migrate_in_lanes(self, request: MigrationBatchInput, instances: list[str]) -> None:
        """`_PARALLEL` lanes, each taking the next case as soon as its last one is done, so
        one slow case holds back only its own lane."""
        # One iterator shared by the lanes: the event loop runs one lane at a time, so
        # each case is taken once, in a replayable order.
        waiting = iter(instances)

        async def lane() -> None:
            for instance_id in waiting:
                self._record(await self._migrate(request, instance_id))

        await asyncio.gather(*(lane() for _ in range(min(_PARALLEL, len(instances)))))

    async def _migrate_in_chunks(self, request: MigrationBatchInput, instances: list[str]) -> None:
        """`_PARALLEL` cases at a time, each chunk waiting for its slowest case: how
        batches started before `_LANES_PATCH` go on."""
        for start in range(0, len(instances), _PARALLEL):
            chunk = instances[start : start + _PARALLEL]
            for result in await asyncio.gather(*(self._migrate(request, i) for i in chunk)):
                self._record(result)

    def _record(self, result: MigrateOneResult) -> None:
        if result.in_flight:
            self._report.in_flight[result.instance_id] = result.in_flight
        if result.migrated:
            self._report.migrated.append(result.instance_id)
            self._report.changes[result.instance_id] = result.changes
        else:
            self._report.refused.append(
                Refusal(instance_id=result.instance_id, reason=result.reason or "")
            )

    async def _migrate(self, request: MigrationBatchInput, instance_id: str) -> MigrateOneResult:
        result: MigrateOneResult = await workflow.execute_activity(
            MIGRATE_ONE_ACTIVITY,
            MigrateOneInput(
                migration_id=request.migration_id,
                instance_id=instance_id,
                plan=request.plan,
                dry_run=request.dry_run,
                actor=request.actor,
            ),
            result_type=MigrateOneResult,
            start_to_close_timeout=timedelta(seconds=request.case_timeout_seconds),
            # Timeouts are not part of the commands a replay compares: no patch needed.
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            # Idempotent: the case keys the migration by the batch's id.
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            summary=f"migrate {instance_id}",
        )
        return result

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> MigrationReport:
        """The report so far."""
        return self._report
