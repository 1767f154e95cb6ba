"""The activities' side of the service-task contract: raising a BPMN error.

The envelope (`service_contract.ServiceCall`), the error type and the task type names live
in `service_contract`, which the workflow code imports too; this module adds what only an
activity does with them, and needs Temporal for.
"""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError

from service_contract import BPMN_ERROR_TYPE

__all__ = ["bpmn_error"]


def bpmn_error(code: str, message: str, **details: Any) -> ApplicationError:
    """A non-retryable error the model can catch with an error boundary of that code.

    Raise it from an activity for a business failure (an unknown recipient, a target case
    that has ended); any other exception is retried and, once retries run out, becomes an
    incident on the task.
    """
    return ApplicationError(
        message, {"code": code, **details}, type=BPMN_ERROR_TYPE, non_retryable=True
    )
