"""The one interface every delivery channel implements, and the message it delivers.

A channel is opened once per activity attempt (`Channel.open`), so a connection is shared by
the messages of one notification but never by two activities; the sender it yields
delivers one message at a time and returns only once the other side has accepted it. The
activity records each accepted message in the sent-log under the channel's `Channel.name`.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from activities.organisations import Recipient

__all__ = ["Channel", "OutgoingMessage", "Sender", "message_key"]

MESSAGE_ID_DOMAIN = "niva"


def message_key(case_id: str, task_id: str, recipient: str) -> str:
    """The 32 hex digits that identify one message: a SHA-256 prefix of case, task and
    recipient, so every retry of the task derives the same Message-ID for that address."""
    material = "\n".join((case_id, task_id, recipient.strip().lower()))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


class OutgoingMessage(BaseModel):
    """One rendered message to one recipient."""

    model_config = ConfigDict(frozen=True)

    key: str
    sender: str
    recipient: Recipient
    subject: str
    text: str
    html: str
    language: str
    template: str
    case_id: str
    task_id: str
    element_id: str
    process_id: str
    business_key: str
    date: datetime

    @property
    def message_id(self) -> str:
        """The RFC 5322 Message-ID, ``<key@niva>``."""
        return f"<{self.key}@{MESSAGE_ID_DOMAIN}>"

    def to_email(self) -> EmailMessage:
        """The message as an email: plain text and HTML alternatives."""
        email = EmailMessage()
        email["Message-ID"] = self.message_id
        # The case's clock, not the wall clock: a retry produces the same bytes.
        date = self.date if self.date.tzinfo else self.date.replace(tzinfo=UTC)
        email["Date"] = format_datetime(date)
        email["From"] = self.sender
        email["To"] = Address(
            display_name=self.recipient.name or "", addr_spec=self.recipient.email
        )
        email["Subject"] = self.subject
        # RFC 3834: out-of-office robots must not answer automatic mail.
        email["Auto-Submitted"] = "auto-generated"
        email["X-Niva-Case"] = self.case_id
        email["X-Niva-Task"] = self.task_id
        email.set_content(self.text)
        email.add_alternative(self.html, subtype="html")
        # The default boundary is random; this one is fixed by the key, so a retry writes the
        # same bytes. "=_" cannot occur in quoted-printable or base64 parts.
        email.set_boundary(f"=_niva_{self.key}")
        # After the body: setting content replaces every Content-* header.
        email["Content-Language"] = self.language
        return email

    def to_json(self) -> bytes:
        """The message as the canonical JSON body of a webhook (sorted keys, UTF-8), so a
        retry sends, and signs, the same bytes."""
        body = {
            "event": self.template,
            "message_id": self.message_id,
            "case_id": self.case_id,
            "task_id": self.task_id,
            "element_id": self.element_id,
            "process_id": self.process_id,
            "business_key": self.business_key,
            "language": self.language,
            "recipient": self.recipient.model_dump(mode="json"),
            "subject": self.subject,
            "text": self.text,
            "date": self.date.isoformat(),
        }
        return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class Sender(Protocol):
    """Delivers messages over one open channel."""

    async def send(self, message: OutgoingMessage) -> None:
        """Deliver ``message``; return only once the other side accepted it.

        Raises:
            ApplicationError: non-retryable, when the other side refuses it for good.
            Exception: anything else, retried by Temporal.
        """
        ...


class Channel(ABC):
    """A way to deliver messages: SMTP, the file outbox, a webhook."""

    name: str
    """The channel's name in the sent-log; channels that reach the same mailbox share one
    (``email``), so switching from the outbox to SMTP does not send twice."""

    @abstractmethod
    def open(self) -> AbstractAsyncContextManager[Sender]:
        """A sender for one activity attempt; closing it releases any connection."""
