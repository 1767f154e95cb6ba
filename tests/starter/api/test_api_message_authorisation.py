"""Who may send a message, on the shipped permit model and through the HTTP API: the
candidates of the message whether it is delivered or kept for later, checked again when a
kept message is delivered; a principal who may not read the case learns nothing of it;
sending grants no reading; an idempotency key is its sender's own."""

from __future__ import annotations

from typing import Any

import httpx

from process_models.shipped import shipped_model_files
from tests.support.api import Api
from tests.workflows.harness import bpmn

PERMIT_START = {
    "holder": "SE-AB",
    "unit_name": "Karolinska Universitetssjukhuset",
    "start_date": "2099-01-01",
    "conditions": ["Villkoren i beslutet"],
    "decision_date": "2026-11-02",
    "care_area": "Testvård",
    "definition": "Test",
    "units": 1,
    "nominating_npos": ["SE-NPO-HJARTA"],
}
"""A permit for region SE-AB that starts in 2099: until then nothing waits for a message,
and ``request_revocation`` and ``initiate_revocation`` are kept for up to a year."""


async def start_permit(api: Api, business_key: str) -> str:
    """Deploy the shipped models and start a permit of SE-AB, as an operator would."""
    api.store.deploy(shipped_model_files())
    return await api.start("se_nhv_permit", business_key, PERMIT_START, subject="operator")


async def send(api: Api, instance_id: str, name: str, subject: str, **body: Any) -> httpx.Response:
    """POST …/messages/{name} as ``subject``."""
    return await api.http.post(
        f"/instances/{instance_id}/messages/{name}",
        json={"payload": body.pop("payload", {}), **body},
        headers=api.auth(subject),
    )


async def state(api: Api, instance_id: str) -> dict[str, Any]:
    """The case's whole internal state (its ``instance_state`` query)."""
    result: dict[str, Any] = await api.client.get_workflow_handle(instance_id).query(
        "instance_state"
    )
    return result


def assert_hidden(response: httpx.Response, instance_id: str) -> None:
    """The one answer for a case the caller may not read: as if it did not exist."""
    assert response.status_code == 404, response.text
    assert response.json() == {"error": "not_found", "detail": f"no such instance: {instance_id}"}


async def test_forged_and_early_messages_to_a_permit_are_refused(api: Api):
    permit = await start_permit(api, "permit-1")
    assert (await state(api, permit))["subscriptions"] == {}

    # A region that is neither Socialstyrelsen nor the holder: the 404 of a case that
    # does not exist, whatever it sends.
    for name in ("initiate_revocation", "request_revocation", "no_such_message"):
        assert_hidden(await send(api, permit, name, "registrator-d"), permit)
    assert_hidden(await send(api, permit, "request_revocation", "registrator-c"), permit)
    missing = "se_nhv_permit:SE-X"
    assert_hidden(await send(api, missing, "request_revocation", "registrator-c"), missing)

    # Principals who read the case (the agencies) are told why.
    refused = await send(api, permit, "initiate_revocation", "hdir-officer")
    assert refused.status_code == 403, refused.text
    assert "role officer in organisation SE-SOS" in refused.json()["detail"]
    refused = await send(api, permit, "request_revocation", "operator")
    assert refused.status_code == 403, refused.text
    assert "organisation SE-AB" in refused.json()["detail"]

    # Nothing of the refused messages was kept.
    kept = await state(api, permit)
    assert kept["buffered"] == []
    assert not [e for e in kept["audit"] if e["kind"].startswith("message")]

    # The holder may ask for revocation before anything waits: the request is kept, with
    # its sender.
    sent = await send(api, permit, "request_revocation", "registrator-ab", idempotency_key="rr-1")
    assert sent.status_code == 200, sent.text
    assert sent.json() == {
        "name": "request_revocation",
        "received_by": [],
        "buffered": True,
        "duplicate": False,
    }
    [message] = (await state(api, permit))["buffered"]
    assert (message["actor"], message["org"], message["roles"]) == (
        "registrator-ab",
        "SE-AB",
        ["registrator"],
    )


async def test_sending_a_message_grants_no_reading(api: Api):
    permit = await start_permit(api, "permit-2")
    sent = await send(api, permit, "request_revocation", "registrator-ab")
    assert sent.status_code == 200, sent.text
    assert "SE-AB" not in (await state(api, permit))["participants"]
    assert_hidden(
        await api.http.get(f"/instances/{permit}", headers=api.auth("registrator-ab")), permit
    )
    documents = await api.http.get(
        f"/instances/{permit}/documents", headers=api.auth("registrator-ab")
    )
    assert_hidden(documents, permit)


async def test_idempotency_key_of_another_principal_is_refused(api: Api):
    permit = await start_permit(api, "permit-3")
    first = await send(api, permit, "request_revocation", "registrator-ab", idempotency_key="k")
    assert first.status_code == 200, first.text
    again = await send(api, permit, "request_revocation", "registrator-ab", idempotency_key="k")
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    # Socialstyrelsen reads the case, yet the key's result is not its own.
    other = await send(api, permit, "initiate_revocation", "sos-officer", idempotency_key="k")
    assert other.status_code == 403, other.text
    assert "idempotency key 'k'" in other.json()["detail"]
    assert len((await state(api, permit))["buffered"]) == 1


ROUTED = bpmn("""
<bpmn:message id="MsgNote" name="note"/>
<bpmn:process id="api_routed" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Route"/>
  <bpmn:userTask id="Route" name="Välj region">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Route" targetRef="Note"/>
  <bpmn:intermediateCatchEvent id="Note">
    <bpmn:extensionElements>
      <niva:subscription candidateOrgs="=region" ttl="P30D"/>
    </bpmn:extensionElements>
    <bpmn:messageEventDefinition messageRef="MsgNote"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="Note" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")
"""The officer routes the case to a region (``region``); then only that region's note is
taken. A note sent before the routing is checked against the region of the start."""


async def test_kept_message_reaches_only_a_subscription_its_sender_may_send_to(api: Api):
    await api.deploy(ROUTED)
    instance_id = await api.start("api_routed", "routed-1", {"region": "SE-AB"})
    early = await send(api, instance_id, "note", "registrator-ab", payload={"by": "SE-AB"})
    assert early.status_code == 200, early.text
    assert early.json()["buffered"] is True
    # Meanwhile the case goes to another region: the kept note is not for it.
    done = await api.complete(instance_id, "Route", {"region": "SE-C"}, "sos-officer")
    assert done.status_code == 200, done.text
    kept = await state(api, instance_id)
    assert [m["org"] for m in kept["buffered"]] == ["SE-AB"]
    assert [s["candidate_orgs"] for s in kept["subscriptions"].values()] == [["SE-C"]]
    assert not kept["ended"]

    delivered = await send(
        api, instance_id, "note", "registrator-c", payload={"by": "SE-C"}, idempotency_key="n1"
    )
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["received_by"] == ["Note"]
    handle = api.client.get_workflow_handle(instance_id)
    result = await handle.result()
    assert result["variables"]["by"] == "SE-C"

    # The case has ended: the sender's repeat still gets its first result; a reader is
    # told the case has ended (or that the key is another's); anyone else gets the 404.
    again = await send(api, instance_id, "note", "registrator-c", idempotency_key="n1")
    assert again.status_code == 200, again.text
    assert again.json() == {
        "name": "note",
        "received_by": ["Note"],
        "buffered": False,
        "duplicate": True,
    }
    ended = await send(api, instance_id, "note", "sos-officer")
    assert ended.status_code == 409, ended.text
    assert "has ended" in ended.json()["detail"]
    taken = await send(api, instance_id, "note", "sos-officer", idempotency_key="n1")
    assert taken.status_code == 403, taken.text
    assert_hidden(await send(api, instance_id, "note", "registrator-d"), instance_id)


LOCAL_SENDER = bpmn("""
<bpmn:message id="MsgNote" name="note"/>
<bpmn:process id="api_local_sender" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Prepare"/>
  <bpmn:userTask id="Prepare">
    <bpmn:extensionElements>
      <niva:assignment candidateGroups="officer" candidateOrgs="SE-SOS"/>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="Prepare" targetRef="Note"/>
  <bpmn:intermediateCatchEvent id="Note">
    <bpmn:extensionElements>
      <niva:subscription candidateOrgs="=reviewer" ttl="P30D"/>
    </bpmn:extensionElements>
    <bpmn:messageEventDefinition messageRef="MsgNote"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f3" sourceRef="Note" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")
"""The note's sender is ``reviewer``, a variable the case has only once Prepare is done."""


async def test_message_whose_senders_are_not_known_yet_is_not_kept(api: Api):
    await api.deploy(LOCAL_SENDER)
    instance_id = await api.start("api_local_sender", "local-1")
    early = await send(api, instance_id, "note", "sos-officer")
    assert early.status_code == 403, early.text
    assert "known only once the case waits for it" in early.json()["detail"]
    assert (await state(api, instance_id))["buffered"] == []
    done = await api.complete(instance_id, "Prepare", {"reviewer": "SE-SOS"}, "sos-officer")
    assert done.status_code == 200, done.text
    now = await send(api, instance_id, "note", "sos-officer")
    assert now.status_code == 200, now.text
    assert now.json()["received_by"] == ["Note"]
