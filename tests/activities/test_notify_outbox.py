"""notify into the file outbox: one parseable .eml per message, once, in each recipient's
language; bad inputs, templates and recipients fail without retries, naming the cause."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.channels import OutboxChannel, message_key
from activities.notifications import NotifyActivity
from activities.organisations import OrganisationDirectory
from activities.sent_log import SentLog
from service_contract import BPMN_ERROR_TYPE, ServiceCall
from tests.support.mail import body, read_eml

TASK_OPENED = {
    "template": "task_opened",
    "organisations": ["SE-AB", "NO-HSO"],
    "variables": {
        "case_title": "Svår leversvikt",
        "task_name": "Remissvar",
        "deadline": "2025-05-12",
    },
}


@pytest.fixture
def notifier(tmp_path: Path, organisations: OrganisationDirectory) -> NotifyActivity:
    return NotifyActivity(
        organisations=organisations,
        channels=[OutboxChannel(tmp_path / "outbox")],
        sent_log=SentLog(tmp_path / "sent-log"),
        mail_from="niva <no-reply@niva.example>",
    )


async def test_notify_outbox_writes_one_eml_per_recipient(
    notifier: NotifyActivity, make_call: Callable[..., ServiceCall], tmp_path: Path
):
    call = make_call(inputs=TASK_OPENED)
    result = await ActivityEnvironment().run(notifier.notify, call)

    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    assert result.recipients == [
        "registrator@region-stockholm.example",
        "postmottak@helse-sorost.example",
    ]
    assert result.sent == result.message_ids
    assert result.skipped == []
    by_to = {read_eml(path)["To"].addresses[0].addr_spec: read_eml(path) for path in files}

    swedish = by_to["registrator@region-stockholm.example"]
    assert swedish["Subject"] == "Ny uppgift: Remissvar – Svår leversvikt"
    assert swedish["Message-ID"] == result.message_ids[0]
    assert swedish["From"] == "niva <no-reply@niva.example>"
    assert swedish["Content-Language"] == "sv"
    assert swedish["X-Niva-Case"] == call.case_id
    assert swedish["Auto-Submitted"] == "auto-generated"
    text = body(swedish, "plain")
    assert "Sista dag att svara: 12 maj 2025." in text
    assert "Till Region Stockholm" in text

    norwegian = by_to["postmottak@helse-sorost.example"]
    assert norwegian["Subject"] == "Ny oppgave: Remissvar – Svår leversvikt"
    assert norwegian["Content-Language"] == "nb"
    norwegian_text = body(norwegian, "plain")
    assert "Frist for svar: 12. mai 2025." in norwegian_text


async def test_notify_outbox_message_id_derives_from_case_task_recipient(
    notifier: NotifyActivity, make_call: Callable[..., ServiceCall], tmp_path: Path
):
    call = make_call(inputs=TASK_OPENED)
    result = await ActivityEnvironment().run(notifier.notify, call)
    key = message_key(call.case_id, call.task_id, "registrator@region-stockholm.example")
    assert result.message_ids[0] == f"<{key}@niva>"
    assert (tmp_path / "outbox" / f"{key}.eml").is_file()
    other_task = await ActivityEnvironment().run(
        notifier.notify, make_call(inputs=TASK_OPENED, task_id="NotifyRegions#2")
    )
    assert set(other_task.message_ids).isdisjoint(result.message_ids)


async def test_notify_outbox_retry_sends_nothing_again(
    notifier: NotifyActivity, make_call: Callable[..., ServiceCall], tmp_path: Path
):
    call = make_call(inputs=TASK_OPENED)
    first = await ActivityEnvironment().run(notifier.notify, call)
    files = {path: path.stat().st_mtime_ns for path in (tmp_path / "outbox").glob("*.eml")}

    second = await ActivityEnvironment().run(notifier.notify, call)

    assert second.message_ids == first.message_ids
    assert second.sent == []
    assert second.skipped == first.message_ids
    after = {path: path.stat().st_mtime_ns for path in (tmp_path / "outbox").glob("*.eml")}
    assert after == files  # not even rewritten


async def test_notify_outbox_html_part_is_autoescaped(
    notifier: NotifyActivity, make_call: Callable[..., ServiceCall], tmp_path: Path
):
    inputs = {
        "template": "case_ended",
        "organisations": ["SE-M"],
        "variables": {"case_title": "<script>alert(1)</script> & co", "outcome": "NHV"},
    }
    await ActivityEnvironment().run(notifier.notify, make_call(inputs=inputs))
    [path] = (tmp_path / "outbox").glob("*.eml")
    message = read_eml(path)
    html = body(message, "html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "<script>" not in html
    text = body(message, "plain")
    assert "<script>alert(1)</script> & co" in text  # plain text is not HTML


async def test_notify_outbox_direct_address_and_subject_override(
    notifier: NotifyActivity, make_call: Callable[..., ServiceCall], tmp_path: Path
):
    inputs = {
        "template": "reminder",
        "addresses": ["kansli@example.org"],
        "language": "en",
        "subject": "Reminder:\nreferral\r\nBcc: evil@example.org",
        "variables": {
            "case_title": "Liver failure",
            "task_name": "Answer",
            "deadline": "2025-05-12",
        },
    }
    result = await ActivityEnvironment().run(notifier.notify, make_call(inputs=inputs))
    assert result.recipients == ["kansli@example.org"]
    [path] = (tmp_path / "outbox").glob("*.eml")
    message = read_eml(path)
    # A newline in a subject must not start a new header.
    assert message["Subject"] == "Reminder: referral Bcc: evil@example.org"
    assert message["Bcc"] is None
    assert "due on 12 May 2025" in body(message, "plain")


async def test_notify_outbox_same_address_twice_gets_one_message(
    notifier: NotifyActivity, make_call: Callable[..., ServiceCall], tmp_path: Path
):
    # The nämnd and B1 share Socialstyrelsen's registry address.
    inputs = {**TASK_OPENED, "organisations": ["SE-NHV-NAMND", "SE-NHV-B1", "SE-SOS"]}
    result = await ActivityEnvironment().run(notifier.notify, make_call(inputs=inputs))
    assert result.recipients == ["registrator@socialstyrelsen.example"]
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


async def test_notify_unknown_organisation_is_bpmn_error(
    notifier: NotifyActivity, make_call: Callable[..., ServiceCall], tmp_path: Path
):
    inputs = {**TASK_OPENED, "organisations": ["SE-AB", "SE-QQ"]}
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(notifier.notify, make_call(inputs=inputs))
    assert caught.value.type == BPMN_ERROR_TYPE
    assert caught.value.non_retryable
    assert caught.value.details[0]["code"] == "UnknownRecipient"
    assert "SE-QQ" in caught.value.message
    assert not (tmp_path / "outbox").exists()  # nothing sent to the known one either


async def test_notify_missing_variable_is_non_retryable_naming_it(
    notifier: NotifyActivity, make_call: Callable[..., ServiceCall], tmp_path: Path
):
    variables = {"case_title": "Svår leversvikt", "deadline": "2025-05-12"}
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            notifier.notify, make_call(inputs={**TASK_OPENED, "variables": variables})
        )
    error = caught.value
    assert error.type == "TemplateVariableMissing"
    assert error.non_retryable
    assert "'task_name'" in error.message
    assert "notifications/sv/task_opened.subject.j2" in error.message
    assert "NotifyRegions" in error.message
    assert error.details[0]["variable"] == "task_name"
    assert not (tmp_path / "outbox").exists()


async def test_notify_unknown_template_is_non_retryable(
    notifier: NotifyActivity, make_call: Callable[..., ServiceCall]
):
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            notifier.notify, make_call(inputs={**TASK_OPENED, "template": "no_such_message"})
        )
    assert caught.value.type == "TemplateNotFound"
    assert caught.value.non_retryable
    assert "no_such_message" in caught.value.message


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({"template": "task_opened"}, "at least one recipient"),
        ({"template": "task_opened", "addresses": ["a@b.example"]}, "set 'language'"),
        ({"template": "Task Opened", "organisations": ["SE-AB"]}, "template"),
        (
            {"template": "task_opened", "organisations": ["SE-AB"], "variables": {"case": 1}},
            "case are set by notify",
        ),
        ({"template": "task_opened", "organisations": ["SE-AB"], "colour": "red"}, "colour"),
    ],
)
async def test_notify_invalid_inputs_are_non_retryable(
    notifier: NotifyActivity,
    make_call: Callable[..., ServiceCall],
    inputs: dict[str, object],
    fragment: str,
):
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(notifier.notify, make_call(inputs=inputs))
    assert caught.value.type == "InvalidInput"
    assert caught.value.non_retryable
    assert fragment in caught.value.message
    assert "NotifyRegions" in caught.value.message


async def test_notify_outbox_same_call_writes_identical_bytes(
    organisations: OrganisationDirectory, make_call: Callable[..., ServiceCall], tmp_path: Path
):
    # Two workers with separate logs: the message written is byte for byte the same.
    contents = []
    for worker in ("a", "b"):
        notifier = NotifyActivity(
            organisations=organisations,
            channels=[OutboxChannel(tmp_path / worker / "outbox")],
            sent_log=SentLog(tmp_path / worker / "sent-log"),
            mail_from="niva <no-reply@niva.example>",
        )
        await ActivityEnvironment().run(notifier.notify, make_call(inputs=TASK_OPENED))
        contents.append(
            [path.read_bytes() for path in sorted((tmp_path / worker / "outbox").glob("*.eml"))]
        )
    assert contents[0] == contents[1]
