"""Every recorded history in tests/histories/ replays against the current workflow code.

A change to the interpreter that alters the commands of a recorded case fails here: guard
it with ``workflow.patched`` instead. Never re-record a history to make this pass; record
new ones with ``pytest --record-histories`` (existing files are never overwritten).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows import WORKFLOWS

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))


def test_histories_are_recorded():
    assert len(HISTORIES) >= 5, "tests/histories/ should hold the recorded scenarios"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
