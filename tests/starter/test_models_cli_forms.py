"""``niva models deploy --local`` with Camunda Forms: several files, all or none."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from starter.cli import app
from tests.support.camunda_forms import REVIEW_FORM_ID, c8_review_model, form_file, review_form
from tests.support.net import free_port

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NIVA_DATA_DIR", str(tmp_path / "data"))
    # No Temporal listens here: the models have no timer start event to schedule.
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    return tmp_path / "data"


def test_deploy_local_model_with_its_form(tmp_path: Path, data_dir: Path):
    model = tmp_path / "review.bpmn"
    model.write_text(c8_review_model())
    form = tmp_path / "review.form"
    form.write_bytes(form_file(review_form()))
    alone = runner.invoke(app, ["models", "deploy", "--local", str(model)])
    assert alone.exit_code == 1
    assert f"{model}:14: Review: the form '{REVIEW_FORM_ID}' is neither" in alone.stderr
    result = runner.invoke(app, ["models", "deploy", "--local", str(model), str(form)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        f"form {REVIEW_FORM_ID} version 1 deployed ({form})",
        f"c8_review version 1 deployed ({model})",
    ]


def test_deploy_local_refuses_a_form_niva_cannot_read(tmp_path: Path, data_dir: Path):
    form = tmp_path / "upload.form"
    form.write_bytes(
        form_file(review_form(components=[{"type": "filepicker", "id": "Field_f", "key": "f"}]))
    )
    result = runner.invoke(app, ["models", "deploy", "--local", str(form)])
    assert result.exit_code == 1
    assert f"{form}:1: Field_f: component Field_f has type 'filepicker'" in result.stderr
