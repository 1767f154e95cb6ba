"""The history archive: every closed run's history, kept in the document store.

A workflow cannot upload its own closed history, so an archiver outside the workflows
does it: `archive_closed_runs` lists the runs that have closed (completed, continued as
new, failed, cancelled, terminated, timed out) through Temporal's visibility, fetches
each one's history and stores it write-once. `run_archiver` repeats that until stopped;
``niva dev`` and ``niva worker`` run it beside the worker, and ``niva audit archive`` runs
it once.

Storage: the history of a run is one JSON document (`ArchivedRun`) in the content-addressed
document store, so an archived history can never change and is hash-checked when read. It
is filed under two index keys: ``~history/<workflow id>`` (every archived run of the case)
and ``~history/<workflow id>/<run id>`` (so "is this run archived?" costs one listing). The
``~`` keeps these keys apart from case ids, which never start with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import structlog
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

from activities.document_store import DocumentStore

__all__ = [
    "ARCHIVE_QUERY",
    "ArchiveReport",
    "ArchivedRun",
    "HistoryArchive",
    "archive_closed_runs",
    "run_archiver",
]

log = structlog.get_logger("niva.archive")

ARCHIVE_QUERY = "ExecutionStatus != 'Running' AND NivaProcessId IS NOT NULL"
"""The closed runs of niva cases (every case sets ``NivaProcessId`` in its first task)."""

_PREFIX = "~history/"


class ArchivedRun(BaseModel):
    """One run's history as archived."""

    workflow_id: str
    run_id: str
    status: str | None = Field(default=None, description="How the run closed.")
    close_time: datetime | None = None
    archived_at: datetime
    history: dict[str, object] = Field(description="The history as Temporal's JSON.")

    def workflow_history(self) -> WorkflowHistory:
        """The history as the SDK's type (for replay and the decision trail)."""
        return WorkflowHistory.from_json(self.workflow_id, self.history)


class HistoryArchive:
    """Archived run histories in a document store, by workflow id and run id.

    Args:
        store: the document store the activities write to.
    """

    def __init__(self, store: DocumentStore) -> None:
        self.store = store

    @staticmethod
    def _case_key(workflow_id: str) -> str:
        return f"{_PREFIX}{workflow_id}"

    @staticmethod
    def _run_key(workflow_id: str, run_id: str) -> str:
        return f"{_PREFIX}{workflow_id}/{run_id}"

    def has(self, workflow_id: str, run_id: str) -> bool:
        """Whether the run is archived."""
        return bool(self.store.list_case(self._run_key(workflow_id, run_id)))

    def put(self, run: ArchivedRun) -> bool:
        """Archive ``run`` unless it is archived already; True when it was new.

        Two archivers may race; both then store a document, and the run's index then
        names two documents of the same run. `runs` keeps the first, so readers agree.
        """
        if self.has(run.workflow_id, run.run_id):
            return False
        document_id = self.store.put(run.model_dump_json().encode("utf-8"))
        self.store.add_to_case(self._run_key(run.workflow_id, run.run_id), document_id)
        self.store.add_to_case(self._case_key(run.workflow_id), document_id)
        return True

    def runs(self, workflow_id: str) -> dict[str, ArchivedRun]:
        """Every archived run of ``workflow_id`` by run id (each checked against its hash)."""
        found: dict[str, ArchivedRun] = {}
        for document_id in self.store.list_case(self._case_key(workflow_id)):
            run = ArchivedRun.model_validate_json(self.store.get(document_id))
            earlier = found.get(run.run_id)
            if earlier is None or run.archived_at < earlier.archived_at:
                found[run.run_id] = run
        return found


class ArchiveReport(BaseModel):
    """What one pass of the archiver did."""

    listed: int = 0
    archived: list[str] = Field(default_factory=list, description="<workflow id>/<run id>.")
    already: int = 0
    failed: list[str] = Field(default_factory=list, description="Runs that could not be read.")


def _status_name(status: WorkflowExecutionStatus | None) -> str | None:
    return status.name.lower() if status is not None else None


async def archive_closed_runs(
    client: Client,
    archive: HistoryArchive,
    *,
    since: datetime | None = None,
    query: str = ARCHIVE_QUERY,
) -> ArchiveReport:
    """Archive every closed run the visibility store lists that is not archived yet.

    Idempotent: a run already archived is skipped, so passes may overlap.

    Args:
        client: a connected client of the namespace to archive.
        archive: where histories go.
        since: only runs that closed at or after this instant (a periodic pass looks back
            a little further than its interval; None: every closed run).
        query: the visibility query of the runs to consider.
    """
    if since is not None:
        moment = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        query = f"{query} AND CloseTime >= '{moment}'"
    report = ArchiveReport()
    async for execution in client.list_workflows(query):
        report.listed += 1
        key = f"{execution.id}/{execution.run_id}"
        if await asyncio.to_thread(archive.has, execution.id, execution.run_id):
            report.already += 1
            continue
        try:
            history = await client.get_workflow_handle(
                execution.id, run_id=execution.run_id
            ).fetch_history()
        except Exception as exc:  # removed meanwhile, or the server is going away
            log.warning("history not archived", run=key, error=str(exc))
            report.failed.append(key)
            continue
        run = ArchivedRun(
            workflow_id=execution.id,
            run_id=execution.run_id,
            status=_status_name(execution.status),
            close_time=execution.close_time,
            archived_at=datetime.now(UTC),
            history=history.to_json_dict(),
        )
        if await asyncio.to_thread(archive.put, run):
            report.archived.append(key)
    if report.archived:
        log.info("histories archived", runs=report.archived)
    return report


async def run_archiver(
    client: Client,
    archive: HistoryArchive,
    stop: asyncio.Event,
    *,
    interval: timedelta = timedelta(minutes=1),
    overlap: timedelta = timedelta(minutes=10),
) -> None:
    """Archive closed runs every ``interval`` until ``stop`` is set.

    The first pass archives everything closed so far; later passes look back ``interval +
    overlap``, since the visibility store lists a closed run with a short delay.

    Args:
        client: a connected client.
        archive: where histories go.
        stop: set it to end the loop (after the pass in progress).
        interval: time between passes.
        overlap: how much further back than ``interval`` a pass looks.
    """
    since: datetime | None = None
    while not stop.is_set():
        started = datetime.now(UTC)
        try:
            await archive_closed_runs(client, archive, since=since)
            since = started - interval - overlap
        except Exception as exc:  # a pass that fails is repeated, from the same point
            log.warning("archive pass failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval.total_seconds())
