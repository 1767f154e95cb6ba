"""Email over SMTP with aiosmtplib: STARTTLS or implicit TLS, optional login.

One connection per activity attempt, opened on the first message and shared by the rest.
Replies decide whether a retry can help: a 4xx reply, a dropped connection or a refused
connect is raised as it is and retried by Temporal; a 5xx reply to the sender, a recipient
or the data means the server will never take that message, so it is a non-retryable
``MessageRejected`` naming the address and the server's words.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosmtplib
from pydantic import SecretStr

from activities.channels.base import Channel, OutgoingMessage, Sender
from activities.errors import MESSAGE_REJECTED, model_error
from activities.settings import SmtpSecurity

__all__ = ["SmtpChannel"]


def _permanent(code: int) -> bool:
    return 500 <= code < 600


class SmtpChannel(Channel):
    """Delivers email through an SMTP server.

    Args:
        host: the server.
        port: its port (587 for STARTTLS submission, 465 for implicit TLS).
        security: ``starttls`` (required upgrade), ``tls`` (implicit) or ``none``.
        username: the login, if the server wants one.
        password: the login's password.
        timeout: seconds one SMTP command may take.
    """

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: SmtpSecurity = "starttls",
        username: str | None = None,
        password: SecretStr | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout

    def client(self) -> aiosmtplib.SMTP:
        """An unconnected client configured for this server."""
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password.get_secret_value() if self.password else None,
            use_tls=self.security == "tls",
            # True makes STARTTLS mandatory: a server that does not offer it fails the
            # connection instead of silently carrying mail in plain text.
            start_tls=self.security == "starttls",
            timeout=self.timeout,
        )

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Sender]:
        """A sender that connects on its first message and quits when closed."""
        sender = _SmtpSender(self)
        try:
            yield sender
        finally:
            await sender.close()


class _SmtpSender:
    def __init__(self, channel: SmtpChannel) -> None:
        self._channel = channel
        self._client: aiosmtplib.SMTP | None = None

    async def send(self, message: OutgoingMessage) -> None:
        if self._client is None:
            client = self._channel.client()
            await client.connect()
            self._client = client
        try:
            await self._client.send_message(message.to_email())
        except aiosmtplib.SMTPRecipientsRefused as exc:
            if all(_permanent(refusal.code) for refusal in exc.recipients):
                raise self._rejected(
                    message,
                    "; ".join(
                        f"{refusal.recipient}: {refusal.code} {refusal.message}"
                        for refusal in exc.recipients
                    ),
                ) from exc
            raise
        except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError) as exc:
            if _permanent(exc.code):
                raise self._rejected(message, f"{exc.code} {exc.message}") from exc
            raise

    def _rejected(self, message: OutgoingMessage, reply: str) -> Exception:
        return model_error(
            MESSAGE_REJECTED,
            f"the mail server {self._channel.host}:{self._channel.port} refused message "
            f"{message.message_id} to {message.recipient.email} for good ({reply}); fix the "
            "address in organisations.yaml or the task's inputs, then retry the incident",
            message_id=message.message_id,
            recipient=message.recipient.email,
            reply=reply,
        )

    async def close(self) -> None:
        if self._client is not None and self._client.is_connected:
            try:
                await self._client.quit()
            except aiosmtplib.SMTPException:
                # The messages are accepted already; a failed goodbye changes nothing.
                self._client.close()
