"""``/instances/{id}/documents``: attachments and rendered documents of a case.

Documents are stored write-once under the SHA-256 of their bytes, which is also their id;
a task payload refers to an uploaded attachment by that id.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, Path, Request, Response, UploadFile, status

from starter.api.access import forbid_auditor
from starter.api.case_calls import CaseCalls
from starter.api.deps import ContextDep, DocumentsDep, PrincipalDep, TemporalClientDep
from starter.api.errors import ApiError, error_responses
from starter.api.routes.instances import InstanceId, read_case
from starter.api.schemas import DocumentItem, DocumentList

__all__ = ["router"]

router = APIRouter(prefix="/instances", tags=["documents"])

DocumentId = Annotated[
    str,
    Path(pattern=r"^[0-9a-f]{64}$", description="The document's id: its SHA-256 in hex."),
]

_CHUNK = 1024 * 1024
# Multipart framing around the file: boundaries and part headers.
_MULTIPART_OVERHEAD = 16 * 1024


@router.get(
    "/{instance_id}/documents",
    response_model=DocumentList,
    summary="The documents of a case",
    responses=error_responses(403, 404),
)
async def list_documents(
    instance_id: InstanceId,
    principal: PrincipalDep,
    client: TemporalClientDep,
    documents: DocumentsDep,
    context: ContextDep,
) -> DocumentList:
    """Every document filed under the case: uploaded attachments and rendered documents."""
    await read_case(
        CaseCalls(client, instance_id, context.settings), principal, context.settings.agency_orgs
    )
    ids = await asyncio.to_thread(documents.list_case, instance_id)
    return DocumentList(documents=[DocumentItem(document_id=i, sha256=i) for i in ids])


@router.get(
    "/{instance_id}/documents/{document_id}",
    summary="One document's bytes",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
            "description": "The bytes, checked against their SHA-256",
        },
        **error_responses(403, 404),
    },
)
async def get_document(
    instance_id: InstanceId,
    document_id: DocumentId,
    principal: PrincipalDep,
    client: TemporalClientDep,
    documents: DocumentsDep,
    context: ContextDep,
) -> Response:
    """The document, if it is filed under this case."""
    await read_case(
        CaseCalls(client, instance_id, context.settings), principal, context.settings.agency_orgs
    )
    if document_id not in await asyncio.to_thread(documents.list_case, instance_id):
        raise ApiError(404, "not_found", f"no document {document_id} in {instance_id}")
    data = await asyncio.to_thread(documents.get, document_id)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "X-Content-SHA256": document_id,
            "Content-Disposition": f'attachment; filename="{document_id}"',
        },
    )


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "payload_too_large",
        f"the attachment is larger than {limit} bytes (NIVA_API_MAX_UPLOAD_BYTES)",
    )


async def _read_upload(file: UploadFile, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/{instance_id}/documents",
    response_model=DocumentItem,
    status_code=status.HTTP_201_CREATED,
    summary="Upload an attachment",
    responses=error_responses(403, 404, 409, 413),
)
async def upload_document(
    request: Request,
    instance_id: InstanceId,
    file: Annotated[UploadFile, File(description="The attachment.")],
    principal: PrincipalDep,
    client: TemporalClientDep,
    documents: DocumentsDep,
    context: ContextDep,
) -> DocumentItem:
    """Store an attachment write-once and file it under the running case. Answers its id
    (the SHA-256 of its bytes) to put in a task payload."""
    forbid_auditor(principal, "upload documents")
    limit = context.settings.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _MULTIPART_OVERHEAD:
        raise _too_large(limit)
    view = await read_case(
        CaseCalls(client, instance_id, context.settings), principal, context.settings.agency_orgs
    )
    if view.status != "running":
        raise ApiError(409, "conflict", f"{instance_id} has ended ({view.outcome})")
    data = await _read_upload(file, limit)
    document_id = await asyncio.to_thread(documents.put, data)
    await asyncio.to_thread(documents.add_to_case, instance_id, document_id)
    return DocumentItem(document_id=document_id, sha256=document_id, size=len(data))
