"""Every side effect of niva, one module per outside service.

The worker registers what `build_activities` returns; each activity is named by the task
type a model's ``niva:taskDefinition`` gives, receives a `ServiceCall` and returns its own
result model:

- ``notify`` (`activities.notifications.NotifyActivity`): ``NotifyInput`` →
  ``NotifyResult``;
- ``render_document`` (`activities.documents.RenderDocumentActivity`):
  ``RenderDocumentInput`` → ``RenderDocumentResult``;
- ``record_follow_up`` (`activities.statistics.RecordFollowUpActivity`):
  ``RecordFollowUpInput`` → ``RecordFollowUpResult``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.service_call import bpmn_error
from activities.settings import ActivitySettings
from service_contract import (
    NOTIFY,
    RECORD_FOLLOW_UP,
    RENDER_DOCUMENT,
    ServiceCall,
    idempotency_key,
)

__all__ = [
    "TASK_TYPES",
    "ActivitySettings",
    "ServiceCall",
    "bpmn_error",
    "build_activities",
    "idempotency_key",
]

TASK_TYPES = (NOTIFY, RENDER_DOCUMENT, RECORD_FOLLOW_UP)
"""The task types the activities of `build_activities` register, in that order."""


def build_activities(settings: ActivitySettings) -> list[Callable[..., Any]]:
    """The activity callables for a worker, each bound to its configured backends.

    Args:
        settings: where messages go, documents are kept and statistics recorded.

    Raises:
        ValueError: the organisations file is missing or wrong.
    """
    # Imported here, not at the top: importing the package (for `TASK_TYPES`, or
    # `bpmn_error` in a job worker) must not pull in the PDF, SMTP, HTTP and SQL libraries.
    from activities.documents import RenderDocumentActivity
    from activities.notifications import NotifyActivity
    from activities.statistics import RecordFollowUpActivity

    notifications = NotifyActivity.from_settings(settings)
    documents = RenderDocumentActivity.from_settings(settings)
    statistics = RecordFollowUpActivity.from_settings(settings)
    return [notifications.notify, documents.render_document, statistics.record_follow_up]
