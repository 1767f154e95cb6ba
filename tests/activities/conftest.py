"""Real servers on loopback for the activity tests: SMTP (aiosmtpd), an HTTP webhook
receiver (http.server) and S3 (moto's server mode), plus a `ServiceCall` factory."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from activities.organisations import OrganisationDirectory, load_organisations
from activities.service_call import ServiceCall

CASE_CLOCK = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


@dataclass
class Mailbox:
    """What a loopback SMTP server received."""

    host: str
    port: int
    envelopes: list[Envelope] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    """Addresses answered with 550 (permanent)."""
    defer: set[str] = field(default_factory=set)
    """Addresses answered with 451 (temporary)."""
    logins: list[str] = field(default_factory=list)

    def messages(self) -> list[EmailMessage]:
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(envelope.original_content or b"") for envelope in self.envelopes]


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.mailbox.refuse:
            return "550 5.1.1 mailbox unavailable"
        if address in self.mailbox.defer:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.mailbox.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def _start_smtp(mailbox: Mailbox, **kwargs: Any) -> Controller:
    controller = Controller(_Handler(mailbox), hostname=mailbox.host, port=mailbox.port, **kwargs)
    controller.start()
    return controller


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A plain SMTP server on loopback (no TLS, no login)."""
    mailbox = Mailbox(host="127.0.0.1", port=free_port())
    controller = _start_smtp(mailbox)
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

    controller = _start_smtp(
        mailbox, authenticator=authenticate, auth_required=True, auth_require_tls=False
    )
    try:
        yield mailbox
    finally:
        controller.stop()


# --- webhook receiver -------------------------------------------------------------------


@dataclass
class Received:
    """One request the webhook receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A loopback HTTP server recording POSTs and answering with queued statuses."""

    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


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


@dataclass
class S3Endpoint:
    """A moto S3 server on loopback and a bucket in it."""

    endpoint_url: str
    bucket: str
    client: Any


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


def read_eml(path: Path) -> EmailMessage:
    """An .eml file parsed by the standard library."""
    with path.open("rb") as file:
        message = BytesParser(policy=policy.default).parse(file)
    assert isinstance(message, EmailMessage)
    return message


def body(message: EmailMessage, subtype: str) -> str:
    """The text of a message's ``text/<subtype>`` part."""
    part = message.get_body((subtype,))
    assert part is not None, f"the message has no text/{subtype} part"
    return str(part.get_content())
