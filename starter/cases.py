"""Starting cases: one place that turns "start process X for business key K" into a
workflow start, used by the API, the CLI, the demo data and the tests.

The workflow id is ``<process_id>:<business_key>``; the workflow type is the process id
(the interpreter is a dynamic workflow); the static summary names the process and the
case title, so the Web UI's list reads like a register of cases.
"""

from __future__ import annotations

from pydantic import JsonValue
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from process_models.deployments import ModelStore
from workflows import search_attributes as sa
from workflows.candidates import Actor
from workflows.contract import InstanceResult, StartInstanceInput
from workflows.visibility import jurisdiction

__all__ = ["instance_id", "start_case"]


def instance_id(process_id: str, business_key: str) -> str:
    """The workflow id of a case."""
    return f"{process_id}:{business_key}"


async def start_case(
    client: Client,
    store: ModelStore,
    *,
    process_id: str,
    business_key: str,
    title: str,
    task_queue: str,
    variables: dict[str, JsonValue] | None = None,
    version: int | None = None,
    start_event: str | None = None,
    actor: Actor | None = None,
    continue_after_events: int | None = None,
) -> WorkflowHandle[object, InstanceResult]:
    """Start a case of the latest (or the named) version of a deployed process.

    Raises:
        UnknownModelError: the process or version is not deployed.
        WorkflowAlreadyStartedError: a case with that business key is running.
    """
    source = store.source(process_id, version)
    start = StartInstanceInput(
        model=source,
        business_key=business_key,
        title=title,
        variables=variables or {},
        start_event=start_event,
        actor=actor,
    )
    if continue_after_events is not None:
        start.continue_after_events = continue_after_events
    return await client.start_workflow(
        process_id,
        start,
        id=instance_id(process_id, business_key),
        task_queue=task_queue,
        result_type=InstanceResult,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        static_summary=f"{source.name or process_id}: {title}",
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.PROCESS_ID, process_id),
                SearchAttributePair(sa.PROCESS_VERSION, str(source.version)),
                SearchAttributePair(sa.BUSINESS_KEY, business_key),
                SearchAttributePair(sa.JURISDICTION, jurisdiction(process_id)),
            ]
        ),
    )
