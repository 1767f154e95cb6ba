"""What the reliability tests share: a model to drive, worker subprocesses, a mailbox on
loopback, a driver that completes tasks through faults, and the figures they report."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from process_models.deployments import ModelFile, ModelStore
from process_models.store import FileBlobStore
from starter.cases import start_case
from tests.support.mail import Mailbox, start_smtp
from tests.support.net import free_port
from workflows.candidates import Actor
from workflows.contract import CompleteTaskInput, CompleteTaskResult, InstanceView
from workflows.state import InstanceState

OFFICER = Actor(subject="officer-1", org="SE-SOS", roles=["officer"])

PROCESS_ID = "rel_review"
USER_TASKS = ("Review", "Approve")
NOTIFY_TASKS = ("NotifyReviewed", "NotifyApproved")
RENDER_TASKS = ("RenderDecision",)

# Two user tasks around two notifications and a rendered decision: a worker killed at a
# random moment is as likely to be inside an activity as handling an update.
MODEL = textwrap.dedent(
    """\
    <?xml version="1.0" encoding="UTF-8"?>
    <bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
        xmlns:niva="urn:niva:bpmn:1" id="defs" targetNamespace="urn:niva:reliability">
      <bpmn:process id="rel_review" name="Reliability review" isExecutable="true">
        <bpmn:startEvent id="Start"/>
        <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
        <bpmn:userTask id="Review" name="Review"/>
        <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="NotifyReviewed"/>
        <bpmn:serviceTask id="NotifyReviewed" name="Notify reviewed">
          <bpmn:extensionElements>
            <niva:taskDefinition type="notify" retries="50" timeout="PT5S"/>
            <niva:input target="template" source="case_ended"/>
            <niva:input target="language" source="sv"/>
            <niva:input target="addresses" source="=[mailbox]"/>
            <niva:input target="variables" source="={'case_title': case_title, 'outcome': 'granskad'}"/>
          </bpmn:extensionElements>
        </bpmn:serviceTask>
        <bpmn:sequenceFlow id="f3" sourceRef="NotifyReviewed" targetRef="RenderDecision"/>
        <bpmn:serviceTask id="RenderDecision" name="Render decision">
          <bpmn:extensionElements>
            <niva:taskDefinition type="render_document" retries="50" timeout="PT10S"/>
            <niva:input target="template" source="decision"/>
            <niva:input target="title" source="=case_title"/>
            <niva:input target="language" source="sv"/>
            <niva:input target="variables" source="={'decision': 'Bifall', 'grounds': case_title, 'decided_by': 'Nämnden', 'decision_date': '2025-03-03'}"/>
            <niva:output target="documents" source="=result.documents.map(d, d.id)"/>
          </bpmn:extensionElements>
        </bpmn:serviceTask>
        <bpmn:sequenceFlow id="f4" sourceRef="RenderDecision" targetRef="Approve"/>
        <bpmn:userTask id="Approve" name="Approve"/>
        <bpmn:sequenceFlow id="f5" sourceRef="Approve" targetRef="NotifyApproved"/>
        <bpmn:serviceTask id="NotifyApproved" name="Notify approved">
          <bpmn:extensionElements>
            <niva:taskDefinition type="notify" retries="50" timeout="PT5S"/>
            <niva:input target="template" source="case_ended"/>
            <niva:input target="language" source="sv"/>
            <niva:input target="addresses" source="=[mailbox]"/>
            <niva:input target="variables" source="={'case_title': case_title, 'outcome': 'godkänd'}"/>
          </bpmn:extensionElements>
        </bpmn:serviceTask>
        <bpmn:sequenceFlow id="f6" sourceRef="NotifyApproved" targetRef="Done"/>
        <bpmn:endEvent id="Done" name="approved"/>
      </bpmn:process>
    </bpmn:definitions>
    """
)


def deploy_model(data_dir: Path) -> ModelStore:
    """Deploy the reliability model into ``data_dir``'s model store."""
    store = ModelStore(FileBlobStore(data_dir / "models"))
    store.deploy([ModelFile(name="rel_review.bpmn", content=MODEL.encode())])
    return store


def target_host(client: Client) -> str:
    """The ``host:port`` a subprocess reaches the client's server at."""
    return client.service_client.config.target_host


@dataclass
class WorkerProcess:
    """``niva worker`` as a subprocess, killed and restarted at will."""

    address: str
    data_dir: Path
    task_queue: str
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("NIVA_", "TEMPORAL_", "OTEL_"))
        }
        env.update(
            TEMPORAL_ADDRESS=self.address,
            TEMPORAL_NAMESPACE="default",
            NIVA_DATA_DIR=str(self.data_dir),
            NIVA_WORKER_TASK_QUEUE=self.task_queue,
            NIVA_WORKER_GRACEFUL_SHUTDOWN_SECONDS="2",
            NIVA_LOG_FORMAT="json",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "starter.cli", "worker"],
            cwd=self.data_dir,  # no stray .env of the repository is read
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no shutdown, no heartbeat, no completion of anything running."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.kills += 1

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class DriverFigures:
    """What a driver did."""

    requests: int = 0
    errors: int = 0
    duplicates: int = 0
    completions: Counter[str] = field(default_factory=Counter)


async def _with_timeout(awaitable: Any, seconds: float) -> Any:
    return await asyncio.wait_for(awaitable, seconds)


async def _task_gone(handle: WorkflowHandle[Any, Any], task_id: str) -> bool:
    """Whether the task is no longer open (or the case no longer runs); ``False`` when that
    cannot be told now (no worker to answer), so the caller tries again."""
    try:
        description = await _with_timeout(handle.describe(), 10)
        if description.status != WorkflowExecutionStatus.RUNNING:
            return True
        view = await _with_timeout(handle.query("state", result_type=InstanceView), 10)
    except Exception:
        return False
    return all(open_task.task_id != task_id for open_task in view.open_tasks)


async def drive_case(
    handle: WorkflowHandle[Any, Any],
    figures: DriverFigures,
    *,
    deadline: float,
    think: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
    gate: asyncio.Event | None = None,
) -> None:
    """Complete the case's open tasks until it ends, retrying every error with the same
    idempotency key (a lost answer is asked again, never re-decided).

    Args:
        think: a person's pause before completing a task, drawn from this range, so the
            work of many cases spreads over the faults instead of ending before them.
        gate: when given, the ``Approve`` task waits for it to be set.
    """
    loop = asyncio.get_running_loop()
    rng = random.Random(f"{seed}/{handle.id}")
    while loop.time() < deadline:
        try:
            description = await _with_timeout(handle.describe(), 10)
            if description.status != WorkflowExecutionStatus.RUNNING:
                return
            view = await _with_timeout(handle.query("state", result_type=InstanceView), 10)
        except Exception:
            figures.errors += 1
            await asyncio.sleep(0.5)
            continue
        if view.incidents:  # a broken model or engine, not a fault to ride out
            raise AssertionError(f"case {handle.id} has incidents: {view.incidents}")
        tasks = view.open_tasks
        if not tasks:
            await asyncio.sleep(0.3)
            continue
        for task in tasks:
            key = f"{handle.id}/{task.task_id}"
            await asyncio.sleep(rng.uniform(*think))
            if gate is not None and task.element_id == "Approve":
                await gate.wait()
            while loop.time() < deadline:
                figures.requests += 1
                try:
                    result: CompleteTaskResult = await _with_timeout(
                        handle.execute_update(
                            "complete_task",
                            CompleteTaskInput(
                                task_id=task.task_id,
                                payload={"note": "ok"},
                                actor=OFFICER,
                                idempotency_key=key,
                            ),
                            result_type=CompleteTaskResult,
                        ),
                        15,
                    )
                except Exception:
                    figures.errors += 1
                    await asyncio.sleep(0.5)
                    if await _task_gone(handle, task.task_id):
                        # Completed by an attempt whose answer was lost (the case may
                        # even have ended): the final checks count it exactly once.
                        break
                    continue
                figures.completions[key] += 1
                figures.duplicates += int(result.duplicate)
                break
    raise TimeoutError(f"case {handle.id} did not end before the deadline")


async def start_cases(
    client: Client,
    store: ModelStore,
    task_queue: str,
    count: int,
    mailbox_domain: str,
    *,
    spacing: float = 0.0,
    started: Any = None,
) -> list[WorkflowHandle[object, Any]]:
    """Start ``count`` cases, each notifying its own address, ``spacing`` seconds apart;
    ``started(handle)`` is called for each as soon as it runs."""
    handles = []
    run = uuid.uuid4().hex[:8]
    for index in range(count):
        if index and spacing:
            await asyncio.sleep(spacing)
        business_key = f"rel-{run}-{index:03d}"
        handles.append(
            await start_case(
                client,
                store,
                process_id=PROCESS_ID,
                business_key=business_key,
                title=f"Reliability case {index}",
                task_queue=task_queue,
                variables={
                    "mailbox": f"{business_key}@{mailbox_domain}",
                    "case_title": f"Reliability case {index}",
                },
            )
        )
        if started is not None:
            started(handles[-1])
    return handles


async def instance_state(handle: WorkflowHandle[Any, Any]) -> InstanceState:
    """The case's internal state (a worker must be running)."""
    return await _with_timeout(handle.query("instance_state", result_type=InstanceState), 30)


@dataclass
class Losses:
    """What a run lost or doubled; every field must be empty."""

    not_completed: list[str] = field(default_factory=list)
    tasks_not_recorded_once: list[str] = field(default_factory=list)
    messages_missing: list[str] = field(default_factory=list)
    messages_changed_id: list[str] = field(default_factory=list)
    documents_wrong: list[str] = field(default_factory=list)
    stray_temporary_files: int = 0
    """Not a loss: what a kill mid-write leaves behind, reported beside the figures."""

    def count(self) -> int:
        return sum(len(v) for v in vars(self).values() if isinstance(v, list))


@dataclass
class MailFigures:
    messages: int
    distinct: int
    repeats: int


def check_mail(
    mailbox: Mailbox, handles: list[WorkflowHandle[Any, Any]], losses: Losses
) -> MailFigures:
    """Every case's two notifications arrived; repeats carry the first Message-ID."""
    per_address: dict[str, set[str]] = {}
    subjects: dict[str, set[str]] = {}
    ids = []
    for message in mailbox.messages():
        message_id = str(message["Message-ID"])
        ids.append(message_id)
        address = str(message["To"])
        per_address.setdefault(address, set()).add(message_id)
        subjects.setdefault(message_id, set()).add(str(message["Subject"]) + address)
    for handle in handles:
        address = f"{handle.id.split(':', 1)[1]}@"
        got = {i for a, s in per_address.items() if a.startswith(address) for i in s}
        if len(got) != len(NOTIFY_TASKS):
            losses.messages_missing.append(f"{handle.id}: {sorted(got)}")
    for message_id, variants in subjects.items():
        if len(variants) != 1:  # one id must always name the same message
            losses.messages_changed_id.append(message_id)
    return MailFigures(messages=len(ids), distinct=len(set(ids)), repeats=len(ids) - len(set(ids)))


async def check_cases(
    handles: list[WorkflowHandle[Any, Any]], data_dir: Path, losses: Losses
) -> None:
    """Every case completed, each user task recorded once, two documents per case."""
    from activities.document_store import FilesystemDocumentStore

    documents = FilesystemDocumentStore(data_dir / "documents")
    for handle in handles:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.COMPLETED:
            losses.not_completed.append(f"{handle.id}: {description.status}")
            continue
        state = await instance_state(handle)
        for task in USER_TASKS:
            recorded = [e for e in state.audit if e.kind == "task_completed" and e.task_id == task]
            if task not in state.completed_tasks or len(recorded) != 1:
                losses.tasks_not_recorded_once.append(f"{handle.id}/{task}: {len(recorded)}")
        filed = documents.list_case(handle.id)
        expected = state.variables.get("documents")
        if len(filed) != 2 or sorted(filed) != sorted(expected or []):
            losses.documents_wrong.append(f"{handle.id}: filed {filed}, recorded {expected}")
    # A worker killed while writing leaves its temporary file behind (never a document:
    # the store links complete files only); counted, not a loss.
    losses.stray_temporary_files = len(list((data_dir / "documents").rglob(".*.tmp")))
    # Other things share the store (archived histories under their own keys): the cases'
    # documents are the ones filed under them, each case's own.
    filed = [doc for handle in handles for doc in documents.list_case(handle.id)]
    if len(filed) != len(set(filed)) or len(filed) != 2 * len(handles):
        losses.documents_wrong.append(f"{len(filed)} documents filed for {len(handles)} cases")


@contextlib.contextmanager
def smtp_mailbox() -> Any:
    """A plain SMTP server on loopback that keeps every message it accepts."""
    mailbox = Mailbox(host="127.0.0.1", port=free_port())
    controller = start_smtp(mailbox)
    try:
        yield mailbox
    finally:
        controller.stop()


def smtp_env(mailbox: Mailbox) -> dict[str, str]:
    """The worker's variables for ``mailbox``."""
    return {
        "NIVA_SERVICE_SMTP_HOST": mailbox.host,
        "NIVA_SERVICE_SMTP_PORT": str(mailbox.port),
        "NIVA_SERVICE_SMTP_SECURITY": "none",
    }
