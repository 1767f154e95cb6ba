"""The contract between the engine and the activities it calls: one place for every name
that crosses from workflow code to an activity.

The interpreter calls a service task's activity by its registered type name with a
`ServiceCall`; the activity validates ``inputs`` into its own pydantic input model and
returns its own result model. A business failure the model may catch is an
``ApplicationError`` of type `BPMN_ERROR_TYPE` (``activities.service_call.bpmn_error``
builds one). Call activities resolve their child's model through the activity named
`RESOLVE_MODEL_ACTIVITY`.

``process_models`` (the registry of task types), ``workflows`` (the interpreter's Temporal
side) and ``activities`` (the implementations) all import their names from here, so this
module imports none of them and nothing of Temporal.

Idempotency: an activity's effect is keyed by ``case_id`` + ``task_id``. The task id is
unique in the case across continue-as-new (``ReferralResponse:SE-AB``,
``AnnualFollowUp#3``), so a retry, or a replay of the whole case, never repeats an effect.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, JsonValue

__all__ = [
    "BPMN_ERROR_TYPE",
    "BUILTIN_TASK_TYPE_NAMES",
    "NOTIFY",
    "RECORD_FOLLOW_UP",
    "RENDER_DOCUMENT",
    "RESOLVE_MODEL_ACTIVITY",
    "SEND_MESSAGE",
    "ServiceCall",
    "idempotency_key",
]

BPMN_ERROR_TYPE = "BpmnError"
"""The ``ApplicationError.type`` of an error a model can catch with an error boundary."""

RESOLVE_MODEL_ACTIVITY = "niva.resolve_model"
"""The activity that resolves a call activity's child model from the model store."""

NOTIFY = "notify"
"""Render a message from a template and deliver it."""
RENDER_DOCUMENT = "render_document"
"""Render a document from a template and store it write-once."""
SEND_MESSAGE = "send_message"
"""Deliver a message to another case."""
RECORD_FOLLOW_UP = "record_follow_up"
"""Write a permit's yearly follow-up to the statistics store, once per permit and year."""

BUILTIN_TASK_TYPE_NAMES: tuple[str, ...] = (NOTIFY, RENDER_DOCUMENT, SEND_MESSAGE, RECORD_FOLLOW_UP)
"""The service-task types niva implements itself; a worker registers an activity for each."""


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
