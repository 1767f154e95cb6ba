"""The file outbox: one ``.eml`` file per message, the embedded stack's email channel.

A message is written to a temporary file and renamed to ``<key>.eml``, so a reader (a
person, a test, a relay picking files up) never sees half a message; writing the same
message again replaces the file with identical bytes.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from activities.channels.base import Channel, OutgoingMessage, Sender

__all__ = ["OutboxChannel"]


class OutboxChannel(Channel):
    """Writes each message as ``<directory>/<key>.eml``.

    Args:
        directory: the outbox; created when missing.
    """

    name = "email"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Sender]:
        """A sender writing into the outbox."""
        yield _OutboxSender(self.directory)


class _OutboxSender:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    async def send(self, message: OutgoingMessage) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: OutgoingMessage) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        final = self._directory / f"{message.key}.eml"
        temporary = self._directory / f".{message.key}.{uuid.uuid4().hex}.tmp"
        try:
            with temporary.open("wb") as file:
                file.write(message.to_email().as_bytes())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)
