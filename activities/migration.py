"""The activities of a migration batch (`workflows.migration_batch`).

`list_migration_cases` lists the running cases of the plan's source version (narrowed by
the caller's visibility query); `migrate_case` sends one case its ``migrate`` update keyed
by the batch's id (a retry is answered by the case without migrating again), or, for a dry
run, checks the case's current state against the plan with `check_migration`, the same
pure function the case runs, and reports its work in flight (`in_flight_work`), changing
nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TypeVar

from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from process_models.deployments import ModelStore
from process_models.errors import UnknownModelError
from workflows import search_attributes as sa
from workflows.migration import (
    MIGRATE_UPDATE,
    MigrateInput,
    MigrateResult,
    MigrationPlan,
    MigrationRefusedError,
    check_migration,
)
from workflows.migration_batch import (
    HEARTBEAT_TIMEOUT,
    LIST_ACTIVITY,
    MIGRATE_ONE_ACTIVITY,
    ListCasesInput,
    ListCasesResult,
    MigrateOneInput,
    MigrateOneResult,
)
from workflows.migration_in_flight import InFlightWork, in_flight_work
from workflows.model import load_model
from workflows.state import InstanceState

__all__ = ["MigrationRunner", "source_version_query"]

_T = TypeVar("_T")


async def _heartbeating(awaitable: Awaitable[_T]) -> _T:
    """Await ``awaitable``, heartbeating meanwhile: a case busy with its update keeps the
    activity alive, a dead worker's activity stops beating and is tried again."""
    waiting = asyncio.ensure_future(awaitable)
    interval = HEARTBEAT_TIMEOUT.total_seconds() / 4
    try:
        while not waiting.done():
            activity.heartbeat()
            await asyncio.wait({waiting}, timeout=interval)
        return waiting.result()
    finally:
        waiting.cancel()


def source_version_query(plan: MigrationPlan, query: str | None = None) -> str:
    """The visibility query for the running cases of the plan's source version, narrowed
    by ``query`` when given."""
    clauses = [
        f"{sa.PROCESS_ID.name} = {json.dumps(plan.source.process_id)}",
        f"{sa.PROCESS_VERSION.name} = {json.dumps(str(plan.source.version))}",
        "ExecutionStatus = 'Running'",
    ]
    if query:
        clauses.append(f"({query})")
    return " AND ".join(clauses)


class MigrationRunner:
    """Migrates cases through one Temporal client, with the models of one store."""

    def __init__(self, client: Client, store: ModelStore) -> None:
        self.client = client
        self.store = store

    @activity.defn(name=LIST_ACTIVITY)
    async def list_cases(self, request: ListCasesInput) -> ListCasesResult:
        """The running cases of the source version the query selects, sorted."""
        query = source_version_query(request.plan, request.query)
        ids = {execution.id async for execution in self.client.list_workflows(query)}
        return ListCasesResult(instance_ids=sorted(ids))

    @activity.defn(name=MIGRATE_ONE_ACTIVITY)
    async def migrate_case(self, request: MigrateOneInput) -> MigrateOneResult:
        """Migrate one case (dry: check it); a refusal is an answer, not a failure."""
        handle = self.client.get_workflow_handle(request.instance_id)
        try:
            if request.dry_run:
                return await self._check(request)
            result = await _heartbeating(
                handle.execute_update(
                    MIGRATE_UPDATE,
                    MigrateInput(
                        migration_id=request.migration_id, plan=request.plan, actor=request.actor
                    ),
                    result_type=MigrateResult,
                    id=f"migrate-{request.migration_id}",
                )
            )
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            return self._refused(request, reason)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return self._refused(request, "no running case by that id")
            raise
        except UnknownModelError as exc:
            return self._refused(request, str(exc))
        return MigrateOneResult(
            instance_id=request.instance_id, migrated=True, changes=result.changes
        )

    async def _check(self, request: MigrateOneInput) -> MigrateOneResult:
        handle = self.client.get_workflow_handle(request.instance_id)
        state = await handle.query("instance_state", result_type=InstanceState)
        plan = request.plan
        if (state.process_id, state.version) != (plan.source.process_id, plan.source.version):
            return self._refused(
                request, f"the case runs {state.process_id} v{state.version}, not {plan.source}"
            )
        source = load_model(self.store.source(plan.source.process_id, plan.source.version))
        target = load_model(self.store.source(plan.target.process_id, plan.target.version))
        check = check_migration(state, source, target, plan)
        try:
            work = await self._children_described(
                in_flight_work(state, source, target, plan, now=datetime.now(UTC))
            )
        except MigrationRefusedError as exc:
            return self._refused(request, str(exc))
        if not check.fits:
            refused = self._refused(request, "; ".join(check.refusals))
            return refused.model_copy(update={"in_flight": work})
        return MigrateOneResult(
            instance_id=request.instance_id, migrated=True, changes=check.changes, in_flight=work
        )

    async def _children_described(self, work: list[InFlightWork]) -> list[InFlightWork]:
        """Say whether each call activity's child case is still starting or running (the
        case's state cannot tell)."""
        for item in work:
            if item.child_id is None:
                continue
            try:
                status = (await self.client.get_workflow_handle(item.child_id).describe()).status
                shown = status.name.lower() if status is not None else "unknown"
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                shown = "starting"
            item.detail = f"{item.detail} (the child is {shown})"
        return work

    @staticmethod
    def _refused(request: MigrateOneInput, reason: str) -> MigrateOneResult:
        return MigrateOneResult(instance_id=request.instance_id, migrated=False, reason=reason)
