"""niva audit: replay of the recorded histories, the trail of a whole case, verify, and the
history archive standing in for a server that no longer keeps the case."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from click.testing import Result
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from typer.testing import CliRunner

import workflows.interpreter
from activities import ActivitySettings, build_activities
from activities.document_store import FilesystemDocumentStore
from starter.archive import HistoryArchive, archive_closed_runs
from starter.audit import build_trail, export_case, load_case, read_histories, replay_runs
from starter.cli import app
from tests.workflows.harness import Cases, bpmn, running_cases
from workflows.candidates import Actor

HISTORIES = Path(__file__).resolve().parents[1] / "histories"

OFFICER = Actor(subject="officer-1", org="SE-SOS", roles=["officer"])
REGISTRATOR = Actor(subject="registrator-ab", org="SE-AB", roles=["registrator"])

DECISION_CASE = bpmn("""
<bpmn:process id="audit_case" name="Audit case" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review" name="Granska ansökan">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:boundaryEvent id="ReviewDeadline" name="Granskningstiden löper ut" attachedToRef="Review">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P30D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Letter"/>
  <bpmn:sequenceFlow id="f2b" sourceRef="ReviewDeadline" targetRef="Late"/>
  <bpmn:endEvent id="Late" name="För sent"/>
  <bpmn:serviceTask id="Letter" name="Skriv kvitto">
    <bpmn:extensionElements>
      <niva:taskDefinition type="render_document"/>
      <niva:input target="template" source="follow_up_receipt"/>
      <niva:input target="title" source="Kvitto"/>
      <niva:input target="language" source="sv"/>
      <niva:input target="variables" source="={'year': 2026, 'holder': 'Region Stockholm', 'care_area': 'Testvård', 'received_at': '2026-03-01'}"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f3" sourceRef="Letter" targetRef="Sign"/>
  <bpmn:userTask id="Sign" name="Signera">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="registrator" candidateOrgs="SE-AB"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f4" sourceRef="Sign" targetRef="Done"/>
  <bpmn:endEvent id="Done" name="Klar"/>
</bpmn:process>
""")
"""Review by the officer of SE-SOS (30-day deadline), a receipt rendered by the real
render_document, then Sign by the registrator of SE-AB."""


def test_replay_cli_passes_every_recorded_history():
    result = CliRunner().invoke(app, ["audit", "replay", str(HISTORIES)])
    assert result.exit_code == 0, result.output
    files = sorted(HISTORIES.glob("*.json"))
    assert f"{len(files)} run(s) replayed, 0 diverge" in result.output
    assert result.output.count("OK ") == len(files)


def test_replay_cli_names_the_diverging_event(monkeypatch: pytest.MonkeyPatch):
    original = workflows.interpreter.Interpreter._task_id

    def renamed(self: workflows.interpreter.Interpreter, element_id: str, key: str | None) -> str:
        return "Changed" + original(self, element_id, key)

    monkeypatch.setattr(workflows.interpreter.Interpreter, "_task_id", renamed)
    result = CliRunner().invoke(
        app, ["audit", "replay", str(HISTORIES / "engine_reminder_cycle.json")]
    )
    assert result.exit_code == 1, result.output
    assert (
        "diverges at event 12 (ActivityTaskScheduled): the history scheduled activity id "
        "'Remind', the code now issues activity id 'ChangedRemind'" in result.output
    )


async def test_replay_reports_the_first_event_a_change_breaks(monkeypatch: pytest.MonkeyPatch):
    original = workflows.interpreter.Interpreter._task_id

    def renamed(self: workflows.interpreter.Interpreter, element_id: str, key: str | None) -> str:
        return "Changed" + original(self, element_id, key)

    monkeypatch.setattr(workflows.interpreter.Interpreter, "_task_id", renamed)
    case = read_histories(HISTORIES / "engine_form_constraint.json")
    [result] = await replay_runs(case.runs)
    assert not result.ok
    assert result.divergence is not None
    # The renamed task cannot be completed: the recorded completion (events 9 and 10) is
    # refused on replay, so the step it led to never runs and its first command, the
    # search-attribute update of event 11, is the first event the code no longer issues.
    assert result.divergence.event_id == 11
    assert result.divergence.event_type == "UpsertWorkflowSearchAttributes"
    assert "diverges at event 11" in result.divergence.message


async def _cli(*args: str) -> Result:
    """The CLI in a thread: its commands run their own event loop."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def _run_decision_case(cases: Cases, business_key: str) -> str:
    cases.deploy(DECISION_CASE)
    handle = await cases.start("audit_case", business_key=business_key, actor=OFFICER)
    await cases.complete(handle, "Review", {"verdict": "yes"}, actor=OFFICER)
    for _ in range(100):
        if any(t.task_id == "Sign" for t in (await cases.view(handle)).open_tasks):
            break
        await asyncio.sleep(0.1)
    await cases.complete(handle, "Sign", {"signed": True}, actor=REGISTRATOR)
    await handle.result()
    return handle.id


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The data directory the CLI reads (documents, archive) is the test's."""
    monkeypatch.setenv("NIVA_DATA_DIR", str(tmp_path))
    for name in list(os.environ):
        if name.startswith("NIVA_SERVICE_"):
            monkeypatch.delenv(name)
    return tmp_path


async def _archived(client: Client, archive: HistoryArchive, workflow_id: str) -> None:
    for _ in range(100):
        await archive_closed_runs(client, archive)
        if archive.runs(workflow_id):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{workflow_id} was never archived")


async def test_export_trail_verify_and_archive_of_a_whole_case(
    client: Client, task_queue: str, data_dir: Path
):
    activities = build_activities(ActivitySettings.in_data_dir(data_dir))
    async with running_cases(client, task_queue, data_dir, activities=activities) as cases:
        case_id = await _run_decision_case(cases, "AUD-1")
        out = data_dir / "export"
        store = FilesystemDocumentStore(data_dir / "documents")
        exported = await export_case(case_id, out, client=client, archive=HistoryArchive(store))

    trail = exported.trail
    kinds = [(d.kind, d.element_id, d.actor, d.org) for d in trail.decisions]
    assert kinds == [
        ("started", "Start", "officer-1", "SE-SOS"),
        ("task_completed", "Review", "officer-1", "SE-SOS"),
        ("document", "Letter", None, None),
        ("task_completed", "Sign", "registrator-ab", "SE-AB"),
        ("ended", None, None, None),
    ]
    review = trail.decisions[1]
    assert review.element_name == "Granska ansökan"
    assert review.payload == {"verdict": "yes"}
    assert (review.process_id, review.version) == ("audit_case", 1)
    assert review.content_hash == trail.models[0].content_hash
    documents = trail.decisions[2].documents
    assert [d.name for d in documents] == [
        "follow_up_receipt-AUD-1.pdf",
        "follow_up_receipt-AUD-1.html",
    ]
    assert all(len(d.sha256) == 64 for d in documents)
    [deadline] = trail.deadlines
    assert (deadline.element_id, deadline.outcome) == ("ReviewDeadline", "met")

    html = (out / "trail.html").read_text()
    assert "registrator-ab" in html
    assert documents[0].sha256 in html
    assert (
        "| Signera `Sign` (task `Sign`) | registrator-ab | SE-AB |"
        in (out / "trail.md").read_text()
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert [r["workflow_id"] for r in manifest["runs"]] == [case_id]

    assert (await _cli("audit", "replay", str(out))).exit_code == 0
    verified = await _cli("audit", "verify", str(out))
    assert verified.exit_code == 0, verified.output
    assert "2 document(s) checked, 0 fail" in verified.output

    # Tamper with the stored PDF: verify fails and names it.
    pdf = documents[0]
    path = data_dir / "documents" / "objects" / pdf.id[:2] / pdf.id
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"%altered")
    tampered = await _cli("audit", "verify", str(out))
    assert tampered.exit_code == 1
    assert f"MISMATCH follow_up_receipt-AUD-1.pdf {pdf.id}" in tampered.output


async def test_export_after_the_server_dropped_the_case_reads_the_archive(
    client: Client, task_queue: str, data_dir: Path
):
    store = FilesystemDocumentStore(data_dir / "documents")
    archive = HistoryArchive(store)
    activities = build_activities(ActivitySettings.in_data_dir(data_dir))
    async with running_cases(client, task_queue, data_dir, activities=activities) as cases:
        case_id = await _run_decision_case(cases, "AUD-2")
    run_id = (await client.get_workflow_handle(case_id).describe()).run_id
    await _archived(client, archive, case_id)
    again = await archive_closed_runs(client, archive)
    assert f"{case_id}/{run_id}" not in again.archived  # write-once, idempotent

    # The server drops the run (as its retention would); deletion is asynchronous, so the
    # export is read without the server at all: from the archive alone.
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=case_id, run_id=run_id),
        )
    )
    case = await load_case(case_id, client=None, archive=archive)
    assert [(r.run_id, r.source) for r in case.runs] == [(run_id, "archive")]
    trail = build_trail(case)
    assert [d.actor for d in trail.decisions if d.kind == "task_completed"] == [
        "officer-1",
        "registrator-ab",
    ]
    result = await _cli("audit", "export", case_id, "--out", str(data_dir / "late"), "--offline")
    assert result.exit_code == 0, result.output
    assert "1 run(s), 5 decision(s)" in result.output
