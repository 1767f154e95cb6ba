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
from typer.testing import CliRunner

from process_models.bpmn import read_bpmn
from process_models.cel_to_feel import TranslationError, translate
from process_models.convert import ConversionError, convert_to_camunda8
from process_models.dialect import compile_value
from process_models.schema import Dialect, FlowNode
from process_models.shipped import SHIPPED_DIRS
from process_models.validation import check_model
from starter.commands.models import app

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


def _evaluate(source: str, dialect: Dialect) -> Any:
    expression = compile_value(source, dialect=dialect)
    return expression.evaluate(VARIABLES, now=NOW, tz=TZ, reference=REFERENCE)


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


SHIPPED_CONVERTIBLE = [
    d / name
    for d in SHIPPED_DIRS
    for name in (
        "se_nhv_designation.bpmn",
        "se_nhv_permit_allocation.bpmn",
        "no_national_service_application.v2.bpmn",
    )
    if (d / name).exists()
]


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
        assert len(zeebe.inputs) == len(niva.inputs), node.id
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
