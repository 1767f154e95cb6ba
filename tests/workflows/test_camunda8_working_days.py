"""FEEL's working-day functions in a Camunda 8 model: the calendar the process declares as
a ``zeebe:properties`` entry ``niva:calendar``, snapshotted at deployment, is the one the
expressions count with (the interpreter alone, no server)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from process_models.deployments import ModelFile, ModelStore
from process_models.store import FileBlobStore
from tests.workflows.harness import registry_with_test_types
from workflows.interpreter import Interpreter
from workflows.model import load_model
from workflows.state import InstanceState

MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_wd"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="c8-working-days" isExecutable="true">
    <bpmn:extensionElements>
      <zeebe:properties>
        <zeebe:property name="niva:timezone" value="Europe/Stockholm"/>
        <zeebe:property name="niva:calendar" value="{calendar}"/>
      </zeebe:properties>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Check"/>
    <bpmn:exclusiveGateway id="Check" default="f3"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="Wait">
      <bpmn:conditionExpression>=is working day(date(due))</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="Check" targetRef="Wait"/>
    <bpmn:intermediateCatchEvent id="Wait">
      <bpmn:timerEventDefinition>
        <bpmn:timeDate>=date and time(add working days(date(due), 2), time("12:00:00"))</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f4" sourceRef="Wait" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""

NOW = datetime(2027, 6, 1, 9, 0, tzinfo=UTC)


def _run(tmp_path: Path, calendar: str, variables: dict[str, Any]) -> Interpreter:
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    model = MODEL.replace("{calendar}", calendar)
    store.deploy([ModelFile(name="wd.bpmn", content=model.encode())])
    state = InstanceState(
        process_id="c8-working-days", version=1, business_key="k", title="Case", variables=variables
    )
    interpreter = Interpreter(load_model(store.source("c8-working-days")), state)
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    return interpreter


def test_feel_working_days_count_with_the_calendar_the_process_declares(tmp_path: Path):
    # Two working days after midsommarafton 2027 (Friday 25 June): Tuesday 29 June.
    interpreter = _run(tmp_path, "SE", {"due": "2027-06-25"})
    [timer] = interpreter.state.timers.values()
    assert timer.fire_at == datetime(2027, 6, 29, 10, 0, tzinfo=UTC)
    assert interpreter.state.incidents == {}


def test_feel_working_days_without_a_calendar_are_an_incident(tmp_path: Path):
    interpreter = _run(tmp_path, "none", {"due": "2027-06-25"})
    [incident] = interpreter.state.incidents.values()
    assert incident.element_id == "Check"
    assert "needs the process's working-day calendar" in incident.message
