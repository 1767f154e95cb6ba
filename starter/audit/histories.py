"""The history chain of a case: every run of it and of its child cases.

A case is one workflow id whose runs form a chain through continue-as-new; its child cases
are workflows of their own. `load_case` collects all of them, each run read from the history
archive when it is there and from the Temporal server otherwise, so a case whose early runs
the server no longer keeps still exports whole. `write_export` / `read_export` store the
chain as Temporal JSON histories with a manifest, which replay and the decision trail read
without a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError

from starter.archive import HistoryArchive
from workflows.state import InstanceState

__all__ = [
    "MANIFEST_NAME",
    "AuditError",
    "CaseHistory",
    "Manifest",
    "ManifestRun",
    "RunHistory",
    "child_ids",
    "load_case",
    "read_histories",
    "write_export",
]

MANIFEST_NAME = "manifest.json"
"""The export's index of runs, beside the history files."""

Source = Literal["archive", "server", "file"]


class AuditError(Exception):
    """A history cannot be found or read; the message says which and what to do."""


@dataclass(frozen=True)
class RunHistory:
    """One run's history and where it was read from."""

    workflow_id: str
    run_id: str
    history: WorkflowHistory
    source: Source

    @property
    def first(self) -> HistoryEvent:
        """The run's start event."""
        return self.history.events[0]

    @property
    def previous_run_id(self) -> str | None:
        """The run this one continued (None for the case's first run)."""
        started = self.first.workflow_execution_started_event_attributes
        return started.continued_execution_run_id or None

    @property
    def file_name(self) -> str:
        """The run's file name in an export."""
        return f"{_safe(self.workflow_id)}__{self.run_id}.json"


@dataclass(frozen=True)
class CaseHistory:
    """Every run of a case and of its child cases: each workflow's chain in order, the
    case's own first, children after their parent."""

    case_id: str
    runs: list[RunHistory]

    def workflows(self) -> list[str]:
        """The workflow ids, the case's first."""
        seen: list[str] = []
        for run in self.runs:
            if run.workflow_id not in seen:
                seen.append(run.workflow_id)
        return seen

    def chain(self, workflow_id: str) -> list[RunHistory]:
        """The runs of one workflow, first to last."""
        return [run for run in self.runs if run.workflow_id == workflow_id]


def _safe(name: str) -> str:
    """A workflow id as part of a file name (ids hold ``:`` and business-key characters)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def child_ids(run: RunHistory) -> list[str]:
    """The workflow ids of the child cases a run started, in the order it started them."""
    ids: list[str] = []
    for event in run.history.events:
        if event.HasField("child_workflow_execution_started_event_attributes"):
            started = event.child_workflow_execution_started_event_attributes
            workflow_id = started.workflow_execution.workflow_id
            if workflow_id not in ids:
                ids.append(workflow_id)
    return ids


async def _fetch(client: Client, workflow_id: str, run_id: str) -> WorkflowHistory:
    return await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()


async def _latest_run_id(client: Client | None, workflow_id: str) -> str | None:
    if client is None:
        return None
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return None
    return description.run_id


def _latest_archived(archived: dict[str, RunHistory]) -> str | None:
    """The archived run that no other archived run continued from, started last."""
    continued = {run.previous_run_id for run in archived.values()}
    ends = [run for run in archived.values() if run.run_id not in continued]
    if not ends:
        return None
    return max(ends, key=lambda run: run.first.event_time.ToDatetime()).run_id


async def _load_chain(
    client: Client | None, archive: HistoryArchive | None, workflow_id: str
) -> list[RunHistory]:
    archived: dict[str, RunHistory] = {}
    if archive is not None:
        for key, stored in (await asyncio.to_thread(archive.runs, workflow_id)).items():
            archived[key] = RunHistory(workflow_id, key, stored.workflow_history(), "archive")
    latest = await _latest_run_id(client, workflow_id) or _latest_archived(archived)
    if latest is None:
        raise AuditError(
            f"no history of {workflow_id}: the server does not know it and the archive holds "
            "no run of it (check the id, the namespace, and that the archiver ran)"
        )
    chain: list[RunHistory] = []
    run_id: str | None = latest
    while run_id is not None:
        run = archived.get(run_id)
        if run is None:
            if client is None:
                raise AuditError(
                    f"run {run_id} of {workflow_id} is not archived and no server was given"
                )
            try:
                history = await _fetch(client, workflow_id, run_id)
            except RPCError as exc:
                raise AuditError(
                    f"run {run_id} of {workflow_id} is neither archived nor on the server "
                    f"({exc.message}); its history is lost unless a copy exists elsewhere"
                ) from exc
            run = RunHistory(workflow_id, run_id, history, "server")
        chain.append(run)
        run_id = run.previous_run_id
    chain.reverse()
    return chain


async def _queried_children(client: Client | None, workflow_id: str) -> list[str]:
    """Children the engine recorded in its state (needs a worker; empty without one)."""
    if client is None:
        return []
    with contextlib.suppress(Exception):
        state = await asyncio.wait_for(
            client.get_workflow_handle(workflow_id).query(
                "instance_state", result_type=InstanceState
            ),
            timeout=3,
        )
        return list(state.children)
    return []


async def load_case(
    case_id: str,
    *,
    client: Client | None = None,
    archive: HistoryArchive | None = None,
    query_children: bool = False,
) -> CaseHistory:
    """Every run of the case ``case_id`` and of its child cases, recursively.

    Args:
        case_id: the case's workflow id.
        client: the Temporal server to read what is not archived from.
        archive: the history archive, read first.
        query_children: also ask the running engine for its children (``instance_state``),
            which needs a worker; the history's child events suffice otherwise.

    Raises:
        AuditError: a run is neither archived nor on the server.
    """
    if client is None and archive is None:
        raise AuditError("nothing to read histories from: give a server or an archive")
    runs: list[RunHistory] = []
    pending = [case_id]
    done: set[str] = set()
    while pending:
        workflow_id = pending.pop(0)
        if workflow_id in done:
            continue
        done.add(workflow_id)
        chain = await _load_chain(client, archive, workflow_id)
        runs += chain
        children: list[str] = []
        for run in chain:
            children += child_ids(run)
        if query_children:
            children += await _queried_children(client, workflow_id)
        pending += [c for c in dict.fromkeys(children) if c not in done]
    return CaseHistory(case_id, runs)


class ManifestRun(BaseModel):
    """One run in an export."""

    workflow_id: str
    run_id: str
    file: str
    source: str


class Manifest(BaseModel):
    """The index of an export: the case and its runs in chain order."""

    case_id: str
    runs: list[ManifestRun]


def write_export(case: CaseHistory, out: Path) -> Manifest:
    """Write each run's history as Temporal JSON under ``out/histories/`` and the manifest.

    Returns:
        The manifest written to ``out/manifest.json``.
    """
    folder = out / "histories"
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for run in case.runs:
        (folder / run.file_name).write_text(run.history.to_json(), encoding="utf-8")
        entries.append(
            ManifestRun(
                workflow_id=run.workflow_id,
                run_id=run.run_id,
                file=f"histories/{run.file_name}",
                source=run.source,
            )
        )
    manifest = Manifest(case_id=case.case_id, runs=entries)
    (out / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    return manifest


def _from_file(path: Path, workflow_id: str | None = None) -> RunHistory:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        history = WorkflowHistory.from_json(workflow_id or path.stem, raw)
        run_id = history.run_id
    except (OSError, ValueError, RuntimeError) as exc:
        raise AuditError(f"{path} is not a Temporal JSON history: {exc}") from exc
    return RunHistory(history.workflow_id, run_id, history, "file")


def read_histories(path: Path) -> CaseHistory:
    """Histories from a file, an export folder (its manifest) or a folder of JSON files.

    A history file without a manifest takes its file name as workflow id, and the first
    file's workflow is taken for the case.

    Raises:
        AuditError: the path holds no readable history.
    """
    if path.is_file():
        run = _from_file(path)
        return CaseHistory(run.workflow_id, [run])
    manifest_path = path / MANIFEST_NAME
    if manifest_path.is_file():
        manifest = Manifest.model_validate_json(manifest_path.read_text(encoding="utf-8"))
        runs = [_from_file(path / run.file, run.workflow_id) for run in manifest.runs]
        return CaseHistory(manifest.case_id, runs)
    files = sorted(path.glob("*.json"))
    if not files:
        raise AuditError(f"{path} holds no history files (*.json) and no {MANIFEST_NAME}")
    runs = [_from_file(file) for file in files]
    return CaseHistory(runs[0].workflow_id, runs)
