"""GET /instances/{id}/audit and /history: auditors and agencies read the trail and the raw
history chain; other principals who read the case are refused (403), the rest get the 404 of
a case that does not exist."""

from __future__ import annotations

from temporalio.client import WorkflowHistory

from tests.support.api import ONE_TASK, Api
from tests.workflows.harness import bpmn


async def _decided_case(api: Api, business_key: str) -> str:
    await api.deploy(ONE_TASK)
    instance_id = await api.start("api_one", business_key)
    done = await api.complete(instance_id, "Decide", {"verdict": "yes"}, "sos-officer")
    assert done.status_code == 200, done.text
    await api.client.get_workflow_handle(instance_id).result()
    return instance_id


async def test_get_audit_instances_auditor_reads_the_trail(api: Api):
    instance_id = await _decided_case(api, "AUDIT-R1")
    response = await api.http.get(f"/instances/{instance_id}/audit", headers=api.auth("auditor"))
    assert response.status_code == 200, response.text
    trail = response.json()
    assert trail["case_id"] == instance_id
    decided = [d for d in trail["decisions"] if d["kind"] == "task_completed"]
    assert [(d["element_id"], d["actor"], d["org"]) for d in decided] == [
        ("Decide", "sos-officer", "SE-SOS")
    ]
    assert decided[0]["payload"] == {"verdict": "yes"}
    assert trail["models"][0]["process_id"] == "api_one"


async def test_get_history_instances_agency_reads_replayable_json(api: Api):
    instance_id = await _decided_case(api, "AUDIT-R2")
    response = await api.http.get(
        f"/instances/{instance_id}/history", headers=api.auth("sos-officer")
    )
    assert response.status_code == 200, response.text
    [run] = response.json()["runs"]
    history = WorkflowHistory.from_json(run["workflow_id"], run["history"])
    assert history.run_id == run["run_id"]
    assert run["source"] == "server"


REGION_TASK = bpmn("""
<bpmn:process id="api_region_task" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Answer"/>
  <bpmn:userTask id="Answer">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="registrator" candidateOrgs="SE-AB"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Answer" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")
"""A case that region SE-AB reads (it has a task there) and SE-C does not."""


async def test_get_audit_instances_reader_is_forbidden_others_see_no_case(api: Api):
    await api.deploy(REGION_TASK)
    instance_id = await api.start("api_region_task", "AUDIT-R3")
    for route in ("audit", "history"):
        # The region reads the case but is no auditor: told why.
        response = await api.http.get(
            f"/instances/{instance_id}/{route}", headers=api.auth("registrator-ab")
        )
        assert response.status_code == 403, response.text
        assert "auditor" in response.json()["detail"]
        # A region that may not read it: the 404 of a case that does not exist.
        for case in (instance_id, "api_region_task:AUDIT-NONE"):
            response = await api.http.get(
                f"/instances/{case}/{route}", headers=api.auth("registrator-c")
            )
            assert response.status_code == 404, response.text
            assert response.json() == {"error": "not_found", "detail": f"no such instance: {case}"}


async def test_get_audit_instances_unknown_case_is_404(api: Api):
    response = await api.http.get("/instances/api_one:NOPE/audit", headers=api.auth("auditor"))
    assert response.status_code == 404
    assert "api_one:NOPE" in response.json()["detail"]
