"""``/instances/{id}/incidents``: resume tokens parked by a failure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path

from starter.api.access import OPERATOR_ROLE, require_role
from starter.api.case_calls import CaseCalls
from starter.api.deps import ContextDep, PrincipalDep, TemporalClientDep
from starter.api.errors import ApiError, error_responses
from starter.api.routes.instances import InstanceId, read_case
from starter.api.schemas import IncidentItem, RetryIncidentRequest
from workflows.contract import IncidentView, RetryIncidentInput

__all__ = ["router"]

router = APIRouter(prefix="/instances", tags=["incidents"])

IncidentId = Annotated[str, Path(min_length=1, max_length=200, description="The incident id.")]


@router.post(
    "/{instance_id}/incidents/{incident_id}/retry",
    response_model=IncidentItem,
    summary="Retry an incident",
    responses=error_responses(403, 404, 409),
)
async def retry_incident(
    instance_id: InstanceId,
    incident_id: IncidentId,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
    body: Annotated[RetryIncidentRequest | None, Body()] = None,
) -> IncidentItem:
    """Run the failed step again (role ``operator``), first merging the corrected
    ``variables`` into the case. Answers the incident that was resolved. A caller who may
    not read the case gets 404, as from every route of a case."""
    calls = CaseCalls(client, instance_id, context.settings)
    view = await read_case(calls, principal, context.settings.agency_orgs)
    require_role(principal, OPERATOR_ROLE, "retry incidents")
    if view.status != "running":
        raise ApiError(409, "conflict", f"{instance_id} has ended ({view.outcome})")
    if not any(i.incident_id == incident_id for i in view.incidents):
        listed = ", ".join(i.incident_id for i in view.incidents) or "none"
        raise ApiError(
            404,
            "not_found",
            f"no open incident {incident_id!r} in {instance_id}; open incidents: {listed}",
        )
    request = RetryIncidentInput(
        incident_id=incident_id,
        variables=body.variables if body else {},
        actor=principal.actor(),
    )
    resolved = await calls.update("retry_incident", request, IncidentView)
    return IncidentItem.from_incident(resolved)
