"""A message with a registered payload model (`process_models.registry`) is refused with
422 naming the field when its payload is not admitted, before any case is asked, through
both ``POST /instances/{id}/messages/{name}`` and ``POST /messages``: nothing is delivered
or kept. The Camunda 8 version of the permit reads these messages field by field, so a
field the model does not name would be lost there."""

from __future__ import annotations

from typing import Any

import httpx

from tests.starter.api.test_api_message_authorisation import send, start_permit, state
from tests.support.api import Api


def refused_fields(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == "invalid"
    return [f["loc"] for f in body["fields"]]


async def test_a_message_payload_its_model_does_not_admit_is_refused_and_changes_nothing(
    api: Api,
):
    permit = await start_permit(api, "permit-payload")
    # A field the payload model does not name.
    response = await send(
        api, permit, "request_revocation", "registrator-ab", payload={"reason": "x", "why": "y"}
    )
    assert refused_fields(response) == [["body", "payload", "why"]]
    assert "RevocationRequest" in response.json()["detail"]
    # A ground the message does not take (region_request needs the region's own request).
    response = await send(
        api, permit, "initiate_revocation", "sos-officer", payload={"ground": "region_request"}
    )
    assert refused_fields(response) == [["body", "payload", "ground"]]
    kept = await state(api, permit)
    assert kept["buffered"] == []
    assert not [e for e in kept["audit"] if e["kind"].startswith("message")]

    # By correlation key: the same model, for the variables.
    response = await api.http.post(
        "/messages",
        json={"name": "request_revocation", "correlation_key": "k", "variables": {"why": 1}},
        headers=api.auth("registrator-ab"),
    )
    assert refused_fields(response) == [["body", "variables", "why"]]

    # What the model admits is delivered as before (kept here: nothing waits yet).
    sent = await send(
        api, permit, "initiate_revocation", "sos-officer", payload={"reason": "Ny kunskap."}
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["buffered"] is True
    [message] = (await state(api, permit))["buffered"]
    assert message["payload"] == {"reason": "Ny kunskap."}
