"""``/instances/{id}/audit`` and ``/instances/{id}/history``: the decision trail and the raw
history chain of a case, for auditors and the agencies. Others get 403 when they may read
the case, and the 404 of a case that does not exist when they may not.

Both read each run from the history archive first and from Temporal for the rest, so a case
whose early runs the server has dropped still answers whole.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from temporalio.client import Client

from starter.api.access import can_read, hidden_case, sees_all
from starter.api.auth import Principal
from starter.api.case_calls import CaseCalls
from starter.api.deps import ContextDep, DocumentsDep, PrincipalDep, TemporalClientDep
from starter.api.errors import ApiError, error_responses
from starter.api.routes.instances import InstanceId, case_state
from starter.archive import HistoryArchive
from starter.audit import AuditError, CaseHistory, DecisionTrail, build_trail, load_case
from starter.settings import ApiSettings

__all__ = ["router"]

router = APIRouter(prefix="/instances", tags=["audit"])


class RunHistoryItem(BaseModel):
    """One run's history as Temporal's JSON."""

    workflow_id: str
    run_id: str
    source: str = Field(description="archive or server: where the run was read from.")
    history: dict[str, Any]


class HistoryChain(BaseModel):
    """Every run of the case and of its child cases, each workflow's chain in order."""

    case_id: str
    runs: list[RunHistoryItem]


async def _require_auditor(
    principal: Principal, client: Client, settings: ApiSettings, instance_id: str
) -> None:
    """Auditors and the agencies pass; others get 403 if they may read the case, else
    the 404 of a case that does not exist."""
    if sees_all(principal, settings.agency_orgs):
        return
    view = await case_state(CaseCalls(client, instance_id, settings))
    if not can_read(principal, view, settings.agency_orgs):
        raise hidden_case(instance_id)
    raise ApiError(
        403,
        "forbidden",
        f"{principal.subject} may not audit {instance_id}: the audit trail is for the "
        f"role 'auditor' and the agencies ({', '.join(settings.agency_orgs)})",
    )


async def _case(
    instance_id: str, client: TemporalClientDep, documents: DocumentsDep
) -> CaseHistory:
    try:
        return await load_case(instance_id, client=client, archive=HistoryArchive(documents))
    except AuditError as exc:
        raise ApiError(404, "not_found", str(exc)) from exc


@router.get(
    "/{instance_id}/audit",
    response_model=DecisionTrail,
    summary="The decision trail of a case",
    responses=error_responses(403, 404),
)
async def get_audit(
    instance_id: InstanceId,
    principal: PrincipalDep,
    client: TemporalClientDep,
    documents: DocumentsDep,
    context: ContextDep,
) -> DecisionTrail:
    """Every decision of the case and its children in order: actor, organisation, time,
    element, payload, documents with SHA-256, model version and content hash; and what
    became of each deadline. Built from the recorded histories."""
    await _require_auditor(principal, client, context.settings, instance_id)
    return build_trail(await _case(instance_id, client, documents), store=documents)


@router.get(
    "/{instance_id}/history",
    response_model=HistoryChain,
    summary="The raw history chain of a case",
    responses=error_responses(403, 404),
)
async def get_history(
    instance_id: InstanceId,
    principal: PrincipalDep,
    client: TemporalClientDep,
    documents: DocumentsDep,
    context: ContextDep,
) -> HistoryChain:
    """Every run (continue-as-new) of the case and of its child cases as Temporal JSON
    histories, which ``niva audit replay`` and Temporal's replayer read."""
    await _require_auditor(principal, client, context.settings, instance_id)
    case = await _case(instance_id, client, documents)
    return HistoryChain(
        case_id=case.case_id,
        runs=[
            RunHistoryItem(
                workflow_id=run.workflow_id,
                run_id=run.run_id,
                source=run.source,
                history=run.history.to_json_dict(),
            )
            for run in case.runs
        ],
    )
