"""Starting cases: one place that turns "start process X for business key K" into a
workflow start, used by the API, the CLI, the demo data and the tests.

The workflow id is ``<process_id>:<business_key>``; the workflow type is the process id
(the interpreter is a dynamic workflow); the static summary names the process and the
case title, so the Web UI's list reads like a register of cases.
"""

from __future__ import annotations

import json

from pydantic import JsonValue
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from process_models.deployments import ModelStore
from process_models.limits import EngineLimits
from starter.settings import ApiSettings, LimitSettings, WorkerSettings
from workflows import search_attributes as sa
from workflows.candidates import Actor
from workflows.contract import InstanceResult, StartInstanceInput
from workflows.visibility import jurisdiction

__all__ = ["MAX_START_BYTES", "StartTooLargeError", "instance_id", "start_case"]

MAX_START_BYTES = 2 * 1024 * 1024 - 64 * 1024
"""The largest start input (the model's source and the variables, as JSON) a case may be
started with: Temporal refuses a payload over 2 MB, with a margin for the envelope."""


class StartTooLargeError(ValueError):
    """The start variables exceed the case's variables limit, or the start input (model
    and variables) exceeds what Temporal accepts in one payload."""


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
    limits: EngineLimits | None = None,
    api_url: str | None = None,
) -> WorkflowHandle[object, InstanceResult]:
    """Start a case of the latest (or the named) version of a deployed process.

    The case runs under ``limits``, by default those of `starter.settings.LimitSettings`
    (``NIVA_LIMITS_*``), and its details link to its diagram page on the API at
    ``api_url`` (by default ``NIVA_API_PUBLIC_URL``). A task type the store's registry does
    not name runs as a job on ``NIVA_WORKER_JOBS_TASK_QUEUE`` (`WorkerSettings.job_routing`).

    Raises:
        UnknownModelError: the process or version is not deployed.
        WorkflowAlreadyStartedError: a case with that business key is running.
        StartTooLargeError: the variables, or the model and variables, are too large.
    """
    source = store.source(process_id, version)
    start = StartInstanceInput(
        model=source,
        business_key=business_key,
        title=title,
        variables=variables or {},
        start_event=start_event,
        actor=actor,
        limits=limits if limits is not None else LimitSettings().engine_limits(),
        api_url=api_url or ApiSettings().public_url,
        jobs=WorkerSettings().job_routing(store.registry.task_types),
    )
    _check_size(start)
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


def _check_size(start: StartInstanceInput) -> None:
    """Refuse a start that the case could not hold, before Temporal sees it."""
    variables = len(json.dumps(start.variables, separators=(",", ":"), ensure_ascii=False).encode())
    if variables > start.limits.max_variables_bytes:
        raise StartTooLargeError(
            f"the start variables take {variables:,} bytes, more than the "
            f"{start.limits.max_variables_bytes:,} a case may hold "
            "(NIVA_LIMITS_MAX_VARIABLES_BYTES)"
        )
    total = len(start.model_dump_json().encode())
    if total > MAX_START_BYTES:
        raise StartTooLargeError(
            f"the model {start.model.process_id} version {start.model.version} and the start "
            f"variables take {total:,} bytes, more than the {MAX_START_BYTES:,} Temporal "
            "accepts in one payload; deploy a smaller model (split it with call activities)"
        )
