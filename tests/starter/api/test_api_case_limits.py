"""What the API answers when a request would take a case past its limits
(`process_models.limits`): 413 for a start, 422 for a completion; never a 500, and
nothing reaches the case."""

from __future__ import annotations

from tests.support.api import Api
from tests.workflows.harness import bpmn

OPEN = bpmn("""
<bpmn:process id="api_limits" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Decide"/>
  <bpmn:userTask id="Decide">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Decide" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")

_OVER_A_MEGABYTE = "x" * (1024 * 1024 + 1)


async def test_start_instance_over_the_variables_limit_is_413(api: Api):
    await api.deploy(OPEN)
    response = await api.http.post(
        "/instances",
        json={
            "process_id": "api_limits",
            "business_key": "big-1",
            "title": "Big",
            "variables": {"notes": _OVER_A_MEGABYTE},
        },
        headers=api.auth("sos-officer"),
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "payload_too_large"
    assert "NIVA_LIMITS_MAX_VARIABLES_BYTES" in response.json()["detail"]


async def test_complete_task_over_the_variables_limit_is_422(api: Api):
    await api.deploy(OPEN)
    instance_id = await api.start("api_limits", "big-2", {"notes": "short"})
    response = await api.complete(
        instance_id, "Decide", {"notes": _OVER_A_MEGABYTE}, subject="sos-officer"
    )
    assert response.status_code == 422, response.text
    assert "a case may hold" in response.json()["detail"]
    case = await api.http.get(f"/instances/{instance_id}", headers=api.auth("sos-officer"))
    assert [t["task_id"] for t in case.json()["open_tasks"]] == ["Decide"]
    done = await api.complete(instance_id, "Decide", {"notes": "ok"}, subject="sos-officer")
    assert done.status_code == 200, done.text
