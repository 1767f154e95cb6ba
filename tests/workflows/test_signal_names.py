"""Computed signal names (``bpmn:signal name="=…"``, which Camunda 8 allows): evaluated in
the file's dialect when a subscription opens or the signal is thrown, as correlation keys
are; the case waits under the evaluated name (and lists its digest), and a name that cannot
be evaluated is an incident on the token."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from process_models.bpmn import read_bpmn
from process_models.convert import ConversionError, convert_to_camunda8
from process_models.deployments import ModelFile, ModelStore
from process_models.store import FileBlobStore
from process_models.validation import validate
from tests.workflows.harness import bpmn, registry_with_test_types
from workflows import search_attributes as sa
from workflows.candidates import Actor
from workflows.effects import StartService
from workflows.interpreter import Interpreter
from workflows.model import load_model
from workflows.signals import THROW_SIGNAL
from workflows.state import InstanceState
from workflows.visibility import search_attribute_updates

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
OPERATOR = Actor(subject="operator", org="SE-SOS", roles=["operator"])

NIVA = bpmn("""
<bpmn:signal id="SigRegion" name="=&quot;alert-&quot; + region"/>
<bpmn:process id="sig_computed" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Alert"/>
  <bpmn:intermediateCatchEvent id="Alert">
    <bpmn:signalEventDefinition signalRef="SigRegion"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Alert" targetRef="End"/>
  <bpmn:endEvent id="End" name="Larmad"/>
</bpmn:process>
""")
"""The niva dialect: a catch event whose signal name is a CEL expression."""

CAMUNDA8 = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Defs"
    targetNamespace="http://bpmn.io/schema/bpmn" modeler:executionPlatform="Camunda Cloud">
  <bpmn:signal id="SigDone" name="=&quot;done-&quot; + lower case(region)" />
  <bpmn:process id="c8_computed" isExecutable="true">
    <bpmn:startEvent id="Start" />
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Throw" />
    <bpmn:endEvent id="Throw">
      <bpmn:signalEventDefinition signalRef="SigDone" />
    </bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""
"""The Camunda 8 dialect: an end event throwing a signal whose name is FEEL."""


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    for name, document in (("niva.bpmn", NIVA), ("c8.bpmn", CAMUNDA8)):
        store.deploy([ModelFile(name=name, content=document.encode())])
    return store


def started(store: ModelStore, process_id: str, variables: dict[str, Any]) -> Interpreter:
    state = InstanceState(
        process_id=process_id, version=1, business_key="k", title="Case", variables=variables
    )
    interpreter = Interpreter(load_model(store.source(process_id)), state)
    interpreter.start(NOW, start_event=None, actor=None)
    interpreter.run(NOW)
    return interpreter


def test_computed_signal_names_validate_in_both_dialects():
    assert validate(read_bpmn(NIVA.encode())) == []
    assert validate(read_bpmn(CAMUNDA8.encode())) == []
    broken = read_bpmn(NIVA.replace("+ region", "+ (region").encode())
    [problem] = validate(broken)
    assert problem.element_id == "Alert"


def test_a_catch_waits_under_its_evaluated_name_and_lists_its_digest(store: ModelStore):
    case = started(store, "sig_computed", {"region": "SE-AB"})
    [subscription] = case.state.signal_subscriptions.values()
    assert subscription.signal_name == "alert-SE-AB"
    assert case.waiting_signals() == ["alert-SE-AB"]
    updates = {u.key.name: getattr(u, "value", None) for u in search_attribute_updates(case, {})}
    assert updates[sa.SIGNAL_SUBSCRIPTIONS.name] == sa.signal_entry("alert-SE-AB")

    unevaluated = '="alert-" + region'
    assert case.receive_signal("b-1", unevaluated, {}, broadcaster=OPERATOR, now=NOW) == []
    assert case.receive_signal("b-2", "alert-SE-AB", {}, broadcaster=OPERATOR, now=NOW) == ["Alert"]
    case.run(NOW)
    assert (case.state.ended, case.state.outcome) == (True, "Larmad")


def test_a_thrown_signal_name_is_evaluated_in_feel(store: ModelStore):
    case = started(store, "c8_computed", {"region": "SE-AB"})
    [effect] = case.take_effects()
    assert isinstance(effect, StartService)
    assert effect.type == THROW_SIGNAL
    assert effect.inputs["name"] == "done-se-ab"


@pytest.mark.parametrize(
    ("process_id", "variables", "element_id", "message"),
    [
        # CEL: a string plus a number fails.
        ("sig_computed", {"region": 7}, "Alert", "Unsupported operation: string + int"),
        # FEEL: "done-" + null is null, not a name.
        ("c8_computed", {}, "Throw", "the signal name must be a non-empty string, not null"),
    ],
)
def test_a_name_that_cannot_be_evaluated_is_an_incident_on_the_token(
    store: ModelStore, process_id: str, variables: dict[str, Any], element_id: str, message: str
):
    case = started(store, process_id, variables)
    [incident] = case.state.incidents.values()
    assert (incident.element_id, incident.kind) == (element_id, "expression")
    assert message in incident.message
    [token] = case.state.tokens.values()
    assert token.status == "incident"
    assert not case.state.signal_subscriptions
    assert not case.state.ended


def test_a_retry_with_corrected_variables_opens_the_subscription(store: ModelStore):
    case = started(store, "sig_computed", {"region": 7})
    [incident] = case.state.incidents.values()
    case.retry_incident(incident.id, {"region": "SE-AB"}, actor="operator", now=NOW)
    case.run(NOW)
    assert case.state.incidents == {}
    assert case.waiting_signals() == ["alert-SE-AB"]


def test_converting_a_computed_signal_name_to_camunda8_is_a_problem_not_a_guess():
    with pytest.raises(ConversionError) as refused:
        convert_to_camunda8(NIVA.encode())
    [problem] = refused.value.problems
    line = NIVA.splitlines().index(
        '<bpmn:signal id="SigRegion" name="=&quot;alert-&quot; + region"/>'
    )
    assert (problem.element_id, problem.line) == ("SigRegion", line + 1)
    assert "computed signal name" in problem.message
