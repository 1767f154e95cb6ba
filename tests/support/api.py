"""The API on a real Temporal dev server for tests: the test models (``LIFE``, ``ONE_TASK``)
and their forms, an app per test with its own worker, task queue, model store, document
store and dev tokens file, and its HTTP client (`Api`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field
from temporalio.client import Client

import worker
from activities.document_store import FilesystemDocumentStore
from process_models.deployments import ModelStore
from process_models.registry import default_registry
from process_models.store import FileBlobStore
from starter.api.app import create_app
from starter.api.auth import ensure_dev_tokens, read_tokens_file
from starter.settings import ApiSettings, WorkerSettings
from tests.support import log_audit
from tests.workflows import activities_for_tests
from tests.workflows.harness import bpmn, registry_with_test_types


class StartForm(BaseModel):
    """Start variables of the test models: the region the case concerns."""

    region: str = Field(pattern=r"^SE-[A-Z]+$")
    amount: int | None = None


class DecisionForm(BaseModel):
    """A decision: yes or no, with an optional comment."""

    verdict: Literal["yes", "no"]
    comment: str | None = None


default_registry.register_form("test.api.Start", StartForm)
default_registry.register_form("test.api.Decision", DecisionForm)


LIFE = bpmn("""
<bpmn:message id="MsgSupplement" name="supplement"/>
<bpmn:process id="api_life" name="API life" isExecutable="true">
  <bpmn:startEvent id="Start">
    <bpmn:extensionElements><niva:form key="test.api.Start"/></bpmn:extensionElements>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review" name="Granska">
    <bpmn:extensionElements>
      <niva:form key="test.api.Decision"/>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
      <niva:constraint expression="=payload.verdict != 'no' || has(payload.comment)" message="a refusal needs a comment"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Check"/>
  <bpmn:exclusiveGateway id="Check" default="f4"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Check" targetRef="Big">
    <bpmn:conditionExpression>=amount &gt; 100</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f4" sourceRef="Check" targetRef="Supplement"/>
  <bpmn:endEvent id="Big" name="Stor"/>
  <bpmn:intermediateCatchEvent id="Supplement" name="Komplettering">
    <bpmn:extensionElements>
      <niva:subscription candidateOrgs="=region"/>
    </bpmn:extensionElements>
    <bpmn:messageEventDefinition messageRef="MsgSupplement"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f5" sourceRef="Supplement" targetRef="Sign"/>
  <bpmn:userTask id="Sign" name="Signera">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="registrator" candidateOrgs="=region"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f6" sourceRef="Sign" targetRef="Done"/>
  <bpmn:endEvent id="Done" name="Klar"/>
</bpmn:process>
""")
"""Review (officer at SE-SOS, form, constraint) → gateway that fails without ``amount``
(an incident) → message ``supplement`` from the region → Sign (registrator of the region)."""

ONE_TASK = bpmn("""
<bpmn:process id="api_one" name="One task" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Decide"/>
  <bpmn:userTask id="Decide" name="Besluta">
    <bpmn:extensionElements>
      <niva:form key="test.api.Decision"/>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Decide" targetRef="End"/>
  <bpmn:endEvent id="End" name="Beslutad"/>
</bpmn:process>
""")
"""One task for the officer of SE-SOS; the case ends when it is completed."""


@dataclass
class Api:
    """A running app, its HTTP client, and the tokens of the demo principals."""

    app: FastAPI
    http: httpx.AsyncClient
    tokens: dict[str, str]
    store: ModelStore
    documents: FilesystemDocumentStore
    client: Client
    task_queue: str

    def auth(self, subject: str) -> dict[str, str]:
        """The Authorization header of a demo principal."""
        return {"Authorization": f"Bearer {self.tokens[subject]}"}

    async def deploy(self, *documents: str, subject: str = "modeler") -> list[dict[str, Any]]:
        """Deploy BPMN documents through the API."""
        deployed = []
        for document in documents:
            response = await self.http.post(
                "/process-models",
                content=document.encode(),
                headers={**self.auth(subject), "Content-Type": "application/xml"},
            )
            assert response.status_code in (200, 201), response.text
            deployed += response.json()
        return deployed

    async def start(
        self,
        process_id: str,
        business_key: str,
        variables: dict[str, Any] | None = None,
        subject: str = "sos-officer",
        **extra: Any,
    ) -> str:
        """Start a case through the API; its instance id."""
        response = await self.http.post(
            "/instances",
            json={
                "process_id": process_id,
                "business_key": business_key,
                "title": f"Case {business_key}",
                "variables": variables or {},
                **extra,
            },
            headers=self.auth(subject),
        )
        assert response.status_code == 201, response.text
        instance_id: str = response.json()["instance_id"]
        return instance_id

    async def complete(
        self, instance_id: str, task_id: str, payload: dict[str, Any], subject: str, **extra: Any
    ) -> httpx.Response:
        """POST …/complete as ``subject``."""
        return await self.http.post(
            f"/instances/{instance_id}/tasks/{task_id}/complete",
            json={"payload": payload, **extra},
            headers=self.auth(subject),
        )


def build_app(
    client: Client,
    task_queue: str,
    tmp_path: Path,
    *,
    settings: ApiSettings | None = None,
) -> tuple[FastAPI, dict[str, str], ModelStore, FilesystemDocumentStore]:
    """An app on the test's task queue, with the dev tokens file of ``tmp_path``."""
    tokens_file = ensure_dev_tokens(tmp_path)
    tokens = {entry.subject: token for token, entry in read_tokens_file(tokens_file).items()}
    log_audit.secret(*tokens.values(), what="dev token")
    store = ModelStore(FileBlobStore(tmp_path / "models"), registry=registry_with_test_types())
    documents = FilesystemDocumentStore(tmp_path / "documents")
    settings = (settings or ApiSettings()).model_copy(update={"tokens_file": tokens_file})
    app = create_app(
        settings, client=client, store=store, task_queue=task_queue, document_store=documents
    )
    return app, tokens, store, documents


@contextlib.asynccontextmanager
async def running_api(client: Client, task_queue: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The app with a worker on ``task_queue``, and an HTTP client to it."""
    app, tokens, store, documents = build_app(client, task_queue, tmp_path)
    running = worker.build_worker(
        client,
        WorkerSettings(task_queue=task_queue),
        store=store,
        activities=activities_for_tests.ALL,
    )
    async with (
        running,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://niva.test"
        ) as http,
    ):
        yield Api(app, http, tokens, store, documents, client, task_queue)
