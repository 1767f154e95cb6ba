"""``send_message``: one case sends a message to another.

The target receives it through its ``correlate_message`` update, like a message from the
API, with the sending case as the actor (subject ``case:<case id>``, role ``case``) and
``<case id>/<task id>`` as idempotency key, so a retried activity delivers once. A target
that has ended, does not exist, or waits for no such message is a BPMN error the sending
model can catch (codes ``TargetEnded``, ``TargetNotFound``, ``MessageNotAccepted``).

A payload the message's registered model refuses
(`process_models.message_payloads.check_message_payload`, the API's check) is a bug in the
sending model's mappings or variables, not a business outcome: the task fails for good
(``InvalidInput``) before anything is delivered, so the sending case parks in an incident
naming the message, the field and the rule, which an operator retries after correcting the
variables; the target is not touched.

This activity speaks to the engine's own API, so it imports the engine's message types
(`workflows.contract`) rather than restating them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, JsonValue, ValidationError
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import INVALID_INPUT, model_error
from activities.service_call import bpmn_error
from process_models.message_payloads import MessagePayloadError, check_message_payload
from process_models.registry import Registry, default_registry
from service_contract import SEND_MESSAGE, ServiceCall, idempotency_key
from workflows.contract import Actor, CorrelateMessageInput, CorrelateMessageResult

__all__ = ["CaseMessenger", "SendMessageInput", "check_payload"]


class SendMessageInput(BaseModel):
    """The inputs of a ``send_message`` task."""

    instance_id: str = Field(description="The target case's workflow id.")
    message: str = Field(min_length=1, description="The message name.")
    payload: dict[str, JsonValue] = Field(default_factory=dict)


def check_payload(registry: Registry, call: ServiceCall, request: SendMessageInput) -> None:
    """A non-retryable ``InvalidInput`` error naming the message, each field and the rule it
    breaks when ``request``'s payload does not satisfy its message's registered model."""
    try:
        check_message_payload(registry, request.message, request.payload)
    except MessagePayloadError as exc:
        raise model_error(
            INVALID_INPUT,
            f"service task {call.element_id} ({call.type}): {exc}; fix the task's niva:input "
            "mappings or the variables they read, then retry",
            element_id=call.element_id,
            task_type=call.type,
            message_name=request.message,
            payload_model=exc.model,
            problems=[str(p) for p in exc.problems],
        ) from exc


class CaseMessenger:
    """Delivers messages between cases through one Temporal client, checking payloads
    against ``registry``'s message payload models (the shipped ones by default)."""

    def __init__(self, client: Client, registry: Registry | None = None) -> None:
        self.client = client
        self.registry = registry or default_registry

    @activity.defn(name=SEND_MESSAGE)
    async def send_message(self, call: ServiceCall) -> CorrelateMessageResult:
        """Deliver the message; business failures are BPMN errors, a payload its model
        refuses an incident."""
        try:
            request = SendMessageInput.model_validate(call.inputs)
        except ValidationError as exc:
            raise ApplicationError(
                f"{call.element_id}: send_message inputs are invalid: {exc}",
                type="InvalidInput",
                non_retryable=True,
            ) from exc
        check_payload(self.registry, call, request)
        handle = self.client.get_workflow_handle(request.instance_id)
        update = CorrelateMessageInput(
            name=request.message,
            payload=request.payload,
            actor=Actor(subject=f"case:{call.case_id}", roles=["case"]),
            idempotency_key=idempotency_key(call),
        )
        try:
            result: CorrelateMessageResult = await handle.execute_update(
                "correlate_message", update, result_type=CorrelateMessageResult
            )
            return result
        except WorkflowUpdateFailedError as exc:
            raise bpmn_error(
                "MessageNotAccepted",
                f"{request.instance_id} did not accept {request.message!r}: {exc.cause}",
            ) from exc
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                code = "TargetEnded" if "completed" in exc.message else "TargetNotFound"
                raise bpmn_error(code, f"{request.instance_id}: {exc.message}") from exc
            raise
