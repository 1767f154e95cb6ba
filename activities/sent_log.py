"""The sent-log: which messages a channel has already delivered, shared by every worker.

One marker file per delivered message and channel, ``<dir>/<channel>/<key>``, holding a
small JSON record. A marker is created whole or not at all: the record is written to a
temporary file and hard-linked to its final name, and ``link`` fails if the name exists, on
local disks and NFS alike. So two workers racing to record the same message leave one
marker, and a reader never sees half a record.

Every worker must see the same directory (a shared volume in a cluster), or a retry that
lands on another worker sends again.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

__all__ = ["SentLog", "SentRecord"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")


class SentRecord(BaseModel):
    """What the log keeps of one delivery."""

    message_id: str
    channel: str
    recipient: str
    case_id: str
    task_id: str
    recorded_at: datetime


class SentLog:
    """Marker files under ``directory``, one per (channel, message key).

    Args:
        directory: the log's root; created when missing.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, channel: str, key: str) -> Path:
        # Keys and channel names become file names: refuse anything that could climb out.
        for label, value in (("channel", channel), ("key", key)):
            if not _NAME.match(value):
                raise ValueError(f"sent-log {label} {value!r} is not a plain lower-case name")
        return self.directory / channel / key

    def contains(self, channel: str, key: str) -> bool:
        """Whether ``channel`` has already delivered the message ``key``."""
        return self._path(channel, key).exists()

    def record(
        self,
        channel: str,
        key: str,
        *,
        message_id: str,
        recipient: str,
        case_id: str,
        task_id: str,
    ) -> bool:
        """Mark the message ``key`` as delivered by ``channel``.

        Returns:
            True if this call created the marker, False if it was there already.
        """
        path = self._path(channel, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = SentRecord(
            message_id=message_id,
            channel=channel,
            recipient=recipient,
            case_id=case_id,
            task_id=task_id,
            recorded_at=datetime.now(UTC),
        )
        temporary = path.parent / f".{key}.{uuid.uuid4().hex}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(record.model_dump_json())
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
            return True
        finally:
            temporary.unlink(missing_ok=True)

    def read(self, channel: str, key: str) -> SentRecord | None:
        """The record of the message ``key`` on ``channel``, or None if not delivered."""
        try:
            text = self._path(channel, key).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return SentRecord.model_validate(json.loads(text))
