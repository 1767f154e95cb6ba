"""Check a case's history against the document store: every document hash it records, and
every model source and large payload it holds as a reference (`starter.payload_store`)."""

from __future__ import annotations

import asyncio
import json

from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from activities.document_store import DocumentStore, document_id
from activities.errors import DocumentIntegrityError, DocumentNotFoundError
from starter.audit.histories import CaseHistory
from starter.audit.trail import DecisionTrail
from starter.codec import ENCODING as ENCRYPTED
from starter.payload_store import (
    MODEL_REFERENCE_KEY,
    STORED_METADATA,
    model_reference_ids,
    payloads_in,
)

__all__ = [
    "DocumentCheck",
    "StoredPayloadCheck",
    "VerifyReport",
    "verify_documents",
    "verify_stored_payloads",
]


class DocumentCheck(BaseModel):
    """One recorded document and what the store holds for it."""

    id: str
    sha256: str
    name: str | None = None
    workflow_id: str
    element_id: str | None = None
    task_id: str | None = None
    ok: bool
    problem: str | None = Field(default=None, description="Why it does not match.")


class StoredPayloadCheck(BaseModel):
    """One payload a history keeps in the document store, and what the store holds."""

    id: str = Field(description="The stored document's id (its SHA-256).")
    kind: str = Field(description="model (a model source) or payload (a large payload).")
    workflow_id: str
    run_id: str
    event_id: int = Field(description="The first event that refers to it.")
    ok: bool
    problem: str | None = Field(default=None, description="Why it is not usable.")


class VerifyReport(BaseModel):
    """Every recorded document and stored payload checked; ``ok`` when all match."""

    case_id: str
    documents: list[DocumentCheck]
    payloads: list[StoredPayloadCheck] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every recorded document and stored payload matches its stored bytes."""
        return all(check.ok for check in self.documents) and all(
            check.ok for check in self.payloads
        )


def _check(store: DocumentStore, recorded_id: str, sha256: str) -> str | None:
    if recorded_id != sha256:
        return f"the history records id {recorded_id} with SHA-256 {sha256}: they must agree"
    try:
        data = store.get(recorded_id)
    except DocumentNotFoundError as exc:
        return f"not in the document store ({exc})"
    except DocumentIntegrityError as exc:
        return f"the stored bytes no longer match the recorded SHA-256 ({exc})"
    # Checked again here: a store that does not verify on read must not pass.
    actual = document_id(data)
    if actual != sha256:
        return f"the stored bytes hash to {actual}, the history records {sha256}"
    return None


async def verify_documents(trail: DecisionTrail, store: DocumentStore) -> VerifyReport:
    """Check each document recorded in ``trail`` (once per id and decision) against ``store``."""
    checks: list[DocumentCheck] = []
    seen: set[tuple[str, str]] = set()
    for decision in trail.decisions:
        if decision.kind != "document":
            continue
        for document in decision.documents:
            key = (decision.workflow_id, document.id)
            if key in seen:
                continue
            seen.add(key)
            problem = await asyncio.to_thread(_check, store, document.id, document.sha256)
            checks.append(
                DocumentCheck(
                    id=document.id,
                    sha256=document.sha256,
                    name=document.name,
                    workflow_id=decision.workflow_id,
                    element_id=decision.element_id,
                    task_id=decision.task_id,
                    ok=problem is None,
                    problem=problem,
                )
            )
    return VerifyReport(case_id=trail.case_id, documents=checks)


def _check_stored(store: DocumentStore, doc_id: str) -> tuple[bytes | None, str | None]:
    try:
        data = store.get(doc_id)
    except DocumentNotFoundError as exc:
        return None, f"not in the document store ({exc})"
    except DocumentIntegrityError as exc:
        return None, f"the stored bytes no longer match their id ({exc})"
    if document_id(data) != doc_id:  # a store that does not verify on read must not pass
        return None, f"the stored bytes hash to {document_id(data)}, not {doc_id}"
    return data, None


def _check_model(data: bytes, doc_id: str, payload: Payload) -> str | None:
    """The stored model must be a model source that matches the reference the event shows."""
    try:
        source = json.loads(data)
        references = _references(json.loads(payload.data), doc_id)
    except ValueError as exc:
        return f"not a model source, or the referring payload is not JSON: {exc}"
    if not isinstance(source, dict) or not isinstance(source.get("bpmn"), str):
        return "the stored document is not a model source"
    for reference in references:
        for key in ("process_id", "version", "content_hash"):
            if reference.get(key) != source.get(key):
                return (
                    f"the history refers to {key} {reference.get(key)!r}, "
                    f"the stored model has {source.get(key)!r}"
                )
    return None


def _references(value: object, doc_id: str) -> list[dict[str, object]]:
    if isinstance(value, dict):
        if value.get(MODEL_REFERENCE_KEY) == doc_id:
            return [value]
        return [r for item in value.values() for r in _references(item, doc_id)]
    if isinstance(value, list):
        return [r for item in value for r in _references(item, doc_id)]
    return []


async def verify_stored_payloads(
    case: CaseHistory, store: DocumentStore, *, decrypt: PayloadCodec | None = None
) -> list[StoredPayloadCheck]:
    """Check every model source and large payload the case's histories keep in ``store``:
    present, its bytes matching its id, and a model matching the reference to it.

    Args:
        case: the case's runs, as recorded (an export, the archive, the server).
        store: the document store.
        decrypt: the encryption codec, to look inside encrypted payloads (the model
            references of an encrypted case are inside the ciphertext); without it they are
            not seen.
    """
    checks: dict[str, StoredPayloadCheck] = {}

    async def visit(payload: Payload, run_id: str, workflow_id: str, event_id: int) -> None:
        stored = payload.metadata.get(STORED_METADATA)
        if stored is not None:
            doc_id = stored.decode()
            data, problem = await asyncio.to_thread(_check_stored, store, doc_id)
            checks.setdefault(
                doc_id,
                StoredPayloadCheck(
                    id=doc_id,
                    kind="payload",
                    workflow_id=workflow_id,
                    run_id=run_id,
                    event_id=event_id,
                    ok=problem is None,
                    problem=problem,
                ),
            )
            if data is not None:
                await visit(Payload.FromString(data), run_id, workflow_id, event_id)
            return
        if payload.metadata.get("encoding") == ENCRYPTED:
            if decrypt is not None:
                [plain] = await decrypt.decode([payload])
                await visit(plain, run_id, workflow_id, event_id)
            return
        for doc_id in model_reference_ids(payload):
            if doc_id in checks:
                continue
            data, problem = await asyncio.to_thread(_check_stored, store, doc_id)
            if data is not None:
                problem = _check_model(data, doc_id, payload)
            checks[doc_id] = StoredPayloadCheck(
                id=doc_id,
                kind="model",
                workflow_id=workflow_id,
                run_id=run_id,
                event_id=event_id,
                ok=problem is None,
                problem=problem,
            )

    for run in case.runs:
        for event in run.history.events:
            for payload in payloads_in(event):
                await visit(payload, run.run_id, run.workflow_id, event.event_id)
    return list(checks.values())
