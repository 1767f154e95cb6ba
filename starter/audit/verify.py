"""Check every document hash a case's history records against the document store."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from activities.document_store import DocumentStore, document_id
from activities.errors import DocumentIntegrityError, DocumentNotFoundError
from starter.audit.trail import DecisionTrail

__all__ = ["DocumentCheck", "VerifyReport", "verify_documents"]


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


class VerifyReport(BaseModel):
    """Every recorded document checked; ``ok`` when all match."""

    case_id: str
    documents: list[DocumentCheck]

    @property
    def ok(self) -> bool:
        """Whether every recorded document matches its stored bytes."""
        return all(check.ok for check in self.documents)


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
