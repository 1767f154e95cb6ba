"""Signed webhooks: each message POSTed as JSON to a back-office system.

The body is the message's canonical JSON (`OutgoingMessage.to_json`). Two headers let the
receiver trust and deduplicate it:

- ``X-Niva-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body bytes under the shared
  secret; check it with `verify_signature`;
- ``Idempotency-Key``: the message's Message-ID, the same on every retry.

A 2xx answer is acceptance. 408, 425, 429 and 5xx answers, timeouts and refused connections
are raised as they are, so Temporal retries them; any other 4xx means the receiver will
never take the message, a non-retryable ``WebhookRejected``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr

from activities.channels.base import Channel, OutgoingMessage, Sender
from activities.errors import WEBHOOK_REJECTED, model_error

__all__ = ["SIGNATURE_HEADER", "WebhookChannel", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-Niva-Signature"
_RETRYABLE_STATUS = frozenset({408, 425, 429})


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret`` (constant time)."""
    return hmac.compare_digest(sign(secret, body), header)


class WebhookChannel(Channel):
    """POSTs each message to ``url``, signed with ``secret``.

    Args:
        url: the receiver.
        secret: the HMAC key shared with the receiver.
        timeout: seconds one request may take.
        transport: an httpx transport to use instead of the network (tests).
    """

    name = "webhook"

    def __init__(
        self,
        *,
        url: str,
        secret: SecretStr,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._secret = secret.get_secret_value().encode("utf-8")
        self.timeout = timeout
        self._transport = transport

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Sender]:
        """A sender with one HTTP client (and its connection pool) for the attempt."""
        async with httpx.AsyncClient(timeout=self.timeout, transport=self._transport) as client:
            yield _WebhookSender(self, client)

    def headers(self, message: OutgoingMessage, body: bytes) -> dict[str, str]:
        """The headers of the request carrying ``message`` as ``body``."""
        return {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(self._secret, body),
            "Idempotency-Key": message.message_id,
        }


class _WebhookSender:
    def __init__(self, channel: WebhookChannel, client: httpx.AsyncClient) -> None:
        self._channel = channel
        self._client = client

    async def send(self, message: OutgoingMessage) -> None:
        body = message.to_json()
        response = await self._client.post(
            self._channel.url, content=body, headers=self._channel.headers(message, body)
        )
        status = response.status_code
        if 400 <= status < 500 and status not in _RETRYABLE_STATUS:
            raise model_error(
                WEBHOOK_REJECTED,
                f"the webhook {self._channel.url} refused message {message.message_id} with "
                f"{status} {response.reason_phrase}: {response.text[:200]}; fix the receiver "
                "or the webhook settings, then retry the incident",
                message_id=message.message_id,
                status=status,
            )
        # 5xx and the retryable 4xx: an ordinary error, which Temporal retries.
        response.raise_for_status()
