"""``niva models validate`` with Camunda Forms and DMN files beside the BPMN, as deployed."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from starter.cli import app
from tests.support.camunda_forms import (
    REVIEW_FORM_ID,
    c8_embedded_model,
    c8_review_model,
    form_file,
    review_form,
)
from tests.support.dmn import FEES, c8_fee_model

runner = CliRunner()


def test_validate_model_with_its_form_and_decisions(tmp_path: Path):
    model = tmp_path / "review.bpmn"
    model.write_text(c8_review_model())
    form = tmp_path / "review.form"
    form.write_bytes(form_file(review_form()))
    fee = tmp_path / "fee.bpmn"
    fee.write_text(c8_fee_model())
    dmn = tmp_path / "fees.dmn"
    dmn.write_bytes(FEES)
    result = runner.invoke(app, ["models", "validate", str(model), str(form), str(fee), str(dmn)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert f"{form}: valid ({REVIEW_FORM_ID})" in result.stdout
    assert f"{dmn}: valid (applicant_category, permit_fee, fee_text)" in result.stdout
    assert f"{model}: valid (c8_review)" in result.stdout
    assert f"{fee}: valid (c8_fee)" in result.stdout


def test_validate_warns_of_a_form_or_decision_not_among_the_files(tmp_path: Path):
    model = tmp_path / "review.bpmn"
    model.write_text(c8_review_model())
    fee = tmp_path / "fee.bpmn"
    fee.write_text(c8_fee_model())
    result = runner.invoke(app, ["models", "validate", str(model), str(fee)])
    assert result.exit_code == 0, result.output
    assert (
        f"{model}:14: Review: warning: the form '{REVIEW_FORM_ID}' is not among these files"
        in result.stderr
    )
    assert f"{fee}:" in result.stderr
    assert "Fee: warning: the decision 'permit_fee' is not among these files" in result.stderr


def test_validate_reports_problems_of_form_and_dmn_files_with_file_and_line(tmp_path: Path):
    form = tmp_path / "upload.form"
    form.write_bytes(
        form_file(review_form(components=[{"type": "filepicker", "id": "Field_f", "key": "f"}]))
    )
    dmn = tmp_path / "broken.dmn"
    dmn.write_bytes(FEES.replace(b'hitPolicy="', b'hitPolicy="NOT_A_POLICY_', 1))
    result = runner.invoke(app, ["models", "validate", str(form), str(dmn)])
    assert result.exit_code == 1
    assert f"{form}:1: Field_f: component Field_f has type 'filepicker'" in result.stderr
    assert f"{dmn}:" in result.stderr
    broken = [line for line in result.stderr.splitlines() if line.startswith(f"{dmn}:")]
    assert broken, result.stderr
    assert broken[0].split(":")[1].isdigit(), result.stderr


def test_validate_reports_an_embedded_form_niva_cannot_read(tmp_path: Path):
    good = tmp_path / "embedded.bpmn"
    good.write_text(c8_embedded_model(review_form()))
    broken = tmp_path / "broken.bpmn"
    broken.write_text(
        c8_embedded_model(
            review_form(components=[{"type": "filepicker", "id": "Field_f", "key": "f"}])
        )
    )
    result = runner.invoke(app, ["models", "validate", str(good), str(broken)])
    assert result.exit_code == 1
    assert f"{good}: valid (c8_embedded)" in result.stdout
    assert (
        f"{broken}:8: Field_f: the embedded form 'userTaskForm_1' (zeebe:userTaskForm): "
        in result.stderr
    )
