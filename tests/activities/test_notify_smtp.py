"""notify through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiosmtplib
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.channels import SmtpChannel
from activities.notifications import NotifyActivity
from activities.organisations import OrganisationDirectory
from activities.sent_log import SentLog
from activities.settings import ActivitySettings
from service_contract import ServiceCall
from tests.support import log_audit
from tests.support.mail import Mailbox, body
from tests.support.net import free_port

REFERRAL_OPENED = {
    "template": "task_opened",
    "organisations": ["SE-AB", "SE-I", "SE-M"],
    "role": "nhv",
    "variables": {
        "case_title": "Svår leversvikt",
        "task_name": "Remissvar",
        "deadline": "2025-05-12",
        "url": "https://niva.example/tasks/ReferralResponse",
    },
}


def _notifier(
    tmp_path: Path, organisations: OrganisationDirectory, channel: SmtpChannel
) -> NotifyActivity:
    return NotifyActivity(
        organisations=organisations,
        channels=[channel],
        sent_log=SentLog(tmp_path / "sent-log"),
        mail_from="niva <no-reply@niva.example>",
    )


def _plain(mailbox: Mailbox) -> SmtpChannel:
    return SmtpChannel(host=mailbox.host, port=mailbox.port, security="none")


async def test_notify_smtp_delivers_to_resolved_recipients(
    smtp_server: Mailbox,
    organisations: OrganisationDirectory,
    make_call: Callable[..., ServiceCall],
    tmp_path: Path,
):
    notifier = _notifier(tmp_path, organisations, _plain(smtp_server))
    call = make_call(inputs=REFERRAL_OPENED)
    result = await ActivityEnvironment().run(notifier.notify, call)

    expected = [
        "nhv@region-stockholm.example",
        "nhv@region-gotland.example",
        "nhv@region-skane.example",
    ]
    assert [envelope.rcpt_tos for envelope in smtp_server.envelopes] == [[a] for a in expected]
    assert all(e.mail_from == "no-reply@niva.example" for e in smtp_server.envelopes)
    messages = smtp_server.messages()
    assert [m["Message-ID"] for m in messages] == result.message_ids
    assert [m["To"].addresses[0].addr_spec for m in messages] == expected
    assert messages[2]["To"].addresses[0].display_name == "Region Skåne"
    assert messages[0]["Subject"] == "Ny uppgift: Remissvar – Svår leversvikt"
    assert messages[0]["From"] == "niva <no-reply@niva.example>"
    assert messages[0]["Date"].datetime == call.now
    text = body(messages[0], "plain")
    assert "Öppna uppgiften: https://niva.example/tasks/ReferralResponse" in text
    html = body(messages[0], "html")
    assert '<a href="https://niva.example/tasks/ReferralResponse">' in html


async def test_notify_smtp_retry_after_success_delivers_once(
    smtp_server: Mailbox,
    organisations: OrganisationDirectory,
    make_call: Callable[..., ServiceCall],
    tmp_path: Path,
):
    notifier = _notifier(tmp_path, organisations, _plain(smtp_server))
    call = make_call(inputs={**REFERRAL_OPENED, "organisations": ["SE-O"]})

    first = await ActivityEnvironment().run(notifier.notify, call)
    retry = await ActivityEnvironment().run(notifier.notify, call)

    assert len(smtp_server.envelopes) == 1
    assert retry.skipped == first.sent == first.message_ids
    assert retry.sent == []


async def test_notify_smtp_temporary_refusal_retries_only_the_rest(
    smtp_server: Mailbox,
    organisations: OrganisationDirectory,
    make_call: Callable[..., ServiceCall],
    tmp_path: Path,
):
    smtp_server.defer.add("nhv@region-gotland.example")
    notifier = _notifier(tmp_path, organisations, _plain(smtp_server))
    call = make_call(inputs=REFERRAL_OPENED)
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as caught:
        await ActivityEnvironment().run(notifier.notify, call)
    assert not isinstance(caught.value, ApplicationError)  # a 451: Temporal retries

    smtp_server.defer.clear()
    retry = await ActivityEnvironment().run(notifier.notify, call)

    delivered = [envelope.rcpt_tos[0] for envelope in smtp_server.envelopes]
    assert delivered == [
        "nhv@region-stockholm.example",
        "nhv@region-gotland.example",
        "nhv@region-skane.example",
    ]
    assert retry.skipped == retry.message_ids[:1]
    assert retry.sent == retry.message_ids[1:]


async def test_notify_smtp_permanent_refusal_is_non_retryable(
    smtp_server: Mailbox,
    organisations: OrganisationDirectory,
    make_call: Callable[..., ServiceCall],
    tmp_path: Path,
):
    smtp_server.refuse.add("nhv@region-gotland.example")
    notifier = _notifier(tmp_path, organisations, _plain(smtp_server))
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(notifier.notify, make_call(inputs=REFERRAL_OPENED))
    error = caught.value
    assert error.type == "MessageRejected"
    assert error.non_retryable
    assert "nhv@region-gotland.example" in error.message
    assert "550" in error.message
    # What the server took before the refusal is logged: it is not sent again later.
    log = SentLog(tmp_path / "sent-log")
    assert len(list((log.directory / "email").iterdir())) == 1


async def test_notify_smtp_connection_refused_is_retryable(
    organisations: OrganisationDirectory,
    make_call: Callable[..., ServiceCall],
    tmp_path: Path,
):
    channel = SmtpChannel(host="127.0.0.1", port=free_port(), security="none", timeout=5)
    notifier = _notifier(tmp_path, organisations, channel)
    with pytest.raises(aiosmtplib.SMTPConnectError) as caught:
        await ActivityEnvironment().run(notifier.notify, make_call(inputs=REFERRAL_OPENED))
    assert not isinstance(caught.value, ApplicationError)  # Temporal retries it
    assert not (tmp_path / "sent-log" / "email").exists()


async def test_notify_smtp_starttls_required_never_falls_back_to_plain(
    smtp_server: Mailbox,
    organisations: OrganisationDirectory,
    make_call: Callable[..., ServiceCall],
    tmp_path: Path,
):
    # The loopback server offers no STARTTLS: mail must not go out unencrypted.
    channel = SmtpChannel(host=smtp_server.host, port=smtp_server.port, security="starttls")
    notifier = _notifier(tmp_path, organisations, channel)
    with pytest.raises(aiosmtplib.SMTPException):
        await ActivityEnvironment().run(notifier.notify, make_call(inputs=REFERRAL_OPENED))
    assert smtp_server.envelopes == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_notify_smtp_logs_in_with_configured_credentials(
    smtp_server_with_login: Mailbox,
    make_call: Callable[..., ServiceCall],
    tmp_path: Path,
):
    settings = ActivitySettings.in_data_dir(
        tmp_path,
        smtp_host=smtp_server_with_login.host,
        smtp_port=smtp_server_with_login.port,
        smtp_security="none",
        smtp_username="niva",
        smtp_password=SecretStr(log_audit.registered("s3cret", what="SMTP password")),
    )
    notifier = NotifyActivity.from_settings(settings)
    inputs = {**REFERRAL_OPENED, "organisations": ["SE-C"]}
    await ActivityEnvironment().run(notifier.notify, make_call(inputs=inputs))
    assert smtp_server_with_login.logins == ["niva"]
    assert [e.rcpt_tos for e in smtp_server_with_login.envelopes] == [
        ["nhv@region-uppsala.example"]
    ]
    assert not (tmp_path / "outbox").exists()  # SMTP configured: no outbox
