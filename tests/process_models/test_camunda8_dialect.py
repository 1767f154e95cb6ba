"""The Camunda 8 dialect: detection, zeebe extensions read into niva's view, the writer
keeping a file's dialect, FEEL in validation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from process_models.bpmn import layout_definitions, read_bpmn, write_bpmn
from process_models.bpmn.subset import blockers
from process_models.bpmn.zeebe import split_candidate_groups
from process_models.dialect import FeelValue, compile_value
from process_models.errors import ExpressionError
from process_models.expressions import Expression
from process_models.schema import Definitions, FlowNode, same_model
from process_models.validation import check_model, validate
from tests.workflows.harness import registry_with_test_types

DATA = Path(__file__).resolve().parents[1] / "data" / "camunda8"

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Defs"
    targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler"
    exporterVersion="5.28.0" modeler:executionPlatform="Camunda Cloud">
"""

ALL_EXTENSIONS = (
    HEADER
    + """  <bpmn:message id="Msg_answer" name="answer">
    <bpmn:extensionElements>
      <zeebe:subscription correlationKey="=caseNumber" />
    </bpmn:extensionElements>
  </bpmn:message>
  <bpmn:process id="all" isExecutable="true">
    <bpmn:extensionElements>
      <zeebe:versionTag value="2026-1" />
      <zeebe:properties>
        <zeebe:property name="niva:calendar" value="SE" />
        <zeebe:property name="niva:timezone" value="Europe/Stockholm" />
        <zeebe:property name="owner" value="registry" />
      </zeebe:properties>
      <zeebe:userTaskForm id="UserTaskForm_1">{"components": [], "type": "default"}</zeebe:userTaskForm>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start" />
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review" />
    <bpmn:userTask id="Review">
      <bpmn:extensionElements>
        <zeebe:userTask />
        <zeebe:formDefinition formId="review-form" />
        <zeebe:assignmentDefinition assignee="=owner" candidateGroups="org:SE-AB, org:SE-C"
            candidateUsers="anna, bo" />
        <zeebe:properties>
          <zeebe:property name="priority" value="high" />
        </zeebe:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Send" />
    <bpmn:serviceTask id="Send">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="=&#34;send-&#34; + channel" retries="5" />
        <zeebe:taskHeaders>
          <zeebe:header key="template" value="=kept as written" />
          <zeebe:header key="lang" value="sv" />
        </zeebe:taskHeaders>
        <zeebe:ioMapping>
          <zeebe:input source="static" target="mode" />
          <zeebe:input source="=applicant.name" target="to.name" />
          <zeebe:output source="=messageId" target="sent.id" />
        </zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f3" sourceRef="Send" targetRef="Wait" />
    <bpmn:intermediateCatchEvent id="Wait">
      <bpmn:messageEventDefinition messageRef="Msg_answer" />
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f4" sourceRef="Wait" targetRef="Embedded" />
    <bpmn:userTask id="Embedded">
      <bpmn:extensionElements>
        <zeebe:formDefinition formKey="camunda-forms:bpmn:UserTaskForm_1" />
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f5" sourceRef="Embedded" targetRef="Each" />
    <bpmn:callActivity id="Each">
      <bpmn:extensionElements>
        <zeebe:calledElement processId="child" propagateAllChildVariables="false"
            propagateAllParentVariables="false" />
      </bpmn:extensionElements>
      <bpmn:multiInstanceLoopCharacteristics isSequential="true">
        <bpmn:extensionElements>
          <zeebe:loopCharacteristics inputCollection="=items" inputElement="item"
              outputCollection="results" outputElement="=result" />
        </bpmn:extensionElements>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:callActivity>
    <bpmn:sequenceFlow id="f6" sourceRef="Each" targetRef="Score" />
    <bpmn:scriptTask id="Score">
      <bpmn:extensionElements>
        <zeebe:script expression="=count(results)" resultVariable="score" />
      </bpmn:extensionElements>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f7" sourceRef="Score" targetRef="End" />
    <bpmn:endEvent id="End" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram">
    <bpmndi:BPMNPlane id="Plane" bpmnElement="all">
      <bpmndi:BPMNShape id="Start_di" bpmnElement="Start">
        <dc:Bounds x="152" y="102" width="36" height="36" />
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
)


def _node(defs: Definitions, node_id: str) -> FlowNode:
    node = defs.processes[0].find_node(node_id)
    assert node is not None
    return node


def _problems(source: str) -> list[str]:
    defs = read_bpmn(source)
    return [p.message for p in validate(defs, registry=registry_with_test_types())]


# --- detection ----------------------------------------------------------------------------


def test_dialect_told_by_the_zeebe_namespace() -> None:
    assert read_bpmn(ALL_EXTENSIONS).dialect == "camunda8"
    plain = HEADER.replace('xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"', "")
    assert read_bpmn(plain + "</bpmn:definitions>").dialect == "niva"


def test_dialect_of_a_zeebe_namespace_declared_inside() -> None:
    source = (
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">'
        '<bpmn:process id="p" isExecutable="true"><bpmn:serviceTask id="T">'
        '<bpmn:extensionElements><z:taskDefinition xmlns:z="http://camunda.org/schema/zeebe/1.0"'
        ' type="echo"/></bpmn:extensionElements></bpmn:serviceTask></bpmn:process>'
        "</bpmn:definitions>"
    )
    defs = read_bpmn(source)
    assert defs.dialect == "camunda8"
    assert defs.namespaces["z"] == "http://camunda.org/schema/zeebe/1.0"
    assert _node(defs, "T").niva.task_definition is not None
    assert _node(defs, "T").niva.task_definition.type == "echo"


# --- the zeebe extensions -------------------------------------------------------------------


def test_zeebe_extensions_fill_nivas_view() -> None:
    defs = read_bpmn(ALL_EXTENSIONS)
    process = defs.processes[0]
    assert (process.version_tag, process.calendar, process.timezone) == (
        "2026-1",
        "SE",
        "Europe/Stockholm",
    )
    review = _node(defs, "Review").niva
    assert review.form is not None
    assert review.form.form_id == "review-form"
    assert review.assignment is not None
    assert review.assignment.candidate_orgs == "SE-AB, SE-C"
    assert review.assignment.candidate_groups is None
    assert review.assignment.assignee == "=owner"
    assert review.assignment.candidate_users == "anna, bo"
    assert review.properties == {"priority": "high"}
    send = _node(defs, "Send").niva
    assert send.task_definition is not None
    assert send.task_definition.type == '="send-" + channel'
    assert send.task_definition.retries == "5"
    assert send.task_definition.headers == {"template": "=kept as written", "lang": "sv"}
    assert [(m.target, m.source) for m in send.inputs] == [
        ("mode", "static"),
        ("to.name", "=applicant.name"),
    ]
    assert [(m.target, m.source) for m in send.outputs] == [("sent.id", "=messageId")]
    wait = _node(defs, "Wait").niva
    assert wait.subscription is not None
    assert wait.subscription.correlation_key == "=caseNumber"
    embedded = _node(defs, "Embedded").niva
    assert embedded.form is not None
    assert embedded.form.key == "camunda-forms:bpmn:UserTaskForm_1"
    each = _node(defs, "Each")
    called = each.niva.called_element
    assert called is not None
    assert (called.process_id, called.propagate_all_child_variables) == ("child", False)
    assert called.propagate_all_parent_variables is False
    assert each.loop is not None
    assert each.loop.niva_loop is not None
    assert each.loop.niva_loop.input_collection == "=items"
    assert each.loop.niva_loop.output_element == "=result"
    script = _node(defs, "Score").niva.script
    assert script is not None
    assert (script.expression, script.result_variable) == ("=count(results)", "score")


def test_embedded_forms_read_and_their_links_checked() -> None:
    defs = read_bpmn(ALL_EXTENSIONS, for_execution=True)
    forms = defs.processes[0].user_task_forms
    assert forms == {"UserTaskForm_1": '{"components": [], "type": "default"}'}
    assert _problems(ALL_EXTENSIONS) == []
    unlinked = ALL_EXTENSIONS.replace("bpmn:UserTaskForm_1", "bpmn:UserTaskForm_2")
    [problem] = _problems(unlinked)
    assert "camunda-forms:bpmn:UserTaskForm_2" in problem
    assert "UserTaskForm_1" in problem


def test_read_for_execution_gives_the_same_view() -> None:
    full = read_bpmn(ALL_EXTENSIONS)
    lean = read_bpmn(ALL_EXTENSIONS, for_execution=True)
    for node in full.processes[0].all_nodes():
        assert _node(lean, node.id).niva == node.niva
        assert (_node(lean, node.id).loop is None) == (node.loop is None)
    assert lean.processes[0].calendar == "SE"


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (["registrator", "officer"], (["registrator", "officer"], [])),
        (["org:SE-AB", " org:SE-C "], ([], ["SE-AB", "SE-C"])),
        (["org:SE-AB/registrator"], (["registrator"], ["SE-AB"])),
        (
            ["org:SE-AB/a", "org:SE-AB/b", "org:SE-C/a", "org:SE-C/b"],
            (["a", "b"], ["SE-AB", "SE-C"]),
        ),
        (["org:SE-AB/a", "org:SE-C/b"], None),
        (["org:SE-AB", "registrator"], None),
        (["org:SE-AB/a", "a"], None),
        (["org:/a"], None),
    ],
)
def test_candidate_groups_as_roles_and_organisations(
    groups: list[str], expected: tuple[list[str], list[str]] | None
) -> None:
    assert split_candidate_groups(groups) == expected


def test_candidate_groups_niva_cannot_express_are_a_problem() -> None:
    source = ALL_EXTENSIONS.replace(
        'candidateGroups="org:SE-AB, org:SE-C"', 'candidateGroups="org:SE-AB, registrator"'
    )
    defs = read_bpmn(source)
    assignment = _node(defs, "Review").niva.assignment
    assert assignment is not None
    assert assignment.org_candidates
    messages = [p.message for p in validate(defs, registry=registry_with_test_types())]
    assert any("'org:SE-AB, registrator' mix organisations" in m for m in messages)


def test_candidate_groups_expression_split_when_the_task_opens() -> None:
    source = ALL_EXTENSIONS.replace(
        'candidateGroups="org:SE-AB, org:SE-C"', 'candidateGroups="=[&#34;org:&#34; + region]"'
    )
    assignment = _node(read_bpmn(source), "Review").niva.assignment
    assert assignment is not None
    assert (assignment.candidate_groups, assignment.org_candidates) == ('=["org:" + region]', True)


# --- the writer keeps the dialect -------------------------------------------------------------


@pytest.mark.parametrize("name", ["permit.bpmn", "archive.bpmn", None])
def test_camunda8_file_round_trips_without_niva(name: str | None) -> None:
    source = (DATA / name).read_bytes() if name else ALL_EXTENSIONS.encode()
    first = read_bpmn(source)
    once = write_bpmn(first)
    assert b"urn:niva:bpmn:1" not in once
    assert b"<niva:" not in once
    assert b'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"' in once
    again = read_bpmn(once)
    # The writer declares BPMN's conventional prefixes too; nothing else differs.
    assert again.namespaces.items() >= first.namespaces.items()
    again.namespaces = first.namespaces
    assert same_model(first, again)
    assert write_bpmn(read_bpmn(once)) == once
    assert once.count(b"<zeebe:") == source.count(b"<zeebe:")


def test_layout_keeps_a_camunda8_file_camunda8() -> None:
    defs = read_bpmn((DATA / "permit.bpmn").read_bytes())
    assert not defs.diagrams
    laid_out = write_bpmn(layout_definitions(defs))
    assert b"BPMNShape" in laid_out
    assert b"niva" not in laid_out
    assert read_bpmn(laid_out).dialect == "camunda8"


def test_niva_file_still_declares_niva() -> None:
    niva = read_bpmn(
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">'
        '<bpmn:process id="p"/></bpmn:definitions>'
    )
    assert b'xmlns:niva="urn:niva:bpmn:1"' in write_bpmn(niva)


# --- validation ---------------------------------------------------------------------------------


def test_shipped_style_camunda8_models_validate() -> None:
    for name in ("permit.bpmn", "archive.bpmn"):
        defs = read_bpmn((DATA / name).read_bytes())
        result = check_model(defs, registry=registry_with_test_types())
        assert result.problems == []


def test_mixing_niva_and_zeebe_settings_is_a_problem_naming_both() -> None:
    source = ALL_EXTENSIONS.replace(
        'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"',
        'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" xmlns:niva="urn:niva:bpmn:1"',
    ).replace("<zeebe:userTask />", '<niva:assignment candidateGroups="officer" />')
    defs = read_bpmn(source)
    # Not read: a niva setting in a Camunda 8 file would otherwise silently win or lose.
    assignment = _node(defs, "Review").niva.assignment
    assert assignment is not None
    assert assignment.candidate_groups is None
    problems = validate(defs, registry=registry_with_test_types())
    [mix] = [p for p in problems if "niva:assignment" in p.message]
    assert "Camunda 8" in mix.message
    assert "zeebe:" in mix.message
    assert mix.element_id == "Review"
    # The writer puts the niva element back as it was, and no other.
    out = write_bpmn(defs)
    assert out.count(b"<niva:") == 1


def test_feel_syntax_errors_name_element_and_line() -> None:
    source = (
        (DATA / "permit.bpmn")
        .read_text()
        .replace("=fee &gt; 100 and applicant != null", "=fee &gt; (100")
    )
    defs = read_bpmn(source)
    [problem] = validate(defs, registry=registry_with_test_types())
    assert problem.element_id == "Flow_review"
    assert problem.line == 22  # the condition's line
    assert "fee > (100" in problem.message
    assert "column" in problem.message


def test_cel_is_not_feel_in_a_camunda8_file() -> None:
    source = (
        (DATA / "permit.bpmn")
        .read_text()
        .replace(
            "=fee &gt; 100 and applicant != null", "=fee &gt; 100 &amp;&amp; applicant != null"
        )
    )
    problems = validate(read_bpmn(source), registry=registry_with_test_types())
    assert [p.element_id for p in problems] == ["Flow_review"]
    assert "looks like FEEL" not in problems[0].message


def test_feel_everywhere_the_dialect_has_an_expression() -> None:
    bad = "=1 +"
    replacements = {
        "=amount * 2": "script",  # script expression
        "=decision": "output",  # output mapping
        '=duration("P" + string(reviewDays) + "D")': "timer",  # timer
        "=regions": "collection",  # inputCollection
        "=&#34;c8-&#34; + &#34;archive&#34;": "called",  # called process id
        "=upper case(decision)": "output",  # a function call
    }
    original = (DATA / "permit.bpmn").read_text()
    for text in replacements:
        assert text in original, text
        problems = validate(
            read_bpmn(original.replace(text, bad)), registry=registry_with_test_types()
        )
        assert len(problems) == 1, (text, problems)


def test_correlation_key_is_feel() -> None:
    broken = ALL_EXTENSIONS.replace('correlationKey="=caseNumber"', 'correlationKey="=case +"')
    [problem] = _problems(broken)
    assert "case +" in problem


def test_job_type_expression_is_feel() -> None:
    source = (
        (DATA / "permit.bpmn")
        .read_text()
        .replace('type="echo"', 'type="=&#34;ec&#34; + &#34;ho&#34;"')
    )
    assert validate(read_bpmn(source), registry=registry_with_test_types()) == []
    broken = source.replace("=&#34;ec&#34; + &#34;ho&#34;", "=&#34;ec&#34; +")
    [problem] = validate(read_bpmn(broken), registry=registry_with_test_types())
    assert problem.element_id == "Echo"


def test_script_task_runs_in_the_camunda8_dialect_and_with_a_script_in_niva_s() -> None:
    defs = read_bpmn((DATA / "archive.bpmn").read_bytes())
    process = defs.processes[0]
    assert blockers(process, dialect="camunda8") == []
    assert blockers(process) == []  # a script task with its script runs in either dialect
    receipt = process.node("Receipt")
    assert receipt is not None
    receipt.niva.script = None  # a niva script task without niva:script cannot run
    [blocked] = blockers(process)
    assert blocked.element_id == "Receipt"
    missing = (DATA / "archive.bpmn").read_text().replace(' resultVariable="receipt"', "")
    assert any("zeebe:script" in m for m in _problems(missing))


# --- FEEL values as niva's JSON -------------------------------------------------------------------


NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
TZ = ZoneInfo("Europe/Stockholm")


@pytest.mark.parametrize(
    ("feel", "cel", "expected"),
    [
        ('=now() + duration("P1D")', '=add_duration(now, "P1D")', "2026-03-02T10:00:00Z"),
        ('=duration("P1DT12H")', '=duration("36h")', "PT36H"),
    ],
)
def test_feel_values_convert_to_json_as_cel_values_do(feel: str, cel: str, expected: str) -> None:
    feel_value = compile_value(feel, dialect="camunda8")
    cel_value = compile_value(cel, dialect="niva")
    assert isinstance(feel_value, FeelValue)
    assert isinstance(cel_value, Expression)
    assert feel_value.evaluate({}, now=NOW, tz=TZ) == expected
    assert cel_value.evaluate({}, now=NOW, tz=TZ) == expected


def test_feel_values_other_than_instants_as_feel_writes_them() -> None:
    value = compile_value(
        '={d: date("2024-02-29"), p: duration("P1Y2M"), n: 2.50}', dialect="camunda8"
    )
    assert value.evaluate({}, now=NOW, tz=TZ) == {"d": "2024-02-29", "p": "P1Y2M", "n": 2.5}


def test_literal_values_are_strings_in_both_dialects() -> None:
    for dialect in ("niva", "camunda8"):
        value = compile_value("static text", dialect=dialect)
        assert value.evaluate({}, now=NOW, tz=TZ) == "static text"


def test_feel_syntax_error_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError):
        compile_value("=1 +", dialect="camunda8", element_id="X")
