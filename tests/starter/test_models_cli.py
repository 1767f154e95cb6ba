"""``niva models``: validate, deploy --local, list, export and layout, as a user runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from process_models.bpmn import read_bpmn
from starter.cli import app
from starter.schedules import schedule_id
from tests.process_models.test_deployments import model
from tests.starter.test_schedules import timer_start
from tests.support.net import free_port

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NIVA_DATA_DIR", str(tmp_path / "data"))
    # No Temporal listens here: a deploy never touches a server the test did not choose.
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    return tmp_path / "data"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_validate_valid_file(tmp_path: Path):
    path = write(tmp_path, "ok.bpmn", model())
    result = runner.invoke(app, ["models", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid (p)" in result.output


def test_validate_reports_file_line_element_message(tmp_path: Path):
    broken = write(tmp_path, "bad.bpmn", model().replace('targetRef="e"', 'targetRef="gone"'))
    junk = write(tmp_path, "junk.bpmn", "not xml at all")
    result = runner.invoke(app, ["models", "validate", str(broken), str(junk)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"{broken}:10: f2: ") and "'gone'" in line for line in lines)
    assert any(line.startswith(f"{junk}:") for line in lines)


def test_deploy_list_export(tmp_path: Path, data_dir: Path):
    path = write(tmp_path, "p.bpmn", model())
    first = runner.invoke(app, ["models", "deploy", "--local", str(path)])
    assert first.exit_code == 0, first.output
    assert "p version 1 deployed" in first.output
    again = runner.invoke(app, ["models", "deploy", "--local", str(path)])
    assert "p version 1 unchanged" in again.output
    listed = runner.invoke(app, ["models", "list"])
    assert listed.output.startswith("p\tversion 1\ttag -")
    out = tmp_path / "exported.bpmn"
    exported = runner.invoke(app, ["models", "export", "p", "--version", "1", "-o", str(out)])
    assert exported.exit_code == 0
    assert out.read_bytes() == path.read_bytes()
    missing = runner.invoke(app, ["models", "export", "nope"])
    assert missing.exit_code == 1
    assert "no process 'nope'" in missing.stderr


def test_deploy_invalid_changes_nothing(tmp_path: Path, data_dir: Path):
    bad = write(tmp_path, "bad.bpmn", model().replace('targetRef="e"', 'targetRef="gone"'))
    result = runner.invoke(app, ["models", "deploy", "--local", str(bad)])
    assert result.exit_code == 1
    assert "'gone'" in result.stderr
    assert runner.invoke(app, ["models", "list"]).output == ""


def test_deploy_local_says_when_schedules_cannot_be_synced(tmp_path: Path, data_dir: Path):
    path = write(tmp_path, "scheduled.bpmn", timer_start("R/2030-03-01/P1Y"))
    result = runner.invoke(app, ["models", "deploy", "--local", str(path)])
    assert result.exit_code == 3, result.output
    assert "scheduled version 1 deployed" in result.stdout
    assert "were not synced" in result.stderr
    assert schedule_id("scheduled", "Yearly") in result.stderr
    # The deployment itself stands.
    assert runner.invoke(app, ["models", "list"]).output.startswith("scheduled\tversion 1")


def test_deploy_local_without_timer_starts_needs_no_temporal(tmp_path: Path, data_dir: Path):
    path = write(tmp_path, "p.bpmn", model())
    result = runner.invoke(app, ["models", "deploy", "--local", str(path)])
    assert result.exit_code == 0, result.output
    assert "no deployed process has a timer start event" in result.stderr


async def test_deploy_local_syncs_schedules_on_a_reachable_server(
    tmp_path: Path,
    data_dir: Path,
    temporal_env: WorkflowEnvironment,
    client: Client,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    monkeypatch.setenv("NIVA_WORKER_TASK_QUEUE", task_queue)
    sid = schedule_id("scheduled", "Yearly")
    path = write(tmp_path, "scheduled.bpmn", timer_start("R/2030-03-01/P1Y"))
    # The command runs its own event loop, so it runs in a thread of its own here.
    result = await asyncio.to_thread(runner.invoke, app, ["models", "deploy", "--local", str(path)])
    try:
        assert result.exit_code == 0, result.output
        assert f"schedules in sync on {client.service_client.config.target_host}: {sid}" in (
            result.stdout
        )
        description = await client.get_schedule_handle(sid).describe()
        assert description.schedule.action.task_queue == task_queue

        # A version without the timer start event removes its schedule.
        path.write_text(timer_start("R/2030-03-01/P1Y", with_timer=False))
        result = await asyncio.to_thread(
            runner.invoke, app, ["models", "deploy", "--local", str(path)]
        )
        assert result.exit_code == 0, result.output
        # Asked by id: the list of schedules comes from visibility, which lags.
        with pytest.raises(RPCError) as gone:
            await client.get_schedule_handle(sid).describe()
        assert gone.value.status == RPCStatusCode.NOT_FOUND
    finally:
        async for listed in await client.list_schedules():
            if listed.id == sid:
                await client.get_schedule_handle(sid).delete()


def test_deploy_through_the_api_needs_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NIVA_TOKEN", raising=False)
    path = write(tmp_path, "p.bpmn", model())
    result = runner.invoke(app, ["models", "deploy", str(path)])
    assert result.exit_code == 2
    assert "no token" in result.stderr


def test_layout_adds_a_diagram(tmp_path: Path):
    path = write(tmp_path, "p.bpmn", model())
    out = tmp_path / "laid-out.bpmn"
    result = runner.invoke(app, ["models", "layout", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    defs = read_bpmn(out.read_bytes())
    [diagram] = defs.diagrams
    assert {s.bpmn_element for s in diagram.shapes} >= {"s", "Review", "e"}
    assert {e.bpmn_element for e in diagram.edges} == {"f1", "f2"}
