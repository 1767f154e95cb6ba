"""Driving the shipped NHV models on the time-skipping server: deploy, act, read the outbox.

Cases run with the real ``notify`` (file outbox) and ``render_document`` activities, so the
messages and documents the models produce are really produced and can be read back.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities import ActivitySettings
from activities.document_store import FilesystemDocumentStore
from process_models.bpmn import read_bpmn
from process_models.deployments import ModelFile
from process_models.reference import load_reference
from process_models.shipped import SHIPPED_DIRS
from tests.workflows.harness import Cases
from workflows.candidates import Actor
from workflows.contract import InstanceView, OpenTask

SE_DIR = next(d for d in SHIPPED_DIRS if d.name == "se")

OFFICER = Actor(subject="handlaggare@sos", org="SE-SOS", roles=["officer"])
EXPERT = Actor(subject="sakkunnig@sos", org="SE-SOS", roles=["expert"])
B1 = Actor(subject="ledamot@b1", org="SE-NHV-B1", roles=["member"])
B2 = Actor(subject="ledamot@b2", org="SE-NHV-B2", roles=["member"])
BOARD = Actor(subject="ordforande@namnden", org="SE-NHV-NAMND", roles=["board"])


def region(org: str) -> Actor:
    return Actor(subject=f"registrator@{org}", org=org, roles=["registrator"])


def npo(org: str) -> Actor:
    return Actor(subject=f"kansli@{org}", org=org, roles=["secretariat"])


@dataclass(frozen=True)
class Mail:
    """One message of the outbox."""

    case: str
    task: str
    to: str
    subject: str
    date: datetime
    text: str


def address(org: str, role: str = "registry") -> str:
    """The address of ``org`` for ``role`` in organisations.yaml."""
    for entry in _ORGANISATIONS:
        if entry["id"] == org:
            return next(c["email"] for c in entry["contacts"] if c["role"] == role)
    raise KeyError(org)


_ORGANISATIONS = load_reference()["organisations"]


def se_model_files() -> list[ModelFile]:
    """The shipped Swedish models."""
    return [
        ModelFile(name=f"se/{path.name}", content=path.read_bytes())
        for path in sorted(SE_DIR.glob("*.bpmn"))
    ]


def _service_nodes() -> frozenset[str]:
    ids: set[str] = set()
    for file in se_model_files():
        for process in read_bpmn(file.content).processes:
            ids.update(n.id for n in process.all_nodes() if n.kind in ("serviceTask", "sendTask"))
    return frozenset(ids)


SERVICE_NODES = _service_nodes()
"""Service and send tasks of the NHV models: a token there waits for an activity."""


class Nhv:
    """The shipped NHV models deployed on a worker with the real activities."""

    def __init__(self, env: WorkflowEnvironment, cases: Cases, settings: ActivitySettings):
        self.env = env
        self.cases = cases
        self.settings = settings
        self.documents = FilesystemDocumentStore(settings.documents_dir)
        self.known: list[str] = []

    async def start(
        self, process_id: str, variables: dict[str, Any], **kwargs: Any
    ) -> WorkflowHandle[Any, Any]:
        handle = await self.cases.start(process_id, variables, **kwargs)
        self.known.append(handle.id)
        return handle

    def handle(self, workflow_id: str) -> WorkflowHandle[Any, Any]:
        return self.cases.client.get_workflow_handle(workflow_id)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def view(self, handle: WorkflowHandle[Any, Any]) -> InstanceView:
        return await self.cases.view(handle)

    async def open_tasks(self, handle: WorkflowHandle[Any, Any]) -> list[OpenTask]:
        try:
            return (await self.view(handle)).open_tasks
        except RPCError:
            return []  # a case started by a call activity may not exist yet

    async def quiet(self, handle: WorkflowHandle[Any, Any]) -> InstanceView | None:
        """Wait in real time until no token of the case waits for an activity."""
        for _ in range(600):
            try:
                view = await self.view(handle)
            except RPCError:
                return None
            if view.status != "running" or not any(t.node_id in SERVICE_NODES for t in view.tokens):
                return view
            await asyncio.sleep(0.05)
        raise AssertionError(f"{handle.id}: activities still running")

    async def advance(self, by: timedelta, *handles: WorkflowHandle[Any, Any]) -> None:
        """Move the clock on by ``by``, with every known case quiet before and after, so
        that each case's clock moves only while it waits (its messages and documents then
        carry the dates the test expects)."""
        for workflow_id in self.known:
            await self.quiet(self.handle(workflow_id))
        await self.env.sleep(by)
        for handle in handles:
            await self.quiet(handle)

    async def advance_to(self, when: datetime, *handles: WorkflowHandle[Any, Any]) -> None:
        """Move the clock on to ``when`` (if it is ahead)."""
        remaining = when - await self.now()
        if remaining > timedelta(0):
            await self.advance(remaining, *handles)

    async def task(
        self,
        handle: WorkflowHandle[Any, Any],
        task_id: str,
        *,
        skip: timedelta | None = None,
        steps: int = 400,
    ) -> OpenTask:
        """Wait until ``task_id`` is open: in real time (service tasks run first), and,
        with ``skip``, moving the clock on by ``skip`` at a time."""
        for _ in range(steps):
            for task in await self.open_tasks(handle):
                if task.task_id == task_id:
                    return task
            if skip is not None:
                await self.advance(skip, handle)
            else:
                await asyncio.sleep(0.05)
        tasks = [t.task_id for t in await self.open_tasks(handle)]
        raise AssertionError(f"{handle.id}: {task_id} never opened; open: {tasks}")

    async def open_task(
        self,
        handle: WorkflowHandle[Any, Any],
        element_id: str,
        *,
        skip: timedelta | None = None,
        steps: int = 400,
    ) -> OpenTask:
        """Wait until a task of ``element_id`` is open (whatever its visit), as `task`."""
        for _ in range(steps):
            for task in await self.open_tasks(handle):
                if task.element_id == element_id:
                    return task
            if skip is not None:
                await self.advance(skip, handle)
            else:
                await asyncio.sleep(0.05)
        tasks = [t.task_id for t in await self.open_tasks(handle)]
        raise AssertionError(f"{handle.id}: no {element_id} task opened; open: {tasks}")

    async def tasks(
        self, handle: WorkflowHandle[Any, Any], element_id: str, count: int
    ) -> list[OpenTask]:
        """Wait until ``count`` tasks of ``element_id`` are open."""
        for _ in range(400):
            found = [t for t in await self.open_tasks(handle) if t.element_id == element_id]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"{handle.id}: fewer than {count} {element_id} tasks opened")

    async def complete(
        self,
        handle: WorkflowHandle[Any, Any],
        task_id: str,
        payload: dict[str, Any],
        actor: Actor,
        *,
        skip: timedelta | None = None,
    ) -> None:
        await self.task(handle, task_id, skip=skip)
        await self.cases.complete(handle, task_id, payload, actor=actor)

    async def settled(self, handle: WorkflowHandle[Any, Any], node_id: str) -> InstanceView:
        """Wait in real time until a token waits at ``node_id`` (or the case ended)."""
        for _ in range(400):
            view = await self.view(handle)
            if view.status != "running" or any(t.node_id == node_id for t in view.tokens):
                return view
            await asyncio.sleep(0.05)
        raise AssertionError(f"{handle.id}: no token reached {node_id}")

    async def ended(self, handle: WorkflowHandle[Any, Any]) -> InstanceView:
        """Wait in real time until the case has ended (its last service tasks ran)."""
        for _ in range(400):
            view = await self.view(handle)
            if view.status != "running":
                return view
            await asyncio.sleep(0.05)
        raise AssertionError(f"{handle.id} did not end; tokens: {view.tokens}")

    async def exists(self, workflow_id: str) -> WorkflowHandle[Any, Any]:
        handle = self.handle(workflow_id)
        if workflow_id not in self.known:
            self.known.append(workflow_id)
        for _ in range(400):
            try:
                await self.view(handle)
                return handle
            except RPCError:
                await asyncio.sleep(0.05)
        raise AssertionError(f"{workflow_id} was never started")

    def mail(self, case: str | None = None) -> list[Mail]:
        """Every message of the outbox (of one case), oldest first."""
        found = []
        for path in Path(self.settings.outbox_dir).glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if case is not None and message["X-Niva-Case"] != case:
                continue
            body = message.get_body(preferencelist=("plain",))
            found.append(
                Mail(
                    case=str(message["X-Niva-Case"]),
                    task=str(message["X-Niva-Task"]),
                    to=message["To"].addresses[0].addr_spec,
                    subject=str(message["Subject"]),
                    date=message["Date"].datetime,
                    text=body.get_content() if body is not None else "",
                )
            )
        return sorted(found, key=lambda m: (m.date, m.task, m.to))

    def recipients(self, case: str, task: str) -> list[str]:
        """The addresses one notify task wrote to."""
        return sorted(m.to for m in self.mail(case) if m.task == task)

    def document(self, documents: Iterable[dict[str, Any]], media_type: str) -> bytes:
        """The stored bytes of the rendering of ``media_type`` among a task's documents."""
        for document in documents:
            if document["media_type"].startswith(media_type):
                return self.documents.get(document["id"])
        raise AssertionError(f"no {media_type} among {documents}")
