"""The executable subset: what runs, what only documents, and what blocks execution."""

from __future__ import annotations

import pytest

from process_models.bpmn import blockers, blockers_by_process, is_executable, read_bpmn
from process_models.bpmn.namespaces import BPMN

HEAD = f"""<bpmn:definitions xmlns:bpmn="{BPMN}"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:niva="urn:niva:bpmn:1"
    id="d" targetNamespace="urn:t"{{attrs}}>
  <bpmn:process id="P" isExecutable="true">
"""
TAIL = """
  </bpmn:process>
</bpmn:definitions>"""


def _process_text(body: str, attrs: str = "") -> str:
    return HEAD.format(attrs=attrs) + body + TAIL


EVERY_EXECUTABLE_ELEMENT = """
    <bpmn:laneSet id="LS"><bpmn:lane id="L"><bpmn:flowNodeRef>S</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:property id="Prop" name="p"/>
    <bpmn:startEvent id="S"/>
    <bpmn:startEvent id="SM"><bpmn:messageEventDefinition messageRef="M"/></bpmn:startEvent>
    <bpmn:startEvent id="ST"><bpmn:timerEventDefinition>
      <bpmn:timeCycle>R/P1Y</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>
    <bpmn:task id="Plain"/>
    <bpmn:userTask id="U">
      <bpmn:ioSpecification id="IO"><bpmn:inputSet/><bpmn:outputSet/></bpmn:ioSpecification>
      <bpmn:dataInputAssociation id="DIA"><bpmn:sourceRef>DO</bpmn:sourceRef>
      </bpmn:dataInputAssociation>
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:completionCondition language="cel">true</bpmn:completionCondition>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:serviceTask id="Svc"/>
    <bpmn:sendTask id="Send"/>
    <bpmn:receiveTask id="Recv"/>
    <bpmn:manualTask id="Man"/>
    <bpmn:exclusiveGateway id="X" default="F2"/>
    <bpmn:parallelGateway id="Par"/>
    <bpmn:inclusiveGateway id="Inc"/>
    <bpmn:eventBasedGateway id="Ev"/>
    <bpmn:intermediateCatchEvent id="CT"><bpmn:timerEventDefinition>
      <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P10W</bpmn:timeDuration>
    </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="CM"><bpmn:messageEventDefinition/>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateThrowEvent id="TN"/>
    <bpmn:intermediateThrowEvent id="TL"><bpmn:linkEventDefinition name="on"/>
    </bpmn:intermediateThrowEvent>
    <bpmn:intermediateCatchEvent id="CL"><bpmn:linkEventDefinition name="on"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateThrowEvent id="TE"><bpmn:escalationEventDefinition/>
    </bpmn:intermediateThrowEvent>
    <bpmn:boundaryEvent id="BEsc" attachedToRef="Sub" cancelActivity="false">
      <bpmn:escalationEventDefinition/></bpmn:boundaryEvent>
    <bpmn:intermediateThrowEvent id="TM"><bpmn:messageEventDefinition/>
    </bpmn:intermediateThrowEvent>
    <bpmn:boundaryEvent id="BT" attachedToRef="U" cancelActivity="false">
      <bpmn:timerEventDefinition><bpmn:timeCycle>R/P1D</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:boundaryEvent id="BM" attachedToRef="U"><bpmn:messageEventDefinition/>
    </bpmn:boundaryEvent>
    <bpmn:boundaryEvent id="BE" attachedToRef="Svc"><bpmn:errorEventDefinition/>
    </bpmn:boundaryEvent>
    <bpmn:subProcess id="Sub">
      <bpmn:startEvent id="SubS"/><bpmn:endEvent id="SubE"/>
      <bpmn:textAnnotation id="SubNote"/>
    </bpmn:subProcess>
    <bpmn:subProcess id="EvSub" triggeredByEvent="true">
      <bpmn:startEvent id="EvSubS"><bpmn:errorEventDefinition/></bpmn:startEvent>
    </bpmn:subProcess>
    <bpmn:subProcess id="EscSub" triggeredByEvent="true">
      <bpmn:startEvent id="EscSubS" isInterrupting="false"><bpmn:escalationEventDefinition/>
      </bpmn:startEvent>
    </bpmn:subProcess>
    <bpmn:callActivity id="Call" calledElement="other"/>
    <bpmn:endEvent id="E"/>
    <bpmn:endEvent id="EM"><bpmn:messageEventDefinition/></bpmn:endEvent>
    <bpmn:endEvent id="EE"><bpmn:errorEventDefinition/></bpmn:endEvent>
    <bpmn:endEvent id="ET"><bpmn:terminateEventDefinition/></bpmn:endEvent>
    <bpmn:endEvent id="EEsc"><bpmn:escalationEventDefinition/></bpmn:endEvent>
    <bpmn:dataObject id="DOb"/>
    <bpmn:dataObjectReference id="DO" dataObjectRef="DOb"/>
    <bpmn:dataStoreReference id="DS"/>
    <bpmn:sequenceFlow id="F1" sourceRef="X" targetRef="U">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >a &gt; 1</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="F2" sourceRef="X" targetRef="E">
      <bpmn:conditionExpression language="CEL">true</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:textAnnotation id="Note"><bpmn:text>n</bpmn:text></bpmn:textAnnotation>
    <bpmn:association id="A" sourceRef="Note" targetRef="U"/>
    <bpmn:group id="G"/>
"""


def test_subset_every_executable_element_has_no_blockers() -> None:
    process = read_bpmn(_process_text(EVERY_EXECUTABLE_ELEMENT)).processes[0]
    assert blockers(process) == []
    assert is_executable(process)


@pytest.mark.parametrize(
    ("body", "element_id", "words"),
    [
        (
            '<bpmn:complexGateway id="G"/>',
            "G",
            "complexGateway is not in niva's executable subset; "
            "use an exclusive or parallel gateway",
        ),
        ('<bpmn:scriptTask id="T"><bpmn:script>x</bpmn:script></bpmn:scriptTask>', "T", "script"),
        ('<bpmn:businessRuleTask id="T"/>', "T", "businessRuleTask is not"),
        ('<bpmn:transaction id="T"/>', "T", "transaction is not"),
        ('<bpmn:adHocSubProcess id="T"/>', "T", "adHocSubProcess is not"),
        (
            '<bpmn:startEvent id="S"><bpmn:cancelEventDefinition/></bpmn:startEvent>',
            "S",
            "cancelEventDefinition",
        ),
        (
            '<bpmn:startEvent id="B"><bpmn:escalationEventDefinition/></bpmn:startEvent>',
            "B",
            "escalationEventDefinition",
        ),
        (
            # A process cannot start on a condition (an event subprocess can).
            '<bpmn:startEvent id="C"><bpmn:conditionalEventDefinition>'
            "<bpmn:condition>x</bpmn:condition></bpmn:conditionalEventDefinition>"
            "</bpmn:startEvent>",
            "C",
            "conditionalEventDefinition",
        ),
        (
            '<bpmn:endEvent id="L"><bpmn:linkEventDefinition name="a"/></bpmn:endEvent>',
            "L",
            "linkEventDefinition",
        ),
        (
            '<bpmn:subProcess id="ES" triggeredByEvent="true"><bpmn:startEvent id="CS">'
            "<bpmn:compensateEventDefinition/></bpmn:startEvent></bpmn:subProcess>",
            "CS",
            "compensation event subprocess",
        ),
        ('<bpmn:endEvent id="E"><bpmn:cancelEventDefinition/></bpmn:endEvent>', "E", "cancel"),
        (
            '<bpmn:intermediateThrowEvent id="T"><bpmn:timerEventDefinition/>'
            "</bpmn:intermediateThrowEvent>",
            "T",
            "timerEventDefinition",
        ),
        (
            '<bpmn:startEvent id="S"><bpmn:errorEventDefinition/></bpmn:startEvent>',
            "S",
            "errorEventDefinition",
        ),
        (
            '<bpmn:task id="T"><bpmn:standardLoopCharacteristics id="Loop"/></bpmn:task>',
            "T",
            "standardLoopCharacteristics 'Loop'",
        ),
        (
            '<bpmn:userTask id="U"><bpmn:potentialOwner id="PO"/></bpmn:userTask>',
            "U",
            "niva:assignment",
        ),
        (
            '<bpmn:subProcess id="ES" triggeredByEvent="true"><bpmn:startEvent id="S"/>'
            "</bpmn:subProcess>",
            "S",
            "event subprocess needs",
        ),
        (
            '<bpmn:startEvent id="S"><bpmn:messageEventDefinition/>'
            "<bpmn:timerEventDefinition/></bpmn:startEvent>",
            "S",
            "several definitions",
        ),
        (
            '<bpmn:boundaryEvent id="B" attachedToRef="T" cancelActivity="false">'
            "<bpmn:errorEventDefinition/></bpmn:boundaryEvent>",
            "B",
            "always interrupts",
        ),
        ('<bpmn:intermediateCatchEvent id="C"/>', "C", "without an event definition"),
        (
            '<bpmn:sequenceFlow id="F" sourceRef="a" targetRef="b"><bpmn:conditionExpression '
            'language="http://www.omg.org/spec/FEEL/20140401">x</bpmn:conditionExpression>'
            "</bpmn:sequenceFlow>",
            "F",
            "FEEL",
        ),
        (
            '<bpmn:intermediateCatchEvent id="C"><bpmn:timerEventDefinition>'
            '<bpmn:timeDate language="javascript">d</bpmn:timeDate></bpmn:timerEventDefinition>'
            "</bpmn:intermediateCatchEvent>",
            "C",
            "timeDate is written in 'javascript'",
        ),
        (
            '<bpmn:task id="T"><bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality '
            'language="xpath">3</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>'
            "</bpmn:task>",
            "T",
            "loop cardinality",
        ),
        (
            '<bpmn:subProcess id="Outer"><bpmn:subProcess id="Inner">'
            '<bpmn:complexGateway id="Deep"/></bpmn:subProcess></bpmn:subProcess>',
            "Deep",
            "complexGateway",
        ),
    ],
)
def test_subset_blocker_names_element_line_and_fix(body: str, element_id: str, words: str) -> None:
    text = _process_text("    " + body)
    process = read_bpmn(text).processes[0]
    problems = blockers(process)
    assert len(problems) == 1, [p.message for p in problems]
    [problem] = problems
    assert problem.element_id == element_id
    assert words in problem.message
    assert problem.line is not None
    assert problem.line == 5  # the body is on the line after the process tag
    assert not is_executable(process)


def test_subset_kept_elements_survive_round_trip_and_still_block() -> None:
    from process_models.bpmn import write_bpmn

    text = _process_text('    <bpmn:complexGateway id="G" gatewayDirection="Diverging"/>')
    again = read_bpmn(write_bpmn(read_bpmn(text))).processes[0]
    node = again.node("G")
    assert node is not None
    assert node.kind == "complexGateway"
    assert node.attributes == {"gatewayDirection": "Diverging"}
    assert [p.element_id for p in blockers(again)] == ["G"]


def test_subset_definitions_expression_language_applies_to_bare_conditions() -> None:
    body = """    <bpmn:sequenceFlow id="F" sourceRef="a" targetRef="b">
      <bpmn:conditionExpression>x &gt; 1</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="G" sourceRef="a" targetRef="b">
      <bpmn:conditionExpression language="cel">x &gt; 1</bpmn:conditionExpression>
    </bpmn:sequenceFlow>"""
    xpath = ' expressionLanguage="http://www.w3.org/1999/XPath"'
    defs = read_bpmn(_process_text(body, attrs=xpath))
    problems = blockers_by_process(defs)["P"]
    assert [p.element_id for p in problems] == ["F"]
    assert "XPath" in problems[0].message
    # Without the definitions' language, a bare condition is CEL.
    assert blockers(defs.processes[0]) == []
    plain = read_bpmn(_process_text(body))
    assert blockers_by_process(plain) == {"P": []}


def test_subset_collaboration_and_message_flows_do_not_block() -> None:
    text = f"""<bpmn:definitions xmlns:bpmn="{BPMN}" id="d">
  <bpmn:collaboration id="C">
    <bpmn:participant id="Pool" processRef="P"/><bpmn:participant id="Ext"/>
    <bpmn:messageFlow id="MF" sourceRef="Ext" targetRef="R"/>
    <bpmn:textAnnotation id="N"/>
  </bpmn:collaboration>
  <bpmn:category id="Cat"><bpmn:categoryValue id="CV" value="x"/></bpmn:category>
  <bpmn:process id="P"><bpmn:receiveTask id="R"/></bpmn:process>
</bpmn:definitions>"""
    assert blockers_by_process(read_bpmn(text)) == {"P": []}


def test_subset_problems_in_document_order_all_reported() -> None:
    body = """    <bpmn:complexGateway id="A"/>
    <bpmn:scriptTask id="B"/>
    <bpmn:complexGateway id="C"/>"""
    problems = blockers(read_bpmn(_process_text(body)).processes[0])
    assert [(p.element_id, p.line) for p in problems] == [("A", 5), ("B", 6), ("C", 7)]
