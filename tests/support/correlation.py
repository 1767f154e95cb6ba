"""Test models whose message subscriptions carry a correlation key (``POST /messages``)."""

from __future__ import annotations

from tests.workflows.harness import bpmn

ORDER = bpmn("""
<bpmn:message id="MsgPayment" name="payment"/>
<bpmn:process id="corr_order" name="Order" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Payment"/>
  <bpmn:intermediateCatchEvent id="Payment" name="Betalning">
    <bpmn:extensionElements>
      <niva:subscription correlationKey="=order_id" candidateOrgs="=region"/>
    </bpmn:extensionElements>
    <bpmn:messageEventDefinition messageRef="MsgPayment"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Payment" targetRef="Paid"/>
  <bpmn:endEvent id="Paid" name="Betald"/>
</bpmn:process>
""")
"""Waits for ``payment`` with the key ``order_id``, from the organisation ``region``."""

RECEIPT = bpmn("""
<bpmn:message id="MsgReceipt" name="receipt"/>
<bpmn:process id="corr_receipt" name="Receipt" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Receive"/>
  <bpmn:receiveTask id="Receive" name="Kvitto" messageRef="MsgReceipt">
    <bpmn:extensionElements>
      <niva:subscription correlationKey="=order_no"/>
    </bpmn:extensionElements>
  </bpmn:receiveTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Receive" targetRef="Done"/>
  <bpmn:endEvent id="Done" name="Klar"/>
</bpmn:process>
""")
"""A receive task for ``receipt`` keyed by ``order_no`` (a number or a string), from anyone."""

FULFIL = bpmn("""
<bpmn:message id="MsgPlaced" name="order_placed"/>
<bpmn:process id="corr_fulfil" name="Fulfil" isExecutable="true">
  <bpmn:extensionElements>
    <niva:starters candidateOrgs="SE-AB"/>
  </bpmn:extensionElements>
  <bpmn:startEvent id="Placed">
    <bpmn:messageEventDefinition messageRef="MsgPlaced"/>
  </bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="Placed" targetRef="Pack"/>
  <bpmn:userTask id="Pack" name="Packa">
    <bpmn:extensionElements>
      <niva:assignment candidateOrgs="SE-AB"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Pack" targetRef="Packed"/>
  <bpmn:endEvent id="Packed" name="Packad"/>
</bpmn:process>
""")
"""Started by the message ``order_placed`` (only by SE-AB, its one starter), then a task."""
