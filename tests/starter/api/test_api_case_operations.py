"""Cancelling cases and retrying incidents through the API: a wedge (what used to fail a
case's workflow task for ever) ends through ``POST /instances/{id}/cancel``, and both
routes answer a principal who may not read the case 404, whatever the case's state."""

from __future__ import annotations

import asyncio
import json
import secrets

from starter.api.auth import DEV_TOKENS_FILE_NAME
from tests.support.api import Api
from tests.workflows.harness import bpmn

FANOUT = bpmn("""
<bpmn:process id="api_fanout" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Answer"/>
  <bpmn:userTask id="Answer">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="=[region]"/>
    </bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics>
      <bpmn:extensionElements>
        <niva:loop inputCollection="=regions" inputElement="region"/>
      </bpmn:extensionElements>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Answer" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")
"""A multi-instance over ``regions``: 1,001 of them used to wedge the case."""

COSTLY = bpmn("""
<bpmn:process id="api_costly" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Check"/>
  <bpmn:exclusiveGateway id="Check" default="f3"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="Pairs">
    <bpmn:conditionExpression>=l.all(x, l.all(y, x + y &gt;= 0))</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="f3" sourceRef="Check" targetRef="Other"/>
  <bpmn:endEvent id="Pairs"/>
  <bpmn:endEvent id="Other"/>
</bpmn:process>
""")
"""A comprehension over 5,000 × 5,000 pairs: it used to trip the deadlock detector."""


async def _incidents(api: Api, instance_id: str) -> list[dict[str, object]]:
    for _ in range(100):
        case = await api.http.get(f"/instances/{instance_id}", headers=api.auth("operator"))
        assert case.status_code == 200, case.text
        if case.json()["incidents"]:
            return list(case.json()["incidents"])
        await asyncio.sleep(0.2)
    raise AssertionError(f"no incident in {instance_id}")


def _add_principal(api: Api, tmp_path_tokens: str, subject: str, org: str, roles: list[str]):
    """A principal written into the app's tokens file (read again when it changes)."""
    with open(tmp_path_tokens, encoding="utf-8") as file:
        entries = json.load(file)
    token = secrets.token_urlsafe(24)
    entries[token] = {"subject": subject, "org": org, "roles": roles}
    with open(tmp_path_tokens, "w", encoding="utf-8") as file:
        json.dump(entries, file)
    api.tokens[subject] = token


async def test_cancel_instance_wedged_cases_through_the_route(api: Api):
    await api.deploy(FANOUT, COSTLY)
    wide = await api.start("api_fanout", "wide-1", {"regions": [f"r{i}" for i in range(1_001)]})
    costly = await api.start("api_costly", "costly-1", {"l": list(range(5_000))})
    for instance_id, kind in ((wide, "limit"), (costly, "expression")):
        [parked] = await _incidents(api, instance_id)
        assert parked["kind"] == kind
        response = await api.http.post(
            f"/instances/{instance_id}/cancel",
            json={"reason": "wedged"},
            headers=api.auth("operator"),
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"


async def test_cancel_and_retry_instance_unreadable_case_is_404(api: Api, tmp_path):
    await api.deploy(COSTLY)
    instance_id = await api.start("api_costly", "hidden-1", {"l": list(range(5_000))})
    [parked] = await _incidents(api, instance_id)
    tokens = str(tmp_path / DEV_TOKENS_FILE_NAME)
    # An operator of an organisation that takes no part in the case, and a region.
    _add_principal(api, tokens, "operator-ab", "SE-AB", ["operator"])
    _add_principal(api, tokens, "officer-ab", "SE-AB", ["officer"])
    retry = f"/instances/{instance_id}/incidents/{parked['incident_id']}/retry"
    answers = {}
    for subject in ("operator-ab", "officer-ab"):
        for path, body in (
            (f"/instances/{instance_id}/cancel", {"reason": "not mine"}),
            (retry, {"variables": {"l": []}}),
            ("/instances/api_costly:no-such-case/cancel", {"reason": "not mine"}),
            ("/instances/api_costly:no-such-case/incidents/i1/retry", {}),
        ):
            response = await api.http.post(path, json=body, headers=api.auth(subject))
            answers[subject, path] = (response.status_code, response.json().get("error"))
    assert set(answers.values()) == {(404, "not_found")}, answers
    case = await api.http.get(f"/instances/{instance_id}", headers=api.auth("operator"))
    assert case.json()["status"] == "running"
    assert [i["incident_id"] for i in case.json()["incidents"]] == [parked["incident_id"]]
    # A reader without the role is told what it lacks.
    refused = await api.http.post(
        f"/instances/{instance_id}/cancel", json={"reason": "x"}, headers=api.auth("sos-officer")
    )
    assert refused.status_code == 403, refused.text


async def test_retry_incident_with_corrected_variables_beyond_the_limit_is_422(api: Api):
    await api.deploy(COSTLY)
    instance_id = await api.start("api_costly", "retry-big-1", {"l": list(range(5_000))})
    [parked] = await _incidents(api, instance_id)
    retry = f"/instances/{instance_id}/incidents/{parked['incident_id']}/retry"
    response = await api.http.post(
        retry,
        json={"variables": {"l": [], "notes": "x" * (1024 * 1024 + 1)}},
        headers=api.auth("operator"),
    )
    assert response.status_code == 422, response.text
    assert "NIVA_LIMITS_MAX_VARIABLES_BYTES" in response.json()["detail"]
    case = await api.http.get(f"/instances/{instance_id}", headers=api.auth("operator"))
    assert [i["incident_id"] for i in case.json()["incidents"]] == [parked["incident_id"]]
    assert "notes" not in case.json()["variables"]
    # Corrected within the limit, the retry goes on: an empty list has no costly pairs.
    done = await api.http.post(retry, json={"variables": {"l": []}}, headers=api.auth("operator"))
    assert done.status_code == 200, done.text
