"""notify run by a real Temporal worker on the dev server, called from a workflow by its
task type, as the interpreter calls it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import pytest
    from temporalio.client import Client, WorkflowFailureError
    from temporalio.exceptions import ActivityError, ApplicationError, RetryState
    from temporalio.worker import Worker

    from activities.notifications import NotifyActivity, NotifyResult
    from activities.settings import ActivitySettings
    from service_contract import BPMN_ERROR_TYPE, ServiceCall
    from tests.support.mail import Mailbox


@workflow.defn
class NotifyTwice:
    """Runs the same service call twice, as a retry after a lost completion would."""

    @workflow.run
    async def run(self, call: ServiceCall) -> list[NotifyResult]:
        results = []
        for _ in range(2):
            results.append(
                await workflow.execute_activity(
                    "notify",
                    call,
                    result_type=NotifyResult,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RetryPolicy(maximum_attempts=3),
                )
            )
        return results


def _settings(tmp_path: Path, mailbox: Mailbox) -> ActivitySettings:
    return ActivitySettings.in_data_dir(
        tmp_path, smtp_host=mailbox.host, smtp_port=mailbox.port, smtp_security="none"
    )


async def test_notify_worker_delivers_once_through_temporal(
    client: Client,
    task_queue: str,
    smtp_server: Mailbox,
    make_call: Callable[..., ServiceCall],
    tmp_path: Path,
):
    notifier = NotifyActivity.from_settings(_settings(tmp_path, smtp_server))
    call = make_call(
        task_id="ReferralOpened",
        inputs={
            "template": "reminder",
            "organisations": ["SE-F", "SE-H"],
            "role": "nhv",
            "variables": {
                "case_title": "Svår leversvikt",
                "task_name": "Remissvar",
                "deadline": "2025-05-12",
            },
        },
    )
    async with Worker(
        client, task_queue=task_queue, workflows=[NotifyTwice], activities=[notifier.notify]
    ):
        first, second = await client.execute_workflow(
            NotifyTwice.run,
            call,
            id=f"notify-{task_queue}",
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=60),
        )

    assert first.recipients == ["nhv@region-jonkoping.example", "nhv@region-kalmar.example"]
    assert first.sent == first.message_ids
    assert second.skipped == first.message_ids
    messages = smtp_server.messages()
    assert [m["Message-ID"] for m in messages] == first.message_ids
    assert messages[0]["Subject"] == "Påminnelse: Remissvar senast 12 maj 2025"


@workflow.defn
class NotifyOnce:
    @workflow.run
    async def run(self, call: ServiceCall) -> NotifyResult:
        result: NotifyResult = await workflow.execute_activity(
            "notify",
            call,
            result_type=NotifyResult,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=5, initial_interval=timedelta(seconds=1)),
        )
        return result


async def test_notify_worker_unknown_organisation_fails_without_retry(
    client: Client,
    task_queue: str,
    smtp_server: Mailbox,
    make_call: Callable[..., ServiceCall],
    tmp_path: Path,
):
    notifier = NotifyActivity.from_settings(_settings(tmp_path, smtp_server))
    call = make_call(inputs={"template": "reminder", "organisations": ["SE-NOPE"]})
    async with Worker(
        client, task_queue=task_queue, workflows=[NotifyOnce], activities=[notifier.notify]
    ):
        with pytest.raises(WorkflowFailureError) as caught:
            await client.execute_workflow(
                NotifyOnce.run,
                call,
                id=f"notify-unknown-{task_queue}",
                task_queue=task_queue,
                execution_timeout=timedelta(seconds=60),
            )
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    assert activity_error.retry_state == RetryState.NON_RETRYABLE_FAILURE
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == BPMN_ERROR_TYPE
    assert cause.non_retryable
    assert cause.details[0]["code"] == "UnknownRecipient"
    assert "SE-NOPE" in cause.message
    assert smtp_server.envelopes == []
