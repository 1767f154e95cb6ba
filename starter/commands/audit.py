"""``niva audit``: export, replay and verify the recorded history of a case.

``export`` and ``verify`` read each run from the history archive first (the document store
of ``NIVA_SERVICE_*`` / ``NIVA_DATA_DIR``) and from the Temporal server (``TEMPORAL_*``) for
the rest; ``replay`` also works offline on exported files. Exit codes: 0 fine, 1 a
divergence, a tampered document or a history that cannot be found, 2 bad usage.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from temporalio.client import Client

from activities.document_store import DocumentStore, document_store_from_settings
from activities.errors import DocumentStoreError
from starter.archive import HistoryArchive, archive_closed_runs
from starter.audit import (
    AuditError,
    CaseHistory,
    VerifyReport,
    build_trail,
    export_case,
    load_case,
    read_histories,
    replay_runs,
    verify_documents,
    verify_stored_payloads,
)
from starter.codec import codec_from_settings
from starter.settings import DataSettings, ServiceSettings

__all__ = ["app", "document_store"]

app = typer.Typer(help="Export, replay and verify the recorded history of a case.")


def document_store() -> DocumentStore:
    """The document store the activities write to (and the archive lives in)."""
    return document_store_from_settings(ServiceSettings().for_data_dir(DataSettings()))


async def _client(offline: bool) -> Client | None:
    if offline:
        return None
    import worker  # the connection follows TEMPORAL_* like the worker's

    try:
        return await worker.connect()
    except Exception as exc:
        typer.echo(f"niva audit: Temporal is unreachable ({exc}); using the archive only", err=True)
        return None


async def _case(target: str, local: Path | None, offline: bool) -> CaseHistory:
    """The case from files when ``local`` is given, else from the archive and server."""
    if local is not None:
        return read_histories(local)
    client = await _client(offline)
    return await load_case(target, client=client, archive=HistoryArchive(document_store()))


@app.command("export")
def export_command(
    case_id: Annotated[str, typer.Argument(help="The case's instance id.")],
    out: Annotated[
        Path | None, typer.Option(help="Folder to write; default ./audit-<case id>.")
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Read the archive only, not the server.")
    ] = False,
    query: Annotated[
        bool, typer.Option(help="Ask a running worker for deadline moves and children.")
    ] = True,
) -> None:
    """Write every run of the case and its children as Temporal JSON histories, with a
    manifest and the decision trail as trail.json, trail.html and trail.md."""
    folder = out or Path(f"audit-{case_id.replace(':', '_').replace('/', '_')}")

    async def run() -> None:
        client = await _client(offline)
        result = await export_case(
            case_id,
            folder,
            client=client,
            archive=HistoryArchive(document_store()),
            query_engine=query,
        )
        typer.echo(
            f"{case_id}: {len(result.manifest.runs)} run(s), "
            f"{len(result.trail.decisions)} decision(s) written to {folder}"
        )

    try:
        asyncio.run(run())
    except AuditError as exc:
        typer.echo(f"niva audit export: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command("replay")
def replay_command(
    target: Annotated[
        str, typer.Argument(help="A case id, a history file, or a folder of histories/export.")
    ],
    offline: Annotated[
        bool, typer.Option("--offline", help="For a case id: read the archive only.")
    ] = False,
) -> None:
    """Replay each recorded run against the current workflow code; exit 1 on divergence."""

    local = Path(target) if Path(target).exists() else None

    async def run() -> bool:
        case = await _case(target, local, offline)
        results = await replay_runs(case.runs)
        for result in results:
            if result.ok:
                typer.echo(f"OK    {result.workflow_id} run {result.run_id}")
            else:
                assert result.divergence is not None
                typer.echo(f"DIVERGES {result.divergence.message}")
        failed = sum(not r.ok for r in results)
        typer.echo(f"{len(results)} run(s) replayed, {failed} diverge")
        return failed == 0

    try:
        ok = asyncio.run(run())
    except AuditError as exc:
        typer.echo(f"niva audit replay: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not ok:
        raise typer.Exit(1)


@app.command("verify")
def verify_command(
    target: Annotated[str, typer.Argument(help="A case id, or an export folder.")],
    offline: Annotated[
        bool, typer.Option("--offline", help="For a case id: read the archive only.")
    ] = False,
) -> None:
    """Check every document hash the history records, and every model source and large
    payload it keeps in the document store, against the store; exit 1 naming each one that
    is missing or altered."""

    local = Path(target) if Path(target).exists() else None

    async def run() -> bool:
        case = await _case(target, local, offline)
        store = document_store()
        payloads = await verify_stored_payloads(case, store, decrypt=codec_from_settings())
        try:
            report = await verify_documents(build_trail(case, store=store), store)
        except DocumentStoreError as exc:
            # The trail needs the models the history refers to: the checks below name them.
            typer.echo(f"niva audit verify: the decision trail cannot be read: {exc}", err=True)
            report = VerifyReport(case_id=case.case_id, documents=[])
        report.payloads = payloads
        for check in report.documents:
            label = f"{check.name or ''} {check.id} ({check.workflow_id}, {check.task_id})"
            if check.ok:
                typer.echo(f"OK       {label}")
            else:
                typer.echo(f"MISMATCH {label}: {check.problem}")
        for stored in report.payloads:
            label = f"{stored.kind} {stored.id} ({stored.workflow_id}, event {stored.event_id})"
            if stored.ok:
                typer.echo(f"OK       {label}")
            else:
                typer.echo(f"MISMATCH {label}: {stored.problem}")
        bad = sum(not c.ok for c in report.documents)
        typer.echo(f"{len(report.documents)} document(s) checked, {bad} fail")
        bad_stored = sum(not c.ok for c in report.payloads)
        typer.echo(f"{len(report.payloads)} stored payload(s) checked, {bad_stored} fail")
        return report.ok

    try:
        ok = asyncio.run(run())
    except AuditError as exc:
        typer.echo(f"niva audit verify: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not ok:
        raise typer.Exit(1)


@app.command("archive")
def archive_command(
    all_runs: Annotated[
        bool, typer.Option("--all", help="Every closed run, not only the last day's.")
    ] = False,
) -> None:
    """Archive the histories of closed runs into the document store (idempotent)."""
    from datetime import UTC, datetime, timedelta

    async def run() -> None:
        client = await _client(False)
        if client is None:
            raise typer.Exit(1)
        since = None if all_runs else datetime.now(UTC) - timedelta(days=1)
        report = await archive_closed_runs(client, HistoryArchive(document_store()), since=since)
        typer.echo(
            f"{report.listed} closed run(s) listed, {len(report.archived)} archived now, "
            f"{report.already} already archived, {len(report.failed)} unreadable"
        )

    asyncio.run(run())
