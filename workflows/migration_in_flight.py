"""The work in flight a migration meets in a case, as a dry run reports it.

`check_migration` says whether a case fits a plan and what its elements become; this says
what the case is in the middle of and what migrating does to it (`InFlightWork`):

- **wait**: a service task or job running, or an execution listener running (a real
  migration is refused until it has finished: the case alone knows when), a service task
  or child case held for room (refused until it has started), or a call activity's child
  case (the case migrates at once, but goes on as new on the target only once the child
  has ended);
- **rearm**: a timer or message subscription the target has too, armed again from the
  target (a boundary timer from the activity's start, so its deadline may move);
- **arm**: a timer or subscription new in the target;
- **cancel**: a timer or subscription the target lacks, dropped.

Pure, like `check_migration`: the timers come from the state `migrate_state` builds, so
the dry run shows exactly what the migration would arm, as of ``now``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from workflows.listeners import LISTENER_KIND
from workflows.migration import MigrationPlan, check_migration, migrate_state
from workflows.model import ExecutableModel
from workflows.state import InstanceState

__all__ = ["InFlightWork", "in_flight_work"]

_DRY_RUN_ID = "dry-run"


class InFlightWork(BaseModel):
    """One piece of work a case is in the middle of, and what migrating does to it."""

    kind: Literal["service_task", "listener", "held", "child_case", "timer", "message"]
    effect: Literal["wait", "rearm", "arm", "cancel"]
    element_id: str = Field(description="The element, in the source (cancel) or target.")
    task_id: str | None = Field(
        default=None, description="The task (activity instance) it belongs to, if any."
    )
    fire_at: datetime | None = Field(
        default=None,
        description="A timer's firing: after the migration (rearm, arm) or as it was (cancel).",
    )
    child_id: str | None = Field(default=None, description="A call activity's child case.")
    detail: str


def in_flight_work(
    state: InstanceState,
    source: ExecutableModel,
    target: ExecutableModel,
    plan: MigrationPlan,
    *,
    now: datetime,
) -> list[InFlightWork]:
    """What migrating the case with ``plan`` at ``now`` would wait for, re-arm, arm or
    cancel; timers and subscriptions only when the case fits the plan (a refused case is
    left as it is).

    Raises:
        MigrationRefusedError: the case fits, but the target's timers or messages cannot
            be armed (the migration itself would be refused so).
    """
    work = _running(state, target)
    if check_migration(state, source, target, plan).fits:
        migrated = migrate_state(
            state, source, target, plan, migration_id=_DRY_RUN_ID, actor=_DRY_RUN_ID, now=now
        ).state
        work += _waits(state, migrated, plan)
    return work


def _running(state: InstanceState, target: ExecutableModel) -> list[InFlightWork]:
    held = {effect.activity_id for effect in state.held}
    work: list[InFlightWork] = []
    for activity in state.activities.values():
        if activity.status != "active":
            continue  # parked in an incident: nothing runs
        common = {"element_id": activity.element_id, "task_id": activity.id}
        if activity.id in held:
            work.append(
                InFlightWork(
                    kind="held",
                    effect="wait",
                    detail=f"{activity.id} waits for room to start (max_in_flight): "
                    "migrate once it has started",
                    **common,
                )
            )
        elif activity.kind == "callActivity" and activity.child_workflow_id is not None:
            work.append(
                InFlightWork(
                    kind="child_case",
                    effect="wait",
                    child_id=activity.child_workflow_id,
                    detail=f"child case {activity.child_workflow_id} of {activity.id}: the "
                    f"case migrates now, and goes on as {target.process.id} "
                    f"v{target.source.version} once the child has ended",
                    **common,
                )
            )
        elif activity.kind == LISTENER_KIND:
            work.append(
                InFlightWork(
                    kind="listener",
                    effect="wait",
                    detail=f"listener {activity.name or activity.id} runs: "
                    "migrate once it has finished",
                    **common,
                )
            )
        elif activity.task_type is not None and activity.kind != "callActivity":
            work.append(
                InFlightWork(
                    kind="service_task",
                    effect="wait",
                    detail=f"{activity.id} ({activity.task_type}) runs: a migration is "
                    "refused until it has finished",
                    **common,
                )
            )
    return work


def _waits(before: InstanceState, after: InstanceState, plan: MigrationPlan) -> list[InFlightWork]:
    """Timers and message subscriptions, matched by owner and (mapped) element."""

    def mapped(element_id: str) -> str:
        return plan.mappings.get(element_id, element_id)

    work: list[InFlightWork] = []
    new_timers = {(t.owner, t.element_id): t for t in after.timers.values()}
    for timer in before.timers.values():
        key = (timer.owner, mapped(timer.element_id))
        again = new_timers.pop(key, None)
        if again is None:
            work.append(
                InFlightWork(
                    kind="timer",
                    effect="cancel",
                    element_id=timer.element_id,
                    task_id=_task(before, timer.owner),
                    fire_at=timer.fire_at,
                    detail=f"timer {timer.element_id} (due {timer.fire_at.isoformat()}) "
                    f"is dropped: {plan.target} has no counterpart",
                )
            )
        else:
            moved = "" if again.fire_at == timer.fire_at else f", was {timer.fire_at.isoformat()}"
            work.append(
                InFlightWork(
                    kind="timer",
                    effect="rearm",
                    element_id=again.element_id,
                    task_id=_task(after, again.owner),
                    fire_at=again.fire_at,
                    detail=f"timer {again.element_id} armed again: due "
                    f"{again.fire_at.isoformat()}{moved}",
                )
            )
    for timer in new_timers.values():
        work.append(
            InFlightWork(
                kind="timer",
                effect="arm",
                element_id=timer.element_id,
                task_id=_task(after, timer.owner),
                fire_at=timer.fire_at,
                detail=f"timer {timer.element_id} new in {plan.target}: due "
                f"{timer.fire_at.isoformat()}",
            )
        )
    new_subscriptions = {(s.owner, s.element_id): s for s in after.subscriptions.values()}
    for subscription in before.subscriptions.values():
        again_s = new_subscriptions.pop((subscription.owner, mapped(subscription.element_id)), None)
        effect: Literal["rearm", "cancel"] = "cancel" if again_s is None else "rearm"
        shown = subscription if again_s is None else again_s
        what = "dropped: the target has no counterpart" if again_s is None else "awaited again"
        work.append(
            InFlightWork(
                kind="message",
                effect=effect,
                element_id=shown.element_id,
                task_id=_task(before, subscription.owner),
                detail=f"message {shown.message_name!r} at {shown.element_id} {what}",
            )
        )
    for subscription in new_subscriptions.values():
        work.append(
            InFlightWork(
                kind="message",
                effect="arm",
                element_id=subscription.element_id,
                task_id=_task(after, subscription.owner),
                detail=f"message {subscription.message_name!r} at {subscription.element_id} "
                f"new in {plan.target}",
            )
        )
    return work


def _task(state: InstanceState, owner: str) -> str | None:
    """The task a timer or subscription belongs to (a boundary event's activity)."""
    return owner if owner in state.activities else None
