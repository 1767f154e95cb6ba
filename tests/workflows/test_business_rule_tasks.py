"""Business rule tasks on the time-skipping server: a DMN decision deployed with the model,
evaluated in the workflow (required decisions first, COLLECT SUM), its result in the task's
``resultVariable``; a failing decision is an incident on the task's token, and a case keeps
the decision version it started with."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from process_models.deployments import ModelFile
from tests.support.dmn import c8_fee_model, changed_fees, fees_file, niva_fee_model
from tests.workflows import activities_for_tests
from tests.workflows.harness import OFFICER, Cases, running_cases
from workflows.contract import RetryIncidentInput
from workflows.state import InstanceState


@pytest.fixture
async def cases(time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path):
    async with running_cases(
        time_skipping_env.client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


def deploy(cases: Cases, *files: ModelFile) -> None:
    cases.store.deploy_files(list(files))


def c8_file(**kwargs: str) -> ModelFile:
    return ModelFile(name="c8_fee.bpmn", content=c8_fee_model(**kwargs).encode())


async def test_camunda8_business_rule_task_evaluates_a_drd_with_collect_sum(cases: Cases):
    deploy(cases, c8_file(), fees_file())
    handle = await cases.start("c8_fee", {"size": 3, "activities": ["food", "alcohol"]})
    result = await handle.result()
    # applicant_category (FIRST) gave "small", which permit_fee (COLLECT SUM) required:
    # 1500 + 800.5 + 2200; fee_text required permit_fee in turn.
    assert result.variables["fee"] == 4500.5
    assert result.variables["text"] == "Avgift: 4500.5 kr"
    assert result.outcome == "High"
    # The input mapping was the task's own: it did not become a case variable.
    assert "employees" not in result.variables

    small = await cases.start("c8_fee", {"size": 3, "activities": []})
    low = await small.result()
    assert (low.variables["fee"], low.outcome) == (1500, "Low")


async def test_niva_dialect_business_rule_task(cases: Cases):
    deploy(cases, ModelFile(name="niva.bpmn", content=niva_fee_model().encode()), fees_file())
    handle = await cases.start("niva_fee", {"employees": 40, "activities": "food"})
    result = await handle.result()
    assert result.variables["fee"] == 4800.5


UNIQUE_CLASH = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d"
    namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="permit_fee" name="Fee">
    <decisionTable id="t">
      <input id="i" label="Employees">
        <inputExpression id="ie" typeRef="number"><text>employees</text></inputExpression>
      </input>
      <output id="o" name="fee" typeRef="number"/>
      <rule id="Rule_any"><inputEntry id="a"><text>-</text></inputEntry>
        <outputEntry id="b"><text>100</text></outputEntry></rule>
      <rule id="Rule_big"><inputEntry id="c"><text>&gt; 10</text></inputEntry>
        <outputEntry id="d"><text>200</text></outputEntry></rule>
    </decisionTable>
  </decision>
  <decision id="fee_text" name="Text">
    <literalExpression id="l"><text>"n/a"</text></literalExpression>
  </decision>
</definitions>"""


async def incident_state(cases: Cases, handle: WorkflowHandle[Any, Any]) -> InstanceState:
    """The case's state once it holds an incident (its first workflow task has run)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        state = await cases.internal(handle)
        if state.incidents:
            return state
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no incident in time; state: {state}")
        await asyncio.sleep(0.1)


async def test_a_failing_decision_is_an_incident_on_the_token_and_a_retry_resumes(cases: Cases):
    deploy(cases, c8_file(), ModelFile(name="clash.dmn", content=UNIQUE_CLASH))
    handle = await cases.start("c8_fee", {"size": 30})
    state = await incident_state(cases, handle)
    [incident] = state.incidents.values()
    assert (incident.kind, incident.element_id) == ("expression", "Fee")
    assert incident.token_id is not None
    assert state.tokens[incident.token_id].status == "incident"
    assert "hit policy UNIQUE, but 2 rules match: rule 1 (Rule_any), rule 2 (Rule_big)" in (
        incident.message
    )
    await handle.execute_update(
        "retry_incident",
        RetryIncidentInput(incident_id=incident.id, variables={"size": 5}, actor=OFFICER),
    )
    result = await handle.result()
    assert (result.variables["fee"], result.variables["text"], result.outcome) == (
        100,
        "n/a",
        "Low",
    )


async def test_a_case_keeps_the_decision_version_its_process_version_was_deployed_with(
    cases: Cases,
):
    deploy(cases, c8_file(), fees_file())
    deploy(cases, c8_file(), fees_file(changed_fees()))
    variables = {"size": 3, "activities": ["food"]}
    first = await (await cases.start("c8_fee", variables, version=1)).result()
    latest = await (await cases.start("c8_fee", variables)).result()
    assert (first.variables["fee"], latest.variables["fee"]) == (2300.5, 2400)
