"""``GET /health``: is the API up, and can it reach Temporal?"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from starter.api.deps import ApiContext

__all__ = ["HealthResult", "router"]

router = APIRouter(tags=["health"])


class HealthResult(BaseModel):
    """The API's own state and its view of Temporal."""

    status: Literal["ok", "degraded"]
    temporal: Literal["ok", "unreachable"]
    detail: str | None = None


@router.get(
    "/health",
    response_model=HealthResult,
    summary="Health of the API and its Temporal connection",
    responses={503: {"model": HealthResult, "description": "Temporal is unreachable"}},
)
async def health(request: Request, response: Response) -> HealthResult:
    """200 when the API and Temporal both answer; 503 with the reason otherwise."""
    context: ApiContext = request.app.state.context
    try:
        client = await context.temporal.get()
        await client.service_client.check_health()
    except Exception as exc:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthResult(status="degraded", temporal="unreachable", detail=str(exc))
    return HealthResult(status="ok", temporal="ok")
