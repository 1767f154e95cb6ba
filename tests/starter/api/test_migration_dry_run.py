"""A dry-run migration reports each case's work in flight (`InFlightWork`), through
``/migrations`` and ``niva instances migrate --dry-run`` (table and ``--json``), on a real
Temporal dev server: a job nobody has taken, a call activity's running child, boundary and
catch timers re-armed, armed or dropped, and a message subscription awaited again."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from tests.starter.api.test_cli_commands import niva
from tests.support.api import Api
from tests.support.net import until
from tests.workflows.harness import bpmn
from workflows.state import InstanceState

CHILD = bpmn("""
<bpmn:process id="api_dry_child" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="ChildTask"/>
  <bpmn:userTask id="ChildTask" name="Yttra"/>
  <bpmn:sequenceFlow id="f2" sourceRef="ChildTask" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


def _boundary(element_id: str, duration: str, interrupting: bool = True) -> str:
    cancel = "" if interrupting else ' cancelActivity="false"'
    return f"""
  <bpmn:boundaryEvent id="{element_id}" attachedToRef="Review"{cancel}>
    <bpmn:timerEventDefinition><bpmn:timeDuration>{duration}</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f{element_id}" sourceRef="{element_id}" targetRef="End{element_id}"/>
  <bpmn:endEvent id="End{element_id}"/>"""


def dry(version: int) -> str:
    """Five branches at once: a user task with boundary timers (v1: a deadline in 10 days
    and a nudge in 3; v2: the deadline in 20 days and a reminder in 5), a job of a type no
    worker serves, a call activity, a 30-day timer and a message."""
    boundaries = (
        _boundary("ReviewDeadline", "P10D") + _boundary("ReviewNudge", "P3D", interrupting=False)
        if version == 1
        else _boundary("ReviewDeadline", "P20D")
        + _boundary("ReviewReminder", "P5D", interrupting=False)
    )
    return bpmn(f"""
<bpmn:message id="MsgReply" name="reply"/>
<bpmn:process id="api_dry" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f0" sourceRef="Start" targetRef="Fork"/>
  <bpmn:parallelGateway id="Fork"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Fork" targetRef="Review"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="Lookup"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="CallChild"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Fork" targetRef="Wait"/>
  <bpmn:sequenceFlow id="f5" sourceRef="Fork" targetRef="Reply"/>
  <bpmn:userTask id="Review" name="Granska v{version}"/>{boundaries}
  <bpmn:serviceTask id="Lookup" name="Slå upp">
    <bpmn:extensionElements>
      <niva:taskDefinition type="dry_run_lookup"/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:callActivity id="CallChild" calledElement="api_dry_child"/>
  <bpmn:intermediateCatchEvent id="Wait">
    <bpmn:timerEventDefinition><bpmn:timeDuration>P30D</bpmn:timeDuration></bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:intermediateCatchEvent id="Reply">
    <bpmn:messageEventDefinition messageRef="MsgReply"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="e1" sourceRef="Review" targetRef="End1"/>
  <bpmn:sequenceFlow id="e2" sourceRef="Lookup" targetRef="End2"/>
  <bpmn:sequenceFlow id="e3" sourceRef="CallChild" targetRef="End3"/>
  <bpmn:sequenceFlow id="e4" sourceRef="Wait" targetRef="End4"/>
  <bpmn:sequenceFlow id="e5" sourceRef="Reply" targetRef="End5"/>
  <bpmn:endEvent id="End1"/>
  <bpmn:endEvent id="End2"/>
  <bpmn:endEvent id="End3"/>
  <bpmn:endEvent id="End4"/>
  <bpmn:endEvent id="End5"/>
</bpmn:process>
""")


PLAN: dict[str, Any] = {
    "source": {"process_id": "api_dry", "version": 1},
    "target": {"process_id": "api_dry", "version": 2},
}


async def _case_in_flight(api: Api, business_key: str) -> tuple[str, InstanceState]:
    """A v1 case whose job is waiting and whose child runs."""
    await api.deploy(CHILD)
    await api.deploy(dry(1))
    instance_id = await api.start("api_dry", business_key)
    handle = api.client.get_workflow_handle(instance_id)
    state: dict[str, InstanceState] = {}

    async def busy() -> bool:
        state["now"] = await handle.query("instance_state", result_type=InstanceState)
        call = state["now"].activities.get("CallChild")
        return call is not None and call.child_workflow_id is not None and bool(state["now"].timers)

    await until(busy)
    child = api.client.get_workflow_handle(state["now"].activities["CallChild"].child_workflow_id)

    async def child_runs() -> bool:
        try:
            return (await child.describe()).status == WorkflowExecutionStatus.RUNNING
        except RPCError:  # still starting
            return False

    await until(child_runs)
    await api.deploy(dry(2))
    return instance_id, state["now"]


async def _dry_run(api: Api, instance_id: str) -> dict[str, Any]:
    body = {**PLAN, "instances": [instance_id], "dry_run": True}
    response = await api.http.post("/migrations", json=body, headers=api.auth("operator"))
    assert response.status_code == 202, response.text
    path = f"/migrations/{response.json()['migration_id']}"
    report: dict[str, Any] = {}

    async def completed() -> bool:
        answer = await api.http.get(path, headers=api.auth("operator"))
        assert answer.status_code == 200, answer.text
        report.update(answer.json())
        return bool(report["status"] == "completed")

    await until(completed, within=30)
    return report


async def test_dry_run_migration_reports_work_in_flight(api: Api):
    instance_id, before = await _case_in_flight(api, "dry-api")

    report = await _dry_run(api, instance_id)

    assert report["migrated"] == [instance_id]
    work = report["in_flight"][instance_id]
    found = {(w["kind"], w["effect"], w["element_id"]) for w in work}
    assert found == {
        ("service_task", "wait", "Lookup"),
        ("child_case", "wait", "CallChild"),
        ("timer", "rearm", "ReviewDeadline"),
        ("timer", "cancel", "ReviewNudge"),
        ("timer", "arm", "ReviewReminder"),
        ("timer", "rearm", "Wait"),
        ("message", "rearm", "Reply"),
    }
    by_element = {w["element_id"]: w for w in work}
    assert "dry_run_lookup" in by_element["Lookup"]["detail"]
    assert "refused until it has finished" in by_element["Lookup"]["detail"]
    assert by_element["CallChild"]["child_id"] == before.activities["CallChild"].child_workflow_id
    assert by_element["CallChild"]["detail"].endswith("(the child is running)")
    # The deadline moves to 20 days after the task opened; the new reminder counts from
    # then too; the catch timer keeps its day.
    opened = before.activities["Review"].created
    fire = {e: by_element[e]["fire_at"] for e in ("ReviewDeadline", "ReviewReminder", "Wait")}
    assert fire["ReviewDeadline"] == (opened + timedelta(days=20)).isoformat().replace(
        "+00:00", "Z"
    )
    assert fire["ReviewReminder"] == (opened + timedelta(days=5)).isoformat().replace("+00:00", "Z")
    [wait_timer] = [t for t in before.timers.values() if t.element_id == "Wait"]
    assert fire["Wait"] == wait_timer.fire_at.isoformat().replace("+00:00", "Z")
    assert by_element["ReviewDeadline"]["task_id"] == "Review"
    # Nothing changed.
    detail = await api.http.get(f"/instances/{instance_id}", headers=api.auth("operator"))
    assert detail.json()["version"] == 1


async def test_cli_dry_run_shows_work_in_flight(api: Api, served: str, tmp_path: Path):
    instance_id, _ = await _case_in_flight(api, "dry-cli")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    args = ("instances", "migrate", "--plan", str(plan), "--instance", instance_id, "--dry-run")
    operator = api.tokens["operator"]

    table = await niva(*args, url=served, token=operator)
    assert table.exit_code == 0, table.output
    lines = [line.split() for line in table.stdout.splitlines()]
    assert lines[1][:3] == [instance_id, "would", "migrate"]
    shown = {(words[0], words[1]) for words in lines[2:-1]}
    assert {("wait", "Lookup"), ("wait", "child"), ("rearm", "timer"), ("cancel", "timer")} <= (
        shown
    )
    assert ("arm", "timer") in shown
    assert ("rearm", "message") in shown

    as_json = await niva(*args, "--json", url=served, token=operator)
    assert as_json.exit_code == 0, as_json.output
    work = json.loads(as_json.stdout)["in_flight"][instance_id]
    assert len(work) == 7
    assert {w["kind"] for w in work} == {"service_task", "child_case", "timer", "message"}
