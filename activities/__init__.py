"""Every side effect of niva, one module per outside service.

The worker registers what `build_activities` returns; each activity is named by the task
type a model's ``niva:taskDefinition`` gives, receives a `ServiceCall` and returns its own
result model:

- ``notify`` (`activities.notifications.NotifyActivity`): ``NotifyInput`` →
  ``NotifyResult``;
- ``render_document`` (`activities.documents.RenderDocumentActivity`):
  ``RenderDocumentInput`` → ``RenderDocumentResult``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.service_call import ServiceCall, bpmn_error, idempotency_key
from activities.settings import ActivitySettings

__all__ = [
    "TASK_TYPES",
    "ActivitySettings",
    "ServiceCall",
    "bpmn_error",
    "build_activities",
    "idempotency_key",
]

TASK_TYPES = ("notify", "render_document")
"""The task types the activities of `build_activities` register, in that order."""


def build_activities(settings: ActivitySettings) -> list[Callable[..., Any]]:
    """The activity callables for a worker, each bound to its configured backends.

    Args:
        settings: where messages go and documents are kept.

    Raises:
        ValueError: the organisations file is missing or wrong.
    """
    # Imported here, not at the top: workflow code imports activities.service_call, which
    # runs this package's __init__, and must not pull in the PDF, SMTP and HTTP libraries.
    from activities.documents import RenderDocumentActivity
    from activities.notifications import NotifyActivity

    notifications = NotifyActivity.from_settings(settings)
    documents = RenderDocumentActivity.from_settings(settings)
    return [notifications.notify, documents.render_document]
