"""Validation of service-task types: a type niva does not implement is a job (a warning
naming the job workers' queue), while in the niva dialect a type that looks like a
misspelling of one niva implements is still a problem, with a suggestion."""

from __future__ import annotations

from process_models.bpmn import read_bpmn
from process_models.validation import check_model
from tests.workflows.harness import bpmn


def tasks(*types: str) -> str:
    flows = []
    nodes = []
    previous = "Start"
    for i, task_type in enumerate(types):
        nodes.append(
            f'<bpmn:serviceTask id="T{i}"><bpmn:extensionElements>'
            f'<niva:taskDefinition type="{task_type}"/></bpmn:extensionElements></bpmn:serviceTask>'
        )
        flows.append(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{previous}" targetRef="T{i}"/>')
        previous = f"T{i}"
    return bpmn(f"""
<bpmn:process id="jobs" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  {"".join(nodes)}
  {"".join(flows)}
  <bpmn:sequenceFlow id="fEnd" sourceRef="{previous}" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


def test_unregistered_task_type_is_a_job_and_a_warning_naming_the_queue():
    result = check_model(read_bpmn(tasks("check-credit", "send_mail").encode()))
    assert result.problems == []
    messages = {w.element_id: w.message for w in result.warnings}
    assert "'check-credit' is not one niva implements: it runs as a job" in messages["T0"]
    assert "NIVA_WORKER_JOBS_TASK_QUEUE, default niva-jobs" in messages["T0"]
    # Merely like a niva type (send_message) is not a misspelling of it.
    assert "'send_mail' is not one niva implements" in messages["T1"]


def test_misspelt_niva_task_type_is_a_problem_with_a_suggestion():
    result = check_model(read_bpmn(tasks("notfy", "render_documnet", "notify").encode()))
    found = {p.element_id: p.message for p in result.problems}
    assert set(found) == {"T0", "T1"}
    assert found["T0"].startswith("unknown task type 'notfy' (did you mean notify?)")
    assert "runs as a job on the job workers' task queue" in found["T0"]
    assert "(did you mean render_document?)" in found["T1"]
    assert not [w for w in result.warnings if w.element_id in found]


CAMUNDA8 = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="urn:t">
  <bpmn:process id="jobs" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="T0"/>
    <bpmn:serviceTask id="T0">
      <bpmn:extensionElements><zeebe:taskDefinition type="notfy"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="T0" targetRef="T1"/>
    <bpmn:serviceTask id="T1">
      <bpmn:extensionElements>
        <zeebe:taskDefinition type="=&quot;order-&quot; + priority"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f3" sourceRef="T1" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_camunda8_job_types_are_jobs_whatever_they_resemble():
    result = check_model(read_bpmn(CAMUNDA8.encode()))
    assert [p for p in result.problems if p.element_id in ("T0", "T1")] == []
    warned = {w.element_id for w in result.warnings if "runs as a job" in w.message}
    # A Camunda model's own worker may well be called notfy; a computed type is known
    # only when the task starts.
    assert warned == {"T0"}
