"""``/migrations`` and ``/instances/{id}/modify`` on a real Temporal dev server: a batch
dry-run then run for real (by ids and by a visibility query), and a repair of a case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.starter.api.test_cli_commands import niva
from tests.support.api import Api
from tests.support.net import until
from tests.workflows.harness import bpmn

STEPS_V1 = bpmn("""
<bpmn:process id="api_steps" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review" name="Granska">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Sign"/>
  <bpmn:userTask id="Sign" name="Signera">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f3" sourceRef="Sign" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")

STEPS_V2 = bpmn("""
<bpmn:process id="api_steps" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review" name="Granska enligt nya regler">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Decide"/>
  <bpmn:userTask id="Decide" name="Besluta">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f3" sourceRef="Decide" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")

PLAN: dict[str, Any] = {
    "source": {"process_id": "api_steps", "version": 1},
    "target": {"process_id": "api_steps", "version": 2},
    "mappings": {},
}


async def _run_batch(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.http.post("/migrations", json=body, headers=api.auth("operator"))
    assert response.status_code == 202, response.text
    migration_id = response.json()["migration_id"]
    report: dict[str, Any] = {}

    async def completed() -> bool:
        answer = await api.http.get(f"/migrations/{migration_id}", headers=api.auth("operator"))
        assert answer.status_code == 200, answer.text
        report.update(answer.json())
        return bool(report["status"] == "completed")

    await until(completed, within=30)
    return report


async def _version(api: Api, instance_id: str) -> int:
    response = await api.http.get(f"/instances/{instance_id}", headers=api.auth("operator"))
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


async def test_migration_batch_dry_run_then_real_run(api: Api):
    await api.deploy(STEPS_V1)
    waiting = [await api.start("api_steps", f"mig-{i}") for i in range(3)]
    signing = await api.start("api_steps", "mig-sign")
    done = await api.complete(signing, "Review", {}, subject="sos-officer")
    assert done.status_code == 200, done.text
    await api.deploy(STEPS_V2)
    instances = [*waiting, signing]

    dry = await _run_batch(api, {**PLAN, "instances": instances, "dry_run": True})
    assert dry["total"] == 4
    assert dry["dry_run"] is True
    assert sorted(dry["migrated"]) == sorted(waiting)
    assert [r["instance_id"] for r in dry["refused"]] == [signing]
    assert "'Sign' has no counterpart in api_steps v2" in dry["refused"][0]["reason"]
    assert [await _version(api, i) for i in instances] == [1, 1, 1, 1]

    real = await _run_batch(api, {**PLAN, "instances": instances})
    assert sorted(real["migrated"]) == sorted(waiting)
    assert [r["instance_id"] for r in real["refused"]] == [signing]
    assert [await _version(api, i) for i in instances] == [2, 2, 2, 1]

    # The migrated cases go on by v2's steps.
    assert (await api.complete(waiting[0], "Review", {}, subject="sos-officer")).status_code == 200
    detail = await api.http.get(f"/instances/{waiting[0]}", headers=api.auth("operator"))
    assert [t["task_id"] for t in detail.json()["open_tasks"]] == ["Decide"]


async def test_migration_batch_selects_cases_by_query(api: Api):
    # A process of its own: the dev server lists the cases of every test.
    process_id = "api_steps_by_query"
    await api.deploy(STEPS_V1.replace('"api_steps"', f'"{process_id}"'))
    started = [await api.start(process_id, f"q-{i}") for i in range(3)]
    await api.deploy(STEPS_V2.replace('"api_steps"', f'"{process_id}"'))
    query = f'NivaProcessId = "{process_id}" AND ExecutionStatus = "Running"'

    async def listed() -> bool:
        found = [e.id async for e in api.client.list_workflows(query)]
        return sorted(found) == sorted(started)

    await until(listed)
    plan = {
        "source": {"process_id": process_id, "version": 1},
        "target": {"process_id": process_id, "version": 2},
    }
    # The query narrows the cases of the source version.
    report = await _run_batch(api, {**plan, "query": 'NivaBusinessKey != "q-0"'})
    assert sorted(report["migrated"]) == sorted(started[1:])
    assert report["refused"] == []


async def test_start_migration_needs_the_operator_role_and_deployed_versions(api: Api):
    await api.deploy(STEPS_V1)
    body = {**PLAN, "instances": ["api_steps:x"]}
    forbidden = await api.http.post("/migrations", json=body, headers=api.auth("sos-officer"))
    assert forbidden.status_code == 403
    missing = await api.http.post("/migrations", json=body, headers=api.auth("operator"))
    assert missing.status_code == 404
    assert "api_steps" in missing.json()["detail"]
    unknown = await api.http.get("/migrations/nothing", headers=api.auth("operator"))
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "no migration 'nothing'"


async def test_modify_instance_repairs_a_case_and_refuses_to_strand_it(api: Api):
    await api.deploy(STEPS_V1)
    instance_id = await api.start("api_steps", "repair-1")
    stranding = await api.http.post(
        f"/instances/{instance_id}/modify",
        json={"cancel": ["Review"], "reason": "wrong"},
        headers=api.auth("operator"),
    )
    assert stranding.status_code == 409
    assert "nothing to wait for" in stranding.json()["detail"]
    officer = await api.http.post(
        f"/instances/{instance_id}/modify",
        json={"cancel": ["Review"], "start_before": ["Sign"], "reason": "reviewed on paper"},
        headers=api.auth("sos-officer"),
    )
    assert officer.status_code == 403

    repaired = await api.http.post(
        f"/instances/{instance_id}/modify",
        json={
            "cancel": ["Review"],
            "start_before": ["Sign"],
            "variables": {"reviewed_on_paper": True},
            "reason": "reviewed on paper",
        },
        headers=api.auth("operator"),
    )
    assert repaired.status_code == 200, repaired.text
    assert repaired.json()["changes"][:2] == ["cancelled Review", "started before Sign"]
    detail = await api.http.get(f"/instances/{instance_id}", headers=api.auth("operator"))
    assert [t["task_id"] for t in detail.json()["open_tasks"]] == ["Sign"]
    assert detail.json()["variables"]["reviewed_on_paper"] is True


async def test_cli_migrates_and_modifies_cases(api: Api, served: str, tmp_path: Path):
    await api.deploy(STEPS_V1)
    first = await api.start("api_steps", "cli-1")
    second = await api.start("api_steps", "cli-2")
    await api.deploy(STEPS_V2)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "source: {process_id: api_steps, version: 1}\n"
        "target: {process_id: api_steps, version: 2}\n"
        "mappings: {}\n"
    )
    operator = api.tokens["operator"]
    cases = ["--instance", first, "--instance", second]

    dry = await niva(
        "instances",
        "migrate",
        "--plan",
        str(plan),
        *cases,
        "--dry-run",
        "--json",
        url=served,
        token=operator,
    )
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    assert sorted(report["migrated"]) == sorted([first, second])
    assert report["dry_run"] is True
    assert await _version(api, first) == 1

    real = await niva(
        "instances", "migrate", "--plan", str(plan), *cases, url=served, token=operator
    )
    assert real.exit_code == 0, real.output
    assert f"{first}  migrated  api_steps v1 -> api_steps v2" in real.stdout
    assert "2 of 2 migrated, 0 refused" in real.stdout
    assert await _version(api, second) == 2

    again = await niva(
        "instances", "migrate", "--plan", str(plan), *cases, url=served, token=operator
    )
    assert again.exit_code == 1
    assert "refused  the case runs api_steps v2, not api_steps v1" in again.stdout

    modified = await niva(
        "instances",
        "modify",
        first,
        "--cancel",
        "Review",
        "--start-before",
        "Decide",
        "--reason",
        "reviewed on paper",
        url=served,
        token=operator,
    )
    assert modified.exit_code == 0, modified.output
    assert modified.stdout.splitlines()[:2] == ["cancelled Review", "started before Decide"]
    refused = await niva(
        "instances",
        "modify",
        second,
        "--cancel",
        "Review",
        "--reason",
        "oops",
        url=served,
        token=operator,
    )
    assert refused.exit_code == 1
    assert "409 conflict: the case would be left with nothing to wait for" in refused.stderr
