"""notify through a signed webhook, received by a real HTTP server on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.channels import OutboxChannel, WebhookChannel, verify_signature
from activities.notifications import NotifyActivity
from activities.organisations import OrganisationDirectory
from activities.sent_log import SentLog
from activities.settings import ActivitySettings
from service_contract import ServiceCall
from tests.support import log_audit
from tests.support.activities import WebhookReceiver

SECRET = log_audit.registered("webhook-shared-secret", what="webhook secret")
CASE_ENDED = {
    "template": "case_ended",
    "organisations": ["NO-HV", "NO-HDIR"],
    "role": "national_services",
    "variables": {"case_title": "Nasjonal behandlingstjeneste for X", "outcome": "avviklet"},
}


def _notifier(
    tmp_path: Path, organisations: OrganisationDirectory, receiver: WebhookReceiver
) -> NotifyActivity:
    return NotifyActivity(
        organisations=organisations,
        channels=[
            OutboxChannel(tmp_path / "outbox"),
            WebhookChannel(url=receiver.url, secret=SecretStr(SECRET), timeout=5),
        ],
        sent_log=SentLog(tmp_path / "sent-log"),
        mail_from="niva <no-reply@niva.example>",
    )


async def test_notify_webhook_posts_signed_json(
    webhook_receiver: WebhookReceiver,
    organisations: OrganisationDirectory,
    make_call: Callable[..., ServiceCall],
    tmp_path: Path,
):
    notifier = _notifier(tmp_path, organisations, webhook_receiver)
    call = make_call(
        inputs=CASE_ENDED,
        case_id="no_national_service_lifecycle:ntj-42",
        business_key="ntj-42",
        timezone="Europe/Oslo",
    )
    result = await ActivityEnvironment().run(notifier.notify, call)

    assert len(webhook_receiver.requests) == 2
    for request, message_id in zip(webhook_receiver.requests, result.message_ids, strict=True):
        assert request.path == "/hooks/niva"
        signature = request.headers["X-Niva-Signature"]
        assert signature.startswith("sha256=")
        assert verify_signature(SECRET.encode(), request.body, signature)
        assert not verify_signature(b"another secret", request.body, signature)
        assert request.headers["Idempotency-Key"] == message_id
        body = json.loads(request.body)
        assert body["message_id"] == message_id
        assert body["event"] == "case_ended"
        assert body["case_id"] == "no_national_service_lifecycle:ntj-42"
        assert body["language"] == "nb"
        assert body["subject"] == "Saken er avsluttet: Nasjonal behandlingstjeneste for X"
    first = json.loads(webhook_receiver.requests[0].body)
    assert first["recipient"]["email"] == "nasjonaletjenester@helse-vest.example"
    assert first["recipient"]["organisation"] == "NO-HV"
    # Email went out as well, through the outbox.
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2


async def test_notify_webhook_retry_does_not_post_again(
    webhook_receiver: WebhookReceiver,
    organisations: OrganisationDirectory,
    make_call: Callable[..., ServiceCall],
    tmp_path: Path,
):
    notifier = _notifier(tmp_path, organisations, webhook_receiver)
    call = make_call(inputs=CASE_ENDED)
    await ActivityEnvironment().run(notifier.notify, call)
    retry = await ActivityEnvironment().run(notifier.notify, call)
    assert len(webhook_receiver.requests) == 2
    assert retry.sent == []


async def test_notify_webhook_unavailable_is_retried_without_repeating_email(
    webhook_receiver: WebhookReceiver,
    organisations: OrganisationDirectory,
    make_call: Callable[..., ServiceCall],
    tmp_path: Path,
):
    webhook_receiver.statuses = [503]
    notifier = _notifier(tmp_path, organisations, webhook_receiver)
    call = make_call(inputs=CASE_ENDED)
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await ActivityEnvironment().run(notifier.notify, call)
    assert not isinstance(caught.value, ApplicationError)  # Temporal retries it
    emails = {p: p.stat().st_mtime_ns for p in (tmp_path / "outbox").glob("*.eml")}
    assert len(emails) == 2

    retry = await ActivityEnvironment().run(notifier.notify, call)

    # Both webhooks were posted (the first one again: 503 is not acceptance); the email
    # channel had delivered both already and skipped them.
    assert len(webhook_receiver.requests) == 3
    assert webhook_receiver.requests[0].body == webhook_receiver.requests[1].body
    assert retry.sent == retry.message_ids
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "outbox").glob("*.eml")}
    assert after == emails


async def test_notify_webhook_client_error_is_non_retryable(
    webhook_receiver: WebhookReceiver,
    organisations: OrganisationDirectory,
    make_call: Callable[..., ServiceCall],
    tmp_path: Path,
):
    webhook_receiver.statuses = [400]
    notifier = _notifier(tmp_path, organisations, webhook_receiver)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(notifier.notify, make_call(inputs=CASE_ENDED))
    assert caught.value.type == "WebhookRejected"
    assert caught.value.non_retryable
    assert "400" in caught.value.message


def test_notify_webhook_off_unless_configured(tmp_path: Path):
    plain = NotifyActivity.from_settings(ActivitySettings.in_data_dir(tmp_path))
    assert [channel.name for channel in plain.channels] == ["email"]
    hooked = NotifyActivity.from_settings(
        ActivitySettings.in_data_dir(
            tmp_path, webhook_url="http://127.0.0.1:9/hook", webhook_secret=SecretStr("k")
        )
    )
    assert [channel.name for channel in hooked.channels] == ["email", "webhook"]


def test_settings_webhook_without_secret_is_rejected(tmp_path: Path):
    with pytest.raises(ValueError, match="webhook_secret"):
        ActivitySettings.in_data_dir(tmp_path, webhook_url="http://127.0.0.1:9/hook")
