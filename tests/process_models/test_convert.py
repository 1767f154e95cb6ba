"""`niva models convert`: niva-dialect models to the Camunda 8 dialect.

The CEL → FEEL translation is held to meaning, not to text: each expression is evaluated
in both languages over the same variables and must give the same JSON value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lxml import etree
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from process_models.bpmn import read_bpmn
from process_models.cel_to_feel import TranslationError, translate
from process_models.convert import ConversionError, convert_to_camunda8
from process_models.deployments import ModelFile
from process_models.dialect import compile_value
from process_models.schema import Dialect, FlowNode
from process_models.shipped import SHIPPED_DIRS
from process_models.validation import check_model
from starter.commands.models import app
from tests.workflows import activities_for_tests
from tests.workflows.harness import running_cases

ZONE = "Europe/Stockholm"
TZ = ZoneInfo(ZONE)
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
REFERENCE = {
    "organisations": [
        {"id": "SE-AB", "kind": "region", "parent": None},
        {"id": "SE-SOS", "kind": "agency", "parent": None},
        {"id": "SE-O", "kind": "region", "parent": None},
    ],
    "years": {"kompetanse": 5},
}
VARIABLES: dict[str, Any] = {
    "care_area": "Osteogenesis",
    "units": 2,
    "report_year": 2026,
    "reminder_days": 14,
    "regions": ["SE-AB", "SE-O", "SE-F"],
    "holders": ["SE-O"],
    "answers": {"SE-AB": "ja", "SE-O": "nej"},
    "time_limits": {"reminder_days": 7, "period": "P10W"},
    "deadline": "2026-05-31T22:00:00Z",
    "due": "2026-05-31",
    "period": "P10W",
    "kind": "kompetanse",
    "decision": {"units": 1, "definition": "D"},
    "empty": [],
}

SAME_MEANING = [
    "=care_area + ', ' + string(units)",
    "=units == 1 ? 'en' : 'flera'",
    "=has(vars.time_limits) && 'reminder_days' in vars.time_limits"
    " ? vars.time_limits.reminder_days : 14",
    "=has(vars.missing) ? vars.missing : []",
    "=has(decision.units) && !has(decision.conditions)",
    "=regions.filter(r, !(r in holders))",
    "=regions.map(r, {'region': r, 'answer': r in answers ? answers[r] : 'no answer'})",
    "=regions.exists(r, r == 'SE-O') && regions.all(r, size(r) == 5)",
    "=reference.organisations.filter(o, o.kind == 'region').map(o, o.id)",
    "=[care_area] + regions + ['SE-SOS']",
    "=holders + regions.filter(r, r != 'SE-AB')",
    "=size(regions) + size(care_area) + size(empty)",
    "=regions[0] + ', ' + regions[2]",
    "=reference.years[kind] * 12",
    "={'a': 'x', 'b': 'y'}[regions[0] == 'SE-AB' ? 'a' : 'b']",
    "=sorted_keys(answers) + ['SE-SOS']",
    "=sorted_keys(answers).all(a, a in regions)",
    "=date('2027-03-01')",
    "=end_of_day(date(due))",
    "=end_of_day(add_duration(now, period))",
    "=end_of_day(add_duration(now, 'P6M'))",
    "=start_of_day(now)",
    "=add_months(end_of_day(date(due)), 2)",
    "=add_months(date('2026-01-31'), 1)",
    "=timestamp(deadline) - duration(string(reminder_days * 24) + 'h')",
    "=start_of_day(timestamp(deadline))",
    "=end_of_day(timestamp(deadline))",
    "=add_months(timestamp(deadline), 3)",
    "=year(timestamp(deadline))",
    "=end_of_day(date(due)) - duration(string(reminder_days * 24) + 'h')",
    "=year(next_date(now, 8, 31))",
    "=next_date(now, 1, 15)",
    "=year(date(due)) + 1",
    "=timestamp(deadline) <= end_of_day(date(string(report_year) + '-06-01'))",
    "=date(string(year(next_date(now, 8, 31))) + '-12-01') > now",
    "=!(units > 1) || kind == 'kompetanse'",
    "=null",
]


def _evaluate(source: str, dialect: Dialect, variables: dict[str, Any] | None = None) -> Any:
    expression = compile_value(source, dialect=dialect)
    return expression.evaluate(
        {**VARIABLES, **(variables or {})}, now=NOW, tz=TZ, reference=REFERENCE
    )


@pytest.mark.parametrize("cel", SAME_MEANING)
def test_translation_means_what_the_cel_means(cel: str):
    feel = translate(cel, zone=ZONE)
    assert _evaluate(feel, "camunda8") == _evaluate(cel, "niva"), feel


@pytest.mark.parametrize(
    ("cel", "feel"),
    [
        ("=payload.decision", "=decision"),
        ("=result.documents[0].id", "=documents[1].id"),
        ("=payload.permits.map(p, p.holder)", "=for p in permits return p.holder"),
        ("=vars.units", "=units"),
        ("approved", "approved"),  # a literal stays a literal
    ],
)
def test_outputs_read_the_completion_by_name(cel: str, feel: str):
    assert translate(cel, zone=ZONE, outputs=True) == feel


@pytest.mark.parametrize(
    ("cel", "reason"),
    [
        ("=unknown_function(1)", "unknown_function"),
        ("=a + b", "cannot tell whether '+'"),
        ("=vars", "'vars' as a whole"),
        ("=start_of_day(deadline)", "give them now, timestamp(...)"),
        ("=duration(period)", "duration() of a computed text"),
        ("=regions.sort()", "sort"),
    ],
)
def test_what_has_no_faithful_translation_is_refused(cel: str, reason: str):
    with pytest.raises(TranslationError, match=re.escape(reason)):
        translate(cel, zone=ZONE)


def test_an_output_cannot_test_a_field_a_case_variable_may_stand_in_for():
    with pytest.raises(TranslationError, match="would stand in"):
        translate(
            "=has(payload.grounds) ? payload.grounds : []",
            zone=ZONE,
            outputs=True,
            shadowed=frozenset({"grounds"}),
        )
    assert translate("=has(payload.grounds)", zone=ZONE, outputs=True) == "=is defined(grounds)"


def test_an_output_tests_a_field_shadowed_by_a_null_input_as_not_null():
    feel = translate(
        "=has(payload.readvertise) && payload.readvertise",
        zone=ZONE,
        outputs=True,
        shadowed=frozenset({"readvertise"}),
        nulled=frozenset({"readvertise"}),
    )
    assert feel == "=(readvertise != null) and readvertise"
    cel = "=has(payload.readvertise) && payload.readvertise"
    # The outputs see the completion's value, or, when it is left out, the task's local null
    # (never the case's readvertise).
    for payload in ({"readvertise": True}, {"readvertise": False}, {}):
        seen = {"readvertise": payload.get("readvertise")}
        niva = _evaluate(cel, "niva", {"payload": payload, "readvertise": True})
        assert _evaluate(feel, "camunda8", seen) == niva, payload


# --- whole files -------------------------------------------------------------------------

MODEL = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:niva="urn:niva:bpmn:1" id="D" targetNamespace="urn:x">
  <bpmn:message id="Message_extend" name="extend"/>
  <bpmn:process id="p" isExecutable="true">
    <bpmn:extensionElements>
      <niva:timezone value="Europe/Stockholm"/>
      <niva:starters candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Review" name="Granska">
      <bpmn:extensionElements>
        <niva:assignment candidateGroups="officer,expert" candidateOrgs="SE-SOS"/>
        <niva:constraint expression="=payload.units &lt;= units" message="too many"/>
        <niva:output target="decision" source="=payload.decision"/>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="Extend" attachedToRef="Review" cancelActivity="false">
      <bpmn:extensionElements>
        <niva:subscription messageName="extend" candidateOrgs="=holder" ttl="P1Y"/>
        <niva:output target="deadline" source="=payload.deadline"/>
      </bpmn:extensionElements>
      <bpmn:messageEventDefinition messageRef="Message_extend"/>
    </bpmn:boundaryEvent>
    <bpmn:exclusiveGateway id="G" default="f4"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="G"/>
    <bpmn:sequenceFlow id="f3" sourceRef="G" targetRef="Call">
      <bpmn:conditionExpression>decision == 'yes'</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="G" targetRef="End"/>
    <bpmn:callActivity id="Call">
      <bpmn:extensionElements>
        <niva:calledElement processId="child" detached="true"/>
        <niva:input target="x" source="=decision"/>
      </bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming>
    </bpmn:callActivity>
    <bpmn:endEvent id="End"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="DI"><bpmndi:BPMNPlane id="Plane" bpmnElement="p">
    <bpmndi:BPMNShape id="Review_di" bpmnElement="Review">
      <dc:Bounds x="100" y="80" width="100" height="80"/>
    </bpmndi:BPMNShape>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _line(data: bytes, text: bytes) -> int:
    return data[: data.index(text)].count(b"\n") + 1


def _node(data: bytes, node_id: str) -> FlowNode:
    return next(n for n in read_bpmn(data).processes[0].all_nodes() if n.id == node_id)


def test_a_converted_file_is_camunda8_and_reads_to_the_same_settings():
    converted = convert_to_camunda8(MODEL)
    defs = read_bpmn(converted)
    assert defs.dialect == "camunda8"
    assert b"urn:niva:bpmn:1" not in converted
    assert b'modeler:executionPlatform="Camunda Cloud"' in converted
    process = defs.processes[0]
    assert process.timezone == "Europe/Stockholm"
    assert process.starters is not None
    assert process.starters.candidate_orgs == "SE-SOS"
    review = _node(converted, "Review").niva
    assert review.assignment is not None
    assert (review.assignment.candidate_groups, review.assignment.candidate_orgs) == (
        "officer, expert",
        "SE-SOS",
    )
    assert [(c.expression, c.message) for c in review.constraints] == [
        ("=payload.units <= units", "too many")
    ]
    assert [(m.target, m.source) for m in review.outputs] == [("decision", "=decision")]
    extend = _node(converted, "Extend").niva
    assert extend.subscription is not None
    assert (extend.subscription.candidate_orgs, extend.subscription.ttl) == ("=holder", "P1Y")
    call = _node(converted, "Call").niva
    assert call.called_element is not None
    assert call.called_element.detached
    # niva passes only the input mappings to the child, and takes nothing back.
    assert call.called_element.propagate_all_parent_variables is False
    assert call.called_element.propagate_all_child_variables is False
    flow = next(f for f in process.flows if f.id == "f3")
    assert flow.condition is not None
    assert flow.condition.body.strip() == '=decision = "yes"'
    assert check_model(defs).problems == []


def test_the_diagram_is_kept_as_it_was():
    converted = convert_to_camunda8(MODEL)
    start = MODEL.index(b"<bpmndi:BPMNDiagram")
    assert MODEL[start:] in converted


def test_what_cannot_be_converted_is_named_with_element_and_line():
    model = MODEL.replace(b'source="=payload.decision"', b'source="=payload"', 1)
    model = model.replace(b"decision == 'yes'", b"decision.sort() == 'yes'")
    with pytest.raises(ConversionError) as caught:
        convert_to_camunda8(model)
    found = {(p.element_id, p.line) for p in caught.value.problems}
    # The whole submission, with no form to name its fields; a method CEL has and FEEL not.
    assert ("Review", _line(model, b'source="=payload"')) in found
    assert ("f3", _line(model, b"decision.sort()")) in found


def test_the_command_writes_the_file_or_names_the_problems(tmp_path: Path):
    source, out = tmp_path / "m.bpmn", tmp_path / "out.bpmn"
    source.write_bytes(MODEL)
    result = CliRunner().invoke(app, ["convert", str(source), "--to", "camunda8", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert read_bpmn(out.read_bytes()).dialect == "camunda8"
    source.write_bytes(MODEL.replace(b'source="=payload.decision"', b'source="=payload"'))
    out.unlink()
    result = CliRunner().invoke(app, ["convert", str(source), "-o", str(out)])
    assert result.exit_code == 1
    line = _line(source.read_bytes(), b'source="=payload"')
    assert f"{source}:{line}: Review: '=payload'" in result.output
    assert not out.exists()


def test_a_camunda8_file_is_not_converted_again():
    with pytest.raises(ConversionError, match="already"):
        convert_to_camunda8(convert_to_camunda8(MODEL))


SHIPPED_CONVERTIBLE = [path for d in SHIPPED_DIRS for path in sorted(d.glob("*.bpmn"))]


@pytest.mark.parametrize("path", SHIPPED_CONVERTIBLE, ids=[p.name for p in SHIPPED_CONVERTIBLE])
def test_a_shipped_model_converts_to_the_same_settings(path: Path):
    before = read_bpmn(path.read_bytes())
    after = read_bpmn(convert_to_camunda8(path.read_bytes()))
    assert check_model(after).problems == []
    process, converted = before.processes[0], after.processes[0]
    assert (converted.timezone, converted.calendar, converted.version_tag) == (
        process.timezone,
        process.calendar,
        process.version_tag,
    )
    assert converted.starters is not None
    assert process.starters is not None
    assert (converted.starters.candidate_groups, converted.starters.candidate_orgs) == (
        process.starters.candidate_groups,
        process.starters.candidate_orgs,
    )
    nodes = {n.id: n.niva for n in converted.all_nodes()}
    for node in process.all_nodes():
        niva, zeebe = node.niva, nodes[node.id]
        assert len(zeebe.constraints) == len(niva.constraints), node.id
        assert [c.message for c in zeebe.constraints] == [c.message for c in niva.constraints]
        assert (zeebe.form and zeebe.form.key) == (niva.form and niva.form.key), node.id
        # Besides niva's inputs, a user task's null inputs shadow the optional form fields
        # a case variable could stand in for (`test_a_clashing_optional_field_is_shadowed`).
        shadows = [m for m in zeebe.inputs if m.source == "=null"]
        assert all(node.kind == "userTask" for _ in shadows), node.id
        assert len(zeebe.inputs) == len(niva.inputs) + len(shadows), node.id
        assert len(zeebe.outputs) == len(niva.outputs), node.id
        assert (zeebe.task_definition and zeebe.task_definition.type) == (
            niva.task_definition and niva.task_definition.type
        )
        assert zeebe.calendar == niva.calendar
        if niva.subscription is not None:
            assert zeebe.subscription is not None
            assert zeebe.subscription.ttl == niva.subscription.ttl
            assert bool(zeebe.subscription.candidate_orgs) == bool(niva.subscription.candidate_orgs)
        if niva.called_element is not None:
            assert zeebe.called_element is not None
            assert zeebe.called_element.detached == niva.called_element.detached
        static = niva.assignment and not (niva.assignment.candidate_orgs or "").startswith("=")
        if static:
            assert zeebe.assignment is not None
            assert (zeebe.assignment.candidate_groups or None, zeebe.assignment.candidate_orgs) == (
                ", ".join(g.strip() for g in (niva.assignment.candidate_groups or "").split(","))
                or None,
                ", ".join(o.strip() for o in (niva.assignment.candidate_orgs or "").split(","))
                or None,
            )


# --- whole submissions and messages ------------------------------------------------------

WHOLE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:niva="urn:niva:bpmn:1" id="D" targetNamespace="urn:x">
  <bpmn:message id="Message_request" name="request_revocation"/>
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Prepare">
      <bpmn:extensionElements>
        <niva:output target="readvertise" source="=true"/>{prepare}
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:intermediateCatchEvent id="Requested">
      <bpmn:extensionElements>
        <niva:subscription messageName="request_revocation"/>
        <niva:output target="revocation_request" source="=payload"/>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:messageEventDefinition messageRef="Message_request"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="Decide">
      <bpmn:extensionElements>
        <niva:form key="se.nhv.RevocationDecision"/>{decide}
        <niva:output target="revocation" source="=payload"/>
        <niva:output target="readvertise" source="=has(payload.readvertise) &amp;&amp; payload.readvertise"/>
      </bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="End"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Prepare"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Prepare" targetRef="Requested"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Requested" targetRef="Decide"/>
    <bpmn:sequenceFlow id="f4" sourceRef="Decide" targetRef="End"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _whole(prepare: str = "", decide: str = "") -> bytes:
    return WHOLE.format(prepare=prepare, decide=decide).encode()


def test_a_clashing_optional_field_is_shadowed_by_a_null_input():
    converted = convert_to_camunda8(_whole())
    decide = _node(converted, "Decide").niva
    assert [(m.target, m.source) for m in decide.inputs] == [("readvertise", "=null")]
    revocation, readvertise = decide.outputs
    source = revocation.source or ""
    # A field no case variable stands in for is tested as Zeebe has it; the shadowed one by
    # its local null.
    assert "if is defined(ground) then" in source
    assert 'if readvertise != null then [{"key": "readvertise"' in source
    assert '[{"key": "revoke", "value": revoke}]' in source
    assert readvertise.source == "=(readvertise != null) and readvertise"
    assert check_model(read_bpmn(converted)).problems == []


def test_a_message_payload_is_rebuilt_from_its_registered_model():
    converted = convert_to_camunda8(_whole())
    [output] = _node(converted, "Requested").niva.outputs
    assert output.source == (
        '=context(flatten([if is defined(reason) then [{"key": "reason", "value": reason}] '
        "else []]))"
    )


@pytest.mark.parametrize(
    ("prepare", "decide", "element", "reason"),
    [
        # ground admits null: a null input cannot stand for its absence.
        ('<niva:output target="ground" source="=\'x\'"/>', "", "Decide", "admits null"),
        # The task's own assignment reads the case's readvertise: it cannot be shadowed.
        (
            "",
            "<niva:assignment candidateGroups=\"=readvertise ? 'board' : 'officer'\"/>",
            "Decide",
            "the task's own settings use the case's readvertise",
        ),
        # A catch event has no input mappings.
        ('<niva:output target="reason" source="=\'x\'"/>', "", "Requested", "no input mappings"),
    ],
)
def test_a_field_a_case_variable_could_stand_in_for_is_refused(
    prepare: str, decide: str, element: str, reason: str
):
    with pytest.raises(ConversionError) as caught:
        convert_to_camunda8(_whole(prepare, decide))
    assert any(p.element_id == element and reason in p.message for p in caught.value.problems), [
        p.format() for p in caught.value.problems
    ]


def test_a_message_without_a_registered_payload_model_is_refused():
    model = _whole().replace(b'"request_revocation"', b'"ask_for_revocation"')
    with pytest.raises(ConversionError) as caught:
        convert_to_camunda8(model)
    assert "Requested" in {p.element_id for p in caught.value.problems}


# --- what the Modeler's properties panel must show ---------------------------------------

PASS_THROUGH = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
    xmlns:niva="urn:niva:bpmn:1" id="D" targetNamespace="urn:x">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:extensionElements><niva:timezone value="Europe/Stockholm"/></bpmn:extensionElements>
    <bpmn:startEvent id="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:{kind} id="SetUp" name="Fastställ tidsfrister">
      <bpmn:documentation>The limits of the case.</bpmn:documentation>
      <bpmn:extensionElements>{inputs}
        <niva:output target="reminder_days" source="=has(vars.reminder_days) ? reminder_days : 14"/>
        <niva:output target="decided_by" source="Socialstyrelsen"/>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:{kind}>
    <bpmn:userTask id="Review"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="SetUp"/>
    <bpmn:sequenceFlow id="f2" sourceRef="SetUp" targetRef="Review"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Review" targetRef="SetUp"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="DI"><bpmndi:BPMNPlane id="Plane" bpmnElement="p">
    <bpmndi:BPMNShape id="Start_di" bpmnElement="Start">
      <dc:Bounds x="100" y="102" width="36" height="36"/>
    </bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="SetUp_di" bpmnElement="SetUp">
      <dc:Bounds x="200" y="80" width="120" height="80"/>
    </bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="Review_di" bpmnElement="Review">
      <dc:Bounds x="400" y="80" width="100" height="80"/>
    </bpmndi:BPMNShape>
    <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1">
      <di:waypoint x="136" y="120"/><di:waypoint x="200" y="120"/>
    </bpmndi:BPMNEdge>
    <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2">
      <di:waypoint x="320" y="120"/><di:waypoint x="400" y="120"/>
    </bpmndi:BPMNEdge>
    <bpmndi:BPMNEdge id="f3_di" bpmnElement="f3">
      <di:waypoint x="450" y="160"/><di:waypoint x="450" y="200"/>
      <di:waypoint x="260" y="200"/><di:waypoint x="260" y="160"/>
    </bpmndi:BPMNEdge>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _pass_through(kind: str = "task", inputs: str = "") -> bytes:
    return PASS_THROUGH.format(kind=kind, inputs=inputs).encode()


def _attributes(element: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in element.attrib.items()}


def _points(root: Any, edge_id: str) -> list[tuple[str, str]]:
    [edge] = root.iterfind(f".//*[@id='{edge_id}']")
    return [(p.get("x"), p.get("y")) for p in edge]


@pytest.mark.parametrize("kind", ["task", "manualTask"])
def test_a_pass_through_task_with_outputs_becomes_a_none_throw_event(kind: str):
    """Camunda Modeler shows no outputs for a task that does no work; for a none
    intermediate throw event it does, and Zeebe passes through both applying the outputs."""
    converted = convert_to_camunda8(_pass_through(kind))
    root = etree.fromstring(converted)
    [event] = root.iterfind(".//*[@id='SetUp']")
    assert etree.QName(event).localname == "intermediateThrowEvent"
    assert event.get("name") == "Fastställ tidsfrister"
    assert [etree.QName(c).localname for c in event] == [
        "documentation",
        "extensionElements",
        "incoming",
        "incoming",
        "outgoing",
    ]
    assert [c.text for c in event if etree.QName(c).localname != "extensionElements"] == [
        "The limits of the case.",
        "f1",
        "f3",
        "f2",
    ]
    assert not list(event.iter("{*}eventDefinition", "{*}messageEventDefinition"))
    # The circle sits in the middle of the old rectangle; the flows end at its edge.
    [bounds] = root.iterfind(".//*[@id='SetUp_di']/{*}Bounds")
    assert _attributes(bounds) == {"x": "242", "y": "102", "width": "36", "height": "36"}
    assert _points(root, "f1_di") == [("136", "120"), ("242", "120")]
    assert _points(root, "f2_di") == [("278", "120"), ("400", "120")]
    assert _points(root, "f3_di")[-1] == ("260", "138")
    assert _points(root, "f3_di")[:-1] == [("450", "160"), ("450", "200"), ("260", "200")]
    # A flow comes in from below: the name goes right of it, not across it.
    [label] = root.iterfind(".//*[@id='SetUp_di']/{*}BPMNLabel/{*}Bounds")
    assert _attributes(label) == {"x": "268", "y": "145", "width": "90", "height": "28"}
    # niva reads and runs it as the same pass-through with the same outputs.
    defs = read_bpmn(converted)
    assert check_model(defs).problems == []
    node = _node(converted, "SetUp")
    assert node.kind == "intermediateThrowEvent"
    assert not node.event_kinds()
    assert [(m.target, m.source) for m in node.niva.outputs] == [
        ("reminder_days", "=if is defined(reminder_days) then reminder_days else 14"),
        ("decided_by", '="Socialstyrelsen"'),
    ]


def test_a_pass_through_task_an_event_cannot_stand_for_is_refused():
    model = _pass_through(inputs='\n        <niva:input target="x" source="=1"/>')
    with pytest.raises(ConversionError) as caught:
        convert_to_camunda8(model)
    [problem] = caught.value.problems
    assert problem.element_id == "SetUp"
    assert problem.line == _line(model, b'<bpmn:task id="SetUp"')
    assert "cannot have input mappings" in problem.message
    boundary = _pass_through().replace(
        b'<bpmn:sequenceFlow id="f1"',
        b'<bpmn:boundaryEvent id="B" attachedToRef="SetUp"><bpmn:timerEventDefinition>'
        b"<bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>"
        b'</bpmn:boundaryEvent>\n    <bpmn:sequenceFlow id="f1"',
    )
    with pytest.raises(ConversionError, match="cannot have boundary events"):
        convert_to_camunda8(boundary)


def test_a_pass_through_task_without_outputs_stays_a_task():
    model = _pass_through().replace(
        b'<niva:output target="reminder_days" source="=has(vars.reminder_days) ? '
        b'reminder_days : 14"/>',
        b"",
    )
    model = model.replace(b'<niva:output target="decided_by" source="Socialstyrelsen"/>', b"")
    converted = convert_to_camunda8(model)
    assert b'<bpmn:task id="SetUp"' in converted
    start = model.index(b"<bpmndi:BPMNDiagram")
    assert model[start:] in converted


@pytest.mark.parametrize(
    "text",
    [
        "Helse- og omsorgsdepartementet",
        'the "board"',
        "a \\ b, \\n and \\u00e5 as written",
        "two\nlines\tand a tab",
        " spaced ",
        "",
    ],
)
def test_a_static_output_is_written_as_a_feel_string_of_the_same_text(text: str):
    """The Modeler edits an output's source as FEEL only: a bare static text would show
    as ``=text`` and be saved as an expression of another meaning. The literal gives the
    same string niva's static value does."""
    escaped = (
        text.replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\t", "&#9;")
    )
    model = _pass_through().replace(b'source="Socialstyrelsen"', f'source="{escaped}"'.encode())
    # An input's source is FEEL or static in the Modeler: it stays as it is.
    model = model.replace(
        b'<bpmn:userTask id="Review">',
        f'<bpmn:userTask id="Review"><bpmn:extensionElements>'
        f'<niva:input target="author" source="{escaped}"/></bpmn:extensionElements>'.encode(),
    )
    original = _node(model, "SetUp").niva.outputs[1].source
    assert original == text
    converted = convert_to_camunda8(model)
    source = _node(converted, "SetUp").niva.outputs[1].source
    assert source is not None
    assert source.startswith('="')
    assert _evaluate(source, "camunda8") == _evaluate(text, "niva") == text
    [author] = _node(converted, "Review").niva.inputs
    assert author.source == text
    assert _evaluate(author.source, "camunda8") == text


RUNS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:niva="urn:niva:bpmn:1" id="D" targetNamespace="urn:x">
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:extensionElements><niva:timezone value="Europe/Stockholm"/></bpmn:extensionElements>
    <bpmn:startEvent id="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:task id="SetUp" name="Fastställ tidsfrister">
      <bpmn:extensionElements>
        <niva:output target="reminder_days" source="=has(vars.reminder_days) ? reminder_days : 14"/>
        <niva:output target="decided_by" source="Helse- og omsorgsdepartementet"/>
        <niva:output target="note" source="a &quot;quoted&quot; \\ text"/>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:task>
    <bpmn:endEvent id="End"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="SetUp"/>
    <bpmn:sequenceFlow id="f2" sourceRef="SetUp" targetRef="End"/>
  </bpmn:process>
</bpmn:definitions>
"""


async def test_the_converted_pass_through_runs_as_the_task_does(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
):
    """niva passes the converted throw event as it passes the task: the outputs applied
    (static sources as the same strings), and the token on to the end."""
    niva = RUNS.replace("{process_id}", "niva_setup").encode()
    camunda8 = convert_to_camunda8(RUNS.replace("{process_id}", "c8_setup").encode())
    assert _node(camunda8, "SetUp").kind == "intermediateThrowEvent"
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        cases.store.deploy(
            [
                ModelFile(name="niva.bpmn", content=niva),
                ModelFile(name="camunda8.bpmn", content=camunda8),
            ]
        )
        for start in ({}, {"reminder_days": 7}):
            results = []
            for process_id in ("niva_setup", "c8_setup"):
                handle = await cases.start(process_id, dict(start))
                results.append(await handle.result())
            ran, converted = results
            assert converted.outcome == ran.outcome
            assert converted.variables == ran.variables
            assert ran.variables["reminder_days"] == start.get("reminder_days", 14)
            assert ran.variables["decided_by"] == "Helse- og omsorgsdepartementet"
            assert ran.variables["note"] == 'a "quoted" \\ text'


def test_a_dotted_target_is_refused():
    """A dot in a niva-dialect target is part of one variable's name; Zeebe would set an
    entry of an object instead."""
    model = RUNS.replace("{process_id}", "p").replace('target="note"', 'target="limits.note"')
    with pytest.raises(ConversionError) as caught:
        convert_to_camunda8(model.encode())
    [problem] = caught.value.problems
    assert problem.element_id == "SetUp"
    assert "'limits.note'" in problem.message
