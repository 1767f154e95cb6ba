"""Zeebe's scoping of a task's input mappings, as the converted shipped models rely on it
(`process_models.convert`): a task-local input ``=null`` shadows the case variable of that
name; a completion that carries the variable overwrites the local one, one that leaves it
out keeps null; output mappings read the completion's variables, then the task's local
ones, then the case's."""

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

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)

SHADOWED = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="Definitions_shadowed"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="c8-shadowed" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Decide"/>
    <bpmn:userTask id="Decide">
      <bpmn:extensionElements>
        <zeebe:ioMapping>
          <zeebe:input source="=null" target="readvertise"/>
          <zeebe:output source="=readvertise" target="seen"/>
          <zeebe:output source="=(readvertise != null) and readvertise" target="readvertise"/>
          <zeebe:output source="=if readvertise != null then {&#34;readvertise&#34;: readvertise} else {}" target="decision"/>
        </zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Decide" targetRef="DecideAgain"/>
    <bpmn:userTask id="DecideAgain">
      <bpmn:extensionElements>
        <zeebe:ioMapping>
          <zeebe:input source="=null" target="readvertise"/>
          <zeebe:output source="=readvertise" target="seen"/>
          <zeebe:output source="=(readvertise != null) and readvertise" target="readvertise"/>
          <zeebe:output source="=if readvertise != null then {&#34;readvertise&#34;: readvertise} else {}" target="decision"/>
        </zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="DecideAgain" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _interpreter(tmp_path: Path, variables: dict[str, Any]) -> Interpreter:
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="c8-shadowed.bpmn", content=SHADOWED.encode())])
    state = InstanceState(
        process_id="c8-shadowed", version=1, business_key="k", title="Case", variables=variables
    )
    interpreter = Interpreter(load_model(store.source("c8-shadowed")), state)
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    return interpreter


def _complete(interpreter: Interpreter, task_id: str, payload: dict[str, Any]) -> None:
    interpreter.complete_task(task_id, payload, actor="bo", org=None, idempotency_key=None, now=NOW)
    interpreter.run(NOW)


def test_a_null_input_shadows_the_case_variable_until_the_completion_carries_it(
    tmp_path: Path,
):
    interpreter = _interpreter(tmp_path, {"readvertise": True})
    # The task's local null is not the case's: the case keeps its value while it is open.
    assert interpreter.state.variables["readvertise"] is True
    # A completion that leaves readvertise out: the outputs read the local null, not the
    # case's true.
    _complete(interpreter, "Decide", {"motivation": "kept"})
    variables = interpreter.state.variables
    assert variables["seen"] is None
    assert variables["readvertise"] is False
    assert variables["decision"] == {}
    # A completion that carries it: the outputs read the completion's value.
    _complete(interpreter, "DecideAgain", {"readvertise": True})
    variables = interpreter.state.variables
    assert interpreter.state.outcome is not None
    assert (variables["seen"], variables["readvertise"]) == (True, True)
    assert variables["decision"] == {"readvertise": True}
