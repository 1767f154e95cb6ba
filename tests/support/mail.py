"""A real SMTP server on loopback for tests (aiosmtpd) and reading the messages it got."""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session


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


def start_smtp(mailbox: Mailbox, **kwargs: Any) -> Controller:
    """Start an aiosmtpd server on ``mailbox``'s address that records into it."""
    controller = Controller(_Handler(mailbox), hostname=mailbox.host, port=mailbox.port, **kwargs)
    controller.start()
    return controller


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
