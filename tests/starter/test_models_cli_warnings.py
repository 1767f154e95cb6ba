"""``niva models validate``, ``deploy --local`` and ``layout``: warnings, and a file's dialect."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from starter.cli import app
from tests.support.net import free_port

runner = CliRunner()

CAMUNDA7 = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="urn:t">
  <bpmn:process id="warned" isExecutable="true" camunda:historyTimeToLive="180">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
    <bpmn:userTask id="Review" {assignee}/>
  </bpmn:process>
</bpmn:definitions>
"""

CAMUNDA8 = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="d" targetNamespace="urn:t"
    modeler:executionPlatform="Camunda Cloud" modeler:executionPlatformVersion="8.5.0">
  <bpmn:process id="c8_layout" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Pay"/>
    <bpmn:serviceTask id="Pay">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="charge" retries="5"/>
        <zeebe:ioMapping><zeebe:input source="=total" target="amount"/></zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Pay" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NIVA_DATA_DIR", str(tmp_path / "data"))
    # No Temporal listens here: the model has no timer start event to schedule.
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    return tmp_path / "data"


def test_validate_prints_warnings_and_passes(tmp_path: Path):
    model = tmp_path / "warned.bpmn"
    model.write_text(CAMUNDA7.format(assignee=""))
    result = runner.invoke(app, ["models", "validate", str(model)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{model}: valid (warned)\n"
    assert result.stderr.startswith(f"{model}:4: warned: warning: foreign setting ")
    assert "camunda:historyTimeToLive" in result.stderr


def test_validate_refuses_a_setting_that_decides_who_acts(tmp_path: Path):
    model = tmp_path / "assigned.bpmn"
    model.write_text(CAMUNDA7.format(assignee='camunda:assignee="demo"'))
    result = runner.invoke(app, ["models", "validate", str(model)])
    assert result.exit_code == 1
    assert f"{model}:7: Review: foreign setting camunda:assignee on userTask" in result.stderr


def test_deploy_local_prints_the_warnings_once(tmp_path: Path, data_dir: Path):
    model = tmp_path / "warned.bpmn"
    model.write_text(CAMUNDA7.format(assignee=""))
    result = runner.invoke(app, ["models", "deploy", "--local", str(model)])
    assert result.exit_code == 0, result.output
    assert f"warned version 1 deployed ({model})" in result.stdout
    assert result.stderr.count("warning: foreign setting camunda:historyTimeToLive") == 1


def test_layout_keeps_a_camunda_8_file_in_its_dialect(tmp_path: Path):
    model = tmp_path / "c8.bpmn"
    model.write_text(CAMUNDA8)
    out = tmp_path / "laid-out.bpmn"
    result = runner.invoke(app, ["models", "layout", str(model), "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = out.read_text()
    assert "urn:niva:bpmn:1" not in written
    assert "niva:" not in written
    assert '<zeebe:taskDefinition type="charge" retries="5"/>' in written
    assert '<zeebe:input source="=total" target="amount"/>' in written
    assert 'modeler:executionPlatform="Camunda Cloud"' in written
    assert "<bpmndi:BPMNShape" in written
    again = runner.invoke(app, ["models", "validate", str(out)])
    assert "valid (c8_layout)" in again.stdout
