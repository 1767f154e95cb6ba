"""``niva models deploy --local`` with a DMN file: the model and its decisions, all or none."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from starter.cli import app
from tests.support.dmn import FEES, c8_fee_model
from tests.support.net import free_port

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NIVA_DATA_DIR", str(tmp_path / "data"))
    # No Temporal listens here: the model has no timer start event to schedule.
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    return tmp_path / "data"


def test_deploy_local_model_with_its_decisions(tmp_path: Path, data_dir: Path):
    model = tmp_path / "fee.bpmn"
    model.write_text(c8_fee_model())
    dmn = tmp_path / "fees.dmn"
    dmn.write_bytes(FEES)
    alone = runner.invoke(app, ["models", "deploy", "--local", str(model)])
    assert alone.exit_code == 1
    assert "Fee: the decision 'permit_fee' is neither in this deployment" in alone.stderr
    result = runner.invoke(app, ["models", "deploy", "--local", str(model), str(dmn)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:4] == [
        f"decision applicant_category version 1 deployed ({dmn})",
        f"decision permit_fee version 1 deployed ({dmn})",
        f"decision fee_text version 1 deployed ({dmn})",
        f"c8_fee version 1 deployed ({model})",
    ]
