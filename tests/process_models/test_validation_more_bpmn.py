"""Validation of link and escalation events: each problem with its element and line."""

from __future__ import annotations

from process_models.bpmn import read_bpmn, write_bpmn
from process_models.errors import Problem
from process_models.schema import without_lines
from process_models.validation import check_model
from tests.workflows.harness import bpmn


def _problems(body: str) -> list[Problem]:
    return check_model(read_bpmn(bpmn(body))).problems


def _link(kind: str, element_id: str, name: str | None) -> str:
    named = f' name="{name}"' if name is not None else ""
    return f'<bpmn:{kind} id="{element_id}"><bpmn:linkEventDefinition{named}/></bpmn:{kind}>'


def test_a_link_pair_is_valid_and_its_catch_is_reachable():
    problems = _problems(f"""
    <bpmn:process id="links" isExecutable="true">
      <bpmn:startEvent id="Start"/>
      <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Go"/>
      {_link("intermediateThrowEvent", "Go", "page2")}
      {_link("intermediateCatchEvent", "Land", "page2")}
      <bpmn:sequenceFlow id="f2" sourceRef="Land" targetRef="End"/>
      <bpmn:endEvent id="End"/>
    </bpmn:process>
    """)
    assert problems == []


def test_link_problems_name_the_event():
    problems = _problems(f"""
    <bpmn:process id="links" isExecutable="true">
      <bpmn:startEvent id="Start"/>
      <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fork"/>
      <bpmn:parallelGateway id="Fork"/>
      <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="Lost"/>
      <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="Nameless"/>
      <bpmn:sequenceFlow id="f4" sourceRef="Fork" targetRef="Go"/>
      <bpmn:sequenceFlow id="f5" sourceRef="Fork" targetRef="Entered"/>
      {_link("intermediateThrowEvent", "Lost", "nowhere")}
      {_link("intermediateThrowEvent", "Nameless", None)}
      {_link("intermediateThrowEvent", "Go", "page2")}
      {_link("intermediateCatchEvent", "Land", "page2")}
      {_link("intermediateCatchEvent", "Twin", "page2")}
      {_link("intermediateCatchEvent", "Entered", "other")}
      <bpmn:subProcess id="Sub">
        <bpmn:startEvent id="SubStart"/>
        <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="Out"/>
        {_link("intermediateThrowEvent", "Out", "page2")}
      </bpmn:subProcess>
      <bpmn:sequenceFlow id="f6" sourceRef="Fork" targetRef="Sub"/>
    </bpmn:process>
    """)
    found: dict[str | None, str] = {}
    for problem in problems:
        found[problem.element_id] = found.get(problem.element_id, "") + problem.message + "\n"
    assert "no catch link event named 'nowhere'" in found["Lost"]
    assert "a link event needs a name" in found["Nameless"]
    assert "a second catch link event named 'page2'" in found["Twin"]
    assert "a catch link event has no incoming sequence flow" in found["Entered"]
    # A link never leaves its process or subprocess.
    assert "no catch link event named 'page2' in the same process or subprocess" in found["Out"]
    assert "Go" not in found
    assert "Land" not in found
    assert all(p.line is not None for p in problems)


ESCALATIONS = """
<bpmn:escalation id="EscLate" name="Late" escalationCode="LATE"/>
<bpmn:process id="escalations" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Sub"/>
  <bpmn:subProcess id="Sub">
    <bpmn:startEvent id="SubStart"/>
    <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="Raise"/>
    <bpmn:intermediateThrowEvent id="Raise">
      <bpmn:escalationEventDefinition escalationRef="EscLate"/>
    </bpmn:intermediateThrowEvent>
    <bpmn:sequenceFlow id="s2" sourceRef="Raise" targetRef="SubEnd"/>
    <bpmn:endEvent id="SubEnd"><bpmn:escalationEventDefinition escalationRef="EscLate"/>
    </bpmn:endEvent>
  </bpmn:subProcess>
  <bpmn:boundaryEvent id="Caught" attachedToRef="Sub" cancelActivity="false">
    <bpmn:escalationEventDefinition escalationRef="EscLate"/>
  </bpmn:boundaryEvent>
  <bpmn:boundaryEvent id="CatchAll" attachedToRef="Sub">
    <bpmn:escalationEventDefinition/>
  </bpmn:boundaryEvent>
  <bpmn:subProcess id="OnLate" triggeredByEvent="true">
    <bpmn:startEvent id="OnLateStart" isInterrupting="false">
      <bpmn:escalationEventDefinition escalationRef="EscLate"/>
    </bpmn:startEvent>
  </bpmn:subProcess>
</bpmn:process>
"""


def test_escalations_are_read_written_and_valid():
    defs = read_bpmn(bpmn(ESCALATIONS))
    [escalation] = defs.escalations
    assert (escalation.id, escalation.name, escalation.escalation_code) == (
        "EscLate",
        "Late",
        "LATE",
    )
    assert defs.escalation("tns:EscLate") is escalation
    again = read_bpmn(write_bpmn(defs))
    assert [without_lines(e) for e in again.escalations] == [without_lines(escalation)]
    assert check_model(defs).problems == []


def test_escalation_problems_name_the_event():
    broken = ESCALATIONS.replace(
        '<bpmn:escalationEventDefinition escalationRef="EscLate"/>\n    </bpmn:endEvent>',
        "<bpmn:escalationEventDefinition/>\n    </bpmn:endEvent>",
    ).replace(
        '<bpmn:boundaryEvent id="Caught" attachedToRef="Sub" cancelActivity="false">\n'
        '    <bpmn:escalationEventDefinition escalationRef="EscLate"/>',
        '<bpmn:boundaryEvent id="Caught" attachedToRef="Sub" cancelActivity="false">\n'
        '    <bpmn:escalationEventDefinition escalationRef="NoSuch"/>',
    )
    found = {p.element_id: p.message for p in check_model(read_bpmn(bpmn(broken))).problems}
    assert sorted(found) == ["Caught", "SubEnd"]
    assert "an escalation throw event needs an escalationRef" in found["SubEnd"]
    assert "escalationRef 'NoSuch' names no bpmn:escalation" in found["Caught"]


def test_an_escalation_start_is_only_for_event_subprocesses():
    problems = _problems("""
    <bpmn:process id="escalation_start" isExecutable="true">
      <bpmn:startEvent id="Start"><bpmn:escalationEventDefinition/></bpmn:startEvent>
    </bpmn:process>
    """)
    assert [p.element_id for p in problems] == ["Start"]
    assert "escalationEventDefinition" in problems[0].message


def test_a_camunda8_file_keeps_its_escalations_and_is_valid():
    from tests.workflows.test_escalation import CAMUNDA8

    defs = read_bpmn(CAMUNDA8)
    assert defs.dialect == "camunda8"
    assert [(e.id, e.escalation_code) for e in defs.escalations] == [("Escalation_1", "overdue")]
    again = read_bpmn(write_bpmn(defs))
    assert [without_lines(e) for e in again.escalations] == [
        without_lines(e) for e in defs.escalations
    ]
    assert check_model(defs).problems == []


def test_an_escalation_boundary_on_a_call_activity_is_valid():
    # The called case passes an escalation it does not catch to this boundary
    # (tests/workflows/test_call_escalation.py).
    problems = _problems("""
<bpmn:escalation id="EscLate" escalationCode="late"/>
<bpmn:process id="p" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Call"/>
  <bpmn:callActivity id="Call">
    <bpmn:extensionElements><niva:calledElement processId="child"/></bpmn:extensionElements>
  </bpmn:callActivity>
  <bpmn:sequenceFlow id="f2" sourceRef="Call" targetRef="End"/>
  <bpmn:endEvent id="End"/>
  <bpmn:boundaryEvent id="Late" attachedToRef="Call">
    <bpmn:escalationEventDefinition escalationRef="EscLate"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="Late" targetRef="LateEnd"/>
  <bpmn:endEvent id="LateEnd"/>
</bpmn:process>
""")
    assert [p for p in problems if p.element_id == "Late"] == []
