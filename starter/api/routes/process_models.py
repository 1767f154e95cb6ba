"""``/process-models``: deploy BPMN models (with their Camunda Forms) and read what is
deployed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from pathlib import PurePath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from process_models.deployments import DeployedModel, Deployment, ModelFile
from starter.api.access import MODELER_ROLE, require_role
from starter.api.deps import ContextDep, PrincipalDep, StoreDep
from starter.api.errors import ApiError, error_responses
from starter.api.schemas import (
    DeployedProcess,
    ModelProblem,
    ProcessModelDetail,
    ProcessModelVersion,
)
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
_MULTIPART = "multipart/form-data"
_EXTENSIONS = (".bpmn", ".xml", ".form", ".dmn")


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
    summary="Validate and deploy a BPMN file, or several files at once",
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
            "description": "A BPMN 2.0 file; each executable process in it is deployed. Or "
            "several files as multipart/form-data, one `files` field per file (.bpmn, and "
            ".form for Camunda Forms, .dmn for DMN decisions), deployed all or none.",
            "content": {
                **{t: {"schema": {"type": "string"}} for t in _XML_TYPES},
                _MULTIPART: {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "files": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            }
                        },
                        "required": ["files"],
                    }
                },
            },
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
    """Deploy every executable process of the files (and every Camunda Form) as a new
    version (201); content identical to a deployed version keeps that version (200 when
    nothing is new). Any problem in any file deploys nothing: 422 lists every problem with
    file, element id and line."""
    require_role(principal, MODELER_ROLE, "deploy process models")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (*_XML_TYPES, _MULTIPART):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the BPMN file as application/xml or text/xml, or several files as "
            f"multipart/form-data, not {media_type or 'nothing'}",
        )
    content = await _read_limited(request, context.settings.max_upload_bytes)
    if media_type == _MULTIPART:
        files = await _multipart_files(request, content, store.limits.max_files)
    else:
        if not content.strip():
            raise ApiError(422, "invalid", "the body is empty: send a BPMN 2.0 file")
        name = request.headers.get("x-file-name") or "upload.bpmn"
        files = [ModelFile(name=name, content=content)]
    deployment: Deployment = await asyncio.to_thread(store.deploy_files, files)
    results = deployment.processes
    if not results and not deployment.forms and not deployment.decisions:
        raise ApiError(
            422,
            "invalid",
            'the file has no executable process: set isExecutable="true" on the process to deploy',
        )
    created = [r.created for r in results] + [f.created for f in deployment.forms]
    if not any(created) and not any(d.created for d in deployment.decisions):
        response.status_code = status.HTTP_200_OK
    elif results:
        # A new version may add, change or drop timer start events: follow it.
        await sync_schedules(await context.temporal.get(), store, task_queue=context.task_queue)
    return [
        DeployedProcess(
            id=r.model.process_id,
            version=r.model.version,
            created=r.created,
            name=r.model.name,
            forms={form_id: binding.version for form_id, binding in r.model.forms.items()},
            decisions={key: binding.version for key, binding in r.model.decisions.items()},
            warnings=[ModelProblem.from_problem(w) for w in r.warnings],
        )
        for r in results
    ]


async def _multipart_files(request: Request, content: bytes, max_files: int) -> list[ModelFile]:
    """The ``files`` of a multipart body; 422 for anything else in it."""

    async def body() -> AsyncGenerator[bytes, None]:
        yield content

    # One more than the limit, so that the store refuses too many files with its 413.
    parser = MultiPartParser(request.headers, body(), max_files=max_files + 1, max_fields=0)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ApiError(422, "invalid", f"the multipart body cannot be read: {exc.message}") from exc
    files: list[ModelFile] = []
    try:
        for field, value in form.multi_items():
            if field != "files" or not isinstance(value, UploadFile):
                raise ApiError(
                    422, "invalid", f"unexpected field {field!r}: send one 'files' field per file"
                )
            name = PurePath(value.filename or "").name
            if not name.lower().endswith(_EXTENSIONS):
                raise ApiError(
                    422,
                    "invalid",
                    f"cannot deploy {name or 'a file without a name'}: a deployment holds "
                    ".bpmn files, Camunda Forms (.form) and DMN decisions (.dmn)",
                )
            files.append(ModelFile(name=name, content=await value.read()))
    finally:
        await form.close()
    if not files:
        raise ApiError(422, "invalid", "the body holds no 'files' field: send one per file")
    return files


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
