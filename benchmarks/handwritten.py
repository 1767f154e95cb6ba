"""The reference process written by hand as a plain Temporal workflow: the yardstick of the
engine-overhead and replay benchmarks.

It does what the interpreter does for `benchmarks.reference_model.REFERENCE` and nothing
more: the same ``complete_task`` update with a validator (task open, actor a candidate,
repeat detection), the same search attributes upserted when they change, the current
details kept up to date, and the same two activities with the same envelope.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field, JsonValue
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

with workflow.unsafe.imports_passed_through():
    from benchmarks.common import BENCH_TASK_TYPE
    from benchmarks.reference_model import SERVICE_IDS, TASK_IDS
    from service_contract import ServiceCall
    from workflows import errors
    from workflows import search_attributes as sa
    from workflows.candidates import candidate_keys, describe, may_act
    from workflows.contract import CompleteTaskInput, CompleteTaskResult, InstanceResult

__all__ = ["HANDWRITTEN_TYPE", "HandwrittenCase", "HandwrittenStart", "handwritten_runner"]

HANDWRITTEN_TYPE = "bench_handwritten"
_GROUPS = ["officer"]
_ORGS = ["SE-SOS"]
_NAMES = {
    "Register": "Registrera",
    "Review": "Granska",
    "Decide": "Besluta",
    "Notify": "Meddela",
    "Archive": "Arkivera",
}


class HandwrittenStart(BaseModel):
    """The case's start: business key, title and variables, as the interpreter gets them."""

    process_id: str
    business_key: str
    title: str
    variables: dict[str, JsonValue] = Field(default_factory=dict)


@workflow.defn(name=HANDWRITTEN_TYPE)
class HandwrittenCase:
    """Three user tasks in a row, two activities, a decision on ``amount``."""

    @workflow.init
    def __init__(self, start: HandwrittenStart) -> None:
        self._start = start
        self._variables: dict[str, JsonValue] = dict(start.variables)
        self._open: str | None = TASK_IDS[0]
        self._running: str | None = None
        self._completed: dict[str, CompleteTaskResult] = {}
        self._participants: list[str] = ["SE-SOS"]
        self._outcome: str | None = None
        self._published: dict[str, Any] = {}

    @workflow.run
    async def run(self, start: HandwrittenStart) -> InstanceResult:
        """Wait for each task, run the activities, decide, end."""
        for task_id in TASK_IDS:
            self._open = task_id
            self._publish()
            await workflow.wait_condition(lambda t=task_id: t in self._completed)  # type: ignore[misc]
        self._open = None
        for service_id in SERVICE_IDS:
            self._running = service_id
            self._publish()
            call = ServiceCall(
                type=BENCH_TASK_TYPE,
                element_id=service_id,
                task_id=service_id,
                case_id=workflow.info().workflow_id,
                process_id=start.process_id,
                process_version=1,
                business_key=start.business_key,
                now=workflow.now(),
                timezone="Europe/Stockholm",
                inputs={"amount": self._variables.get("amount")},
            )
            result = await workflow.execute_activity(
                BENCH_TASK_TYPE,
                call,
                activity_id=service_id,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RetryPolicy(maximum_attempts=5),
                summary=_NAMES[service_id],
                result_type=dict,
            )
            self._variables[service_id.lower()] = result["task_id"]
        self._running = None
        amount = self._variables.get("amount")
        self._outcome = "Stor" if isinstance(amount, int | float) and amount > 100 else "Liten"
        self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return InstanceResult(outcome=self._outcome, variables=self._variables)

    def _publish(self) -> None:
        values: dict[str, Any] = {
            sa.PROCESS_ID.name: self._start.process_id,
            sa.PROCESS_VERSION.name: "1",
            sa.BUSINESS_KEY.name: self._start.business_key,
            sa.JURISDICTION.name: "-",
            sa.OPEN_TASKS.name: [self._open] if self._open else [],
            sa.CANDIDATES.name: candidate_keys(_GROUPS, _ORGS) if self._open else [],
            sa.PARTICIPANTS.name: list(self._participants),
            sa.NEXT_DEADLINE.name: None,
            sa.INCIDENT.name: False,
            sa.OUTCOME.name: self._outcome,
        }
        keys: dict[str, SearchAttributeKey] = {k.name: k for k in sa.ALL}  # type: ignore[type-arg]
        updates: list[SearchAttributeUpdate] = []  # type: ignore[type-arg]
        for name, value in values.items():
            if name in self._published and self._published[name] == value:
                continue
            self._published[name] = value
            if value is None or value == []:
                updates.append(keys[name].value_unset())
            else:
                updates.append(keys[name].value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
        lines = [f"**{self._start.title}** — `{self._start.process_id}` version 1"]
        if self._outcome:
            lines.append(f"\nEnded: **{self._outcome}**")
        if self._open:
            lines.append("\n**Open tasks (1)**")
            lines.append(f"- `{self._open}` {_NAMES[self._open]} — {describe(_GROUPS, _ORGS)}")
        if self._running:
            lines.append(f"\n**Running**\n- {_NAMES[self._running]}")
        lines.append("\n_Times in Europe/Stockholm._")
        workflow.set_current_details("\n".join(lines))

    @workflow.update(name="complete_task")
    def complete_task(self, request: CompleteTaskInput) -> CompleteTaskResult:
        """Complete the open task; a repeat gets the first result."""
        done = self._completed.get(request.task_id)
        if done is not None:
            return done.model_copy(update={"duplicate": True})
        for name, value in request.payload.items():
            self._variables[name] = value
        if request.actor.org and request.actor.org not in self._participants:
            self._participants.append(request.actor.org)
        result = CompleteTaskResult(
            task_id=request.task_id, completed=workflow.now(), actor=request.actor.subject
        )
        self._completed[request.task_id] = result
        return result

    @complete_task.validator
    def _validate_complete_task(self, request: CompleteTaskInput) -> None:
        if request.task_id in self._completed:
            if request.idempotency_key:
                return
            raise errors.conflict(f"task {request.task_id} was already completed")
        if self._outcome is not None:
            raise errors.conflict("the case has ended")
        if request.task_id != self._open:
            raise errors.not_found(
                f"no open task {request.task_id!r} in this case; open tasks: {self._open or 'none'}"
            )
        if not may_act(request.actor, _GROUPS, _ORGS):
            raise errors.forbidden(
                f"{request.actor.subject} may not complete {request.task_id}: it is for "
                + describe(_GROUPS, _ORGS)
            )


def handwritten_runner(module: str = __name__) -> SandboxedWorkflowRunner:
    """The sandbox a yardstick runs in: the same as niva's (`workflows.sandbox`), its own
    module passed through, so that a comparison measures interpretation, not imports."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows", module)
    )
