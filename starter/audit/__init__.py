"""Audit: export a case's whole history chain, its decision trail, replay and verify.

- `starter.audit.histories`: the runs of a case and its children, from the archive and the
  server; export folders and history files.
- `starter.audit.trail`: the decision trail, built from the histories.
- `starter.audit.render`: the trail as HTML and Markdown.
- `starter.audit.replay`: replay against the current code, with readable divergences.
- `starter.audit.verify`: recorded document hashes, and the model sources and large
  payloads the histories keep as references, against the document store.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from pydantic import BaseModel
from temporalio.client import Client

from starter.archive import HistoryArchive
from starter.audit.histories import (
    AuditError,
    CaseHistory,
    Manifest,
    RunHistory,
    load_case,
    read_histories,
    write_export,
)
from starter.audit.render import trail_html, trail_markdown
from starter.audit.replay import Divergence, ReplayResult, replay_runs
from starter.audit.trail import DecisionTrail, build_trail
from starter.audit.verify import (
    StoredPayloadCheck,
    VerifyReport,
    verify_documents,
    verify_stored_payloads,
)
from workflows.state import AuditEntry, InstanceState

__all__ = [
    "AuditError",
    "CaseHistory",
    "DecisionTrail",
    "Divergence",
    "ExportResult",
    "ReplayResult",
    "RunHistory",
    "StoredPayloadCheck",
    "VerifyReport",
    "build_trail",
    "engine_audit",
    "export_case",
    "load_case",
    "read_histories",
    "replay_runs",
    "trail_html",
    "trail_markdown",
    "verify_documents",
    "verify_stored_payloads",
]


async def engine_audit(
    client: Client, case: CaseHistory, *, wait_seconds: float = 3.0
) -> dict[str, list[AuditEntry]]:
    """The engine's own audit entries of each run, from the ``instance_state`` query.

    A closed run answers only while a worker runs; the first run that does not answer in
    ``wait_seconds`` ends the asking, and what was gathered so far is returned.
    """
    entries: dict[str, list[AuditEntry]] = {}
    for run in case.runs:
        handle = client.get_workflow_handle(run.workflow_id, run_id=run.run_id)
        try:
            state = await asyncio.wait_for(
                handle.query("instance_state", result_type=InstanceState), timeout=wait_seconds
            )
        except Exception:  # no worker, or a run the server no longer keeps
            break
        entries.setdefault(run.workflow_id, []).extend(state.audit)
    return entries


def _write(case: CaseHistory, trail: DecisionTrail, out: Path) -> Manifest:
    out.mkdir(parents=True, exist_ok=True)
    manifest = write_export(case, out)
    (out / "trail.json").write_text(trail.model_dump_json(indent=2), encoding="utf-8")
    (out / "trail.html").write_text(trail_html(trail), encoding="utf-8")
    (out / "trail.md").write_text(trail_markdown(trail), encoding="utf-8")
    return manifest


class ExportResult(BaseModel):
    """What `export_case` wrote."""

    manifest: Manifest
    trail: DecisionTrail
    files: list[str]


async def export_case(
    case_id: str,
    out: Path,
    *,
    client: Client | None,
    archive: HistoryArchive | None,
    query_engine: bool = True,
) -> ExportResult:
    """Export the case: its histories (Temporal JSON), manifest, and the trail as JSON,
    HTML and Markdown, under ``out``.

    Args:
        case_id: the case's workflow id.
        out: the folder to write (created).
        client: the Temporal server; None to export from the archive alone.
        archive: the history archive, read before the server.
        query_engine: ask a worker for the engine's audit entries (deadline moves) and
            the children it recorded.

    Raises:
        AuditError: a run of the case cannot be found.
    """
    case = await load_case(
        case_id, client=client, archive=archive, query_children=query_engine and client is not None
    )
    audit: dict[str, list[AuditEntry]] = {}
    if query_engine and client is not None:
        with contextlib.suppress(Exception):
            audit = await engine_audit(client, case)
    trail = build_trail(case, audit=audit)
    manifest = await asyncio.to_thread(_write, case, trail, out)
    files = ["manifest.json", *(run.file for run in manifest.runs)]
    files += ["trail.json", "trail.html", "trail.md"]
    return ExportResult(manifest=manifest, trail=trail, files=files)
