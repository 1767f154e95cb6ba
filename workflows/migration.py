"""Models that change under running cases: migration plans, their check, the new state.

A `MigrationPlan` names a source and a target version and maps the source's element ids
to the target's (an id the plan does not map maps to itself when the target has an
element of that id). `check_migration` decides, from the case's current `InstanceState`
and the two `ExecutableModel`s alone, whether the case fits: every active element (token,
open task, multi-instance body with its instances, subprocess scope, incident) must map to
an element of a compatible kind in the same enclosing (mapped) subprocess of the target.
It is pure and deterministic, so the API's dry run, a batch and the case's own ``migrate``
update give the same answer.

Work in flight that the source started and the target cannot take over is refused, named,
with a reason that says to migrate once it has finished (`in_flight`): a compensation
running (its remaining handlers were chosen by the source), an execution listener running
or failed in an incident (the element has not started, or not been left, and the next
listener is counted in the source's list), a service task or child case held for room. A
service task running is refused by the case itself (`ProcessInstance`), which alone knows
what runs. A child case that is starting or running is no refusal: the case keeps its
call activity's task and waits for the child in the run that migrated, continuing as new
only once it has ended. Installed compensations (completed activities a later throw would
undo) move to the target's counterpart and its handler, and a case is refused when the
target has none there.

`migrate_state` builds the state the case continues with on the target: element ids
mapped, task ids, multi-instance progress, variables, incidents, installed compensations
and visit counters kept, timers and subscriptions armed again from the target (boundary
timers from the activity's original start, so a deadline that still applies stays where
it was; a timer the plan maps keeps its firings).

A modification (`ModifyInput`, an operator's repair) is carried out by
`workflows.interpreter.Interpreter.modify`; its messages live here with the migration's.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from pydantic import BaseModel, Field, JsonValue

from process_models.errors import ExpressionError, TimerSpecError
from process_models.limits import DEFAULT_LIMITS, EngineLimits
from workflows.candidates import Actor
from workflows.interpreter import Interpreter, ModelFailure, TriggerMemory
from workflows.listeners import LISTENER_KIND
from workflows.model import ExecutableModel
from workflows.state import AuditEntry, InstanceState, MigrationRecord

__all__ = [
    "MIGRATE_UPDATE",
    "MIGRATION_IN_FLIGHT_PATCH",
    "MODIFY_UPDATE",
    "MigrateInput",
    "MigrateResult",
    "MigrationCheck",
    "MigrationPlan",
    "MigrationRefusedError",
    "ModelVersion",
    "ModifyInput",
    "ModifyResult",
    "check_migration",
    "in_flight",
    "migrate_state",
]

MIGRATE_UPDATE = "migrate"
"""The update through which a case migrates itself."""
MODIFY_UPDATE = "modify"
"""The update through which an operator repairs a case."""
MIGRATION_IN_FLIGHT_PATCH = "niva-migration-in-flight"
"""A migration is refused while a compensation or an execution listener is in flight
(`in_flight`); a case that migrated in the middle of one before replays as it did."""

_COMPATIBLE = {"sendTask": "serviceTask"}
"""Kinds that run the same way (a send task is a service task that sends)."""


class ModelVersion(BaseModel):
    """A deployed process version."""

    process_id: str
    version: int = Field(ge=1)

    def __str__(self) -> str:
        return f"{self.process_id} v{self.version}"


class MigrationPlan(BaseModel):
    """What to migrate from, to, and how the source's elements map to the target's."""

    source: ModelVersion
    target: ModelVersion
    mappings: dict[str, str] = Field(
        default_factory=dict,
        description="Source element id -> target element id; an unmapped id maps to "
        "itself when the target has an element of that id.",
    )
    variables: dict[str, JsonValue] = Field(
        default_factory=dict, description="Root variables set when the case migrates."
    )

    def digest(self) -> str:
        """The plan's hash (SHA-256 of its canonical JSON, 16 hex digits), as the trail
        shows it."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class MigrationCheck(BaseModel):
    """A case against a plan: the changes migrating would make, or why it cannot."""

    refusals: list[str] = Field(default_factory=list)
    changes: list[str] = Field(default_factory=list)

    @property
    def fits(self) -> bool:
        """True when the case can be migrated."""
        return not self.refusals


class MigrateInput(BaseModel):
    """Migrate the case with ``plan`` (the case fetches the target's source itself)."""

    migration_id: str = Field(
        min_length=1, description="A repeat with the same id does not migrate again."
    )
    plan: MigrationPlan
    actor: Actor


class MigrateResult(BaseModel):
    """What the migration changed (``duplicate`` when the case had already applied it)."""

    migration_id: str
    changes: list[str]
    duplicate: bool = False


class ModifyInput(BaseModel):
    """An operator's repair of the case, applied all or nothing (`Interpreter.modify`)."""

    cancel: list[str] = Field(
        default_factory=list, description="Task ids, or element ids (everything active there)."
    )
    start_before: list[str] = Field(
        default_factory=list, description="Elements to place a token before."
    )
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    reason: str = Field(min_length=1)
    actor: Actor


class ModifyResult(BaseModel):
    """What the modification did, as the trail records it."""

    changes: list[str]


class MigrationRefusedError(ValueError):
    """The case does not fit the plan; the message says why."""


def _node_kind(model: ExecutableModel, element_id: str) -> str:
    node = model.node(element_id)
    kind = _COMPATIBLE.get(node.kind, node.kind)
    if node.loop is not None:
        kind += "[multi-instance]"
    if node.triggered_by_event:
        kind += "[event]"
    events = sorted(node.event_kinds())
    return f"{kind}({','.join(events)})" if events else kind


class _Mapper:
    """Maps the source's element ids to the target's, as the plan says."""

    def __init__(
        self, source: ExecutableModel, target: ExecutableModel, plan: MigrationPlan
    ) -> None:
        self.source, self.target, self.plan = source, target, plan

    def target_id(self, element_id: str) -> str | None:
        mapped = self.plan.mappings.get(element_id, element_id)
        return mapped if mapped in self.target.nodes else None

    def container(self, model: ExecutableModel, element_id: str) -> str:
        return model.container_id[element_id]

    def refusal(self, element_id: str, what: str) -> str | None:
        """Why ``element_id`` (active in the case as ``what``) cannot map, or None."""
        if element_id not in self.source.nodes:
            return f"{what} at {element_id!r}, which version {self.plan.source.version} lacks"
        target_id = self.target_id(element_id)
        if target_id is None:
            return (
                f"{what} at {element_id!r} has no counterpart in {self.plan.target}: "
                "map it in the plan's mappings"
            )
        source_kind = _node_kind(self.source, element_id)
        target_kind = _node_kind(self.target, target_id)
        if source_kind != target_kind:
            return (
                f"{what} at {element_id!r} ({source_kind}) cannot become {target_id!r} "
                f"({target_kind})"
            )
        source_container = self.container(self.source, element_id)
        expected = (
            self.target.process.id
            if source_container == self.source.process.id
            else self.target_id(source_container)
        )
        if self.container(self.target, target_id) != expected:
            return (
                f"{what} at {element_id!r} would move out of its enclosing "
                f"{'process' if expected == self.target.process.id else 'subprocess'}"
            )
        return None


def in_flight(state: InstanceState) -> list[str]:
    """What the case is in the middle of that a migration must not cut, one reason each
    (empty when the case may migrate now as far as that goes).

    Each is over soon on its own, so the reason tells the operator to try again then:

    - a **compensation** running (a throw waiting for its handlers): the handlers still to
      run were chosen, and are named, by the source version;
    - an **execution listener** running, or failed in an incident: the element has not
      started yet (a start listener) or has not been left (an end listener), and which
      listener runs next is counted in the source's list of that element's listeners (a
      user task's creating and completing listeners likewise);
    - a **service activity or child case held** for room under ``max_in_flight``: its
      inputs were evaluated on the source's rules, and it has not started.

    Pure, like `check_migration`, which includes these reasons: a dry run reports them.
    """
    reasons: list[str] = []
    for run in state.compensations.values():
        current = run.current
        doing = (
            f": handler {current.handler_id!r} undoes {current.activity_id}"
            if current is not None
            else ""
        )
        reasons.append(
            f"a compensation thrown at {run.element_id!r} is running{doing}, "
            f"{len(run.pending)} more to undo: migrate once it has finished"
        )
    for activity in state.activities.values():
        if activity.kind != LISTENER_KIND:
            continue
        token = state.tokens.get(activity.token_id)
        # Its name is "<type> (<event> listener)" (`workflows.listeners`).
        job_type, _, event = (activity.name or "").rpartition(" (")
        listener = f"{event.removesuffix(')') or 'listener'} {job_type or activity.id!r}"
        if token is not None and token.process_listeners:
            listener = f"the process's {listener}"
        else:
            listener = f"the {listener} of {activity.element_id!r}"
        if activity.status == "incident":
            reasons.append(
                f"{listener} failed ({activity.id}, an incident): retry it, and migrate "
                "once it has finished"
            )
        else:
            reasons.append(f"{listener} is running ({activity.id}): migrate once it has finished")
    if state.held:
        waiting = ", ".join(effect.activity_id for effect in state.held)
        reasons.append(
            f"service tasks or child cases wait for room to start ({waiting}): migrate "
            "once they started"
        )
    return reasons


def check_migration(
    state: InstanceState,
    source: ExecutableModel,
    target: ExecutableModel,
    plan: MigrationPlan,
    *,
    refuse_in_flight: bool = True,
) -> MigrationCheck:
    """The changes migrating the case with ``plan`` would make, or why it cannot migrate
    (work in flight included: `in_flight`).

    Pure: it reads the state and the two models and changes nothing. ``refuse_in_flight``
    is False only to replay a migration recorded before in-flight work was refused
    (`MIGRATION_IN_FLIGHT_PATCH`).
    """
    check = MigrationCheck()
    if state.ended:
        check.refusals.append(f"the case has ended ({state.outcome})")
        return check
    if (state.process_id, state.version) != (plan.source.process_id, plan.source.version):
        check.refusals.append(
            f"the case runs {state.process_id} v{state.version}, not {plan.source}"
        )
        return check
    if (target.process.id, target.source.version) != (
        plan.target.process_id,
        plan.target.version,
    ):
        check.refusals.append(f"the target model is not {plan.target}")
        return check
    for element_id, target_id in plan.mappings.items():
        if element_id not in source.nodes:
            check.refusals.append(f"the plan maps {element_id!r}, which the source lacks")
        if target_id not in target.nodes:
            check.refusals.append(f"the plan maps to {target_id!r}, which the target lacks")
    if refuse_in_flight:
        check.refusals.extend(in_flight(state))
    elif state.held:
        check.refusals.append(
            "service tasks or child cases wait for room to start: migrate once they started"
        )
    mapper = _Mapper(source, target, plan)
    active: dict[str, str] = {}
    for activity in state.activities.values():
        what = "multi-instance body" if activity.multi is not None else activity.kind
        active.setdefault(activity.element_id, f"open {what} {activity.id}")
    for token in state.tokens.values():
        active.setdefault(token.node_id, f"a token ({token.status})")
        if token.via_flow is not None and source.node(token.node_id).kind == "parallelGateway":
            flow = target.flows.get(token.via_flow)
            if flow is None or flow.target_ref != mapper.target_id(token.node_id):
                check.refusals.append(
                    f"a token waits at join {token.node_id!r} by flow {token.via_flow!r}, "
                    f"which {plan.target} lacks there"
                )
    for scope in state.scopes.values():
        active.setdefault(scope.element_id, "a subprocess scope")
    for incident in state.incidents.values():
        if incident.element_id != source.process.id:
            active.setdefault(incident.element_id, f"incident {incident.id}")
    for element_id, what in active.items():
        refusal = mapper.refusal(element_id, what)
        if refusal is not None:
            check.refusals.append(refusal)
            continue
        mapped_id = mapper.target_id(element_id)
        if mapped_id != element_id:
            check.changes.append(f"{element_id} -> {mapped_id}")
    _check_compensable(state, mapper, check)
    if check.fits:
        check.changes.insert(0, f"{plan.source} -> {plan.target}")
        if plan.variables:
            check.changes.append("variables set: " + ", ".join(sorted(plan.variables)))
    return check


def _check_compensable(state: InstanceState, mapper: _Mapper, check: MigrationCheck) -> None:
    """Installed compensations (completed activities a later throw undoes) need the
    target's counterpart of the activity to have a handler: dropped, the undo would be
    lost; kept on the source's ids, a throw would start a handler the target lacks."""
    seen: set[str] = set()
    for entry in state.compensable:
        if entry.element_id in seen:
            continue
        seen.add(entry.element_id)
        target_id = mapper.target_id(entry.element_id)
        link = mapper.target.compensation.get(target_id) if target_id is not None else None
        if target_id is None or link is None:
            check.refusals.append(
                f"completed {entry.activity_id} is compensable (by {entry.handler_id!r}), but "
                f"{target_id or entry.element_id!r} of {mapper.plan.target} has no "
                "compensation handler: a later compensation could not undo it"
            )
        elif (target_id, link.handler_id) != (entry.element_id, entry.handler_id):
            check.changes.append(
                f"compensation of {entry.element_id}: {entry.element_id} -> {target_id}, "
                f"{entry.handler_id} -> {link.handler_id}"
            )


def migrate_state(
    state: InstanceState,
    source: ExecutableModel,
    target: ExecutableModel,
    plan: MigrationPlan,
    *,
    migration_id: str,
    actor: str,
    now: datetime,
    limits: EngineLimits = DEFAULT_LIMITS,
    depth: int = 0,
    refuse_in_flight: bool = True,
) -> Interpreter:
    """An interpreter of ``target`` holding the state the case continues with (the given
    state is not changed).

    Raises:
        MigrationRefusedError: the case does not fit the plan (`check_migration`).
    """
    check = check_migration(state, source, target, plan, refuse_in_flight=refuse_in_flight)
    if not check.fits:
        raise MigrationRefusedError("; ".join(check.refusals))
    mapper = _Mapper(source, target, plan)

    def mapped(element_id: str) -> str:
        return mapper.target_id(element_id) or element_id

    new = state.model_copy(deep=True)
    # What each owner was waiting on, so the target's timers are armed from the same
    # moment and a repeating timer the plan maps keeps its count.
    memory: TriggerMemory = {}
    for timer in state.timers.values():
        key = mapper.target_id(timer.element_id)
        memory[(timer.owner, key or "")] = (timer.armed_at, timer.fired)
        memory.setdefault((timer.owner, ""), (timer.armed_at, 0))
    for subscription in state.subscriptions.values():
        key = mapper.target_id(subscription.element_id)
        if key is not None:
            memory.setdefault((subscription.owner, key), (now, 0))
    reached = {mapper.target_id(element_id) for element_id in source.nodes}
    fresh = frozenset(element_id for element_id in target.nodes if element_id not in reached)
    new.timers = {}
    new.subscriptions = {}
    for token in new.tokens.values():
        token.node_id = mapped(token.node_id)
        if target.node(token.node_id).kind != "parallelGateway":
            token.via_flow = None
    for activity in new.activities.values():
        node = target.node(mapped(activity.element_id))
        activity.element_id, activity.kind, activity.name = node.id, node.kind, node.name
    for scope in new.scopes.values():
        scope.element_id = mapped(scope.element_id)
    for incident in new.incidents.values():
        if incident.element_id != source.process.id:
            incident.element_id = mapped(incident.element_id)
        else:
            incident.element_id = target.process.id
    for entry in new.compensable:
        # `check_migration` made sure the target has a handler for each.
        entry.element_id = mapped(entry.element_id)
        entry.handler_id = target.compensation[entry.element_id].handler_id
        if entry.via is not None:
            entry.via = mapped(entry.via)
    new.process_id, new.version = plan.target.process_id, plan.target.version
    new.variables.update(plan.variables)
    new.migrations.append(
        MigrationRecord(
            migration_id=migration_id,
            at=now,
            actor=actor,
            source=str(plan.source),
            target=str(plan.target),
            plan_hash=plan.digest(),
        )
    )
    new.audit.append(
        AuditEntry(
            at=now,
            kind="migrated",
            actor=actor,
            detail=f"{plan.source} -> {plan.target}, plan {plan.digest()}, "
            f"migration {migration_id}",
            model_version=plan.target.version,
        )
    )
    runner = Interpreter(target, new, limits=limits, depth=depth)
    try:
        runner.rearm_waits(memory, fresh, now)
    except (ExpressionError, TimerSpecError, ModelFailure) as exc:
        raise MigrationRefusedError(
            f"the target's timers or messages cannot be armed: {exc}"
        ) from exc
    return runner
