"""A deployment tunes how often a buffered message looks for a subscriber
(``NIVA_API_MESSAGE_POLL_INITIAL_SECONDS``, ``NIVA_API_MESSAGE_POLL_MAX_SECONDS``): the API
hands them to the publication's workflow, which keeps them for its whole life."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType

from starter.settings import ApiSettings
from tests.starter.api.test_publish_messages import publish
from tests.support.api import Api
from tests.support.correlation import ORDER
from workflows.publication import PublishMessageInput, publication_id


@pytest.fixture
def polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the app starts, as a deployment sets them."""
    monkeypatch.setenv("NIVA_API_MESSAGE_POLL_INITIAL_SECONDS", "0.5")
    monkeypatch.setenv("NIVA_API_MESSAGE_POLL_MAX_SECONDS", "7")


def test_the_polling_defaults_are_the_publications():
    settings = ApiSettings()
    defaults = PublishMessageInput.model_fields
    assert settings.message_poll_initial_seconds == defaults["poll_initial_seconds"].default
    assert settings.message_poll_max_seconds == defaults["poll_max_seconds"].default


async def test_a_buffered_publication_polls_as_the_settings_say(polling: None, api: Api):
    await api.deploy(ORDER)
    response = await publish(
        api, "registrator-ab", name="payment", correlation_key="P-1", ttl="PT1H", message_id="p1"
    )
    assert response.status_code == 200, response.text
    assert response.json()["buffered_until"] is not None
    handle = api.client.get_workflow_handle(
        publication_id("registrator-ab", "payment", "P-1", "p1")
    )
    history = await handle.fetch_history()
    [started] = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    ]
    [payload] = started.workflow_execution_started_event_attributes.input.payloads
    [request] = await api.client.data_converter.decode([payload], [PublishMessageInput])
    assert (request.poll_initial_seconds, request.poll_max_seconds) == (0.5, 7.0)
    await handle.terminate("the test is done")
