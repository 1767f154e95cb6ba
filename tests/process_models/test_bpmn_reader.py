"""Reading BPMN 2.0 XML into the typed model: niva extensions, prefixes, encodings, lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from process_models.bpmn import read_bpmn
from process_models.bpmn.namespaces import BPMN, NIVA
from process_models.errors import BpmnReadError
from process_models.schema import (
    Assignment,
    CalledElement,
    Constraint,
    Form,
    IoMapping,
    LoopExtension,
    Subscription,
    TaskDefinition,
    same_model,
)

EVERY_EXTENSION = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:niva="urn:niva:bpmn:1" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="defs" targetNamespace="urn:test">
  <bpmn:message id="Msg_Withdraw" name="withdrawal"/>
  <bpmn:error id="Err_Rejected" name="rejected" errorCode="REJECTED"/>
  <bpmn:process id="referral" name="Referral" isExecutable="true">
    <bpmn:documentation>Handles a referral.</bpmn:documentation>
    <bpmn:extensionElements>
      <niva:versionTag value="2024"/>
      <niva:timezone value="Europe/Oslo"/>
      <camunda:properties><camunda:property name="k" value="v"/></camunda:properties>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start">
      <bpmn:extensionElements><niva:form key="se.nhv.Nomination"/></bpmn:extensionElements>
    </bpmn:startEvent>
    <bpmn:userTask id="Review" name="Expert review">
      <bpmn:extensionElements>
        <niva:form key="se.nhv.ExpertReport"/>
        <niva:assignment candidateGroups="expert,officer" candidateOrgs="=case.region"/>
        <niva:constraint expression="payload.score &gt;= 0" message="score &lt; 0 &amp; more"/>
        <niva:constraint expression="size(payload.text) &lt; 1000" message="too long"/>
        <niva:input target="x" source="=case.x"/>
        <niva:output target="report" source="=payload"/>
        <niva:futureThing a="1"/>
      </bpmn:extensionElements>
      <bpmn:multiInstanceLoopCharacteristics isSequential="true">
        <bpmn:extensionElements>
          <niva:loop inputCollection="=experts" inputElement="expert"
                     outputCollection="reports" outputElement="=payload"/>
        </bpmn:extensionElements>
        <bpmn:completionCondition xsi:type="bpmn:tFormalExpression"
          >nrOfCompletedInstances &gt;= 2</bpmn:completionCondition>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:serviceTask id="Notify">
      <bpmn:extensionElements>
        <niva:taskDefinition type="notify" retries="5" timeout="PT5M"/>
        <niva:ioMapping>
          <niva:input target="to" source="=case.owner"/>
          <niva:input target="template" source="referral"/>
          <niva:output target="sent" source="=result.id"/>
        </niva:ioMapping>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:callActivity id="Child" calledElement="permit">
      <bpmn:extensionElements>
        <niva:calledElement processId="permit" detached="true" version="3"/>
      </bpmn:extensionElements>
    </bpmn:callActivity>
    <bpmn:receiveTask id="Wait">
      <bpmn:extensionElements>
        <niva:subscription messageName="withdrawal" candidateGroups="applicant"
                           candidateOrgs="SE-AB" ttl="P30D"/>
      </bpmn:extensionElements>
    </bpmn:receiveTask>
    <bpmn:boundaryEvent id="Deadline" attachedToRef="Review" cancelActivity="false">
      <bpmn:timerEventDefinition>
        <bpmn:timeCycle xsi:type="bpmn:tFormalExpression">R/P1D</bpmn:timeCycle>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="End">
      <bpmn:errorEventDefinition errorRef="Err_Rejected"/>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="Review"/>
    <bpmn:sequenceFlow id="F2" sourceRef="Review" targetRef="End">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >payload.ok == true</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>
"""


def test_read_niva_extensions_every_kind_typed() -> None:
    defs = read_bpmn(EVERY_EXTENSION)
    process = defs.processes[0]
    assert process.version_tag == "2024"
    assert process.timezone == "Europe/Oslo"
    assert [raw.local_name for raw in process.foreign_extensions] == ["properties"]

    start = process.node("Start")
    assert start is not None
    assert start.niva.form is not None
    assert start.niva.form.key == "se.nhv.Nomination"

    review = process.node("Review")
    assert review is not None
    niva = review.niva
    assert niva.form is not None
    assert niva.form.key == "se.nhv.ExpertReport"
    assert niva.assignment is not None
    assert (niva.assignment.candidate_groups, niva.assignment.candidate_orgs) == (
        "expert,officer",
        "=case.region",
    )
    assert [(c.expression, c.message) for c in niva.constraints] == [
        ("payload.score >= 0", "score < 0 & more"),
        ("size(payload.text) < 1000", "too long"),
    ]
    assert [(m.target, m.source) for m in niva.inputs] == [("x", "=case.x")]
    assert [(m.target, m.source) for m in niva.outputs] == [("report", "=payload")]
    # An unknown niva element is kept raw rather than dropped.
    assert [raw.tag for raw in review.foreign_extensions] == [f"{{{NIVA}}}futureThing"]

    assert review.loop is not None
    assert review.loop.is_sequential is True
    assert review.loop.niva_loop is not None
    loop = review.loop.niva_loop
    assert (
        loop.input_collection,
        loop.input_element,
        loop.output_collection,
        loop.output_element,
    ) == ("=experts", "expert", "reports", "=payload")
    assert review.loop.completion_condition is not None
    assert review.loop.completion_condition.body == "nrOfCompletedInstances >= 2"


def test_read_niva_io_mapping_wrapped_keeps_order() -> None:
    notify = read_bpmn(EVERY_EXTENSION).processes[0].node("Notify")
    assert notify is not None
    task = notify.niva.task_definition
    assert task is not None
    assert (task.type, task.retries, task.timeout) == ("notify", "5", "PT5M")
    assert [(m.target, m.source) for m in notify.niva.inputs] == [
        ("to", "=case.owner"),
        ("template", "referral"),
    ]
    assert [(m.target, m.source) for m in notify.niva.outputs] == [("sent", "=result.id")]
    assert notify.foreign_extensions == []


def test_read_niva_called_element_and_subscription() -> None:
    process = read_bpmn(EVERY_EXTENSION).processes[0]
    child = process.node("Child")
    assert child is not None
    assert child.called_element == "permit"
    called = child.niva.called_element
    assert called is not None
    assert (called.process_id, called.detached, called.version) == ("permit", True, "3")
    wait = process.node("Wait")
    assert wait is not None
    sub = wait.niva.subscription
    assert sub is not None
    assert (sub.message_name, sub.candidate_groups, sub.candidate_orgs, sub.ttl) == (
        "withdrawal",
        "applicant",
        "SE-AB",
        "P30D",
    )


def test_read_events_conditions_and_root_elements() -> None:
    defs = read_bpmn(EVERY_EXTENSION)
    process = defs.processes[0]
    deadline = process.node("Deadline")
    assert deadline is not None
    assert deadline.attached_to_ref == "Review"
    assert deadline.cancel_activity is False
    assert process.boundary_events("Review") == [deadline]
    timer = deadline.event_definitions[0].timer
    assert timer is not None
    assert timer[0] == "timeCycle"
    assert timer[1].body == "R/P1D"
    end = process.node("End")
    assert end is not None
    assert end.event_definitions[0].kind == "error"
    assert defs.error(end.event_definitions[0].error_ref) is not None
    assert defs.errors[0].error_code == "REJECTED"
    assert defs.message("Msg_Withdraw") is not None
    flow = process.flow("F2")
    assert flow is not None
    assert flow.condition is not None
    assert flow.condition.body == "payload.ok == true"
    assert flow.condition.language is None
    assert [f.id for f in process.outgoing("Review")] == ["F2"]
    assert [f.id for f in process.incoming("Review")] == ["F1"]
    assert process.doc_text == "Handles a referral."


def test_read_source_lines_recorded() -> None:
    defs = read_bpmn(EVERY_EXTENSION)
    lines = EVERY_EXTENSION.splitlines()
    process = defs.processes[0]
    for node in process.nodes:
        assert node.line is not None
        assert f'id="{node.id}"' in lines[node.line - 1], node.id
    for flow in process.flows:
        assert flow.line is not None
        assert f'id="{flow.id}"' in lines[flow.line - 1]
    review = process.node("Review")
    assert review is not None
    assert review.niva.form is not None
    assert review.niva.form.line is not None
    assert "se.nhv.ExpertReport" in lines[review.niva.form.line - 1]


MINIMAL = """<{p}definitions {decl} id="d" targetNamespace="urn:t">
  <{p}process id="P" isExecutable="true">
    <{p}startEvent id="S"/>
    <{p}endEvent id="E"/>
    <{p}sequenceFlow id="F" sourceRef="S" targetRef="E"/>
  </{p}process>
</{p}definitions>"""


@pytest.mark.parametrize("prefix", ["bpmn", "bpmn2", "semantic", "model", ""])
def test_read_any_prefix_same_model(prefix: str) -> None:
    p = f"{prefix}:" if prefix else ""
    decl = f'xmlns:{prefix}="{BPMN}"' if prefix else f'xmlns="{BPMN}"'
    defs = read_bpmn(MINIMAL.format(p=p, decl=decl))
    reference = read_bpmn(MINIMAL.format(p="bpmn:", decl=f'xmlns:bpmn="{BPMN}"'))
    defs.namespaces = reference.namespaces
    assert same_model(defs, reference)
    assert [n.kind for n in defs.processes[0].nodes] == ["startEvent", "endEvent"]


def test_read_prefix_bound_to_other_namespace_is_not_bpmn() -> None:
    # Going by URI: a `bpmn:` prefix bound to something else does not make a BPMN file.
    text = MINIMAL.format(p="bpmn:", decl='xmlns:bpmn="urn:not-bpmn"')
    with pytest.raises(BpmnReadError, match="root element"):
        read_bpmn(text)


def test_read_latin1_bytes_use_declared_encoding() -> None:
    text = MINIMAL.format(p="bpmn:", decl=f'xmlns:bpmn="{BPMN}"').replace(
        '<bpmn:startEvent id="S"/>', '<bpmn:startEvent id="S" name="Ansökan mottagen"/>'
    )
    data = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n' + text).encode("latin-1")
    node = read_bpmn(data).processes[0].node("S")
    assert node is not None
    assert node.name == "Ansökan mottagen"


def test_read_str_with_encoding_declaration_is_text() -> None:
    text = '<?xml version="1.0" encoding="ISO-8859-1"?>\n' + MINIMAL.format(
        p="bpmn:", decl=f'xmlns:bpmn="{BPMN}"'
    ).replace('id="S"', 'id="S" name="Søknad"')
    node = read_bpmn(text).processes[0].node("S")
    assert node is not None
    assert node.name == "Søknad"


def test_read_path_input(tmp_path: Path) -> None:
    path = tmp_path / "m.bpmn"
    path.write_text(EVERY_EXTENSION, encoding="utf-8")
    assert same_model(read_bpmn(path), read_bpmn(EVERY_EXTENSION))


def test_read_duplicate_ids_and_dangling_flow_kept() -> None:
    text = MINIMAL.format(p="bpmn:", decl=f'xmlns:bpmn="{BPMN}"').replace(
        '<bpmn:endEvent id="E"/>',
        '<bpmn:endEvent id="E"/><bpmn:endEvent id="E" name="twin"/>'
        '<bpmn:sequenceFlow id="G" sourceRef="S" targetRef="Nowhere"/>',
    )
    process = read_bpmn(text).processes[0]
    assert [n.id for n in process.nodes] == ["S", "E", "E"]
    assert process.nodes[2].name == "twin"
    dangling = process.flow("G")
    assert dangling is not None
    assert dangling.target_ref == "Nowhere"
    assert process.node("Nowhere") is None


def test_read_unknown_flow_node_kind_is_node() -> None:
    text = MINIMAL.format(p="bpmn:", decl=f'xmlns:bpmn="{BPMN}"').replace(
        '<bpmn:endEvent id="E"/>',
        '<bpmn:endEvent id="E"/><bpmn:inclusiveGateway id="G" gatewayDirection="Diverging"/>'
        '<bpmn:scriptTask id="T" scriptFormat="js"><bpmn:script>x()</bpmn:script>'
        "</bpmn:scriptTask>",
    )
    process = read_bpmn(text).processes[0]
    gateway = process.node("G")
    assert gateway is not None
    assert gateway.kind == "inclusiveGateway"
    assert gateway.attributes == {"gatewayDirection": "Diverging"}
    script = process.node("T")
    assert script is not None
    assert [raw.local_name for raw in script.extras] == ["script"]


def test_read_embedded_and_event_subprocess_content() -> None:
    text = f"""<bpmn:definitions xmlns:bpmn="{BPMN}" id="d">
  <bpmn:process id="P">
    <bpmn:subProcess id="Sub">
      <bpmn:startEvent id="SubStart"/>
      <bpmn:endEvent id="SubEnd"/>
      <bpmn:sequenceFlow id="SF" sourceRef="SubStart" targetRef="SubEnd"/>
      <bpmn:textAnnotation id="Note"><bpmn:text>why</bpmn:text></bpmn:textAnnotation>
    </bpmn:subProcess>
    <bpmn:subProcess id="OnWithdraw" triggeredByEvent="true">
      <bpmn:startEvent id="WStart" isInterrupting="false">
        <bpmn:messageEventDefinition messageRef="M"/>
      </bpmn:startEvent>
    </bpmn:subProcess>
  </bpmn:process>
</bpmn:definitions>"""
    process = read_bpmn(text).processes[0]
    sub = process.node("Sub")
    assert sub is not None
    assert sub.subprocess is not None
    assert [n.id for n in sub.subprocess.nodes] == ["SubStart", "SubEnd"]
    assert [f.id for f in sub.subprocess.flows] == ["SF"]
    assert [raw.id for raw in sub.subprocess.extras] == ["Note"]
    assert sub.extras == []
    event_sub = process.node("OnWithdraw")
    assert event_sub is not None
    assert event_sub.triggered_by_event
    assert event_sub.subprocess is not None
    start = event_sub.subprocess.node("WStart")
    assert start is not None
    assert start.is_interrupting is False
    assert start.event_definitions[0].message_ref == "M"
    assert process.find_node("WStart") is start
    assert process.container_of("WStart") is event_sub.subprocess
    assert [n.id for n in process.all_nodes()] == [
        "Sub",
        "SubStart",
        "SubEnd",
        "OnWithdraw",
        "WStart",
    ]


def test_read_collaboration_participants_find_their_process() -> None:
    text = f"""<bpmn:definitions xmlns:bpmn="{BPMN}" id="d">
  <bpmn:collaboration id="C">
    <bpmn:participant id="Pool" name="Region" processRef="P"/>
    <bpmn:participant id="Other" name="Agency"/>
    <bpmn:messageFlow id="MF" sourceRef="Other" targetRef="Pool" messageRef="M"/>
  </bpmn:collaboration>
  <bpmn:process id="P"/>
</bpmn:definitions>"""
    defs = read_bpmn(text)
    assert defs.collaboration is not None
    pool = defs.participant_for("P")
    assert pool is not None
    assert pool.id == "Pool"
    assert pool.name == "Region"
    flow = defs.collaboration.message_flows[0]
    assert (flow.source_ref, flow.target_ref, flow.message_ref) == ("Other", "Pool", "M")


def test_read_unknown_niva_attribute_rejected_with_line() -> None:
    text = EVERY_EXTENSION.replace(
        'candidateGroups="expert,officer"', 'candidateGroup="expert,officer"'
    )
    with pytest.raises(BpmnReadError, match="candidateGroup") as info:
        read_bpmn(text)
    line = info.value.line
    assert line is not None
    assert "niva:assignment" in text.splitlines()[line - 1]


def test_read_bad_boolean_rejected_with_element() -> None:
    text = EVERY_EXTENSION.replace('detached="true"', 'detached="yes"')
    with pytest.raises(BpmnReadError, match="detached='yes'"):
        read_bpmn(text)


def test_read_str_that_is_not_xml_points_to_path() -> None:
    with pytest.raises(BpmnReadError, match=r"pathlib\.Path"):
        read_bpmn("process_models/se/referral.bpmn")


def test_read_missing_file_is_read_error(tmp_path: Path) -> None:
    with pytest.raises(BpmnReadError, match="cannot read"):
        read_bpmn(tmp_path / "absent.bpmn")


def test_read_extension_models_are_the_schema_types() -> None:
    # The typed extension classes are the public ones of process_models.schema.
    review = read_bpmn(EVERY_EXTENSION).processes[0].node("Review")
    assert review is not None
    niva = review.niva
    assert isinstance(niva.form, Form)
    assert isinstance(niva.assignment, Assignment)
    assert all(isinstance(c, Constraint) for c in niva.constraints)
    assert all(isinstance(m, IoMapping) for m in niva.inputs)
    assert review.loop is not None
    assert isinstance(review.loop.niva_loop, LoopExtension)
    process = read_bpmn(EVERY_EXTENSION).processes[0]
    notify, child, wait = (process.node(i) for i in ("Notify", "Child", "Wait"))
    assert notify is not None
    assert isinstance(notify.niva.task_definition, TaskDefinition)
    assert child is not None
    assert isinstance(child.niva.called_element, CalledElement)
    assert wait is not None
    assert isinstance(wait.niva.subscription, Subscription)
