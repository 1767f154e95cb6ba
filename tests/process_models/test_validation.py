"""Validation reports every problem of a model at once, each with element id and line."""

from __future__ import annotations

from pydantic import BaseModel

from process_models.bpmn import read_bpmn
from process_models.registry import default_registry
from process_models.validation import validate
from tests.workflows.harness import bpmn


def problems_of(document: str, **kwargs):
    return validate(read_bpmn(document.encode()), **kwargs)


def by_element(problems) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in problems:
        found.setdefault(problem.element_id or "", []).append(problem.message)
    return found


VALID = bpmn("""
<bpmn:message id="M" name="withdrawal"/>
<bpmn:process id="valid" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Split"/>
  <bpmn:parallelGateway id="Split"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Split" targetRef="Review"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Split" targetRef="Wait"/>
  <bpmn:userTask id="Review">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="=reviewers" candidateOrgs="SE-SOS"/>
      <niva:constraint expression="=payload.units &gt;= 1" message="at least one unit"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:boundaryEvent id="Deadline" attachedToRef="Review">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P10W</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f4" sourceRef="Deadline" targetRef="Join"/>
  <bpmn:intermediateCatchEvent id="Wait">
    <bpmn:messageEventDefinition messageRef="M"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f5" sourceRef="Review" targetRef="Join"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Wait" targetRef="Notify"/>
  <bpmn:serviceTask id="Notify">
    <bpmn:extensionElements><niva:taskDefinition type="notify" retries="3" timeout="PT1M"/></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f7" sourceRef="Notify" targetRef="Join"/>
  <bpmn:exclusiveGateway id="Join"/>
  <bpmn:sequenceFlow id="f8" sourceRef="Join" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


def test_valid_model_has_no_problems():
    assert problems_of(VALID) == []


BROKEN = bpmn("""
<bpmn:process id="broken" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Choose"/>
  <bpmn:exclusiveGateway id="Choose"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Choose" targetRef="Call">
    <bpmn:conditionExpression>=x &gt;</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f3" sourceRef="Choose" targetRef="Form"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Choose" targetRef="Nowhere"/>
  <bpmn:callActivity id="Call">
    <bpmn:extensionElements><niva:calledElement processId="no_such_process"/></bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:userTask id="Form">
    <bpmn:extensionElements><niva:form key="no.such.Form"/></bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:boundaryEvent id="Late" attachedToRef="Form">
    <bpmn:timerEventDefinition><bpmn:timeDuration>ten weeks</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f5" sourceRef="Late" targetRef="End"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Call" targetRef="Send"/>
  <bpmn:serviceTask id="Send">
    <bpmn:extensionElements><niva:taskDefinition type="notfy"/></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f7" sourceRef="Send" targetRef="Both"/>
  <bpmn:complexGateway id="Both"/>
  <bpmn:sequenceFlow id="f8" sourceRef="Both" targetRef="End"/>
  <bpmn:endEvent id="End"/>
  <bpmn:userTask id="Orphan"/>
  <bpmn:userTask id="Form"/>
</bpmn:process>
""")


def test_every_problem_reported_at_once_with_id_and_line():
    problems = problems_of(BROKEN, known_processes=["broken"])
    found = by_element(problems)
    assert any("does not compile" in m or "expression" in m for m in found["f2"])
    assert any("'Nowhere'" in m for m in found["f4"])
    assert any("no condition" in m for m in found["f3"])
    # A call of a process not deployed is a warning (deployments are often split).
    assert not any("no_such_process" in m for m in found.get("Call", []))
    assert any("unknown form key 'no.such.Form'" in m for m in found["Form"])
    assert any("ten weeks" in m for m in found["Late"])
    assert any("unknown task type 'notfy' (did you mean notify?)" in m for m in found["Send"])
    assert any("complexGateway" in m for m in found["Both"])
    assert any("unreachable" in m for m in found["Orphan"])
    # A task that nothing leaves ends its token there (an implicit end).
    assert not any("dead end" in m for m in found["Orphan"])
    assert any("duplicate id 'Form'" in m for m in found["Form"])
    assert all(p.line is not None and p.line > 0 for p in problems)
    # Sorted by line, so an editor can walk them top to bottom.
    lines = [p.line or 0 for p in problems]
    assert lines == sorted(lines)


def test_file_without_executable_process_is_reported():
    document = bpmn(
        '<bpmn:process id="p" isExecutable="false"><bpmn:startEvent id="s"/></bpmn:process>'
    )
    [problem] = problems_of(document)
    assert "no executable process" in problem.message


def test_subprocess_without_start_and_boundary_on_gateway():
    document = bpmn("""
    <bpmn:process id="p" isExecutable="true">
      <bpmn:startEvent id="s"/>
      <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="Sub"/>
      <bpmn:subProcess id="Sub">
        <bpmn:userTask id="Inner"/>
      </bpmn:subProcess>
      <bpmn:sequenceFlow id="f2" sourceRef="Sub" targetRef="g"/>
      <bpmn:exclusiveGateway id="g"/>
      <bpmn:boundaryEvent id="b" attachedToRef="g">
        <bpmn:messageEventDefinition/>
      </bpmn:boundaryEvent>
      <bpmn:sequenceFlow id="f3" sourceRef="g" targetRef="e"/>
      <bpmn:sequenceFlow id="f4" sourceRef="b" targetRef="e"/>
      <bpmn:endEvent id="e"/>
    </bpmn:process>
    """)
    found = by_element(problems_of(document))
    assert any("subprocess has no start event" in m for m in found["Sub"])
    assert any("not an activity" in m for m in found["b"])
    assert any("message this element waits for has no name" in m for m in found["b"])


def test_registered_form_is_accepted():
    class Review(BaseModel):
        units: int

    registry = default_registry.copy()
    registry.register_form("test.Review", Review)
    document = bpmn("""
    <bpmn:process id="p" isExecutable="true">
      <bpmn:startEvent id="s"/>
      <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
      <bpmn:userTask id="t"><bpmn:extensionElements><niva:form key="test.Review"/></bpmn:extensionElements></bpmn:userTask>
      <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
      <bpmn:endEvent id="e"/>
    </bpmn:process>
    """)
    assert problems_of(document, registry=registry) == []
    assert len(problems_of(document)) == 1


def test_bad_time_zone_and_retries():
    document = bpmn("""
    <bpmn:process id="p" isExecutable="true">
      <bpmn:extensionElements><niva:timezone value="Mars/Olympus"/></bpmn:extensionElements>
      <bpmn:startEvent id="s"/>
      <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
      <bpmn:serviceTask id="t"><bpmn:extensionElements><niva:taskDefinition type="notify" retries="many"/></bpmn:extensionElements></bpmn:serviceTask>
      <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
      <bpmn:endEvent id="e"/>
    </bpmn:process>
    """)
    found = by_element(problems_of(document))
    assert any("Mars/Olympus" in m for m in found["p"])
    assert any("retries='many'" in m for m in found["t"])
