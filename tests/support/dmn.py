"""DMN files and models whose business rule task calls a decision, for the deployment and
engine tests. `tests/data/dmn/fees.dmn` is written as Camunda Modeler writes a DRD: a FIRST
table (``applicant_category``) required by a COLLECT SUM table (``permit_fee``), required by
a literal expression (``fee_text``)."""

from __future__ import annotations

from pathlib import Path

from process_models.deployments import ModelFile

FEES = (Path(__file__).resolve().parents[1] / "data" / "dmn" / "fees.dmn").read_bytes()


def fees_file(content: bytes = FEES, name: str = "fees.dmn") -> ModelFile:
    """The fees DMN as a deployment's file."""
    return ModelFile(name=name, content=content)


def changed_fees() -> bytes:
    """The fees DMN with the food fee raised from 800.5 to 900."""
    return FEES.replace(b"<text>800.5</text>", b"<text>900</text>")


def c8_fee_model(
    process_id: str = "c8_fee", decision_id: str = "permit_fee", result_variable: str = "fee"
) -> str:
    """A Camunda 8 model: a business rule task calling ``decision_id``, then a FEEL gateway
    on the result and the text of the fee from a second decision of the same DRD."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0"
    id="Definitions_fee" targetNamespace="http://bpmn.io/schema/bpmn"
    exporter="Camunda Modeler" exporterVersion="5.30.0"
    modeler:executionPlatform="Camunda Cloud" modeler:executionPlatformVersion="8.6.0">
  <bpmn:process id="{process_id}" name="Fee" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fee"/>
    <bpmn:businessRuleTask id="Fee" name="Avgift">
      <bpmn:extensionElements>
        <zeebe:calledDecision decisionId="{decision_id}" resultVariable="{result_variable}"/>
        <zeebe:ioMapping>
          <zeebe:input source="=size" target="employees"/>
        </zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Fee" targetRef="Text"/>
    <bpmn:businessRuleTask id="Text" name="Avgiftstext">
      <bpmn:extensionElements>
        <zeebe:calledDecision decisionId="fee_text" resultVariable="text"/>
        <zeebe:ioMapping>
          <zeebe:input source="=size" target="employees"/>
        </zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f3" sourceRef="Text" targetRef="Gateway"/>
    <bpmn:exclusiveGateway id="Gateway" default="f5"/>
    <bpmn:sequenceFlow id="f4" sourceRef="Gateway" targetRef="High">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
          xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">={result_variable} &gt; 3000</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f5" sourceRef="Gateway" targetRef="Low"/>
    <bpmn:endEvent id="High" name="High"/>
    <bpmn:endEvent id="Low" name="Low"/>
  </bpmn:process>
</bpmn:definitions>
"""


def niva_fee_model(process_id: str = "niva_fee", decision_id: str = "permit_fee") -> str:
    """The niva dialect's business rule task (``niva:calledDecision``)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:niva="urn:niva:bpmn:1" id="defs" targetNamespace="urn:niva:test">
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fee"/>
    <bpmn:businessRuleTask id="Fee">
      <bpmn:extensionElements>
        <niva:calledDecision decisionId="{decision_id}" resultVariable="fee"/>
      </bpmn:extensionElements>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Fee" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""
