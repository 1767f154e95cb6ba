"""Deployments with DMN decisions: a .dmn file deploys with the BPMN, all or none; each
decision is versioned and bound to the process version whose business rule task calls it."""

from __future__ import annotations

from pathlib import Path

import pytest

from process_models.bpmn import read_bpmn, write_bpmn
from process_models.deployments import ModelFile, ModelStore
from process_models.errors import ModelInvalidError
from process_models.store import FileBlobStore
from process_models.validation import validate
from tests.support.dmn import FEES, c8_fee_model, changed_fees, fees_file, niva_fee_model


def line_of(text: str, fragment: str) -> int:
    """The line (from 1) of the first line of ``text`` holding ``fragment``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(FileBlobStore(tmp_path))


def c8_file(**kwargs: str) -> ModelFile:
    return ModelFile(name="c8_fee.bpmn", content=c8_fee_model(**kwargs).encode())


def test_a_model_and_its_decisions_deploy_together(store: ModelStore):
    deployment = store.deploy_files([c8_file(), fees_file()])
    versions = {
        r.decision.decision_id: (r.decision.version, r.created) for r in deployment.decisions
    }
    assert versions == {
        "applicant_category": (1, True),
        "permit_fee": (1, True),
        "fee_text": (1, True),
    }
    [process] = deployment.processes
    assert sorted(process.model.decisions) == ["fee_text", "permit_fee"]
    assert process.model.decisions["permit_fee"].version == 1
    source = store.source("c8_fee")
    assert source.decisions["permit_fee"].encode() == FEES
    assert source.decisions["fee_text"].encode() == FEES


def test_a_missing_decision_names_element_line_and_decision_id(store: ModelStore):
    with pytest.raises(ModelInvalidError) as caught:
        store.deploy_files([c8_file(decision_id="elsewhere")])
    problem, other = caught.value.problems
    line = line_of(c8_fee_model(), 'decisionId="permit_fee"')
    assert (problem.file, problem.element_id, problem.line) == ("c8_fee.bpmn", "Fee", line)
    assert "the decision 'elsewhere' is neither in this deployment" in problem.message
    # The other task's decision is in the DRD that was not deployed either.
    assert (other.element_id, "'fee_text'" in other.message) == ("Text", True)
    assert store.process_ids() == []


def test_a_bad_dmn_file_deploys_nothing(store: ModelStore):
    broken = FEES.replace(b"<text>&lt; 10</text>", b"<text>&lt; &lt; 10</text>")
    with pytest.raises(ModelInvalidError) as caught:
        store.deploy_files([c8_file(), fees_file(broken)])
    [problem] = [p for p in caught.value.problems if p.file == "fees.dmn"]
    assert problem.file == "fees.dmn"
    assert problem.element_id == "applicant_category"
    assert "rule 1 (Rule_small), input column 1 ('Employees')" in problem.message
    assert store.process_ids() == []
    assert store.decision_versions("permit_fee") == []


def test_decisions_deployed_before_are_found_and_pinned_per_process_version(store: ModelStore):
    store.deploy_files([fees_file()])
    [first] = store.deploy([c8_file()])
    assert first.model.decisions["permit_fee"].version == 1
    # A new DMN version: the model's file is the same, but it now binds other decisions,
    # so it is a new version; the first keeps the decisions it was deployed with.
    deployment = store.deploy_files([c8_file(), fees_file(changed_fees())])
    [second] = deployment.processes
    assert (second.model.version, second.created) == (2, True)
    assert second.model.decisions["permit_fee"].version == 2
    assert store.source("c8_fee", 1).decisions["permit_fee"].encode() == FEES
    assert b"<text>900</text>" in store.source("c8_fee", 2).decisions["permit_fee"].encode()
    # The same files again change nothing.
    again = store.deploy_files([c8_file(), fees_file(changed_fees())])
    assert [r.created for r in again.processes] == [False]
    assert {r.created for r in again.decisions} == {False}


def test_one_decision_id_in_two_files_of_one_deployment_is_refused(store: ModelStore):
    with pytest.raises(ModelInvalidError) as caught:
        store.deploy_files([fees_file(), fees_file(changed_fees(), name="other.dmn")])
    messages = sorted(p.message for p in caught.value.problems)
    assert len(messages) == 3
    assert "'applicant_category' is also in fees.dmn" in messages[0]


def test_niva_dialect_business_rule_task_reads_writes_and_deploys(store: ModelStore):
    defs = read_bpmn(niva_fee_model().encode())
    called = defs.processes[0].nodes[1].niva.called_decision
    assert called is not None
    assert (called.decision_id, called.result_variable) == ("permit_fee", "fee")
    written = write_bpmn(defs)
    assert b'<niva:calledDecision decisionId="permit_fee" resultVariable="fee"/>' in written
    assert read_bpmn(written).processes[0].nodes[1].niva.called_decision == called
    [result] = store.deploy_files(
        [ModelFile(name="niva.bpmn", content=niva_fee_model().encode()), fees_file()]
    ).processes
    assert list(result.model.decisions) == ["permit_fee"]


def test_zeebe_called_decision_is_read_into_the_neutral_view():
    defs = read_bpmn(c8_fee_model().encode())
    node = defs.processes[0].nodes[1]
    assert node.niva.called_decision is not None
    assert node.niva.called_decision.decision_id == "permit_fee"
    assert node.niva.called_decision.result_variable == "fee"


@pytest.mark.parametrize("model", [c8_fee_model(), niva_fee_model()])
def test_business_rule_task_without_decision_or_result_variable_is_a_problem(model: str):
    no_result = model.replace(' resultVariable="fee"', "")
    problems = validate(read_bpmn(no_result.encode()))
    assert [(p.element_id, p.line) for p in problems] == [("Fee", line_of(model, "calledDecision"))]
    assert "calledDecision" in problems[0].message
    assert "resultVariable" in problems[0].message


def test_business_rule_task_without_called_decision_is_outside_the_subset():
    model = niva_fee_model().replace(
        '<niva:calledDecision decisionId="permit_fee" resultVariable="fee"/>', ""
    )
    [problem] = validate(read_bpmn(model.encode()))
    assert problem.element_id == "Fee"
    assert "niva:calledDecision" in problem.message


def test_called_decision_on_another_kind_of_task_is_a_problem():
    model = niva_fee_model().replace("businessRuleTask", "serviceTask")
    model = model.replace(
        '<niva:calledDecision decisionId="permit_fee" resultVariable="fee"/>',
        '<niva:calledDecision decisionId="permit_fee" resultVariable="fee"/>'
        '<niva:taskDefinition type="notify"/>',
    )
    [problem] = validate(read_bpmn(model.encode()))
    assert problem.element_id == "Fee"
    assert "niva:calledDecision on a serviceTask is not read" in problem.message
