"""``/migrations`` and ``/instances/{id}/modify``: models that change under running cases.

A migration batch (role ``operator``) moves the running cases of one version to another
(`workflows.migration`), each case applying the plan itself through its ``migrate``
update, driven by a durable batch workflow (`workflows.migration_batch`); ``dry_run``
reports without changing anything. A modification (role ``operator``) repairs one case:
cancel activities, start tokens, set variables, in one request with a reason.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field, JsonValue, StringConstraints, model_validator
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from process_models.errors import UnknownModelError
from starter.api.access import OPERATOR_ROLE, require_role
from starter.api.case_calls import CaseCalls
from starter.api.deps import ContextDep, PrincipalDep, TemporalClientDep
from starter.api.errors import ApiError, error_responses, with_retries
from starter.api.routes.instances import InstanceId, read_case
from workflows.migration import (
    MODIFY_UPDATE,
    MigrationPlan,
    ModelVersion,
    ModifyInput,
    ModifyResult,
)
from workflows.migration_batch import (
    MIGRATION_WORKFLOW,
    PROGRESS_QUERY,
    MigrationBatchInput,
    MigrationReport,
    Refusal,
    batch_workflow_id,
)
from workflows.migration_in_flight import InFlightWork

__all__ = ["router"]

router = APIRouter(tags=["migrations"])

MigrationId = Annotated[
    str, Path(min_length=1, max_length=100, description="The id `POST /migrations` answered.")
]


class MigrationRequest(BaseModel):
    """A migration batch: the plan, and the cases by id or by a visibility query."""

    source: ModelVersion
    target: ModelVersion
    mappings: dict[str, str] = Field(default_factory=dict)
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    instances: list[Annotated[str, StringConstraints(min_length=1, max_length=1_000)]] | None = (
        Field(default=None, max_length=1_000, description="The cases, by instance id.")
    )
    query: str | None = Field(
        default=None,
        max_length=2_000,
        description="A visibility query narrowing the running cases of the source version.",
    )
    dry_run: bool = False

    @model_validator(mode="after")
    def _cases_named(self) -> MigrationRequest:
        if not self.instances and self.query is None:
            raise ValueError("name the cases: instances, or a query (it may be empty)")
        return self

    def plan(self) -> MigrationPlan:
        """The plan the request describes."""
        return MigrationPlan(
            source=self.source,
            target=self.target,
            mappings=self.mappings,
            variables=self.variables,
        )


class MigrationAccepted(BaseModel):
    """The batch's id, to follow it with ``GET /migrations/{id}``."""

    migration_id: str


class MigrationStatus(BaseModel):
    """Where a batch stands."""

    migration_id: str
    status: Literal["running", "completed"]
    dry_run: bool
    total: int
    migrated: list[str]
    refused: list[Refusal]
    changes: dict[str, list[str]]
    in_flight: dict[str, list[InFlightWork]] = Field(
        default_factory=dict,
        description="Dry run: per case with any, the work in flight the migration would "
        "wait for (a running service task or job, a listener, a held start, a call "
        "activity's child), re-arm, arm or cancel (timers and message subscriptions).",
    )

    @classmethod
    def from_report(cls, report: MigrationReport) -> MigrationStatus:
        return cls(**report.model_dump())


class ModifyRequest(BaseModel):
    """An operator's repair of one case, applied all or nothing."""

    cancel: list[str] = Field(default_factory=list, max_length=100)
    start_before: list[str] = Field(default_factory=list, max_length=100)
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    reason: str = Field(min_length=1, max_length=2_000)


@router.post(
    "/migrations",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MigrationAccepted,
    summary="Migrate running cases to another version",
    responses=error_responses(403, 404),
)
async def start_migration(
    body: MigrationRequest,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
) -> MigrationAccepted:
    """Start a batch (role ``operator``): each named (or selected) case of the source
    version is migrated by itself, or refused with the reason and left untouched; a dry
    run only reports, with each case's work in flight. Both versions must be deployed."""
    require_role(principal, OPERATOR_ROLE, "migrate cases")
    for version in (body.source, body.target):
        try:
            context.store.source(version.process_id, version.version)
        except UnknownModelError as exc:
            raise ApiError(404, "not_found", str(exc)) from exc
    migration_id = uuid.uuid4().hex
    request = MigrationBatchInput(
        migration_id=migration_id,
        plan=body.plan(),
        instances=body.instances or [],
        query=body.query,
        dry_run=body.dry_run,
        actor=principal.actor(),
    )
    await with_retries(
        lambda: client.start_workflow(
            MIGRATION_WORKFLOW,
            request,
            id=batch_workflow_id(migration_id),
            task_queue=context.task_queue,
            static_summary=f"migrate {body.source} -> {body.target}"
            + (" (dry run)" if body.dry_run else ""),
        ),
        attempts=context.settings.busy_retries,
    )
    return MigrationAccepted(migration_id=migration_id)


@router.get(
    "/migrations/{migration_id}",
    response_model=MigrationStatus,
    summary="A migration batch's progress and report",
    responses=error_responses(403, 404),
)
async def migration_status(
    migration_id: MigrationId,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
) -> MigrationStatus:
    """The cases migrated and refused so far (role ``operator``)."""
    require_role(principal, OPERATOR_ROLE, "follow migrations")
    handle: WorkflowHandle[object, MigrationReport] = client.get_workflow_handle(
        batch_workflow_id(migration_id)
    )
    try:
        report = await with_retries(
            lambda: handle.query(PROGRESS_QUERY, result_type=MigrationReport),
            attempts=context.settings.busy_retries,
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, "not_found", f"no migration {migration_id!r}") from exc
        raise
    return MigrationStatus.from_report(report)


@router.post(
    "/instances/{instance_id}/modify",
    response_model=ModifyResult,
    summary="Repair a case: cancel, start before, set variables",
    responses=error_responses(403, 404, 409),
)
async def modify_instance(
    instance_id: InstanceId,
    body: ModifyRequest,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
) -> ModifyResult:
    """Apply the repair atomically (role ``operator``); 409 with the reason when it names
    nothing active, or would leave the case with nothing to wait for (the case is then
    untouched). The trail records it with the reason. A caller who may not read the case
    gets 404, as from every route of a case."""
    calls = CaseCalls(client, instance_id, context.settings)
    view = await read_case(calls, principal, context.settings.agency_orgs)
    require_role(principal, OPERATOR_ROLE, "modify cases")
    if view.status != "running":
        raise ApiError(409, "conflict", f"{instance_id} has ended ({view.outcome})")
    request = ModifyInput(**body.model_dump(), actor=principal.actor())
    return await calls.update(MODIFY_UPDATE, request, ModifyResult)
