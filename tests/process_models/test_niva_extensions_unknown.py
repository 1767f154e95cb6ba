"""Elements and attributes in the niva namespace that niva does not read are validation
problems, with the element id, the line and the closest known name; none is silently
ignored."""

from __future__ import annotations

import pytest

from process_models.bpmn import read_bpmn, write_bpmn
from process_models.errors import BpmnReadError, Problem
from process_models.shipped import shipped_model_files
from process_models.validation import validate
from tests.workflows.harness import bpmn


def model(process_extensions: str = "", task: str = "", task_attributes: str = "") -> str:
    return bpmn(f"""
<bpmn:process id="P" isExecutable="true">
  <bpmn:extensionElements>
    <niva:calendar value="SE"/>
    {process_extensions}
  </bpmn:extensionElements>
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review"{task_attributes}>
    <bpmn:extensionElements>
      <niva:form key="referral_response"/>
      {task}
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


def niva_problems(document: str) -> list[Problem]:
    return [p for p in validate(read_bpmn(document.encode())) if "niva" in p.message]


def line_of(document: str, text: str) -> int:
    return next(i for i, line in enumerate(document.splitlines(), 1) if text in line)


def test_clean_model_has_no_niva_problem() -> None:
    assert niva_problems(model()) == []


def test_misspelt_process_element_is_a_problem_with_a_suggestion() -> None:
    document = model(process_extensions='<niva:calender value="NO"/>')
    assert niva_problems(document) == [
        Problem(
            message="unknown niva extension element niva:calender (did you mean niva:calendar?)",
            element_id="P",
            line=line_of(document, "niva:calender"),
        )
    ]


@pytest.mark.parametrize(
    ("extension", "expected"),
    [
        ('<niva:asignment candidateGroups="officer"/>', "niva:asignment (did you mean niva:assignment?)"),
        ('<niva:ioMapping><niva:inptu target="x" source="=y"/></niva:ioMapping>', "niva:inptu (did you mean niva:input?)"),
        ("<niva:frobnicate/>", "niva:frobnicate"),
    ],
)  # fmt: skip
def test_unknown_element_on_a_task_is_a_problem(extension: str, expected: str) -> None:
    document = model(task=extension)
    assert niva_problems(document) == [
        Problem(
            message=f"unknown niva extension element {expected}",
            element_id="Review",
            line=line_of(document, extension),
        )
    ]


def test_known_element_where_it_is_not_read_is_a_problem() -> None:
    document = model(task='<niva:form key="other"/>', process_extensions="<niva:loop/>")
    problems = niva_problems(document)
    assert [(p.element_id, p.line) for p in problems] == [
        ("P", line_of(document, "<niva:loop/>")),
        ("Review", line_of(document, 'key="other"')),
    ]
    assert problems[0].message.startswith("niva:loop is not read here (in a process)")
    assert problems[1].message.startswith("niva:form is not read here (in a userTask)")


def test_niva_attribute_on_a_bpmn_element_is_a_problem() -> None:
    document = model(task_attributes=' niva:candidateGroups="officer"')
    assert niva_problems(document) == [
        Problem(
            message="unknown niva attribute niva:candidateGroups on a userTask: niva's "
            "settings are niva elements in extensionElements",
            element_id="Review",
            line=line_of(document, '<bpmn:userTask id="Review"'),
        )
    ]


def test_unknown_elements_in_timers_and_loops_are_problems() -> None:
    document = bpmn("""
<bpmn:process id="P" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Each"/>
  <bpmn:userTask id="Each">
    <bpmn:extensionElements><niva:form key="referral_response"/></bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <niva:loop inputCollection="=items" inputElement="item"/>
        <niva:lopp inputCollection="=items"/>
      </bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Each" targetRef="End"/>
  <bpmn:boundaryEvent id="Deadline" attachedToRef="Each">
    <bpmn:extensionElements><niva:calendr value="none"/></bpmn:extensionElements>
    <bpmn:timerEventDefinition>
      <bpmn:extensionElements><niva:calendar value="none"/></bpmn:extensionElements>
      <bpmn:timeDuration>P14D</bpmn:timeDuration>
    </bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="Deadline" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")
    problems = niva_problems(document)
    assert [(p.element_id, p.line, p.message.split(":", 1)[0]) for p in problems] == [
        ("Each", line_of(document, "niva:lopp"), "unknown niva extension element niva"),
        ("Deadline", line_of(document, "niva:calendr"), "unknown niva extension element niva"),
        ("Deadline", line_of(document, '<niva:calendar value="none"/>'), "niva"),
    ]
    assert "(did you mean niva:loop?)" in problems[0].message
    assert "(did you mean niva:calendar?)" in problems[1].message
    assert problems[2].message.startswith(
        "niva:calendar is not read here (in a timerEventDefinition)"
    )


def test_unknown_elements_are_kept_by_both_reads() -> None:
    document = model(process_extensions='<niva:calender value="NO"/>').encode()
    assert b"<niva:calender" in write_bpmn(read_bpmn(document))
    process = read_bpmn(document, for_execution=True).processes[0]
    assert [raw.local_name for raw in process.foreign_extensions] == ["calender"]
    assert process.calendar == "SE"


def test_unknown_attribute_of_a_niva_element_names_the_closest_one() -> None:
    document = model(task='<niva:assignment candidateGroup="officer"/>')
    with pytest.raises(BpmnReadError) as info:
        read_bpmn(document.encode())
    assert info.value.line == line_of(document, "candidateGroup=")
    assert "candidateGroup (did you mean candidateGroups?)" in info.value.problem.message


def test_shipped_models_use_only_known_niva_vocabulary() -> None:
    files = shipped_model_files()
    assert files
    for file in files:
        assert validate(read_bpmn(file.content)) == [], file.name
