"""``niva models``: flows without ids in ``layout``, and the size limit of ``deploy --local``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from process_models.bpmn import read_bpmn
from starter.cli import app
from tests.workflows.harness import bpmn

runner = CliRunner()

UNNAMED_FLOWS = bpmn("""
<bpmn:process id="p" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
  <bpmn:sequenceFlow sourceRef="Review" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


def test_layout_gives_flows_without_id_an_id_and_an_edge(tmp_path: Path):
    source = tmp_path / "m.bpmn"
    source.write_text(UNNAMED_FLOWS)
    out = tmp_path / "out.bpmn"
    result = runner.invoke(app, ["models", "layout", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    laid_out = read_bpmn(out.read_bytes())
    flow_ids = [f.id for f in laid_out.processes[0].flows]
    assert flow_ids == ["Flow_Start_Review", "f2", "Flow_Review_End"]
    (diagram,) = laid_out.diagrams
    assert sorted(e.bpmn_element for e in diagram.edges) == sorted(flow_ids)
    assert (
        f"{source}:7: flow Start -> Review has no id; it was given the id 'Flow_Start_Review'"
        in result.stderr
    )
    assert "flow Review -> End has no id; it was given the id 'Flow_Review_End'" in result.stderr


def test_deploy_local_names_the_size_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NIVA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NIVA_MODELS_MAX_BYTES", "100")
    source = tmp_path / "m.bpmn"
    source.write_text(
        UNNAMED_FLOWS.replace(
            "<bpmn:sequenceFlow sourceRef", '<bpmn:sequenceFlow id="x" sourceRef', 1
        )
    )
    result = runner.invoke(app, ["models", "deploy", "--local", str(source)])
    assert result.exit_code == 1
    assert "NIVA_MODELS_MAX_BYTES" in result.stderr
