"""The sent-log: one marker per message and channel, created once even under a race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from activities.sent_log import SentLog

KEY = "0123456789abcdef0123456789abcdef"


def _record(log: SentLog, channel: str = "email") -> bool:
    return log.record(
        channel,
        KEY,
        message_id=f"<{KEY}@niva>",
        recipient="registrator@region-skane.example",
        case_id="se_nhv_permit:SE-M",
        task_id="AnnualFollowUp#3",
    )


def test_sent_log_records_once(tmp_path: Path):
    log = SentLog(tmp_path)
    assert not log.contains("email", KEY)
    assert _record(log) is True
    assert _record(log) is False
    assert log.contains("email", KEY)
    assert not log.contains("webhook", KEY)  # per channel
    record = log.read("email", KEY)
    assert record is not None
    assert record.task_id == "AnnualFollowUp#3"
    assert [p.name for p in (tmp_path / "email").iterdir()] == [KEY]  # no temporaries left


def test_sent_log_race_leaves_one_winner(tmp_path: Path):
    # Several workers sharing the directory record the same message at once.
    logs = [SentLog(tmp_path) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(_record, logs))
    assert outcomes.count(True) == 1


@pytest.mark.parametrize("key", ["../escape", "UPPER", "", "a/b"])
def test_sent_log_rejects_unsafe_keys(tmp_path: Path, key: str):
    with pytest.raises(ValueError, match="not a plain lower-case name"):
        SentLog(tmp_path).contains("email", key)
