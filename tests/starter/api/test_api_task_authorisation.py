"""Who learns what from completing a task, through the HTTP API: a principal who may not
read the case gets the 404 of a case that does not exist, whatever the case's state;
readers are told why they may not; an idempotency key is the first completer's own."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.api import ONE_TASK, Api
from tests.workflows.harness import bpmn

SHARED = bpmn("""
<bpmn:process id="api_shared" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review">
    <bpmn:extensionElements><niva:assignment candidateOrgs="SE-SOS"/></bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Archive"/>
  <bpmn:userTask id="Archive">
    <bpmn:extensionElements><niva:assignment candidateOrgs="SE-SOS"/></bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f3" sourceRef="Archive" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")
"""Two tasks anyone at SE-SOS may complete (``sos-officer``, ``operator``, ``modeler``);
the case runs on after the first."""


def assert_hidden(response: Any, instance_id: str) -> None:
    """The one answer for a case the caller may not read: as if it did not exist."""
    assert response.status_code == 404, response.text
    assert response.json() == {"error": "not_found", "detail": f"no such instance: {instance_id}"}


async def test_complete_task_non_reader_gets_the_hidden_case_404(api: Api):
    await api.deploy(ONE_TASK)
    instance_id = await api.start("api_one", "hide-1")
    decision = {"verdict": "yes"}

    # Regions that take no part in the case: the same 404 for its task, a task it does
    # not have, and a case that does not exist.
    for subject in ("registrator-d", "nhv-namnd"):
        assert_hidden(await api.complete(instance_id, "Decide", decision, subject), instance_id)
        assert_hidden(await api.complete(instance_id, "Nope", decision, subject), instance_id)
    missing = "api_one:hide-none"
    assert_hidden(await api.complete(missing, "Decide", decision, "registrator-d"), missing)

    # Readers that are no candidates are told why, and which tasks are open.
    refused = await api.complete(instance_id, "Decide", decision, "hdir-officer")
    assert refused.status_code == 403, refused.text
    assert "hdir-officer may not complete Decide" in refused.json()["detail"]
    assert "organisation SE-SOS" in refused.json()["detail"]
    unknown = await api.complete(instance_id, "Nope", decision, "operator")
    assert unknown.status_code == 404, unknown.text
    assert "open tasks: Decide" in unknown.json()["detail"]

    done = await api.complete(instance_id, "Decide", decision, "sos-officer", idempotency_key="k")
    assert done.status_code == 200, done.text
    await api.client.get_workflow_handle(instance_id).result()

    # The case has ended: the completer's repeat gets its first result, readers are told
    # why not, anyone else gets the 404.
    again = await api.complete(instance_id, "Decide", decision, "sos-officer", idempotency_key="k")
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    assert again.json()["completed"] == done.json()["completed"]
    late = await api.complete(instance_id, "Decide", decision, "hdir-officer")
    assert late.status_code == 409, late.text
    assert "already completed by sos-officer" in late.json()["detail"]
    taken = await api.complete(instance_id, "Decide", decision, "hdir-officer", idempotency_key="k")
    assert taken.status_code == 403, taken.text
    assert "idempotency key 'k'" in taken.json()["detail"]
    for key in (None, "k"):
        extra = {"idempotency_key": key} if key else {}
        assert_hidden(
            await api.complete(instance_id, "Decide", decision, "registrator-d", **extra),
            instance_id,
        )


async def _completions(api: Api, instance_id: str) -> list[dict[str, Any]]:
    state = await api.client.get_workflow_handle(instance_id).query("instance_state")
    return [e for e in state["audit"] if e["kind"] == "task_completed"]


async def test_complete_task_key_of_another_principal_is_refused(api: Api):
    await api.deploy(SHARED)
    instance_id = await api.start("api_shared", "key-1")
    first = await api.complete(instance_id, "Review", {}, "sos-officer", idempotency_key="k")
    assert first.status_code == 200, first.text
    assert first.json()["duplicate"] is False

    # Another principal of the same organisation, with the same key: not their result.
    other = await api.complete(instance_id, "Review", {}, "modeler", idempotency_key="k")
    assert other.status_code == 403, other.text
    assert other.json()["detail"] == (
        "modeler may not use idempotency key 'k': another principal completed Review with it"
    )
    # The first sender's repeat still gets its first result.
    again = await api.complete(instance_id, "Review", {}, "sos-officer", idempotency_key="k")
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "duplicate": True}
    other_key = await api.complete(instance_id, "Review", {}, "modeler", idempotency_key="k2")
    assert other_key.status_code == 409, other_key.text
    assert len(await _completions(api, instance_id)) == 1


async def test_complete_task_same_key_from_two_principals_at_once(api: Api):
    await api.deploy(SHARED)
    instance_id = await api.start("api_shared", "key-2")
    responses = await asyncio.gather(
        *(
            api.complete(instance_id, "Review", {}, subject, idempotency_key="same")
            for subject in ("sos-officer", "operator")
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 403], [r.text for r in responses]
    [winner] = [r.json() for r in responses if r.status_code == 200]
    [completion] = await _completions(api, instance_id)
    assert completion["actor"] == winner["actor"]
