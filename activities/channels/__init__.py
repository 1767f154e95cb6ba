"""How notifications leave niva: email (SMTP or the file outbox) and signed webhooks."""

from __future__ import annotations

from activities.channels.base import Channel, OutgoingMessage, Sender, message_key
from activities.channels.outbox import OutboxChannel
from activities.channels.smtp import SmtpChannel
from activities.channels.webhook import WebhookChannel, sign, verify_signature

__all__ = [
    "Channel",
    "OutboxChannel",
    "OutgoingMessage",
    "Sender",
    "SmtpChannel",
    "WebhookChannel",
    "message_key",
    "sign",
    "verify_signature",
]
