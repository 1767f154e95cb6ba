"""What the activity tests share: the case clock of their service calls, and the loopback
webhook receiver and S3 endpoint their fixtures serve."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CASE_CLOCK = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


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


@dataclass
class S3Endpoint:
    """A moto S3 server on loopback and a bucket in it."""

    endpoint_url: str
    bucket: str
    client: Any
