"""``notify``: render a message from a template and deliver it to each recipient, once.

Recipients are organisations (their addresses for a role, from ``organisations.yaml``)
and/or direct addresses. Each recipient gets one message in its language, rendered from
``templates/notifications/<lang>/<template>.{subject,txt,html}.j2``, with a Message-ID
derived from case id + task id + address (`activities.channels.message_key`), so every
attempt of the task produces the same message under the same id.

Each message goes through every configured channel: email (SMTP, or the file outbox of the
embedded stack) and, when configured, a signed webhook. Before sending, the activity looks
the message up in the sent-log shared by all workers and skips what a channel has already
delivered; after the channel accepts a message, it records it there. Every message is
rendered before the first is sent, so a template error sends nothing.

Delivery is at-least-once. The one window for a duplicate is a crash (or a lost
connection to the log) after the server accepted a message and before its sent-log marker
was written: the retry sends it again, with the same Message-ID and ``Idempotency-Key``, so
the receiver can drop it. Claiming a marker before sending would close that window only by
opening a worse one: a crash after the claim would lose the message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal, Self

import structlog
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator
from temporalio import activity

from activities.channels import (
    Channel,
    OutboxChannel,
    OutgoingMessage,
    SmtpChannel,
    WebhookChannel,
    message_key,
)
from activities.inputs import parse_inputs
from activities.organisations import OrganisationDirectory, Recipient, load_organisations
from activities.sent_log import SentLog
from activities.settings import ActivitySettings
from activities.templating import TemplateRenderer
from service_contract import NOTIFY, ServiceCall

__all__ = ["RESERVED_VARIABLES", "NotifyActivity", "NotifyInput", "NotifyResult"]

log = structlog.get_logger("niva.activities.notify")

Language = Literal["sv", "nb", "en"]

RESERVED_VARIABLES = frozenset({"case", "recipient", "language", "timezone", "now"})
"""Names every template gets from the activity itself; a task's variables may not use them."""


class NotifyInput(BaseModel):
    """The inputs of a ``notify`` task."""

    model_config = ConfigDict(extra="forbid")

    template: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        description="The message: task_opened, reminder, deadline_passed, "
        "decision_published, case_ended, or another template under "
        "templates/notifications/<lang>/.",
    )
    organisations: list[str] = Field(
        default_factory=list, description="Organisation ids (SE-AB, NO-HSO, …) to notify."
    )
    role: str = Field(
        default="registry",
        description="Which of the organisations' addresses: registry, nhv, "
        "national_services, secretariat.",
    )
    addresses: list[str] = Field(
        default_factory=list, description="Direct email addresses to notify as well."
    )
    language: Language | None = Field(
        default=None,
        description="sv, nb or en for every recipient; unset: each organisation's own "
        "language (then direct addresses need it set).",
    )
    variables: dict[str, JsonValue] = Field(
        default_factory=dict, description="The template's variables."
    )
    subject: str | None = Field(
        default=None, description="A subject that replaces the template's own."
    )

    @model_validator(mode="after")
    def _someone_and_a_language(self) -> Self:
        if not self.organisations and not self.addresses:
            raise ValueError("name at least one recipient in 'organisations' or 'addresses'")
        if self.addresses and self.language is None:
            raise ValueError(
                "direct 'addresses' have no language of their own: set 'language' (sv, nb, en)"
            )
        for address in self.addresses:
            local, at, domain = address.partition("@")
            if not (local and at and "." in domain) or any(c in address for c in " <>\r\n"):
                raise ValueError(f"address {address!r} is not an email address")
        reserved = sorted(RESERVED_VARIABLES.intersection(self.variables))
        if reserved:
            raise ValueError(
                f"variables {', '.join(reserved)} are set by notify itself: rename them"
            )
        return self


class NotifyResult(BaseModel):
    """What a ``notify`` task did; message ids are RFC 5322 Message-IDs (``<…@niva>``)."""

    message_ids: list[str] = Field(description="Every message of the notification.")
    recipients: list[str] = Field(description="Their addresses, in the same order.")
    sent: list[str] = Field(description="Messages this attempt delivered on some channel.")
    skipped: list[str] = Field(
        description="Messages every channel had delivered before (found in the sent-log)."
    )


class NotifyActivity:
    """The ``notify`` activity with its organisations, channels and sent-log.

    Args:
        organisations: where organisation ids are resolved to addresses.
        channels: every channel a message goes through, in order.
        sent_log: the log shared by all workers.
        mail_from: the From header.
        templates: the template folder's renderer.
    """

    def __init__(
        self,
        *,
        organisations: OrganisationDirectory,
        channels: Sequence[Channel],
        sent_log: SentLog,
        mail_from: str,
        templates: TemplateRenderer | None = None,
    ) -> None:
        names = [channel.name for channel in channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channels {names} share a sent-log name: configure one of each")
        self.organisations = organisations
        self.channels = list(channels)
        self.sent_log = sent_log
        self.mail_from = mail_from
        self.templates = templates or TemplateRenderer()

    @classmethod
    def from_settings(cls, settings: ActivitySettings) -> NotifyActivity:
        """Email by SMTP when ``smtp_host`` is set, else the outbox; plus the webhook when
        ``webhook_url`` is set."""
        email: Channel
        if settings.smtp_host:
            email = SmtpChannel(
                host=settings.smtp_host,
                port=settings.smtp_port,
                security=settings.smtp_security,
                username=settings.smtp_username,
                password=settings.smtp_password,
                timeout=settings.smtp_timeout_seconds,
            )
        else:
            email = OutboxChannel(settings.outbox_dir)
        channels: list[Channel] = [email]
        if settings.webhook_url and settings.webhook_secret:
            channels.append(
                WebhookChannel(
                    url=settings.webhook_url,
                    secret=settings.webhook_secret,
                    timeout=settings.webhook_timeout_seconds,
                )
            )
        return cls(
            organisations=load_organisations(settings.organisations_file),
            channels=channels,
            sent_log=SentLog(settings.sent_log_dir),
            mail_from=settings.mail_from,
        )

    @activity.defn(name=NOTIFY)
    async def notify(self, call: ServiceCall) -> NotifyResult:
        """Render the notification of ``call`` and deliver each message not yet delivered.

        Raises:
            ApplicationError: ``BpmnError`` ``UnknownRecipient`` for an organisation or role
                without addresses; non-retryable ``InvalidInput``, ``TemplateNotFound``,
                ``TemplateVariableMissing``, ``TemplateError``, ``MessageRejected`` or
                ``WebhookRejected`` for bugs in the model or its data.
            Exception: transport failures, retried by Temporal.
        """
        request = parse_inputs(call, NotifyInput)
        messages = [
            self._compose(call, request, recipient) for recipient in self._recipients(request)
        ]
        logger = log.bind(case_id=call.case_id, task_id=call.task_id, template=request.template)
        delivered: set[str] = set()
        for channel in self.channels:
            pending = [
                message
                for message in messages
                if not await asyncio.to_thread(self.sent_log.contains, channel.name, message.key)
            ]
            if not pending:
                continue
            async with channel.open() as sender:
                for message in pending:
                    await sender.send(message)
                    await asyncio.to_thread(
                        self.sent_log.record,
                        channel.name,
                        message.key,
                        message_id=message.message_id,
                        recipient=message.recipient.email,
                        case_id=call.case_id,
                        task_id=call.task_id,
                    )
                    delivered.add(message.key)
                    logger.info(
                        "message delivered", channel=channel.name, message_id=message.message_id
                    )
                    activity.heartbeat(channel.name, message.key)
        return NotifyResult(
            message_ids=[message.message_id for message in messages],
            recipients=[message.recipient.email for message in messages],
            sent=[message.message_id for message in messages if message.key in delivered],
            skipped=[message.message_id for message in messages if message.key not in delivered],
        )

    def _recipients(self, request: NotifyInput) -> list[Recipient]:
        """Organisations' addresses, then direct ones, each address once (first wins)."""
        found: dict[str, Recipient] = {}
        for org_id in request.organisations:
            for recipient in self.organisations.recipients(org_id, request.role):
                found.setdefault(recipient.email.lower(), recipient)
        for address in request.addresses:
            found.setdefault(address.lower(), Recipient(email=address))
        return list(found.values())

    def _compose(
        self, call: ServiceCall, request: NotifyInput, recipient: Recipient
    ) -> OutgoingMessage:
        language = request.language or recipient.language or "en"
        context: dict[str, Any] = {
            **request.variables,
            "case": {
                "id": call.case_id,
                "business_key": call.business_key,
                "process_id": call.process_id,
                "process_version": call.process_version,
                "task_id": call.task_id,
                "element_id": call.element_id,
            },
            "recipient": recipient.model_dump(),
            "language": language,
            "timezone": call.timezone,
            "now": call.now,
        }
        base = f"notifications/{language}/{request.template}"
        if request.subject is not None:
            subject = request.subject
        else:
            subject = self.templates.render(
                f"{base}.subject.j2", context, element_id=call.element_id
            )
        return OutgoingMessage(
            key=message_key(call.case_id, call.task_id, recipient.email),
            sender=self.mail_from,
            recipient=recipient,
            # A subject is one header line: a newline from a variable must not end it.
            subject=" ".join(subject.split()),
            text=self.templates.render(f"{base}.txt.j2", context, element_id=call.element_id),
            html=self.templates.render(f"{base}.html.j2", context, element_id=call.element_id),
            language=language,
            template=request.template,
            case_id=call.case_id,
            task_id=call.task_id,
            element_id=call.element_id,
            process_id=call.process_id,
            business_key=call.business_key,
            date=call.now,
        )
