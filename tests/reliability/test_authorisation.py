"""Every mutating route of the API, enumerated from its OpenAPI document, refuses callers
it must refuse: no token, a forged, expired, unsigned or foreign JWT (401), an auditor
(403) and a principal of the wrong organisation or role (403); nothing changes.

The single-route checks (claims mapping, each refusal reason, candidates per task, case
scoping) are in tests/starter/api/test_api_auth.py and test_api_authorisation.py; this
file sweeps all routes with real JWTs checked against a JWKS served on loopback.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from temporalio.client import Client

import worker
from activities.document_store import FilesystemDocumentStore
from process_models.deployments import ModelStore
from process_models.store import FileBlobStore
from starter.api.app import create_app
from starter.settings import ApiSettings, WorkerSettings
from tests.reliability.figures import record_figures
from tests.support import log_audit
from tests.workflows import activities_for_tests
from tests.workflows.harness import bpmn, registry_with_test_types

ISSUER, AUDIENCE = "https://idp.niva.test", "niva"

MODEL = bpmn("""
<bpmn:message id="MsgMore" name="more"/>
<bpmn:process id="rel_auth" name="Auth sweep" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Split"/>
  <bpmn:parallelGateway id="Split"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Split" targetRef="Decide"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Split" targetRef="More"/>
  <bpmn:userTask id="Decide" name="Besluta">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:intermediateCatchEvent id="More">
    <bpmn:extensionElements><niva:subscription candidateGroups="officer" candidateOrgs="SE-SOS"/></bpmn:extensionElements>
    <bpmn:messageEventDefinition messageRef="MsgMore"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f4" sourceRef="Decide" targetRef="Join"/>
  <bpmn:sequenceFlow id="f5" sourceRef="More" targetRef="Join"/>
  <bpmn:parallelGateway id="Join"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Join" targetRef="End"/>
  <bpmn:endEvent id="End" name="Klar"/>
</bpmn:process>
""")


@dataclass
class Idp:
    key: rsa.RSAPrivateKey
    jwks_url: str

    def token(self, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        now = datetime.now(UTC)
        payload = {
            "sub": "officer-1",
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + timedelta(minutes=5),
            "org": "SE-SOS",
            "roles": ["officer", "modeler", "operator"],
            **claims,
        }
        token = jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": "k1"})
        log_audit.secret(token, what="JWT")
        return token


@pytest.fixture(scope="module")
def idp() -> Iterator[Idp]:
    """An identity provider's JWKS on loopback (one RSA key, kid ``k1``)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Idp(key, f"http://127.0.0.1:{server.server_address[1]}/jwks.json")
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Setup:
    http: httpx.AsyncClient
    paths: dict[str, Any]
    instance_id: str
    task_id: str
    store: ModelStore


@pytest.fixture
async def setup(client: Client, task_queue: str, tmp_path: Path, idp: Idp) -> AsyncIterator[Setup]:
    store = ModelStore(FileBlobStore(tmp_path / "models"), registry=registry_with_test_types())
    app = create_app(
        ApiSettings(jwks_url=idp.jwks_url, issuer=ISSUER, audience=AUDIENCE, roles_claim="roles"),
        client=client,
        store=store,
        task_queue=task_queue,
        document_store=FilesystemDocumentStore(tmp_path / "documents"),
    )
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
        good = {"Authorization": f"Bearer {idp.token()}"}
        deployed = await http.post(
            "/process-models",
            content=MODEL.encode(),
            headers={**good, "Content-Type": "application/xml"},
        )
        assert deployed.status_code in (200, 201), deployed.text
        started = await http.post(
            "/instances",
            json={"process_id": "rel_auth", "business_key": uuid.uuid4().hex[:8], "title": "T"},
            headers=good,
        )
        assert started.status_code == 201, started.text
        instance_id = started.json()["instance_id"]
        tasks = []
        for _ in range(50):
            view = await http.get(f"/instances/{instance_id}", headers=good)
            tasks = view.json().get("open_tasks", [])
            if tasks:
                break
        assert tasks, view.text
        yield Setup(http, app.openapi()["paths"], instance_id, tasks[0]["task_id"], store)


def _mutating_routes(setup: Setup) -> list[tuple[str, str]]:
    values = {
        "instance_id": setup.instance_id,
        "task_id": setup.task_id,
        "process_id": "rel_auth",
        "version": "1",
        "name": "more",
        "incident_id": "x",
    }
    routes = []
    for template, operations in setup.paths.items():
        for method in operations:
            if method in ("post", "put", "patch", "delete"):
                path = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), template)
                routes.append((method.upper(), path))
    return sorted(routes)


def _body(method: str, path: str) -> dict[str, Any]:
    """A valid request body for the route, so only the caller can be the reason to refuse."""
    if path == "/process-models":
        return {"content": MODEL.encode(), "headers": {"Content-Type": "application/xml"}}
    if path == "/instances":
        return {"json": {"process_id": "rel_auth", "business_key": "other", "title": "T"}}
    if path.endswith("/cancel"):
        return {"json": {"reason": "test"}}
    if path.endswith("/documents"):
        return {"files": {"file": ("a.txt", b"hello", "text/plain")}}
    if path.endswith("/retry"):
        return {"json": {"variables": {}}}
    if path.startswith("/signals/"):
        return {"json": {"variables": {}}}
    if path == "/messages":
        return {"json": {"name": "more", "correlation_key": "k-1", "variables": {}}}
    if path.endswith("/modify"):
        return {"json": {"start_before": ["Start"], "reason": "test"}}
    if path == "/migrations":
        version = {"process_id": "rel_auth", "version": 1}
        return {"json": {"source": version, "target": version, "instances": ["x"]}}
    return {"json": {"payload": {}}}


async def _send(http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]):
    body = _body(method, path)
    return await http.request(method, path, headers={**headers, **body.pop("headers", {})}, **body)


async def test_every_mutating_route_refuses_bad_tokens_and_auditors(setup: Setup, idp: Idp):
    routes = _mutating_routes(setup)
    assert len(routes) >= 5, routes
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unsigned = jwt.encode(
        {"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "org": "SE-SOS", "roles": ["officer"]},
        None,
        algorithm="none",
    )
    log_audit.secret(unsigned, what="JWT")
    refused_401 = {
        "missing": {},
        "not a JWT": {"Authorization": "Bearer not-a-jwt"},
        "empty bearer": {"Authorization": "Bearer "},
        "basic": {"Authorization": "Basic b2ZmaWNlcjpwdw=="},
        "forged": {"Authorization": f"Bearer {idp.token(stranger)}"},
        "unsigned": {"Authorization": f"Bearer {unsigned}"},
        "expired": {
            "Authorization": f"Bearer {idp.token(exp=datetime.now(UTC) - timedelta(minutes=1))}"
        },
        "other issuer": {"Authorization": f"Bearer {idp.token(iss='https://evil.test')}"},
        "other audience": {"Authorization": f"Bearer {idp.token(aud='other')}"},
    }
    auditor = {"Authorization": f"Bearer {idp.token(sub='auditor-1', roles=['auditor'])}"}
    requests = 0
    wrong: list[str] = []
    for method, path in routes:
        for name, headers in refused_401.items():
            response = await _send(setup.http, method, path, headers)
            requests += 1
            if response.status_code != 401:
                wrong.append(f"{method} {path} with {name} token: {response.status_code}")
            elif "Bearer" not in response.headers.get("WWW-Authenticate", ""):
                wrong.append(f"{method} {path} with {name} token: no WWW-Authenticate")
        response = await _send(setup.http, method, path, auditor)
        requests += 1
        if response.status_code != 403:
            wrong.append(
                f"{method} {path} as auditor: {response.status_code} {response.text[:200]}"
            )
    good = {"Authorization": f"Bearer {idp.token()}"}
    view = (await setup.http.get(f"/instances/{setup.instance_id}", headers=good)).json()
    assert view["status"] == "running"
    assert [t["task_id"] for t in view["open_tasks"]] == [setup.task_id]
    assert "more" in view["accepts_messages"]
    record_figures(
        "bounded",
        "authorisation sweep",
        faults=requests,
        requests=requests,
        cases=1,
        losses=len(wrong),
        notes=f"{len(routes)} mutating routes x {len(refused_401) + 1} bad callers",
    )
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("claims", "why", "message_status"),
    [
        # Organisations that may not read the case get the 404 of a case that does not
        # exist; the agency reads it and is told why.
        ({"org": "SE-AB"}, "wrong organisation", 404),
        ({"roles": ["registrator"]}, "wrong role", 403),
        ({"org": None, "roles": []}, "no organisation, no role", 404),
    ],
)
async def test_task_and_message_refuse_the_wrong_organisation_or_role(
    setup: Setup, idp: Idp, claims: dict[str, Any], why: str, message_status: int
):
    headers = {"Authorization": f"Bearer {idp.token(sub='someone', **claims)}"}
    base = f"/instances/{setup.instance_id}"
    complete = await setup.http.post(
        f"{base}/tasks/{setup.task_id}/complete", json={"payload": {}}, headers=headers
    )
    assert complete.status_code in (403, 404), (why, complete.text)
    message = await setup.http.post(f"{base}/messages/more", json={"payload": {}}, headers=headers)
    assert message.status_code == message_status, (why, message.text)
    good = {"Authorization": f"Bearer {idp.token()}"}
    view = (await setup.http.get(base, headers=good)).json()
    assert [t["task_id"] for t in view["open_tasks"]] == [setup.task_id]
    assert "more" in view["accepts_messages"]


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"org": "SE-AB", "roles": ["officer"]}, "an organisation that is no agency"),
        ({"org": "SE-NHV-NAMND", "roles": ["board", "modeler"]}, "a modeler outside the agencies"),
        ({"org": None, "roles": ["registrator"]}, "no organisation"),
    ],
)
async def test_start_refuses_principals_the_process_does_not_declare(
    setup: Setup, idp: Idp, claims: dict[str, Any], why: str
):
    # rel_auth declares no starters: only the agencies and operators may start it.
    headers = {"Authorization": f"Bearer {idp.token(sub='someone', **claims)}"}
    key = uuid.uuid4().hex[:8]
    refused = await setup.http.post(
        "/instances",
        json={"process_id": "rel_auth", "business_key": key, "title": "T"},
        headers=headers,
    )
    assert refused.status_code == 403, (why, refused.text)
    assert "may not start rel_auth" in refused.json()["detail"]
    good = {"Authorization": f"Bearer {idp.token()}"}
    nothing = await setup.http.get(f"/instances/rel_auth:{key}", headers=good)
    assert nothing.status_code == 404, (why, nothing.text)
