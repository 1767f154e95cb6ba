"""``POST /process-models``: warnings in the deploy answer; foreign settings that decide who
acts refuse the deployment with 422."""

from __future__ import annotations

from tests.support.api import Api

MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="urn:t">
  <bpmn:process id="api_warned" isExecutable="true" camunda:historyTimeToLive="180">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
    <bpmn:userTask id="Review" {assignee}/>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Call"/>
    <bpmn:callActivity id="Call" calledElement="api_deployed_later"/>
  </bpmn:process>
</bpmn:definitions>
"""


async def test_deploy_answer_lists_the_warnings(api: Api):
    response = await api.http.post(
        "/process-models",
        content=MODEL.format(assignee="").encode(),
        headers={**api.auth("modeler"), "Content-Type": "application/xml", "X-File-Name": "w.bpmn"},
    )
    assert response.status_code == 201, response.text
    [deployed] = response.json()
    assert deployed["id"] == "api_warned"
    warnings = {(w["element_id"], w["file"]): w["message"] for w in deployed["warnings"]}
    assert set(warnings) == {("api_warned", "w.bpmn"), ("Call", "w.bpmn")}
    assert warnings["api_warned", "w.bpmn"].startswith("foreign setting camunda:historyTimeToLive")
    assert "'api_deployed_later'" in warnings["Call", "w.bpmn"]


async def test_a_foreign_assignee_refuses_the_deployment(api: Api):
    response = await api.http.post(
        "/process-models",
        content=MODEL.format(assignee='camunda:assignee="demo"').encode(),
        headers={**api.auth("modeler"), "Content-Type": "application/xml"},
    )
    assert response.status_code == 422
    [problem] = response.json()["problems"]
    assert problem["element_id"] == "Review"
    assert problem["message"].startswith("foreign setting camunda:assignee on userTask 'Review'")
