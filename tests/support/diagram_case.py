"""A case at a known stage for the diagram pages: a referral to three regions of which two
have answered, after an intake that is done; its model carries a diagram so bpmn-js can
draw it."""

from __future__ import annotations

from process_models.bpmn.layout import layout_definitions
from process_models.bpmn.reader import read_bpmn
from process_models.bpmn.writer import write_bpmn
from tests.support.api import Api
from tests.workflows.harness import bpmn

PROCESS_ID = "api_diagram_referral"
REGIONS = ["SE-AB", "SE-C", "SE-D"]
ANSWERING = ["registrator-ab", "registrator-c"]
"""The registrators of the two regions that answer."""
DEADLINE = "2099-05-18"


def drawn(document: str) -> str:
    """``document`` with a diagram for each process that has none, so bpmn-js can draw it."""
    return write_bpmn(layout_definitions(read_bpmn(document))).decode("utf-8")


_MODEL = bpmn(f"""
<bpmn:process id="{PROCESS_ID}" name="Remiss" isExecutable="true">
  <bpmn:startEvent id="Start" name="Ansökan"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Intake"/>
  <bpmn:userTask id="Intake" name="Registrera">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Intake" targetRef="Route"/>
  <bpmn:exclusiveGateway id="Route" default="f3"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Route" targetRef="Referral"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Route" targetRef="Rejected">
    <bpmn:conditionExpression>=false</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:endEvent id="Rejected" name="Avvisad"/>
  <bpmn:userTask id="Referral" name="Remissvar">
    <bpmn:extensionElements>
      <niva:assignment candidateOrgs="=region"/>
    </bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <niva:loop inputCollection="=regions" inputElement="region"
                   outputCollection="answers" outputElement="=payload"/>
      </bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:boundaryEvent id="Deadline" name="Remisstiden löper ut" attachedToRef="Referral">
    <bpmn:timerEventDefinition><bpmn:timeDate>=deadline</bpmn:timeDate></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f5" sourceRef="Referral" targetRef="Decide"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Deadline" targetRef="Decide"/>
  <bpmn:userTask id="Decide" name="Besluta">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f7" sourceRef="Decide" targetRef="Done"/>
  <bpmn:endEvent id="Done" name="Beslutad"/>
</bpmn:process>
""")

MODEL = drawn(_MODEL)
"""Start → Intake (officer) → gateway → Referral to each region (multi-instance, with a
deadline) → Decide (officer) → Done; the gateway's other way ends at Rejected."""


async def referral_two_of_three(api: Api, business_key: str) -> str:
    """Deploy the model, start a case, complete the intake and let two of the three regions
    answer; the case's instance id."""
    await api.deploy(MODEL)
    instance_id = await api.start(
        PROCESS_ID, business_key, {"regions": REGIONS, "deadline": DEADLINE}
    )
    done = await api.complete(instance_id, "Intake", {}, "sos-officer")
    assert done.status_code == 200, done.text
    for subject, region in zip(ANSWERING, REGIONS, strict=False):
        answered = await api.complete(instance_id, f"Referral:{region}", {"ok": True}, subject)
        assert answered.status_code == 200, answered.text
    return instance_id
