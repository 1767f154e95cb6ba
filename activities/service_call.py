"""The one envelope every service-task activity receives, and the BPMN error it may raise.

The interpreter calls an activity by its registered type name (``notify``,
``render_document``, ``send_message``, …) with a `ServiceCall`; the activity validates
``inputs`` into its own pydantic input model and returns its own result model. This module
is the activities' public contract: the workflow code imports it and nothing else of
``activities``.

Idempotency: an activity's effect is keyed by ``case_id`` + ``task_id``. The task id is
unique in the case across continue-as-new (``ReferralResponse:SE-AB``,
``AnnualFollowUp#3``), so a retry, or a replay of the whole case, never repeats an effect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, JsonValue
from temporalio.exceptions import ApplicationError

__all__ = ["BPMN_ERROR_TYPE", "ServiceCall", "bpmn_error", "idempotency_key"]

BPMN_ERROR_TYPE = "BpmnError"
"""The ``ApplicationError.type`` of an error a model can catch with an error boundary."""


class ServiceCall(BaseModel):
    """What a service or send task hands its activity."""

    type: str = Field(description="The registered task type, e.g. 'notify'.")
    element_id: str = Field(description="The BPMN element that runs the activity.")
    task_id: str = Field(description="Unique in the case: <element_id>[:<key>][#<n>].")
    case_id: str = Field(description="The workflow id: <process_id>:<business_key>.")
    process_id: str
    process_version: int
    business_key: str
    now: datetime = Field(
        description="The case's clock when the task started: renderings use it instead of "
        "the wall clock, so a retry produces the same bytes."
    )
    timezone: str = Field(description="The process's time zone, e.g. Europe/Stockholm.")
    inputs: dict[str, JsonValue] = Field(
        default_factory=dict, description="The task's niva:input mappings, evaluated."
    )


def idempotency_key(call: ServiceCall) -> str:
    """``<case_id>/<task_id>``: the key of the activity's effect."""
    return f"{call.case_id}/{call.task_id}"


def bpmn_error(code: str, message: str, **details: Any) -> ApplicationError:
    """A non-retryable error the model can catch with an error boundary of that code.

    Raise it from an activity for a business failure (an unknown recipient, a target case
    that has ended); any other exception is retried and, once retries run out, becomes an
    incident on the task.
    """
    return ApplicationError(
        message, {"code": code, **details}, type=BPMN_ERROR_TYPE, non_retryable=True
    )
