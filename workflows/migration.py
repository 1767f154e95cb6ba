"""Models that change under running cases: migration plans, their check, the new state.

A `MigrationPlan` names a source and a target version and maps the source's element ids
to the target's (an id the plan does not map maps to itself when the target has an
element of that id). `check_migration` decides, from the case's current `InstanceState`
and the two `ExecutableModel`s alone, whether the case fits: every active element (token,
open task, multi-instance body with its instances, subprocess scope, incident) must map to
an element of a compatible kind in the same enclosing (mapped) subprocess of the target.
It is pure and deterministic, so the API's dry run, a batch and the case's own ``migrate``
update give the same answer. `migrate_state` builds the state the case continues with on
the target: element ids mapped, task ids, multi-instance progress, variables, incidents and
visit counters kept, timers and subscriptions armed again from the target (boundary
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
from workflows.model import ExecutableModel
from workflows.state import AuditEntry, InstanceState, MigrationRecord

__all__ = [
    "MIGRATE_UPDATE",
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
    "migrate_state",
]

MIGRATE_UPDATE = "migrate"
"""The update through which a case migrates itself."""
MODIFY_UPDATE = "modify"
"""The update through which an operator repairs a case."""

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


def check_migration(
    state: InstanceState,
    source: ExecutableModel,
    target: ExecutableModel,
    plan: MigrationPlan,
) -> MigrationCheck:
    """The changes migrating the case with ``plan`` would make, or why it cannot migrate.

    Pure: it reads the state and the two models and changes nothing.
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
    if state.held:
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
    if check.fits:
        check.changes.insert(0, f"{plan.source} -> {plan.target}")
        if plan.variables:
            check.changes.append("variables set: " + ", ".join(sorted(plan.variables)))
    return check


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
) -> Interpreter:
    """An interpreter of ``target`` holding the state the case continues with (the given
    state is not changed).

    Raises:
        MigrationRefusedError: the case does not fit the plan (`check_migration`).
    """
    check = check_migration(state, source, target, plan)
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
