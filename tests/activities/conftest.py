"""Real servers on loopback for the activity tests: SMTP (aiosmtpd), an HTTP webhook
receiver (http.server) and S3 (moto's server mode), plus a `ServiceCall` factory (helpers in `tests.support`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from activities.organisations import OrganisationDirectory, load_organisations
from service_contract import ServiceCall
from tests.support.activities import CASE_CLOCK, Received, S3Endpoint, WebhookReceiver
from tests.support.mail import Mailbox, start_smtp
from tests.support.net import free_port


@pytest.fixture
def make_call() -> Callable[..., ServiceCall]:
    """Build a `ServiceCall` as the interpreter would, with overridable fields."""

    def build(type_: str = "notify", **fields: Any) -> ServiceCall:
        values: dict[str, Any] = {
            "type": type_,
            "element_id": "NotifyRegions",
            "task_id": "NotifyRegions",
            "case_id": "se_nhv_designation:2025-leversvikt",
            "process_id": "se_nhv_designation",
            "process_version": 1,
            "business_key": "2025-leversvikt",
            "now": CASE_CLOCK,
            "timezone": "Europe/Stockholm",
            "inputs": {},
        }
        values.update(fields)
        return ServiceCall.model_validate(values)

    return build


@pytest.fixture(scope="session")
def organisations() -> OrganisationDirectory:
    """The shipped organisations."""
    return load_organisations()


# --- SMTP -------------------------------------------------------------------------------


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A plain SMTP server on loopback (no TLS, no login)."""
    mailbox = Mailbox(host="127.0.0.1", port=free_port())
    controller = start_smtp(mailbox)
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_server_with_login() -> Iterator[Mailbox]:
    """A loopback SMTP server that requires AUTH (user ``niva``, password ``s3cret``)."""
    mailbox = Mailbox(host="127.0.0.1", port=free_port())

    def authenticate(
        server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login == b"niva" and auth_data.password == b"s3cret"
        )
        if ok:
            mailbox.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    controller = start_smtp(
        mailbox, authenticator=authenticate, auth_required=True, auth_require_tls=False
    )
    try:
        yield mailbox
    finally:
        controller.stop()


# --- webhook receiver -------------------------------------------------------------------


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A real HTTP server on loopback; answers 204 unless a status is queued."""
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            receiver.requests.append(
                Received(path=self.path, headers=dict(self.headers.items()), body=body)
            )
            status = receiver.statuses.pop(0) if receiver.statuses else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/niva"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- S3 ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """moto in server mode on loopback, with one bucket; skipped if moto cannot start."""
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        pytest.skip(f"the S3 store tests need boto3 and moto[server] (test extras): {exc}")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
    except Exception as exc:  # any start failure means: no S3 here, say why
        pytest.skip(f"moto's S3 server did not start on loopback: {exc}")
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-north-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(
        Bucket="niva-documents",
        CreateBucketConfiguration={"LocationConstraint": "eu-north-1"},
    )
    try:
        yield S3Endpoint(endpoint_url=endpoint, bucket="niva-documents", client=client)
    finally:
        server.stop()
