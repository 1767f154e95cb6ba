"""Other engines' execution settings: problems when they decide who acts or what runs, else
warnings; in a Camunda 8 file, Camunda 7 leftovers are warnings."""

from __future__ import annotations

import pytest

from process_models.bpmn import read_bpmn
from process_models.validation import check_model

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:activiti="http://activiti.org/bpmn"
    xmlns:flowable="http://flowable.org/bpmn"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    {extra} id="defs" targetNamespace="urn:test">
{body}
</bpmn:definitions>
"""
ZEEBE = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'


def document(task: str, *, process_attributes: str = "", extra: str = "") -> str:
    body = f"""
<bpmn:process id="p" isExecutable="true" {process_attributes}>
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  {task}
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>"""
    return HEADER.format(extra=extra, body=body)


@pytest.mark.parametrize(
    ("task", "setting", "hint"),
    [
        ('<bpmn:userTask id="Review" camunda:assignee="demo"/>', "camunda:assignee", "assignment"),
        (
            '<bpmn:userTask id="Review" camunda:candidateGroups="management"/>',
            "camunda:candidateGroups",
            "assignment",
        ),
        ('<bpmn:userTask id="Review" activiti:assignee="kermit"/>', "activiti:assignee", ""),
        (
            '<bpmn:userTask id="Review" flowable:candidateUsers="a,b"/>',
            "flowable:candidateUsers",
            "",
        ),
        ('<bpmn:userTask id="Review" camunda:formKey="embedded:x"/>', "camunda:formKey", "form"),
        ('<bpmn:userTask id="Review" camunda:formRef="f"/>', "camunda:formRef", "form"),
        (
            '<bpmn:manualTask id="Review" camunda:class="org.example.Delegate"/>',
            "camunda:class",
            "taskDefinition",
        ),
        (
            '<bpmn:manualTask id="Review" camunda:delegateExpression="${bean}"/>',
            "camunda:delegateExpression",
            "",
        ),
        ('<bpmn:manualTask id="Review" camunda:expression="${x}"/>', "camunda:expression", ""),
        (
            """<bpmn:userTask id="Review"><bpmn:extensionElements>
                 <camunda:taskListener event="create" class="org.example.L"/>
               </bpmn:extensionElements></bpmn:userTask>""",
            "camunda:taskListener",
            "listener",
        ),
        (
            """<bpmn:manualTask id="Review"><bpmn:extensionElements>
                 <camunda:executionListener event="start" class="org.example.L"/>
               </bpmn:extensionElements></bpmn:manualTask>""",
            "camunda:executionListener",
            "",
        ),
        (
            """<bpmn:manualTask id="Review"><bpmn:extensionElements>
                 <camunda:inputOutput><camunda:inputParameter name="a">1</camunda:inputParameter>
                 </camunda:inputOutput>
               </bpmn:extensionElements></bpmn:manualTask>""",
            "camunda:inputOutput",
            "niva:input",
        ),
        (
            """<bpmn:userTask id="Review"><bpmn:extensionElements>
                 <spiffworkflow:preScript>x = 1</spiffworkflow:preScript>
               </bpmn:extensionElements></bpmn:userTask>""",
            "spiffworkflow:preScript",
            "",
        ),
    ],
)
def test_a_setting_that_decides_who_acts_or_what_runs_is_a_problem(task, setting, hint):
    result = check_model(read_bpmn(document(task)))
    [problem] = result.problems
    assert problem.element_id == "Review"
    assert problem.line is not None
    assert problem.message.startswith(f"foreign setting {setting} on ")
    assert "'Review'" in problem.message
    assert hint in problem.message
    assert result.warnings == []


def test_who_may_start_is_a_problem_on_the_process():
    result = check_model(
        read_bpmn(
            document(
                '<bpmn:userTask id="Review"/>',
                process_attributes='camunda:candidateStarterGroups="clerks"',
            )
        )
    )
    [problem] = result.problems
    assert problem.element_id == "p"
    assert "camunda:candidateStarterGroups" in problem.message
    assert "niva:starters" in problem.message


@pytest.mark.parametrize(
    ("task", "process_attributes", "setting"),
    [
        ('<bpmn:userTask id="Review" camunda:asyncBefore="true"/>', "", "camunda:asyncBefore"),
        ('<bpmn:userTask id="Review" camunda:asyncAfter="true"/>', "", "camunda:asyncAfter"),
        ('<bpmn:userTask id="Review" camunda:jobPriority="5"/>', "", "camunda:jobPriority"),
        ('<bpmn:userTask id="Review" flowable:async="true"/>', "", "flowable:async"),
        (
            '<bpmn:userTask id="Review"/>',
            'camunda:historyTimeToLive="180"',
            "camunda:historyTimeToLive",
        ),
        ('<bpmn:userTask id="Review"/>', 'camunda:versionTag="1.0"', "camunda:versionTag"),
        (
            """<bpmn:userTask id="Review"><bpmn:extensionElements>
                 <camunda:failedJobRetryTimeCycle>R3/PT5M</camunda:failedJobRetryTimeCycle>
               </bpmn:extensionElements></bpmn:userTask>""",
            "",
            "camunda:failedJobRetryTimeCycle",
        ),
    ],
)
def test_a_harmless_setting_is_a_warning(task, process_attributes, setting):
    result = check_model(read_bpmn(document(task, process_attributes=process_attributes)))
    assert result.problems == []
    [warning] = result.warnings
    assert warning.message.startswith(f"foreign setting {setting} on ")
    assert "ignored" in warning.message


def test_camunda_7_leftovers_in_a_camunda_8_file_are_warnings():
    task = """<bpmn:userTask id="Review" camunda:assignee="demo" camunda:formKey="x">
      <bpmn:extensionElements>
        <camunda:inputOutput><camunda:inputParameter name="a">1</camunda:inputParameter>
        </camunda:inputOutput>
      </bpmn:extensionElements>
    </bpmn:userTask>"""
    result = check_model(read_bpmn(document(task, extra=ZEEBE)))
    assert not [p for p in result.problems if p.message.startswith("foreign setting")]
    settings = sorted(w.message.split()[2] for w in result.warnings)
    assert settings == ["camunda:assignee", "camunda:formKey", "camunda:inputOutput"]
    assert all("Camunda 8" in w.message for w in result.warnings)


def test_other_vendors_in_a_camunda_8_file_are_still_problems():
    result = check_model(
        read_bpmn(document('<bpmn:userTask id="Review" flowable:assignee="x"/>', extra=ZEEBE))
    )
    assert [p.message.split()[2] for p in result.problems] == ["flowable:assignee"]


def test_foreign_settings_of_a_process_that_is_not_executable_are_not_checked():
    text = document('<bpmn:userTask id="Review" camunda:assignee="demo"/>').replace(
        'isExecutable="true"', 'isExecutable="false"'
    )
    result = check_model(read_bpmn(text))
    assert all("foreign setting" not in p.message for p in result.problems)


def test_settings_on_an_event_definition_and_a_loop_name_their_node():
    task = """<bpmn:userTask id="Review">
      <bpmn:multiInstanceLoopCharacteristics camunda:collection="${items}"
          camunda:elementVariable="item"/>
    </bpmn:userTask>"""
    result = check_model(read_bpmn(document(task)))
    messages = [p.message for p in result.problems if p.message.startswith("foreign setting")]
    assert sorted(m.split()[2] for m in messages) == [
        "camunda:collection",
        "camunda:elementVariable",
    ]
    assert all("multiInstanceLoopCharacteristics 'Review'" in m for m in messages)
