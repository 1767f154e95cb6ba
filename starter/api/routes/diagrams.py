"""Diagram pages: a case drawn on its own model version, and a process version with its
running cases per element.

Each page is static HTML with a small script (``starter/api/static/``) that draws the model
with bpmn-js, served from the npm package in ``node_modules`` through the API (no CDN),
and marks the shapes from a JSON route it reads with the caller's bearer token:

- ``GET /instances/{id}/diagram`` and ``…/diagram/state``: where the case stands
  (`starter.diagram_state.case_diagram_state`); the state answers as the case does, 404
  to a caller who may not read it.
- ``GET /process-models/{id}/versions/{v}/diagram`` and ``…/diagram/state``: the running
  cases of that version waiting at each element and the open incidents there, from
  visibility (`starter.diagram_state.process_diagram_state`); for modelers, operators,
  auditors and the agencies.

The pages themselves hold no case data (a browser cannot send a bearer token when it
follows a link), so they are served to anyone.
"""

from __future__ import annotations

import asyncio
import html
from pathlib import Path
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from starter.api.access import MODELER_ROLE, OPERATOR_ROLE, sees_all
from starter.api.auth import Principal
from starter.api.case_calls import CaseCalls
from starter.api.deps import ContextDep, PrincipalDep, StoreDep, TemporalClientDep
from starter.api.errors import ApiError, error_responses, with_retries
from starter.api.listing import literal
from starter.api.routes.instances import InstanceId, read_case
from starter.api.routes.process_models import ProcessId
from starter.diagram_state import (
    CaseDiagramState,
    ProcessDiagramState,
    VersionCase,
    case_diagram_state,
    process_diagram_state,
)
from workflows import search_attributes as sa

__all__ = ["BPMN_JS_DIST", "MAX_CASES", "MAX_INCIDENT_CASES", "router"]

router = APIRouter(tags=["diagrams"])

_STATIC = Path(__file__).resolve().parents[1] / "static"
BPMN_JS_DIST = Path(__file__).resolve().parents[3] / "node_modules" / "bpmn-js" / "dist"
"""Where ``npm ci`` at the repository root puts the bpmn-js bundles."""

_ASSETS: dict[str, tuple[Path, str]] = {
    "bpmn-viewer.js": (
        BPMN_JS_DIST / "bpmn-navigated-viewer.production.min.js",
        "text/javascript",
    ),
    "diagram-js.css": (BPMN_JS_DIST / "assets" / "diagram-js.css", "text/css"),
    "bpmn-js.css": (BPMN_JS_DIST / "assets" / "bpmn-js.css", "text/css"),
    "diagram.js": (_STATIC / "diagram.js", "text/javascript"),
    "diagram.css": (_STATIC / "diagram.css", "text/css"),
}

MAX_CASES = 10_000
"""Running cases of one version read per request of the process page."""
MAX_INCIDENT_CASES = 50
"""Cases with an incident whose state is read to place their incidents on elements."""
_PAGE_SIZE = 1_000
_CONCURRENT_QUERIES = 8

Version = Annotated[int, PathParam(ge=1, le=2**31, description="The deployed version.")]


def _page(*, title: str, mode: str, state_url: str, bpmn_url: str | None) -> HTMLResponse:
    """The diagram page: the template with the routes its script reads filled in."""
    installed = _ASSETS["bpmn-viewer.js"][0].is_file()
    template = (_STATIC / "diagram.html").read_text(encoding="utf-8")
    values = {
        "title": title,
        "mode": mode,
        "state_url": state_url,
        "bpmn_url": bpmn_url or "",
        "bpmn_js": "yes" if installed else "",
    }
    for name, value in values.items():
        template = template.replace("{{" + name + "}}", html.escape(value, quote=True))
    return HTMLResponse(template, headers={"Cache-Control": "no-store"})


@router.get(
    "/diagram/assets/{name}",
    summary="Scripts and styles of the diagram pages",
    include_in_schema=False,
)
async def diagram_asset(name: str) -> Response:
    """bpmn-js from ``node_modules`` and the pages' own script and styles."""
    asset = _ASSETS.get(name)
    if asset is None or not asset[0].is_file():
        raise ApiError(
            404,
            "not_found",
            f"no diagram asset {name!r}"
            + ("" if asset is None else ": run `npm ci` at the repository root for bpmn-js"),
        )
    return FileResponse(asset[0], media_type=asset[1])


# --- one case ---------------------------------------------------------------------------------


@router.get(
    "/instances/{instance_id}/diagram",
    response_class=HTMLResponse,
    summary="The diagram page of a case",
    responses=error_responses(),
)
async def case_diagram_page(instance_id: InstanceId) -> HTMLResponse:
    """An HTML page that draws the case's own model version with bpmn-js and marks where
    the case stands; it asks for a bearer token and reads ``…/diagram/state`` with it."""
    return _page(
        title=f"Case {instance_id}",
        mode="case",
        state_url=f"/instances/{quote(instance_id, safe=':')}/diagram/state",
        bpmn_url=None,
    )


@router.get(
    "/instances/{instance_id}/diagram/state",
    response_model=CaseDiagramState,
    summary="Where a case stands, per element of its model",
    responses=error_responses(404),
)
async def case_diagram(
    instance_id: InstanceId,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
    store: StoreDep,
) -> CaseDiagramState:
    """Per element: tokens standing there (``active``, with ``progress`` on a
    multi-instance), whether it is on the path taken (``completed``) and its open
    incidents; the flows taken (approximate: see `starter.diagram_state`) and the open
    tasks with their due dates. 404 for a case the caller may not read."""
    calls = CaseCalls(client, instance_id, context.settings)
    view = await read_case(calls, principal, context.settings.agency_orgs)
    state = await calls.internal_state()
    model = await asyncio.to_thread(store.get, view.process_id, view.version)
    definitions = await asyncio.to_thread(store.definitions, model)
    process = definitions.process(model.process_id)
    if process is None:  # a deployed version always holds its process
        raise ApiError(404, "not_found", f"{model.key} holds no process {model.process_id}")
    return case_diagram_state(instance_id, view, state, process, ZoneInfo(model.timezone))


# --- a process version --------------------------------------------------------------------------


def _require_overview(principal: Principal, agency_orgs: list[str], process_id: str) -> None:
    """403 unless the caller may see all cases of a process in numbers."""
    if sees_all(principal, agency_orgs) or {MODELER_ROLE, OPERATOR_ROLE} & set(principal.roles):
        return
    raise ApiError(
        403,
        "forbidden",
        f"{principal.subject} may not see the cases of {process_id} in numbers: that is for "
        f"the roles 'modeler', 'operator' and 'auditor' and the agencies "
        f"({', '.join(agency_orgs)})",
    )


@router.get(
    "/process-models/{process_id}/versions/{version}/diagram",
    response_class=HTMLResponse,
    summary="The diagram page of a process version",
    responses=error_responses(),
)
async def process_diagram_page(process_id: ProcessId, version: Version) -> HTMLResponse:
    """An HTML page that draws the version with bpmn-js and shows on each element the
    running cases waiting there and the open incidents."""
    base = f"/process-models/{process_id}"
    return _page(
        title=f"{process_id} version {version}",
        mode="process",
        state_url=f"{base}/versions/{version}/diagram/state",
        bpmn_url=f"{base}/bpmn?version={version}",
    )


@router.get(
    "/process-models/{process_id}/versions/{version}/diagram/state",
    response_model=ProcessDiagramState,
    summary="Running cases of a process version per element",
    responses=error_responses(403, 404),
)
async def process_diagram(
    process_id: ProcessId,
    version: Version,
    principal: PrincipalDep,
    client: TemporalClientDep,
    context: ContextDep,
    store: StoreDep,
) -> ProcessDiagramState:
    """Per element, the running cases of this version with an open user task there
    (``NivaOpenTasks``) and the open incidents there (of the cases flagged
    ``NivaIncident``, up to `MAX_INCIDENT_CASES` of them read). From Temporal's visibility
    store, which lags the cases by about a second."""
    _require_overview(principal, context.settings.agency_orgs, process_id)
    await asyncio.to_thread(store.get, process_id, version)  # 404 for an unknown version
    query = " AND ".join(
        [
            f"TaskQueue = {literal(context.task_queue)}",
            f"{sa.PROCESS_ID.name} = {literal(process_id)}",
            f"{sa.PROCESS_VERSION.name} = {literal(str(version))}",
            'ExecutionStatus = "Running"',
        ]
    )
    retries = context.settings.busy_retries
    cases, more = await _running_cases(client, query, retries)
    flagged = [workflow_id for workflow_id, case in cases if case.has_incident]
    placed = await _incident_elements(client, flagged[:MAX_INCIDENT_CASES], context)
    for workflow_id, case in cases:
        if workflow_id in placed:
            case.incident_elements = placed[workflow_id]
    return process_diagram_state(process_id, version, [c for _, c in cases], partial=more)


async def _running_cases(
    client: Client, query: str, retries: int
) -> tuple[list[tuple[str, VersionCase]], bool]:
    """The cases matching ``query`` (up to `MAX_CASES`), and whether there were more."""
    iterator = client.list_workflows(query, page_size=_PAGE_SIZE)
    cases: list[tuple[str, VersionCase]] = []
    while len(cases) < MAX_CASES:
        await with_retries(iterator.fetch_next_page, attempts=retries)
        for execution in iterator.current_page or []:
            attributes = execution.typed_search_attributes
            cases.append(
                (
                    execution.id,
                    VersionCase(
                        open_tasks=list(attributes.get(sa.OPEN_TASKS) or []),
                        has_incident=bool(attributes.get(sa.INCIDENT)),
                    ),
                )
            )
        if not iterator.next_page_token:
            return cases[:MAX_CASES], len(cases) > MAX_CASES
    return cases[:MAX_CASES], True


async def _incident_elements(
    client: Client, workflow_ids: list[str], context: ContextDep
) -> dict[str, list[str]]:
    """The elements of each case's open incidents, read with its ``state`` query; a case
    that cannot answer now (its worker is down) is left out, to be counted as unplaced."""
    gate = asyncio.Semaphore(_CONCURRENT_QUERIES)

    async def one(workflow_id: str) -> tuple[str, list[str] | None]:
        async with gate:
            try:
                view = await CaseCalls(client, workflow_id, context.settings).state()
            except (RPCError, WorkflowQueryFailedError):
                # One case that cannot answer must not fail the overview.
                return workflow_id, None
            return workflow_id, [i.element_id for i in view.incidents]

    answers = await asyncio.gather(*(one(w) for w in workflow_ids))
    return {workflow_id: elements for workflow_id, elements in answers if elements is not None}
