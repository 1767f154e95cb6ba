"""Secrets stay secret: a case driven through the API (a subprocess with bearer tokens) and
a worker (a subprocess with an SMTP password) leaves neither a token nor the password in
the worker's or the API's log output, in the case's history or in its search attributes;
and case data (a marked personal number in the variables and payloads) is in no log line.

Logging runs at debug level, the most talkative, in the default console format, and the
SMTP server requires the login, so the password is really used. A second case's
notification is deferred by the mail server, so the worker logs a failing activity whose
locals hold the case's variables, again on every retry.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from temporalio.testing import WorkflowEnvironment

from tests.reliability.figures import record_figures
from tests.reliability.support import MODEL, WorkerProcess, target_host
from tests.support import log_audit
from tests.support.mail import Mailbox, start_smtp
from tests.support.net import free_port

PASSWORD = "smtp-" + secrets.token_urlsafe(18)
MARK = f"19{secrets.randbelow(10**6):06d}-{secrets.randbelow(10**4):04d}"
"""A personal number: case data that no log line may hold."""
log_audit.secret(PASSWORD, what="SMTP password")
log_audit.secret(MARK, what="personal number")
DEFERRED = "deferred@example.org"


@pytest.fixture
def guarded_mailbox() -> Iterator[Mailbox]:
    """A loopback SMTP server that requires AUTH with user ``niva`` and ``PASSWORD``."""
    mailbox = Mailbox(host="127.0.0.1", port=free_port())

    def authenticate(
        server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (
            data.login == b"niva" and data.password == PASSWORD.encode()
        )
        if ok:
            mailbox.logins.append("niva")
        return AuthResult(success=ok)

    controller = start_smtp(
        mailbox, authenticator=authenticate, auth_required=True, auth_require_tls=False
    )
    try:
        yield mailbox
    finally:
        controller.stop()


def _variants(secret: str) -> list[str]:
    """The secret as it might leak: plain, base64 (SMTP AUTH PLAIN/LOGIN), JSON-escaped."""
    encoded = secret.encode()
    return [
        secret,
        base64.b64encode(encoded).decode(),
        base64.b64encode(b"\0niva\0" + encoded).decode(),
        json.dumps(secret)[1:-1],
    ]


def _spawn_api(port: int, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "starter.cli", "api", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_no_token_or_password_in_logs_histories_or_search_attributes(
    temporal_env: WorkflowEnvironment, data_dir: Path, guarded_mailbox: Mailbox, tmp_path: Path
):
    address = target_host(temporal_env.client)
    queue = f"rel-secrets-{secrets.token_hex(4)}"
    tokens = {
        role: f"tok-{role}-" + secrets.token_urlsafe(24)
        for role in ("officer", "modeler", "auditor")
    }
    log_audit.secret(*tokens.values(), what="token")
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text(
        json.dumps(
            {
                tokens["officer"]: {"subject": "officer-1", "org": "SE-SOS", "roles": ["officer"]},
                tokens["modeler"]: {"subject": "modeler-1", "org": "SE-SOS", "roles": ["modeler"]},
                tokens["auditor"]: {"subject": "auditor-1", "roles": ["auditor"]},
            }
        )
    )
    common = {
        "NIVA_LOG_LEVEL": "debug",
        "NIVA_SERVICE_SMTP_USERNAME": "niva",
        "NIVA_SERVICE_SMTP_PASSWORD": PASSWORD,
        "NIVA_SERVICE_SMTP_HOST": guarded_mailbox.host,
        "NIVA_SERVICE_SMTP_PORT": str(guarded_mailbox.port),
        "NIVA_SERVICE_SMTP_SECURITY": "none",
    }
    worker = WorkerProcess(
        address=address,
        data_dir=data_dir,
        task_queue=queue,
        log_path=tmp_path / "worker.log",
        extra_env={**common, "NIVA_LOG_FORMAT": "console"},
    )
    port = free_port()
    api_env = {
        **worker.env(),
        "NIVA_API_TOKENS_FILE": str(tokens_file),
        "NIVA_LOG_FORMAT": "console",
    }
    api_log = tmp_path / "api.log"
    worker.start()
    api = _spawn_api(port, data_dir, api_env, api_log)
    requests = 0
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(150):
                try:
                    if (await http.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)

            def auth(role: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {tokens[role]}"}

            deployed = await http.post(
                "/process-models",
                content=MODEL.encode(),
                headers={**auth("modeler"), "Content-Type": "application/xml"},
            )
            assert deployed.status_code in (200, 201), deployed.text
            started = await http.post(
                "/instances",
                json={
                    "process_id": "rel_review",
                    "business_key": "secret-case",
                    "title": "Secret case",
                    "variables": {
                        "mailbox": "registry@example.org",
                        "case_title": "Secret",
                        "personnummer": MARK,
                    },
                },
                headers=auth("officer"),
            )
            assert started.status_code == 201, started.text
            instance_id = started.json()["instance_id"]
            requests += 2
            # A refused request and an unknown token are logged too: they must not leak.
            requests += 1
            refused = await http.post(
                f"/instances/{instance_id}/cancel", json={"reason": "x"}, headers=auth("auditor")
            )
            assert refused.status_code == 403
            for _ in range(300):
                view = (await http.get(f"/instances/{instance_id}", headers=auth("officer"))).json()
                requests += 1
                if view["status"] != "running":
                    break
                for task in view["open_tasks"]:
                    done = await http.post(
                        f"/instances/{instance_id}/tasks/{task['task_id']}/complete",
                        json={"payload": {"personnummer": MARK}},
                        headers=auth("officer"),
                    )
                    requests += 1
                    assert done.status_code == 200, done.text
                await asyncio.sleep(0.2)
            assert view["status"] == "completed", view

            # A notification the mail server defers: the activity fails and is retried.
            guarded_mailbox.defer.add(DEFERRED)
            retried = await http.post(
                "/instances",
                json={
                    "process_id": "rel_review",
                    "business_key": "secret-retried",
                    "title": "Secret retried",
                    "variables": {"mailbox": DEFERRED, "case_title": MARK, "personnummer": MARK},
                },
                headers=auth("officer"),
            )
            assert retried.status_code == 201, retried.text
            retried_id = retried.json()["instance_id"]
            done = await http.post(
                f"/instances/{retried_id}/tasks/Review/complete",
                json={"payload": {"personnummer": MARK}},
                headers=auth("officer"),
            )
            assert done.status_code == 200, done.text
            requests += 2
            for _ in range(150):
                if worker.log_text().count(DEFERRED) >= 3:
                    break
                await asyncio.sleep(0.2)
            await temporal_env.client.get_workflow_handle(retried_id).terminate("test done")
        handle = temporal_env.client.get_workflow_handle(instance_id)
        history = (await handle.fetch_history()).to_json()
        description = await handle.describe()
        attributes = json.dumps(
            {k: [str(v) for v in values] for k, values in description.search_attributes.items()}
        )
    finally:
        api.terminate()
        api.wait(timeout=15)
        worker.stop()
    assert guarded_mailbox.logins, "the password was never used: the test proves nothing"
    assert len(guarded_mailbox.envelopes) == 2
    places = {
        "worker log": worker.log_text(),
        "API log": api_log.read_text(errors="replace"),
        "history": history,
        "search attributes": attributes,
    }
    assert "message delivered" in places["worker log"]  # the logs are really captured
    # The deferred notification failed at least three times, with one traceback, bounded.
    worker_log = places["worker log"]
    assert worker_log.count(DEFERRED) >= 3, worker_log[-3000:]
    assert worker_log.count("Traceback (most recent call last)") == 1, worker_log[-6000:]
    assert "repeated=" in worker_log
    assert "/tasks/" in places["API log"] or "POST" in places["API log"]
    leaks = [
        f"{what} in the {where}"
        for what, secret in [("SMTP password", PASSWORD), *tokens.items()]
        for where, text in places.items()
        for variant in _variants(secret)
        if variant in text
    ] + [
        f"personal number in the {where}"
        for where in ("worker log", "API log")
        if MARK in places[where]
    ]
    record_figures(
        "bounded",
        "secrets in logs and histories",
        faults=0,
        requests=requests,
        cases=1,
        losses=len(leaks),
        notes=f"{len(tokens) + 1} secrets x {len(places)} places, case data x 2 logs",
    )
    assert not leaks, leaks
