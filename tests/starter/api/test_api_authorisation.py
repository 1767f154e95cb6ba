"""Who may do what: every demo principal against every open task of a case with tasks for
several organisations and groups, reading scopes, and concurrent completions."""

from __future__ import annotations

import asyncio

from tests.support.api import ONE_TASK, Api
from tests.workflows.harness import bpmn


def matrix_model(process_id: str, *, with_anyone: bool) -> str:
    anyone = (
        """
  <bpmn:sequenceFlow id="fa" sourceRef="Fork" targetRef="ForAnyone"/>
  <bpmn:userTask id="ForAnyone" name="Vem som helst"/>
  <bpmn:sequenceFlow id="fb" sourceRef="ForAnyone" targetRef="Join"/>"""
        if with_anyone
        else ""
    )
    return bpmn(f"""
<bpmn:process id="{process_id}" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f0" sourceRef="Start" targetRef="Fork"/>
  <bpmn:parallelGateway id="Fork"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Fork" targetRef="ForOfficer"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Fork" targetRef="ForBoard"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Fork" targetRef="ForRegions"/>
  <bpmn:sequenceFlow id="f4" sourceRef="Fork" targetRef="ForRhf"/>
  <bpmn:userTask id="ForOfficer">
    <bpmn:extensionElements><niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/></bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:userTask id="ForBoard">
    <bpmn:extensionElements><niva:assignment candidateOrgs="SE-NHV-NAMND"/></bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:userTask id="ForRegions">
    <bpmn:extensionElements><niva:assignment candidateGroups="registrator" candidateOrgs="=region"/></bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements><niva:loop inputCollection="=regions" inputElement="region"/></bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:userTask id="ForRhf">
    <bpmn:extensionElements><niva:assignment candidateGroups="rhf"/></bpmn:extensionElements>
  </bpmn:userTask>{anyone}
  <bpmn:sequenceFlow id="f5" sourceRef="ForOfficer" targetRef="Join"/>
  <bpmn:sequenceFlow id="f6" sourceRef="ForBoard" targetRef="Join"/>
  <bpmn:sequenceFlow id="f7" sourceRef="ForRegions" targetRef="Join"/>
  <bpmn:sequenceFlow id="f8" sourceRef="ForRhf" targetRef="Join"/>
  <bpmn:parallelGateway id="Join"/>
  <bpmn:sequenceFlow id="f9" sourceRef="Join" targetRef="End"/>
  <bpmn:endEvent id="End" name="Klar"/>
</bpmn:process>
""")


RHF = ["rhf-hso", "rhf-hv", "rhf-hmn", "rhf-hn"]


async def test_only_candidates_complete_tasks_of_many_orgs_and_groups(api: Api):
    await api.deploy(matrix_model("api_matrix", with_anyone=True))
    instance_id = await api.start("api_matrix", "matrix-1", {"regions": ["SE-AB", "SE-C"]})
    everyone = sorted(api.tokens)
    assert len(everyone) == 34  # 21 regions and 13 other demo actors
    candidates = {
        "ForOfficer": ["sos-officer"],
        "ForBoard": ["nhv-namnd"],
        "ForRegions:SE-AB": ["registrator-ab"],
        "ForRegions:SE-C": ["registrator-c"],
        "ForRhf": RHF,
        "ForAnyone": [s for s in everyone if s != "auditor"],
    }
    case = (await api.http.get(f"/instances/{instance_id}", headers=api.auth("auditor"))).json()
    assert sorted(t["task_id"] for t in case["open_tasks"]) == sorted(candidates)

    outcomes: dict[tuple[str, str], int] = {}
    for task_id, allowed in candidates.items():
        others = [s for s in everyone if s not in allowed]
        for subject in [*others, *allowed]:  # refusals first, while the task is open
            response = await api.complete(instance_id, task_id, {"by": subject}, subject)
            outcomes[(task_id, subject)] = response.status_code
    # ForAnyone, completed last, ended the case: from then on only those who still read
    # it (the agencies and auditors, the organisations that took part) are told why.
    readers_after_end = set()
    for subject in everyone:
        read = await api.http.get(f"/instances/{instance_id}", headers=api.auth(subject))
        if read.status_code == 200:
            readers_after_end.add(subject)
    assert "hod-ministry" not in readers_after_end
    for (task_id, subject), status in outcomes.items():
        allowed = candidates[task_id]
        if subject not in allowed:
            # While ForAnyone is open everyone reads the case, so the reason is given.
            assert status == 403, (task_id, subject, status)
        elif subject == allowed[0]:
            assert status == 200, (task_id, subject, status)
        elif task_id == "ForAnyone" and subject not in readers_after_end:
            assert status == 404, (task_id, subject, status)  # as if there were no case
        else:
            assert status == 409, (task_id, subject, status)  # completed by the first one
    case = (await api.http.get(f"/instances/{instance_id}", headers=api.auth("auditor"))).json()
    assert case["status"] == "completed"
    state = await api.client.get_workflow_handle(instance_id).query("instance_state")
    completed_by = {task: done["actor"] for task, done in state["completed_tasks"].items()}
    assert completed_by == {task: allowed[0] for task, allowed in candidates.items()}


async def test_reading_a_case_is_scoped_to_its_participants(api: Api):
    await api.deploy(matrix_model("api_matrix_read", with_anyone=False))
    instance_id = await api.start("api_matrix_read", "read-1", {"regions": ["SE-AB", "SE-C"]})
    readers = {
        "sos-officer",
        "modeler",
        "operator",  # the Swedish agency
        "hdir-officer",  # the Norwegian agency
        "auditor",
        "nhv-namnd",
        "registrator-ab",
        "registrator-c",  # candidate organisations
        *RHF,  # candidates by role
    }
    for subject in sorted(api.tokens):
        response = await api.http.get(f"/instances/{instance_id}", headers=api.auth(subject))
        expected = 200 if subject in readers else 404  # as if there were no such case
        assert response.status_code == expected, (subject, response.status_code)
        documents = await api.http.get(
            f"/instances/{instance_id}/documents", headers=api.auth(subject)
        )
        assert documents.status_code == expected, (subject, documents.status_code)


async def test_messages_only_from_subscription_candidates(api: Api):
    from tests.support.api import LIFE

    await api.deploy(LIFE)
    instance_id = await api.start("api_life", "msg-1", {"region": "SE-AB", "amount": 1})
    await api.complete(instance_id, "Review", {"verdict": "yes"}, "sos-officer")
    # The agency reads the case: it is told why it may not send.
    response = await api.http.post(
        f"/instances/{instance_id}/messages/supplement",
        json={"payload": {}},
        headers=api.auth("sos-officer"),
    )
    assert response.status_code == 403
    assert "organisation SE-AB" in response.json()["detail"]
    # Organisations that may not read the case learn nothing of it.
    for subject in ("registrator-c", "nhv-namnd"):
        response = await api.http.post(
            f"/instances/{instance_id}/messages/supplement",
            json={"payload": {}},
            headers=api.auth(subject),
        )
        assert response.status_code == 404, subject
        assert response.json()["detail"] == f"no such instance: {instance_id}"
    ok = await api.http.post(
        f"/instances/{instance_id}/messages/supplement",
        json={"payload": {}},
        headers=api.auth("registrator-ab"),
    )
    assert ok.status_code == 200


async def test_concurrent_completions_one_wins_other_conflicts(api: Api):
    await api.deploy(ONE_TASK)
    instance_id = await api.start("api_one", "race-1")
    first, second = await asyncio.gather(
        api.complete(instance_id, "Decide", {"verdict": "yes"}, "sos-officer"),
        api.complete(instance_id, "Decide", {"verdict": "no", "comment": "c"}, "sos-officer"),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    loser = first if first.status_code == 409 else second
    assert loser.json()["error"] == "conflict"
    assert "already completed" in loser.json()["detail"]


async def test_concurrent_completions_with_same_key_get_same_result(api: Api):
    await api.deploy(ONE_TASK)
    instance_id = await api.start("api_one", "race-2")
    responses = await asyncio.gather(
        *(
            api.complete(
                instance_id, "Decide", {"verdict": "yes"}, "sos-officer", idempotency_key="once"
            )
            for _ in range(3)
        )
    )
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert len({r.json()["completed"] for r in responses}) == 1
    state = await api.client.get_workflow_handle(instance_id).query("instance_state")
    completions = [e for e in state["audit"] if e["kind"] == "task_completed"]
    assert len(completions) == 1
