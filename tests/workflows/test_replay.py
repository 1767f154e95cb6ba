"""Every recorded history in tests/histories/ replays against the current workflow code.

A change to the interpreter that alters the commands of a recorded case fails here: guard
it with ``workflow.patched`` instead. Never re-record a history to make this pass; record
new ones with ``pytest --record-histories`` (existing files are never overwritten).

Each history replays twice: in the sandbox the workers run (`workflows.sandbox`, the
workflow package passed through) and in Temporal's default sandbox, which re-imports
``workflows.process_instance`` for the run and restricts every call it makes, so a wall
clock read or an I/O call slipped into the workflow module fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from workflows import WORKFLOWS
from workflows.sandbox import shared_runner

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))


def test_histories_are_recorded():
    assert len(HISTORIES) >= 5, "tests/histories/ should hold the recorded scenarios"


@pytest.mark.parametrize("sandbox", ["shared", "strict"])
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path, sandbox: str):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    runner = shared_runner() if sandbox == "shared" else SandboxedWorkflowRunner()
    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=runner
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
