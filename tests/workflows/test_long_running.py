"""A case that lives a hundred years: an annual follow-up on 1 March, continue-as-new keeping
every run short, ids unique across runs, the deadline falling on the right calendar day."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.workflows import activities_for_tests
from tests.workflows.activities_for_tests import CALLS
from tests.workflows.harness import bpmn, running_cases

ANNUAL = bpmn("""
<bpmn:process id="no_annual" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="NextMarch"/>
  <bpmn:intermediateCatchEvent id="NextMarch" name="1 mars">
    <bpmn:timerEventDefinition><bpmn:timeDate>=next_date(now, 3, 1)</bpmn:timeDate></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="NextMarch" targetRef="AnnualReport"/>
  <bpmn:serviceTask id="AnnualReport" name="Årsrapport">
    <bpmn:extensionElements>
      <niva:taskDefinition type="echo"/>
      <niva:input target="year" source="=year(now)"/>
      <niva:output target="years" source="=years + 1"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:sequenceFlow id="f3" sourceRef="AnnualReport" targetRef="More"/>
  <bpmn:exclusiveGateway id="More" default="f5"/>
  <bpmn:sequenceFlow id="f4" sourceRef="More" targetRef="NextMarch">
    <bpmn:conditionExpression>=years &lt; 100</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f5" sourceRef="More" targetRef="End"/>
  <bpmn:endEvent id="End" name="Avvecklad"/>
</bpmn:process>
""")


async def test_hundred_years_of_annual_reports(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, record_history
):
    CALLS.clear()
    client = time_skipping_env.client
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as cases:
        cases.deploy(ANNUAL)
        # The time-skipping server gives every run a ten-year timeout when none is set (a
        # real server has none), so runs here must continue as new well before that.
        handle = await cases.start("no_annual", {"years": 0}, continue_after_events=100)
        result = await handle.result()
    assert result.variables["years"] == 100
    assert result.outcome == "Avvecklad"

    reports = [c for c in CALLS if c.element_id == "AnnualReport"]
    assert [c.task_id for c in reports[:3]] == ["AnnualReport", "AnnualReport#2", "AnnualReport#3"]
    assert reports[-1].task_id == "AnnualReport#100"
    oslo = ZoneInfo("Europe/Oslo")
    first_year = reports[0].now.astimezone(oslo).year
    for offset, call in enumerate(reports):
        local = call.now.astimezone(oslo)
        assert (local.year, local.month, local.day) == (first_year + offset, 3, 1)
        assert call.inputs["year"] == first_year + offset

    # Walk the chain of runs: every run stays short.
    run_lengths = []
    chain = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    while chain is not None:
        history = await chain.fetch_history()
        run_lengths.append(len(history.events))
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            break
        next_run = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        chain = client.get_workflow_handle(handle.id, run_id=next_run)
    assert len(run_lengths) > 3
    assert max(run_lengths) < 2000
    await record_history(handle, "engine_annual_first_run")
