"""``niva:starters``: read, written and validated like ``niva:assignment``; every shipped
process declares who starts it."""

from __future__ import annotations

import pytest

from activities.organisations import load_organisations
from process_models.bpmn import read_bpmn, write_bpmn
from process_models.bpmn.subset import is_executable
from process_models.errors import BpmnReadError
from process_models.schema import Starters
from process_models.shipped import shipped_model_files
from process_models.validation import validate
from tests.workflows.harness import bpmn


def declaring(starters: str) -> str:
    return bpmn(f"""
<bpmn:process id="declared" isExecutable="true">
  <bpmn:extensionElements>
    <niva:versionTag value="2026"/>
    {starters}
  </bpmn:extensionElements>
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


def test_read_starters_of_a_process() -> None:
    document = declaring(
        '<niva:starters candidateGroups="npo" candidateOrgs="SE-NPO-A, SE-NPO-B"/>'
    )
    process = read_bpmn(document.encode()).processes[0]
    assert process.starters == Starters(
        candidate_groups="npo", candidate_orgs="SE-NPO-A, SE-NPO-B", line=process.starters.line
    )
    assert process.starters.line is not None
    assert process.version_tag == "2026"
    assert process.foreign_extensions == []


def test_process_without_starters_declares_none() -> None:
    process = read_bpmn(declaring("").encode()).processes[0]
    assert process.starters is None


def test_write_then_read_keeps_starters() -> None:
    document = declaring('<niva:starters candidateOrgs="NO-HSO,NO-HV"/>')
    written = write_bpmn(read_bpmn(document.encode()))
    assert b'<niva:starters candidateOrgs="NO-HSO,NO-HV"/>' in written
    again = read_bpmn(written).processes[0]
    assert again.starters is not None
    assert (again.starters.candidate_groups, again.starters.candidate_orgs) == (
        None,
        "NO-HSO,NO-HV",
    )


def test_starters_with_an_unknown_attribute_is_refused() -> None:
    document = declaring('<niva:starters candidateUsers="anna"/>')
    with pytest.raises(BpmnReadError, match="niva:starters has unknown attribute"):
        read_bpmn(document.encode())


def test_starters_expression_is_a_validation_problem() -> None:
    document = declaring('<niva:starters candidateOrgs="=regions"/>')
    problems = validate(read_bpmn(document.encode()))
    [problem] = [p for p in problems if "niva:starters" in p.message]
    assert problem.element_id == "declared"
    assert "candidateOrgs must be a comma list, not an expression" in problem.message
    assert problem.line is not None
    assert not validate(read_bpmn(declaring('<niva:starters candidateOrgs="SE-AB"/>').encode()))


def test_every_shipped_process_declares_its_starters() -> None:
    kinds = {org.id: org.kind for org in load_organisations().organisations}
    declared: dict[str, tuple[str | None, set[str]]] = {}
    for file in shipped_model_files():
        for process in read_bpmn(file.content).processes:
            if not is_executable(process):
                continue
            assert process.starters is not None, file.name
            orgs = {o.strip() for o in (process.starters.candidate_orgs or "").split(",") if o}
            declared[file.name] = (process.starters.candidate_groups, orgs)
    npos = {org for org, kind in kinds.items() if kind == "npo"}
    rhfs = {org for org, kind in kinds.items() if kind == "rhf"}
    hfs = {org for org, kind in kinds.items() if kind == "hf"}
    assert declared == {
        "se/se_nhv_designation.bpmn": (None, npos),
        "se/se_nhv_permit.bpmn": ("operator", set()),
        "se/se_nhv_permit.v2.bpmn": ("operator", set()),
        "se/se_nhv_permit_allocation.bpmn": ("operator", set()),
        "no/no_national_service_application.v1.bpmn": (None, rhfs | {"NO-HDIR"}),
        "no/no_national_service_application.v2.bpmn": (None, rhfs | hfs),
        "no/no_national_service_lifecycle.bpmn": ("operator", set()),
    }
