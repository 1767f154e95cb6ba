"""Validation of compensation: boundary events with exactly one associated handler,
handlers without sequence flows, throws that name an activity of their scope."""

from __future__ import annotations

from process_models.bpmn import read_bpmn
from process_models.bpmn.subset import blockers
from process_models.compensation import compensation_links
from process_models.validation import validate
from tests.workflows.harness import bpmn

GOOD = bpmn("""
<bpmn:process id="good" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="A"/>
  <bpmn:userTask id="A"/>
  <bpmn:sequenceFlow id="f2" sourceRef="A" targetRef="Throw"/>
  <bpmn:intermediateThrowEvent id="Throw">
    <bpmn:compensateEventDefinition activityRef="A"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="Throw" targetRef="End"/>
  <bpmn:endEvent id="End"><bpmn:compensateEventDefinition/></bpmn:endEvent>
  <bpmn:boundaryEvent id="CompA" attachedToRef="A"><bpmn:compensateEventDefinition/>
  </bpmn:boundaryEvent>
  <bpmn:userTask id="UndoA" isForCompensation="true"/>
  <bpmn:association id="Assoc" sourceRef="CompA" targetRef="UndoA"/>
</bpmn:process>
""")

BROKEN = bpmn("""
<bpmn:process id="broken" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="A"/>
  <bpmn:userTask id="A"/>
  <bpmn:sequenceFlow id="f2" sourceRef="A" targetRef="Throw"/>
  <bpmn:intermediateThrowEvent id="Throw">
    <bpmn:compensateEventDefinition activityRef="Nowhere" waitForCompletion="false"/>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="Throw" targetRef="End"/>
  <bpmn:endEvent id="End"/>
  <bpmn:boundaryEvent id="NoHandler" attachedToRef="A"><bpmn:compensateEventDefinition/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f5" sourceRef="NoHandler" targetRef="End"/>
  <bpmn:userTask id="Loose" isForCompensation="true"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Loose" targetRef="End"/>
  <bpmn:subProcess id="OnComp" triggeredByEvent="true">
    <bpmn:startEvent id="CompStart"><bpmn:compensateEventDefinition/></bpmn:startEvent>
  </bpmn:subProcess>
</bpmn:process>
""")


def _by_element(document: str) -> dict[str | None, list[str]]:
    found: dict[str | None, list[str]] = {}
    for problem in validate(read_bpmn(document.encode())):
        found.setdefault(problem.element_id, []).append(problem.message)
    return found


def test_compensation_elements_are_executable_and_linked_by_their_association():
    assert validate(read_bpmn(GOOD.encode())) == []
    # Running reads the association too, from a model read for execution.
    definitions = read_bpmn(GOOD.encode(), for_execution=True)
    [process] = definitions.processes
    assert blockers(process) == []
    [link] = compensation_links(definitions, process)
    assert (link.activity_id, link.boundary_id, link.handler_id) == ("A", "CompA", "UndoA")


def test_validation_reports_compensation_that_cannot_run():
    found = _by_element(BROKEN)
    assert any("exactly one compensation handler" in m for m in found["NoHandler"])
    assert any("no outgoing sequence flows" in m for m in found["NoHandler"])
    assert any("activityRef 'Nowhere'" in m for m in found["Throw"])
    assert any("waitForCompletion" in m for m in found["Throw"])
    assert any("no incoming or outgoing sequence flows" in m for m in found["Loose"])
    assert any("no compensation boundary event is associated" in m for m in found["Loose"])
    assert any("compensation event subprocess is not executable" in m for m in found["CompStart"])
    # A handler is never reported unreachable: only compensation starts it.
    assert not any("unreachable" in m for m in found["Loose"])


def test_a_boundary_with_two_handlers_is_refused():
    two = GOOD.replace(
        '<bpmn:association id="Assoc" sourceRef="CompA" targetRef="UndoA"/>',
        '<bpmn:association id="Assoc" sourceRef="CompA" targetRef="UndoA"/>'
        '<bpmn:userTask id="UndoA2" isForCompensation="true"/>'
        '<bpmn:association id="Assoc2" sourceRef="UndoA2" targetRef="CompA"/>',
    )
    found = _by_element(two)
    assert any("found 2: UndoA, UndoA2" in m for m in found["CompA"])
