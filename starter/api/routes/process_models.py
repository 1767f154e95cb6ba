"""``/process-models``: deploy BPMN models and read what is deployed."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from process_models.deployments import DeployedModel, DeployResult, ModelFile
from starter.api.access import MODELER_ROLE, require_role
from starter.api.deps import ContextDep, PrincipalDep, StoreDep
from starter.api.errors import ApiError, error_responses
from starter.api.schemas import DeployedProcess, ProcessModelDetail, ProcessModelVersion
from starter.schedules import sync_schedules

__all__ = ["ProcessId", "router"]

router = APIRouter(prefix="/process-models", tags=["process models"])

ProcessId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$",
        description="The process id of the model (its BPMN id).",
    ),
]

_XML_TYPES = ("application/xml", "text/xml", "application/bpmn+xml")


@router.get(
    "",
    response_model=list[ProcessModelVersion],
    summary="The latest version of every deployed process",
    responses=error_responses(),
)
async def list_process_models(_: PrincipalDep, store: StoreDep) -> list[ProcessModelVersion]:
    """Every deployed process, by its latest version, sorted by id."""
    latest = await asyncio.to_thread(store.latest)
    return [ProcessModelVersion.from_model(model) for model in latest]


@router.post(
    "",
    response_model=list[DeployedProcess],
    status_code=status.HTTP_201_CREATED,
    summary="Validate and deploy a BPMN file",
    responses={
        200: {
            "model": list[DeployedProcess],
            "description": "Every process was deployed before with the same content",
        },
        **error_responses(403, 409, 413, 415),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A BPMN 2.0 file; each executable process in it is deployed.",
            "content": {t: {"schema": {"type": "string"}} for t in _XML_TYPES},
        }
    },
)
async def deploy_process_model(
    request: Request,
    response: Response,
    principal: PrincipalDep,
    store: StoreDep,
    context: ContextDep,
) -> list[DeployedProcess]:
    """Deploy every executable process of the file as a new version (201); content
    identical to a deployed version keeps that version (200 when nothing is new). A file
    with any problem deploys nothing: 422 lists every problem with element id and line."""
    require_role(principal, MODELER_ROLE, "deploy process models")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in _XML_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the BPMN file as application/xml or text/xml, not {media_type or 'nothing'}",
        )
    content = await _read_limited(request, context.settings.max_upload_bytes)
    if not content.strip():
        raise ApiError(422, "invalid", "the body is empty: send a BPMN 2.0 file")
    name = request.headers.get("x-file-name") or "upload.bpmn"
    results: list[DeployResult] = await asyncio.to_thread(
        store.deploy, [ModelFile(name=name, content=content)]
    )
    if not results:
        raise ApiError(
            422,
            "invalid",
            'the file has no executable process: set isExecutable="true" on the process to deploy',
        )
    if not any(result.created for result in results):
        response.status_code = status.HTTP_200_OK
    else:
        # A new version may add, change or drop timer start events: follow it.
        await sync_schedules(await context.temporal.get(), store, task_queue=context.task_queue)
    return [
        DeployedProcess(
            id=r.model.process_id, version=r.model.version, created=r.created, name=r.model.name
        )
        for r in results
    ]


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, or 413 as soon as it is longer than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"the body is larger than {limit} bytes (NIVA_API_MAX_UPLOAD_BYTES)",
    )


@router.get(
    "/{process_id}",
    response_model=ProcessModelDetail,
    summary="Every version of a process",
    responses=error_responses(404),
)
async def get_process_model(
    process_id: ProcessId, _: PrincipalDep, store: StoreDep
) -> ProcessModelDetail:
    """The process's deployed versions, oldest first."""
    versions = await asyncio.to_thread(store.versions, process_id)
    if not versions:
        await asyncio.to_thread(store.get, process_id)  # raises UnknownModelError: 404
    return ProcessModelDetail(
        id=process_id,
        name=versions[-1].name,
        latest_version=versions[-1].version,
        versions=[ProcessModelVersion.from_model(v) for v in versions],
    )


@router.get(
    "/{process_id}/bpmn",
    summary="The BPMN file of a version",
    response_class=Response,
    responses={
        200: {
            "content": {"application/xml": {"schema": {"type": "string"}}},
            "description": "The file exactly as it was deployed",
        },
        **error_responses(404),
    },
)
async def get_process_model_bpmn(
    process_id: ProcessId,
    _: PrincipalDep,
    store: StoreDep,
    version: Annotated[
        int | None, Query(ge=1, le=2**31, description="Unset: the latest version.")
    ] = None,
) -> Response:
    """The exact file a version was deployed from."""
    model = await asyncio.to_thread(store.get, process_id, version)
    content = await asyncio.to_thread(store.bpmn, model)
    return Response(
        content,
        media_type="application/xml",
        headers={
            "Content-Disposition": f'attachment; filename="{_file_name(model)}"',
            "X-Content-SHA256": model.content_hash,
        },
    )


def _file_name(model: DeployedModel) -> str:
    # Header values are Latin-1: a process id with other letters gets a plain file name.
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", model.process_id)
    return f"{stem}-v{model.version}.bpmn"
