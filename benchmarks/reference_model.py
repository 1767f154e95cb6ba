"""The reference process of the engine-overhead benchmark, as BPMN and as a driver's script.

start → three user tasks (officer at SE-SOS) → two service tasks → exclusive gateway → end.
The hand-written workflow in `benchmarks.handwritten` does the same work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.common import BENCH_TASK_TYPE, bpmn
from workflows.candidates import Actor

__all__ = [
    "ACTOR",
    "PROCESS_ID",
    "REFERENCE",
    "SERVICE_IDS",
    "TASK_IDS",
    "payload",
    "reference_flow",
]

PROCESS_ID = "bench_reference"
TASK_IDS = ("Register", "Review", "Decide")
SERVICE_IDS = ("Notify", "Archive")
ACTOR = Actor(subject="bench-officer", org="SE-SOS", roles=["officer"])


def payload(task_id: str) -> dict[str, Any]:
    """What the driver submits for each task; ``amount`` steers the gateway."""
    payloads: dict[str, dict[str, Any]] = {
        "Register": {"amount": 150},
        "Review": {"ok": True},
        "Decide": {"verdict": "yes"},
    }
    return payloads[task_id]


def _user_task(task_id: str, name: str) -> str:
    return f"""
  <bpmn:userTask id="{task_id}" name="{name}">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>"""


def _service_task(task_id: str, name: str) -> str:
    return f"""
  <bpmn:serviceTask id="{task_id}" name="{name}">
    <bpmn:extensionElements>
      <niva:taskDefinition type="{BENCH_TASK_TYPE}"/>
      <niva:input target="amount" source="=amount"/>
      <niva:output target="{task_id.lower()}" source="=result.task_id"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>"""


def reference_flow(
    user_task: Callable[[str, str], str], service_task: Callable[[str, str], str]
) -> str:
    """The reference process's elements and flows, each task written by ``user_task`` or
    ``service_task`` (id, name), so that another dialect's copy differs only in its tasks."""
    return f"""
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Register"/>
  {user_task("Register", "Registrera")}
  <bpmn:sequenceFlow id="f2" sourceRef="Register" targetRef="Review"/>
  {user_task("Review", "Granska")}
  <bpmn:sequenceFlow id="f3" sourceRef="Review" targetRef="Decide"/>
  {user_task("Decide", "Besluta")}
  <bpmn:sequenceFlow id="f4" sourceRef="Decide" targetRef="Notify"/>
  {service_task("Notify", "Meddela")}
  <bpmn:sequenceFlow id="f5" sourceRef="Notify" targetRef="Archive"/>
  {service_task("Archive", "Arkivera")}
  <bpmn:sequenceFlow id="f6" sourceRef="Archive" targetRef="Size"/>
  <bpmn:exclusiveGateway id="Size" default="f8"/>
  <bpmn:sequenceFlow id="f7" sourceRef="Size" targetRef="Large">
    <bpmn:conditionExpression>=amount &gt; 100</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f8" sourceRef="Size" targetRef="Small"/>
  <bpmn:endEvent id="Large" name="Stor"/>
  <bpmn:endEvent id="Small" name="Liten"/>"""


REFERENCE = bpmn(
    f'\n<bpmn:process id="{PROCESS_ID}" name="Reference" isExecutable="true">'
    + reference_flow(_user_task, _service_task)
    + "\n</bpmn:process>\n"
)
