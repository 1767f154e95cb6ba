"""``GET /reports/follow-up/{year}``: Socialstyrelsen's yearly public follow-up.

Readable by everyone, without a token: the report holds public figures only (volumes and
accessibility per care area and unit, as Socialstyrelsen publishes them every year), no
case data and no personal data. It is read from the statistics store the
``record_follow_up`` activity writes (`starter.follow_up_report`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.exc import SQLAlchemyError

from activities.statistics import StatisticsStore
from starter.api.errors import ApiError, error_responses
from starter.follow_up_report import (
    MEDIA_TYPES,
    FollowUpReport,
    ReportFormat,
    build_report,
    render,
)
from starter.settings import DataSettings, ServiceSettings

__all__ = ["router", "statistics_store"]

router = APIRouter(prefix="/reports", tags=["reports"])


def statistics_store(request: Request) -> StatisticsStore:
    """The app's statistics store: ``app.state.statistics`` when set (tests), else the one
    the settings name (``NIVA_STATS_URL`` or the data directory's SQLite file),
    created once."""
    store: StatisticsStore | None = getattr(request.app.state, "statistics", None)
    if store is None:
        store = StatisticsStore.from_settings(ServiceSettings().for_data_dir(DataSettings()))
        request.app.state.statistics = store
    return store


_CONTENT: dict[str, Any] = {
    "text/html": {"schema": {"type": "string"}},
    "text/csv": {"schema": {"type": "string"}},
}

# Not error_responses(): it documents 401 and 429, which a public route that does not
# touch Temporal never answers.
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: body for status, body in error_responses().items() if status in (400, 413, 422, 503)
}


@router.get(
    "/follow-up/{year}",
    summary="The yearly public follow-up of the NHV permits (no token needed)",
    response_model=FollowUpReport,
    responses={
        200: {
            "content": _CONTENT,
            "description": "The report of the calendar year: HTML (tables and SVG charts), "
            "CSV (one row per unit) or JSON",
        },
        **_ERRORS,
    },
)
def follow_up_report(
    request: Request,
    year: Annotated[int, Path(ge=2018, le=2100, description="The calendar year reported.")],
    fmt: Annotated[
        ReportFormat, Query(alias="format", description="html (default), csv or json.")
    ] = "html",
) -> Response:
    """Per care area and unit: patients, treatments, length of stay, complications,
    whether the conditions are met, and patients per home region; the follow-ups of
    calendar ``year``, reported in March of the year after. An empty report when none
    were recorded."""
    # A plain function: FastAPI runs it in its thread pool, so the database driver's
    # blocking calls never hold up the event loop.
    try:
        report = build_report(statistics_store(request), year)
    except SQLAlchemyError as exc:
        raise ApiError(
            503, "unavailable", f"the statistics store cannot be read: {type(exc).__name__}"
        ) from exc
    return Response(render(report, fmt), media_type=MEDIA_TYPES[fmt])
