"""Service-task activities for engine tests: echo, fail, and raise a BPMN error."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.service_call import bpmn_error
from service_contract import ServiceCall

CALLS: list[ServiceCall] = []


@activity.defn(name="echo")
async def echo(call: ServiceCall) -> dict[str, Any]:
    """Return the inputs; record the call."""
    CALLS.append(call)
    return {"echoed": call.inputs, "task_id": call.task_id}


@activity.defn(name="fail")
async def fail(call: ServiceCall) -> dict[str, Any]:
    """Always fail (non-retryable, so an incident follows at once)."""
    raise ApplicationError(f"{call.task_id} cannot work", non_retryable=True)


@activity.defn(name="bpmn_fail")
async def bpmn_fail(call: ServiceCall) -> dict[str, Any]:
    """Throw the BPMN error named by the input ``code``."""
    raise bpmn_error(str(call.inputs.get("code", "Failed")), "business failure")


ALL = [echo, fail, bpmn_fail]
