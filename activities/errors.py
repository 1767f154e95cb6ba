"""The errors of niva's activities, and how each kind reaches Temporal.

Errors raised by the activities' own code::

    Exception
     └── ActivityError               base of every error below
          └── DocumentStoreError     the document store cannot do what was asked
               ├── DocumentNotFoundError    no document has that id
               └── DocumentIntegrityError   stored bytes no longer hash to their id

Inside an activity a failure reaches Temporal in one of three ways:

- **a business failure a model may catch** (an unknown recipient):
  `activities.service_call.bpmn_error`, a non-retryable ``ApplicationError`` of type
  ``BpmnError`` whose ``code`` an error boundary event matches;
- **a bug in the model** (a template that does not exist, a variable the template needs but
  the task does not map, inputs of the wrong shape, an address the mail server refuses for
  good): `model_error`, a non-retryable ``ApplicationError`` of one of the types below, so the
  task becomes an incident at once instead of after every retry;
- **anything else** (a refused connection, a temporary SMTP reply, a webhook answering 503,
  a full disk): an ordinary exception, which Temporal retries by the task's retry policy.
"""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError

__all__ = [
    "INVALID_INPUT",
    "MESSAGE_REJECTED",
    "TEMPLATE_ERROR",
    "TEMPLATE_NOT_FOUND",
    "TEMPLATE_VARIABLE_MISSING",
    "WEBHOOK_REJECTED",
    "ActivityError",
    "DocumentIntegrityError",
    "DocumentNotFoundError",
    "DocumentStoreError",
    "model_error",
]

INVALID_INPUT = "InvalidInput"
"""The task's inputs do not fit the activity's input model."""
TEMPLATE_NOT_FOUND = "TemplateNotFound"
"""The task names a template that does not exist (in that language)."""
TEMPLATE_VARIABLE_MISSING = "TemplateVariableMissing"
"""The template uses a variable the task does not pass."""
TEMPLATE_ERROR = "TemplateError"
"""The template does not compile, or a filter cannot format a value it was given."""
MESSAGE_REJECTED = "MessageRejected"
"""The mail server refused a message for good (a 5xx reply to the sender, a recipient or
the data)."""
WEBHOOK_REJECTED = "WebhookRejected"
"""The webhook answered with a 4xx status other than 408, 425 or 429."""


def model_error(error_type: str, message: str, **details: Any) -> ApplicationError:
    """A non-retryable error for a bug in the model: the task becomes an incident at once.

    Args:
        error_type: one of this module's type constants (``TemplateNotFound``, …).
        message: what is wrong, where, and how to fix it.
        details: JSON values that help the operator (template, variable, element id).
    """
    return ApplicationError(message, details, type=error_type, non_retryable=True)


class ActivityError(Exception):
    """Base of the errors raised by the activities' own code."""


class DocumentStoreError(ActivityError):
    """The document store cannot do what was asked."""


class DocumentNotFoundError(DocumentStoreError):
    """No document has the id asked for (or the id is not a SHA-256 hex digest)."""

    def __init__(self, document_id: str, where: str) -> None:
        super().__init__(
            f"document {document_id} is not in the document store ({where}); check the id "
            "recorded in the case, or whether the store was moved or pruned"
        )
        self.document_id = document_id


class DocumentIntegrityError(DocumentStoreError):
    """A stored document's bytes no longer hash to its id: it was altered or damaged."""

    def __init__(self, document_id: str, actual_sha256: str, where: str) -> None:
        super().__init__(
            f"document {document_id} fails its hash check: its stored bytes ({where}) hash to "
            f"{actual_sha256}; the file was altered or damaged, restore it from a backup"
        )
        self.document_id = document_id
        self.actual_sha256 = actual_sha256
