"""A case as operators meet it: a referral to 21 regions with a deadline, and a decision
being prepared beside it. Shared by the details, query and browser tests."""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowHandle

from tests.workflows.harness import Cases, bpmn
from workflows.candidates import Actor

PROCESS_ID = "se_ops_referral"
DEADLINE = "2027-05-18"
"""A date-only deadline: the end of that day in Europe/Stockholm."""

REGIONS = [
    "SE-AB", "SE-C", "SE-D", "SE-E", "SE-F", "SE-G", "SE-H", "SE-I", "SE-K", "SE-M", "SE-N",
    "SE-O", "SE-S", "SE-T", "SE-U", "SE-W", "SE-X", "SE-Y", "SE-Z", "SE-AC", "SE-BD",
]  # fmt: skip
ANSWERED = 15

PATIENT_LIKE = "Anna Andersson 19121212-1212"
"""A variable value that must never reach the details or search attributes."""

MODEL = bpmn(f"""
<bpmn:process id="{PROCESS_ID}" name="Remiss om nationell högspecialiserad vård" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Split"/>
  <bpmn:parallelGateway id="Split"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Split" targetRef="Answer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Split" targetRef="Prepare"/>
  <bpmn:userTask id="Answer" name="Remiss">
    <bpmn:extensionElements>
      <niva:assignment candidateOrgs="=region"/>
    </bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <niva:loop inputCollection="=regions" inputElement="region"
                   outputCollection="answers" outputElement="=supports"/>
      </bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:boundaryEvent id="Deadline" name="Remisstiden löper ut" attachedToRef="Answer">
    <bpmn:timerEventDefinition><bpmn:timeDate>=deadline</bpmn:timeDate></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:userTask id="Prepare" name="Bereda beslut">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f4" sourceRef="Answer" targetRef="Join"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Deadline" targetRef="Join"/>
  <bpmn:sequenceFlow id="f6" sourceRef="Prepare" targetRef="Join"/>
  <bpmn:parallelGateway id="Join"/>
  <bpmn:sequenceFlow id="f7" sourceRef="Join" targetRef="End"/>
  <bpmn:endEvent id="End" name="Beslut fattat"/>
</bpmn:process>
""")


def region(org: str) -> Actor:
    """A registrator of region ``org``."""
    return Actor(subject=f"registrator@{org}", org=org, roles=["registrator"])


async def start_referral(cases: Cases, business_key: str) -> WorkflowHandle[Any, Any]:
    """Deploy the model, start a case and let 15 of the 21 regions answer."""
    cases.deploy(MODEL)
    handle = await cases.start(
        PROCESS_ID,
        {"regions": REGIONS, "deadline": DEADLINE, "patient": PATIENT_LIKE},
        business_key=business_key,
        title="Remiss 2026/17",
    )
    for org in REGIONS[:ANSWERED]:
        await cases.complete(handle, f"Answer:{org}", {"supports": True}, actor=region(org))
    return handle


def readme_queries(business_key: str) -> dict[str, str]:
    """The visibility queries of the operators' README, narrowed to one case."""
    me = f'NivaBusinessKey = "{business_key}"'
    return {
        "by process (workflow type)": f'WorkflowType = "{PROCESS_ID}" AND {me}',
        "by process (search attribute)": f'NivaProcessId = "{PROCESS_ID}" AND {me}',
        "by candidate organisation": f'NivaCandidates IN ("org:SE-BD") AND {me}',
        "by candidate, equality": f'NivaCandidates = "org:SE-SOS/group:officer" AND {me}',
        "by participant": f'NivaParticipants = "SE-AB" AND {me}',
        "by open task": f'NivaOpenTasks = "Prepare" AND {me}',
        "by next deadline": f'NivaNextDeadline < "2027-06-01T00:00:00Z" AND {me}',
        "running, no incident": f'ExecutionStatus = "Running" AND NivaIncident = false AND {me}',
        "by jurisdiction": f'NivaJurisdiction = "SE" AND {me}',
    }
