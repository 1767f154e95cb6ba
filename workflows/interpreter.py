"""The BPMN interpreter: moves tokens through an `ExecutableModel`, mutating `InstanceState`.

It never awaits and never talks to Temporal: every method changes the state and appends
`Effect`s (start an activity, start a child case, cancel either) that the workflow carries
out. The clock is passed in (the workflow's ``workflow.now()``), so the same calls yield the
same state on every replay.

Execution model:

- A *token* stands at a node. ``ready`` tokens are moved by `run`; a token inside an
  activity, at a catch event, at an event-based gateway or at a join waits.
- An *activity* is an entered task, subprocess, call or multi-instance body, identified by
  its task id ``<element_id>[:<key>][#<n>]``.
- A *scope* holds the local variables of an embedded subprocess or a multi-instance
  instance. Reads see the root variables overlaid by every enclosing scope; a write goes to
  the innermost scope that already defines the name, else to the innermost
  multi-instance instance (so 21 regions answering the same task never overwrite each
  other), else to the root.
- When an activity finishes its token's phase becomes ``complete``: outputs are mapped
  and the token leaves on the next `run`. A failing expression in either phase parks the
  token in an incident; `retry_incident` re-runs that phase.
- A BPMN error (a service's ``BpmnError``, an error end event) is caught by the innermost
  matching error boundary or error-start event subprocess of the enclosing scopes. Uncaught,
  it parks what threw in an incident (the activity, or the token at the error end event),
  and `retry_incident` runs that again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from pydantic import JsonValue

from process_models.calendars import NO_CALENDAR, on_working_day
from process_models.errors import ExpressionError, TimerSpecError
from process_models.limits import DEFAULT_LIMITS, EngineLimits
from process_models.schema import FlowNode
from process_models.timers import (
    IsoDuration,
    TimerSpec,
    add_duration,
    check_cycle_period,
    missed_firings,
    next_fire,
)
from workflows.candidates import Actor, may_act
from workflows.effects import CancelChild, CancelService, Effect, StartChild, StartService
from workflows.model import ExecutableModel, split_list
from workflows.state import (
    ROOT_SCOPE,
    Activity,
    AuditEntry,
    BufferedMessage,
    CompletedTask,
    Incident,
    IncidentKind,
    InstanceState,
    MultiInstanceState,
    Scope,
    Subscription,
    Timer,
    Token,
)

__all__ = [
    "CASE_LIMITS_PATCH",
    "ERROR_PROPAGATION_PATCH",
    "EVENT_SUBPROCESS_REARM_PATCH",
    "MESSAGE_SENDERS_PATCH",
    "Interpreter",
    "ModelFailure",
    "json_bytes",
    "payload_digest",
    "variables_bytes",
]

_SERVICE_KINDS = frozenset({"serviceTask", "sendTask"})
_PASS_THROUGH_KINDS = frozenset({"task", "manualTask"})
_THROTTLED_KINDS = frozenset({"serviceTask", "sendTask", "callActivity", "subProcess"})
_LEGACY_MAX_STEPS = 10_000

CASE_LIMITS_PATCH = "niva-case-limits"
"""The limits of `process_models.limits` apply (multi-instance cardinality and throttling,
steps, tokens, variables size, call depth, the minimum cycle period, one firing of a late
cycle). Asked only when a limit is crossed, so a case within the limits records no marker,
and a history recorded before the limits replays as it ran."""

MESSAGE_SENDERS_PATCH = "niva-message-senders"
"""A buffered message is delivered only to a subscription whose candidates admit its
sender, and sending a message no longer makes the sender's organisation a participant."""

EVENT_SUBPROCESS_REARM_PATCH = "niva-event-subprocess-once"
"""A non-interrupting event subprocess start is not armed again when it triggers (which
made a duration fire again and again, and a message or cycle start trigger twice)."""
ERROR_PROPAGATION_PATCH = "niva-error-propagation"
"""BPMN errors caught by error-start event subprocesses too; uncaught, an incident on the
activity (or error end event) that threw."""


class ModelFailure(Exception):
    """A failure of the model at run time (an expression, a gateway with no way out).

    Its ``kind`` is an `IncidentKind`: every model failure can become an incident.
    """

    def __init__(self, kind: IncidentKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def json_bytes(value: Any) -> int:
    """How many bytes ``value`` takes as compact UTF-8 JSON (as Temporal stores it)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def variables_bytes(state: InstanceState) -> int:
    """The size of a case's variables as JSON: the root's, every scope's, and the items of
    every multi-instance activity (a copy of its collection, carried in the state)."""
    return (
        json_bytes(state.variables)
        + sum(json_bytes(scope.variables) for scope in state.scopes.values())
        + sum(json_bytes(a.multi.items) for a in state.activities.values() if a.multi)
    )


def payload_digest(payload: Any) -> str:
    """SHA-256 of the canonical JSON of a payload, for the audit trail."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Interpreter:
    """Runs one case: call a method, then `run`, then carry out `take_effects()`."""

    def __init__(
        self,
        model: ExecutableModel,
        state: InstanceState,
        *,
        limits: EngineLimits = DEFAULT_LIMITS,
        depth: int = 0,
    ) -> None:
        self.model = model
        self.state = state
        self.limits = limits
        self.depth = depth
        self._wrote = False
        """How many call activities started this case (0 for a case started otherwise)."""
        self._effects: list[Effect] = []
        self.now: datetime = datetime.min
        self.patched: Callable[[str], bool] = lambda _patch_id: True
        """Whether a behaviour change applies (`workflow.patched` in a case, so histories
        recorded before the change replay the old way; always true elsewhere)."""

    # --- public API -----------------------------------------------------------------------

    def take_effects(self) -> list[Effect]:
        """The effects produced since the last call, in order."""
        effects, self._effects = self._effects, []
        return effects

    def start(self, now: datetime, *, start_event: str | None, actor: str | None) -> None:
        """Place the first token: at ``start_event`` (a message start) or the none start."""
        self.now = now
        process_id = self.model.process.id
        if start_event is not None:
            node = self.model.nodes.get(start_event)
            if node is None or node.kind != "startEvent":
                raise ModelFailure("start", f"{start_event!r} is not a start event")
        else:
            node = self.model.none_start(process_id)
            if node is None:
                raise ModelFailure("start", "the process has no start event without trigger")
        self._audit("started", element_id=node.id, actor=actor)
        self._atomically(process_id, lambda: self._arm_event_subprocesses(process_id, ROOT_SCOPE))
        self._new_token(node.id, ROOT_SCOPE)

    def run(self, now: datetime) -> None:
        """Move every ready token until all wait; then end the case if nothing is left."""
        self.now = now
        self._expire_buffered()
        token: Token | None = None
        steps = work = 0
        # The budget counts work, not time, so every replay stops at the same step.
        while not self._out_of_steps(work, steps):
            work += self._step_cost()
            steps += 1
            if self._deliver_buffered():
                continue
            token = next((t for t in self.state.tokens.values() if t.status == "ready"), None)
            if token is None or self.state.ended:
                if steps > 1 and not self.state.ended:
                    self.recompute_timers()
                return
            self._step(token)
        # A loop without a wait state would spin for ever, and a very long run of steps
        # would outlast the workflow task: park the token, the case stays usable, and a
        # retry of the incident goes on from there.
        if token is not None and token.id in self.state.tokens:
            self.state.tokens[token.id].status = "incident"
            self._incident(
                "limit",
                token.node_id,
                f"more than {self.limits.max_steps} steps without waiting (NIVA_LIMITS_MAX_STEPS)"
                ": a loop with no task, timer or message in it, or a very long chain of "
                "elements; retry to go on",
                token_id=token.id,
            )

    def _out_of_steps(self, work: int, steps: int) -> bool:
        if steps >= _LEGACY_MAX_STEPS:
            return True
        return work >= self.limits.max_steps and self.patched(CASE_LIMITS_PATCH)

    def _step_cost(self) -> int:
        """The work of one step: a step copies the state to roll back to, so it costs more
        the more tokens, activities and scopes the case holds."""
        state = self.state
        return 1 + (len(state.tokens) + len(state.activities) + len(state.scopes)) // 25

    def open_tasks(self) -> list[Activity]:
        """Open user tasks in creation order."""
        return [a for a in self.state.activities.values() if a.kind == "userTask"]

    def next_timer(self) -> Timer | None:
        """The armed timer that fires first."""
        timers = sorted(self.state.timers.values(), key=lambda t: (t.fire_at, t.id))
        return timers[0] if timers else None

    def fire_due_timers(self, now: datetime) -> int:
        """Fire every timer due at ``now``, earliest first; returns how many fired."""
        self.now = now
        fired = 0
        while True:
            timer = self.next_timer()
            if timer is None or timer.fire_at > now:
                return fired
            self._fire_timer(timer)
            fired += 1

    def complete_task(
        self,
        task_id: str,
        payload: dict[str, JsonValue],
        *,
        actor: str,
        org: str | None,
        idempotency_key: str | None,
        now: datetime,
    ) -> CompletedTask:
        """Complete an open user task (the update validator has checked the request)."""
        self.now = now
        activity = self.state.activities[task_id]
        completed = CompletedTask(
            task_id=task_id, completed=now, actor=actor, idempotency_key=idempotency_key
        )
        self.state.completed_tasks[task_id] = completed
        self._participate(org)
        self._audit(
            "task_completed",
            element_id=activity.element_id,
            task_id=task_id,
            actor=actor,
            org=org,
            payload_digest=payload_digest(payload),
        )
        self._finish_activity(activity, payload=payload)
        return completed

    def correlate(
        self,
        name: str,
        payload: dict[str, JsonValue],
        *,
        actor: str | None,
        org: str | None,
        now: datetime,
        roles: Sequence[str] = (),
    ) -> list[str]:
        """Deliver a message to every subscription of that name; buffer it if none waits
        and the model declares a ``ttl`` for it. Returns the receiving element ids.

        The update validator has checked the sender (`message_candidates`). A buffered
        message keeps its sender (``roles`` too), so delivery can check it again."""
        self.now = now
        waiting = [s for s in self.state.subscriptions.values() if s.message_name == name]
        if not self.patched(MESSAGE_SENDERS_PATCH):
            # Before the patch, sending made the sender's organisation a participant.
            self._participate(org)
        if not waiting:
            ttl = self.message_ttl(name)
            if ttl is None:
                raise ModelFailure("message", f"no subscription waits for message {name!r}")
            self.state.buffered.append(
                BufferedMessage(
                    name=name,
                    payload=payload,
                    actor=actor,
                    org=org,
                    roles=list(roles),
                    received=now,
                    expires=self._add(now, ttl),
                )
            )
            self._audit("message_buffered", detail=name, actor=actor, org=org)
            return []
        received = []

        def deliver(subscription: Subscription) -> Callable[[], None]:
            return lambda: self._trigger(
                subscription.element_id, subscription.owner, payload, actor
            )

        for subscription in waiting:
            if subscription.id in self.state.subscriptions:
                self._audit(
                    "message",
                    element_id=subscription.element_id,
                    actor=actor,
                    org=org,
                    detail=name,
                    payload_digest=payload_digest(payload),
                )
                triggered = self._atomically(subscription.element_id, deliver(subscription))
                if triggered:
                    received.append(subscription.element_id)
        return received

    def message_ttl(self, name: str) -> IsoDuration | None:
        """The longest ``ttl`` the model declares for a message name, if any."""
        ttls = [
            IsoDuration.parse(node.niva.subscription.ttl)
            for node in self.model.subscribing_elements
            if node.niva.subscription is not None
            and node.niva.subscription.ttl
            and self.model.message_name(node) == name
        ]
        return max(ttls, key=lambda d: d.approximate_seconds()) if ttls else None

    def message_candidates(self, name: str) -> list[tuple[list[str], list[str]]]:
        """Who may send message ``name`` now, as ``(groups, orgs)`` rules (any one admits).

        The candidates of the subscriptions that wait for it; when none waits (the message
        would be buffered), those of every element of the model that subscribes to it,
        evaluated in the root scope. An element whose candidates cannot be evaluated there
        (an ``=`` expression over a subprocess's or an instance's variables) admits no one:
        such a message can only be sent while its subscription waits.
        """
        waiting = [s for s in self.state.subscriptions.values() if s.message_name == name]
        if waiting:
            return [(s.candidate_groups, s.candidate_orgs) for s in waiting]
        rules = []
        for node in self.model.subscribing_elements:
            if self.model.message_name(node) != name:
                continue
            sub = node.niva.subscription
            try:
                groups = self._eval_list(sub.candidate_groups if sub else None, node.id, ROOT_SCOPE)
                orgs = self._eval_list(sub.candidate_orgs if sub else None, node.id, ROOT_SCOPE)
            except ExpressionError:
                continue
            rules.append((groups, orgs))
        return rules

    def accepted_messages(self) -> list[str]:
        """Message names a subscription waits for now, sorted."""
        return sorted({s.message_name for s in self.state.subscriptions.values()})

    def service_succeeded(self, activity_id: str, result: JsonValue, now: datetime) -> None:
        """A service task's activity returned ``result``."""
        self.now = now
        activity = self.state.activities.get(activity_id)
        if activity is not None:
            self._finish_activity(activity, result=result)

    def service_failed(
        self, activity_id: str, *, error_code: str | None, message: str, now: datetime
    ) -> None:
        """A service activity failed: a BPMN error (with code) or exhausted retries."""
        self.now = now
        activity = self.state.activities.get(activity_id)
        if activity is None:
            return
        if error_code is not None:
            self._throw_error(activity, error_code, message)
        else:
            activity.status = "incident"
            self._incident("activity", activity.element_id, message, activity_id=activity.id)

    def child_finished(
        self, activity_id: str, variables: dict[str, JsonValue], now: datetime
    ) -> None:
        """An attached child case completed with these variables."""
        self.now = now
        activity = self.state.activities.get(activity_id)
        if activity is not None:
            self._finish_activity(activity, result=variables)

    def child_failed(self, activity_id: str, message: str, now: datetime) -> None:
        """An attached child case failed or was cancelled."""
        self.now = now
        activity = self.state.activities.get(activity_id)
        if activity is not None:
            activity.status = "incident"
            self._incident("child", activity.element_id, message, activity_id=activity.id)

    def retry_incident(
        self, incident_id: str, variables: dict[str, JsonValue], *, actor: str, now: datetime
    ) -> None:
        """Resolve an incident: apply corrected variables, then re-run what failed."""
        self.now = now
        incident = self.state.incidents.pop(incident_id)
        self.state.variables.update(variables)
        self._audit("incident_resolved", element_id=incident.element_id, actor=actor)
        if incident.activity_id is not None:
            activity = self.state.activities.get(incident.activity_id)
            if activity is not None:
                self._atomically(activity.element_id, lambda: self._restart(activity))
        elif incident.token_id is not None and incident.token_id in self.state.tokens:
            self.state.tokens[incident.token_id].status = "ready"

    def _restart(self, activity: Activity) -> None:
        """Run a failed service task or call activity again (after an incident)."""
        activity.status = "active"
        node = self.model.node(activity.element_id)
        if activity.kind in _SERVICE_KINDS or self._is_service_event(activity):
            activity.attempt += 1
            self._start_service(activity, node)
        elif activity.kind == "callActivity":
            self._start_child(activity, node)

    def cancel(self, reason: str, *, actor: str, now: datetime) -> None:
        """End the case: cancel every activity, attached child and timer."""
        self.now = now
        self._clear_scope(ROOT_SCOPE)
        self._audit("cancelled", actor=actor, detail=reason)
        self._end("cancelled")

    # --- values ---------------------------------------------------------------------------

    def _scope_chain(self, scope_id: str) -> list[Scope]:
        chain = []
        while scope_id != ROOT_SCOPE:
            scope = self.state.scopes[scope_id]
            chain.append(scope)
            scope_id = scope.parent_id
        return chain

    def variables(self, scope_id: str) -> dict[str, JsonValue]:
        """The variables visible in a scope: root, overlaid by each enclosing scope."""
        merged = dict(self.state.variables)
        for scope in reversed(self._scope_chain(scope_id)):
            merged.update(scope.variables)
        return merged

    def _set(self, scope_id: str, name: str, value: JsonValue) -> None:
        self._wrote = True
        chain = self._scope_chain(scope_id)
        for scope in chain:
            if name in scope.variables:
                scope.variables[name] = value
                return
        for scope in chain:
            if scope.key is not None:
                scope.variables[name] = value
                return
        self.state.variables[name] = value

    def _eval(
        self,
        source: str,
        element_id: str,
        scope_id: str,
        *,
        always: bool = False,
        extra: dict[str, JsonValue] | None = None,
    ) -> JsonValue:
        expression = self.model.expression(source, element_id, always=always)
        variables = self.variables(scope_id)
        if extra:
            variables.update(extra)
        return expression.evaluate(
            variables,
            now=self.now,
            tz=self.model.tz,
            reference=self.model.source.reference,
            budget=self.limits.expression_cost,
        )

    def _check_variables_size(self) -> None:
        size = variables_bytes(self.state)
        if size > self.limits.max_variables_bytes and self.patched(CASE_LIMITS_PATCH):
            raise ModelFailure(
                "limit",
                f"the case's variables would take {size:,} bytes, more than the "
                f"{self.limits.max_variables_bytes:,} allowed (NIVA_LIMITS_MAX_VARIABLES_BYTES)",
            )

    def _eval_list(self, value: str | None, element_id: str, scope_id: str) -> list[str]:
        if not value:
            return []
        if not value.lstrip().startswith("="):
            return split_list(value)
        result = self._eval(value, element_id, scope_id)
        if isinstance(result, str):
            return split_list(result)
        if isinstance(result, list):
            return [str(item) for item in result]
        raise ExpressionError(
            "must yield a string or a list of strings", expression=value, element_id=element_id
        )

    def _add(self, t: datetime, duration: IsoDuration) -> datetime:
        return add_duration(t, duration, self.model.tz)

    # --- tokens ---------------------------------------------------------------------------

    def _new_token(self, node_id: str, scope_id: str, via: str | None = None) -> Token:
        token = Token(id=self.state.next_id("t"), node_id=node_id, scope_id=scope_id, via_flow=via)
        self.state.tokens[token.id] = token
        return token

    def _step(self, token: Token) -> None:
        node = self.model.node(token.node_id)
        if token.phase == "complete":
            self._atomically(node.id, lambda: self._complete_phase(token, node), token.id)
        else:
            self._atomically(node.id, lambda: self._enter(token, node), token.id)

    def _atomically(
        self, element_id: str, action: Callable[[], None], token_id: str | None = None
    ) -> bool:
        """Run one step of the model; if the model fails it (an expression, a timer value,
        a gateway with no way out), undo the whole step and park it in an incident.

        Undoing matters: a step that failed half-way (an activity created, one boundary
        timer armed, the next one failing) must not leave its first half behind, or the
        retry would run it twice. Returns True when the step succeeded.
        """
        snapshot = self.state.checkpoint()
        effects = len(self._effects)
        self._wrote = False
        try:
            action()
            if self._wrote:
                self._check_variables_size()
        except (ExpressionError, TimerSpecError, ModelFailure) as exc:
            self.state = snapshot
            del self._effects[effects:]
            kind = exc.kind if isinstance(exc, ModelFailure) else "expression"
            if token_id is not None and token_id in self.state.tokens:
                self.state.tokens[token_id].status = "incident"
            self._incident(kind, element_id, str(exc), token_id=token_id)
            return False
        return True

    def _enter(self, token: Token, node: FlowNode) -> None:
        kind = node.kind
        if kind == "startEvent":
            self._leave(token, node)
        elif kind in ("endEvent", "intermediateThrowEvent") and self._has_service(node):
            self._enter_activity(token, node)
        elif kind == "endEvent":
            self._end_event(token, node)
        elif kind == "intermediateThrowEvent":
            self._leave(token, node)
        elif kind == "exclusiveGateway":
            self._exclusive(token, node)
        elif kind == "parallelGateway":
            self._parallel(token, node)
        elif kind == "eventBasedGateway":
            token.status = "waiting"
            for flow in self.model.outgoing(node.id):
                target = self.model.node(flow.target_ref or "")
                self._arm_catch(target, owner=token.id, scope_id=token.scope_id)
        elif kind == "intermediateCatchEvent":
            token.status = "waiting"
            self._arm_catch(node, owner=token.id, scope_id=token.scope_id)
        elif node.loop is not None and token.activity_id is None:
            self._enter_multi_instance(token, node)
        elif node.is_activity:
            self._enter_activity(token, node)
        else:
            raise ModelFailure("gateway", f"{kind} is not executable")

    def _leave(self, token: Token, node: FlowNode, flows: list[Any] | None = None) -> None:
        outgoing = self.model.outgoing(node.id) if flows is None else flows
        token.phase = "enter"
        token.activity_id = None
        token.payload = None
        token.result = None
        if not outgoing:
            self._consume(token)
            return
        first, *rest = outgoing
        if (
            rest
            and len(self.state.tokens) + len(rest) > self.limits.max_tokens
            and self.patched(CASE_LIMITS_PATCH)
        ):
            raise ModelFailure(
                "limit",
                f"forking here would make more than {self.limits.max_tokens} tokens "
                "(NIVA_LIMITS_MAX_TOKENS): a loop through a parallel fork?",
            )
        for flow in rest:
            self._new_token(flow.target_ref or "", token.scope_id, via=flow.id)
        token.node_id = first.target_ref or ""
        token.via_flow = first.id
        token.status = "ready"

    def _consume(self, token: Token) -> None:
        self.state.tokens.pop(token.id, None)
        self._check_scope(token.scope_id)

    # --- gateways -------------------------------------------------------------------------

    def _exclusive(self, token: Token, node: FlowNode) -> None:
        outgoing = self.model.outgoing(node.id)
        if len(outgoing) <= 1:
            self._leave(token, node)
            return
        for flow in outgoing:
            if flow.id == node.default_flow or flow.condition is None:
                continue
            expression = self.model.expression(flow.condition.body, flow.id, always=True)
            variables = self.variables(token.scope_id)
            if expression.evaluate_bool(
                variables,
                now=self.now,
                tz=self.model.tz,
                reference=self.model.source.reference,
                budget=self.limits.expression_cost,
            ):
                self._leave(token, node, [flow])
                return
        default = next((f for f in outgoing if f.id == node.default_flow), None)
        if default is None:
            raise ModelFailure(
                "gateway",
                "no condition of the exclusive gateway holds and it has no default flow",
            )
        self._leave(token, node, [default])

    def _parallel(self, token: Token, node: FlowNode) -> None:
        incoming = self.model.incoming(node.id)
        if len(incoming) <= 1:
            self._leave(token, node)
            return
        token.status = "waiting"
        arrived: dict[str, Token] = {}
        for other in self.state.tokens.values():
            if (
                other.node_id == node.id
                and other.scope_id == token.scope_id
                and other.status == "waiting"
                and other.via_flow not in arrived
            ):
                arrived[other.via_flow or ""] = other
        if all(flow.id in arrived for flow in incoming):
            for flow in incoming:
                if arrived[flow.id].id != token.id:
                    self.state.tokens.pop(arrived[flow.id].id)
            self._leave(token, node)

    # --- events ---------------------------------------------------------------------------

    def _end_event(self, token: Token, node: FlowNode) -> None:
        kinds = node.event_kinds()
        if "terminate" in kinds:
            scope_id = token.scope_id
            self.state.tokens.pop(token.id, None)
            self._clear_scope(scope_id, keep_scope=True)
            if scope_id == ROOT_SCOPE:
                self._end(node.name or node.id)
            else:
                self._check_scope(scope_id)
            return
        if "error" in kinds:
            self._throw_at_end(token, node)
            return
        self.state.tokens.pop(token.id, None)
        # The last end event reached names the outcome, also when it ends an (event)
        # subprocess whose completion ends the case.
        self.state.outcome = node.name or node.id
        self._check_scope(token.scope_id)

    def _arm_catch(self, node: FlowNode, *, owner: str, scope_id: str) -> None:
        """Arm what a catch event (or receive task) waits for, owned by ``owner``."""
        if any(d.kind == "timer" for d in node.event_definitions):
            self._arm_timer(node, owner, scope_id)
        name = self.model.message_name(node)
        if name is not None:
            self._subscribe(node, name, owner, scope_id)

    def _subscribe(self, node: FlowNode, name: str, owner: str, scope_id: str) -> None:
        sub = node.niva.subscription
        subscription = Subscription(
            id=self.state.next_id("s"),
            element_id=node.id,
            message_name=name,
            owner=owner,
            candidate_groups=self._eval_list(
                sub.candidate_groups if sub else None, node.id, scope_id
            ),
            candidate_orgs=self._eval_list(sub.candidate_orgs if sub else None, node.id, scope_id),
        )
        self.state.subscriptions[subscription.id] = subscription

    def _deliver_buffered(self) -> bool:
        """Hand a buffered message to a subscription that now waits for it (one per call).

        Delivered here, between steps, not while the subscribing element is still being
        entered: a buffered message may interrupt the very activity that subscribed.
        """
        for message in self.state.buffered:
            subscription = next(
                (
                    s
                    for s in self.state.subscriptions.values()
                    if s.message_name == message.name and self._admits(s, message)
                ),
                None,
            )
            if subscription is None:
                # Nothing waits for it, or nothing it may reach: it stays until it expires.
                continue
            self.state.buffered.remove(message)
            self._audit(
                "message",
                element_id=subscription.element_id,
                actor=message.actor,
                org=message.org,
                detail=message.name,
                payload_digest=payload_digest(message.payload),
            )
            deliver = partial(
                self._trigger,
                subscription.element_id,
                subscription.owner,
                message.payload,
                message.actor,
            )
            self._atomically(subscription.element_id, deliver)
            return True
        return False

    def _admits(self, subscription: Subscription, message: BufferedMessage) -> bool:
        """Whether the sender of a buffered message is a candidate of ``subscription``."""
        if not self.patched(MESSAGE_SENDERS_PATCH):
            return True  # cases recorded before the patch delivered to any subscription
        sender = Actor(subject=message.actor or "", org=message.org, roles=message.roles)
        return may_act(sender, subscription.candidate_groups, subscription.candidate_orgs)

    def _expire_buffered(self) -> None:
        kept = []
        for message in self.state.buffered:
            if message.expires > self.now:
                kept.append(message)
            else:
                # An accepted message is never dropped without a trace.
                self._audit(
                    "message_expired",
                    detail=message.name,
                    actor=message.actor,
                    org=message.org,
                    payload_digest=payload_digest(message.payload),
                )
        self.state.buffered = kept

    def _trigger(
        self, element_id: str, owner: str, payload: dict[str, JsonValue] | None, actor: str | None
    ) -> None:
        """A timer fired or a message arrived for ``element_id``, armed by ``owner``."""
        node = self.model.node(element_id)
        if node.kind == "boundaryEvent":
            activity = self.state.activities.get(owner)
            if activity is None:
                return
            if node.cancel_activity:
                self._interrupt(activity)
            token = self._new_token(node.id, activity.scope_id)
            self._arrive_with(token, node, payload, actor)
        elif node.kind == "receiveTask" and owner in self.state.activities:
            self._finish_activity(self.state.activities[owner], payload=payload or {})
        elif node.kind == "startEvent":
            self._start_event_subprocess(node, owner, payload, actor)
        elif owner in self.state.tokens:
            token = self.state.tokens[owner]
            self._disarm(owner)
            token.node_id = node.id
            self._arrive_with(token, node, payload, actor)

    def _arrive_with(
        self,
        token: Token,
        node: FlowNode,
        payload: dict[str, JsonValue] | None,
        actor: str | None,
    ) -> None:
        """A catch event was triggered: park the token in its ``complete`` phase with the
        message payload (if any), so the next `run` maps the outputs and leaves."""
        token.phase = "complete"
        token.payload = payload
        token.actor = actor
        token.status = "ready"

    def _disarm(self, owner: str) -> None:
        for timer_id in [t.id for t in self.state.timers.values() if t.owner == owner]:
            del self.state.timers[timer_id]
        for sub_id in [s.id for s in self.state.subscriptions.values() if s.owner == owner]:
            del self.state.subscriptions[sub_id]

    # --- timers ---------------------------------------------------------------------------

    def _timer_value(self, node: FlowNode) -> tuple[str, str]:
        for definition in node.event_definitions:
            timer = definition.timer
            if timer is not None:
                return timer[0], timer[1].body.strip()
        raise ModelFailure("expression", f"timer event {node.id} has no timer value")

    def _fire_at(
        self, node: FlowNode, scope_id: str, armed_at: datetime, fired: int
    ) -> datetime | None:
        """When the timer fires: its nominal time, on a working day where the calendar says."""
        nominal = self._nominal_fire_at(node, scope_id, armed_at, fired)
        return None if nominal is None else self._on_working_day(node, nominal)

    def _nominal_fire_at(
        self, node: FlowNode, scope_id: str, armed_at: datetime, fired: int
    ) -> datetime | None:
        kind, value = self._timer_value(node)
        spec: TimerSpec
        if kind == "timeCycle":
            spec = self._cycle_spec(node, scope_id, armed_at)
        elif value.startswith("="):
            if fired:
                return None
            return self.model.expression(value, node.id).evaluate_timer(
                self.variables(scope_id),
                now=armed_at,
                tz=self.model.tz,
                reference=self.model.source.reference,
                budget=self.limits.expression_cost,
            )
        else:
            spec = self.model.timer_spec(node.id, kind, value)
        return next_fire(spec, armed_at=armed_at, fired=fired, tz=self.model.tz)

    def _cycle_spec(self, node: FlowNode, scope_id: str, armed_at: datetime) -> TimerSpec:
        """A timeCycle as written or computed, refused below the minimum period (a cycle of
        seconds would write history for as long as the case lives)."""
        _, value = self._timer_value(node)
        if value.startswith("="):
            spec = self.model.expression(value, node.id).evaluate_cycle(
                self.variables(scope_id),
                now=armed_at,
                tz=self.model.tz,
                reference=self.model.source.reference,
                budget=self.limits.expression_cost,
            )
        else:
            spec = self.model.timer_spec(node.id, "timeCycle", value)
        try:
            check_cycle_period(spec, self.limits.min_cycle_period)
        except TimerSpecError:
            if self.patched(CASE_LIMITS_PATCH):
                raise
        return spec

    def _on_working_day(self, node: FlowNode, nominal: datetime) -> datetime:
        """A boundary timer's time under the process's working-day calendar, if it has one:
        a deadline (interrupting) that ends on a non-working day moves to the end of the
        next working day, a reminder (non-interrupting) to the working day before unless
        that has passed. The move is recorded once per run in the trail."""
        calendar = self.model.calendar
        if calendar is None or node.kind != "boundaryEvent" or node.niva.calendar == NO_CALENDAR:
            return nominal
        moved = on_working_day(calendar, nominal, self.model.tz, deadline=node.cancel_activity)
        if moved is None or moved.effective <= self.now:
            return nominal
        detail = f"{nominal.isoformat()} -> {moved.effective.isoformat()}: {moved.note}"
        if not any(
            e.kind == "working_day" and e.element_id == node.id and e.detail == detail
            for e in self.state.audit
        ):
            self._audit("working_day", element_id=node.id, detail=detail)
        return moved.effective

    def nominal_fire_at(self, timer: Timer) -> datetime | None:
        """The time a pending timer would fire without the calendar (None when it cannot
        be computed now); equal to ``timer.fire_at`` when the calendar did not move it."""
        node = self.model.node(timer.element_id)
        try:
            return self._nominal_fire_at(
                node, self._timer_scope(timer), timer.armed_at, timer.fired
            )
        except (ExpressionError, TimerSpecError):
            return None

    def _arm_timer(self, node: FlowNode, owner: str, scope_id: str) -> Timer | None:
        fire_at = self._fire_at(node, scope_id, self.now, 0)
        if fire_at is None:
            return None
        timer = Timer(
            id=self.state.next_id("timer"),
            element_id=node.id,
            owner=owner,
            fire_at=fire_at,
            armed_at=self.now,
        )
        self.state.timers[timer.id] = timer
        return timer

    def _timer_scope(self, timer: Timer) -> str:
        if timer.owner in self.state.activities:
            return self.state.activities[timer.owner].scope_id
        if timer.owner in self.state.tokens:
            return self.state.tokens[timer.owner].scope_id
        return timer.owner  # an event subprocess start, owned by its scope

    def _fire_timer(self, timer: Timer) -> None:
        node = self.model.node(timer.element_id)
        timer.fired += 1
        self._audit("timer", element_id=node.id, detail=timer.fire_at.isoformat())
        try:
            following = self._fire_at(node, self._timer_scope(timer), timer.armed_at, timer.fired)
        except (ExpressionError, TimerSpecError):
            following = None
        is_cycle = self._timer_value(node)[0] == "timeCycle"
        if (
            is_cycle
            and following is not None
            and following <= self.now
            and self.patched(CASE_LIMITS_PATCH)
        ):
            following = self._after_missed(timer, node)
        if is_cycle and following is not None:
            timer.fire_at = following
        else:
            self.state.timers.pop(timer.id, None)
        self._atomically(node.id, lambda: self._trigger(node.id, timer.owner, None, None))

    def _after_missed(self, timer: Timer, node: FlowNode) -> datetime | None:
        """A cycle that fired late (after downtime) fires once: the repetitions that fell
        due meanwhile are skipped, and it next fires at the first one after now."""
        scope_id = self._timer_scope(timer)
        try:
            spec = self._cycle_spec(node, scope_id, timer.armed_at)
            timer.fired += missed_firings(
                spec, armed_at=timer.armed_at, fired=timer.fired, now=self.now, tz=self.model.tz
            )
            return self._fire_at(node, scope_id, timer.armed_at, timer.fired)
        except (ExpressionError, TimerSpecError):
            return None

    def recompute_timers(self) -> None:
        """Re-evaluate timers defined by expressions after the variables changed; a timer
        whose fire time moves is re-armed and the move recorded in the trail."""
        for timer in list(self.state.timers.values()):
            node = self.model.node(timer.element_id)
            if not self._timer_value(node)[1].startswith("="):
                continue
            try:
                fire_at = self._fire_at(node, self._timer_scope(timer), timer.armed_at, timer.fired)
            except (ExpressionError, TimerSpecError):
                continue  # keep the old time; the expression may need more variables
            if fire_at is not None and fire_at != timer.fire_at:
                self._audit(
                    "deadline_moved",
                    element_id=node.id,
                    detail=f"{timer.fire_at.isoformat()} -> {fire_at.isoformat()}",
                )
                timer.fire_at = fire_at
        for activity in self.state.activities.values():
            if activity.kind == "userTask":
                activity.due = self._due(activity)

    def _due(self, activity: Activity) -> datetime | None:
        deadlines = [
            t.fire_at
            for t in self.state.timers.values()
            if t.owner == activity.id and self.model.node(t.element_id).cancel_activity
        ]
        if activity.parent_activity is not None:
            deadlines += [
                t.fire_at
                for t in self.state.timers.values()
                if t.owner == activity.parent_activity
                and self.model.node(t.element_id).cancel_activity
            ]
        return min(deadlines) if deadlines else None

    # --- activities -------------------------------------------------------------------------

    def _task_id(self, element_id: str, key: str | None) -> str:
        counter = element_id if key is None else f"{element_id}:{key}"
        visit = self.state.visits.get(counter, 0) + 1
        self.state.visits[counter] = visit
        return counter if visit == 1 else f"{counter}#{visit}"

    def _has_service(self, node: FlowNode) -> bool:
        definition = node.niva.task_definition
        return definition is not None and bool(definition.type)

    def _is_service_event(self, activity: Activity) -> bool:
        return activity.kind in ("endEvent", "intermediateThrowEvent")

    def _enter_activity(
        self,
        token: Token,
        node: FlowNode,
        *,
        key: str | None = None,
        parent_activity: str | None = None,
    ) -> Activity:
        activity = Activity(
            id=self._task_id(node.id, key),
            element_id=node.id,
            kind=node.kind,
            name=node.name,
            scope_id=token.scope_id,
            token_id=token.id,
            created=self.now,
            key=key,
            parent_activity=parent_activity,
        )
        token.activity_id = activity.id
        token.status = "waiting"
        self.state.activities[activity.id] = activity
        if parent_activity is None:
            for boundary in self.model.boundary_events(node.id):
                self._arm_catch(boundary, owner=activity.id, scope_id=token.scope_id)
        kind = node.kind
        if kind == "userTask":
            assignment = node.niva.assignment
            if assignment is not None:
                activity.candidate_groups = self._eval_list(
                    assignment.candidate_groups, node.id, token.scope_id
                )
                activity.candidate_orgs = self._eval_list(
                    assignment.candidate_orgs, node.id, token.scope_id
                )
            for org in activity.candidate_orgs:
                self._participate(org)
            activity.form_key = node.niva.form.key if node.niva.form else None
            activity.due = self._due(activity)
        elif kind in _SERVICE_KINDS or self._is_service_event(activity):
            self._start_service(activity, node)
        elif kind == "receiveTask":
            name = self.model.message_name(node)
            if name is not None:
                self._subscribe(node, name, activity.id, token.scope_id)
        elif kind == "subProcess":
            scope = Scope(
                id=self.state.next_id("scope"),
                element_id=node.id,
                parent_id=token.scope_id,
                activity_id=activity.id,
            )
            self.state.scopes[scope.id] = scope
            activity.inner_scope = scope.id
            for mapping in node.niva.inputs:
                if mapping.target:
                    scope.variables[mapping.target] = self._eval(
                        mapping.source or "", node.id, token.scope_id
                    )
            self._arm_event_subprocesses(node.id, scope.id)
            start = self.model.none_start(node.id)
            if start is None:
                raise ModelFailure("start", f"subprocess {node.id} has no start event")
            self._new_token(start.id, scope.id)
        elif kind == "callActivity":
            self._start_child(activity, node)
        elif kind in _PASS_THROUGH_KINDS:
            self._finish_activity(activity)
        else:
            raise ModelFailure("gateway", f"{kind} is not executable")
        return activity

    def _inputs(self, activity: Activity, node: FlowNode) -> dict[str, JsonValue]:
        return {
            mapping.target: self._eval(mapping.source or "", node.id, activity.scope_id)
            for mapping in node.niva.inputs
            if mapping.target
        }

    def _start_service(self, activity: Activity, node: FlowNode) -> None:
        definition = node.niva.task_definition
        assert definition is not None
        assert definition.type
        timeout = None
        if definition.timeout:
            timeout = IsoDuration.parse(definition.timeout).exact.total_seconds()
        self._effects.append(
            StartService(
                activity_id=activity.id,
                attempt=activity.attempt,
                type=definition.type,
                element_id=node.id,
                name=node.name,
                inputs=self._inputs(activity, node),
                retries=int(definition.retries) if definition.retries else None,
                timeout_seconds=timeout,
            )
        )

    def _start_child(self, activity: Activity, node: FlowNode) -> None:
        called = node.niva.called_element
        process_id = (called.process_id if called else None) or node.called_element or ""
        if process_id.startswith("="):
            process_id = str(self._eval(process_id, node.id, activity.scope_id))
        if self.depth + 1 > self.limits.max_call_depth and self.patched(CASE_LIMITS_PATCH):
            raise ModelFailure(
                "limit",
                f"this case is {self.depth} calls deep; calling {process_id} would exceed "
                f"the {self.limits.max_call_depth} allowed (NIVA_LIMITS_MAX_CALL_DEPTH): "
                "does the process call itself?",
            )
        suffix = activity.id.removeprefix(node.id)  # [:key][#n]
        business_key = f"{self.state.business_key}{suffix}"
        workflow_id = f"{process_id}:{business_key}"
        activity.child_workflow_id = workflow_id
        if workflow_id not in self.state.children:
            self.state.children.append(workflow_id)
        version = int(called.version) if called and called.version else None
        self._effects.append(
            StartChild(
                activity_id=activity.id,
                process_id=process_id,
                version=version,
                workflow_id=workflow_id,
                business_key=business_key,
                title=f"{self.state.title} — {node.name or node.id}",
                variables=self._inputs(activity, node) or self.variables(activity.scope_id),
                detached=bool(called and called.detached),
            )
        )
        if called is not None and called.detached:
            self._finish_activity(activity)

    def _finish_activity(
        self,
        activity: Activity,
        *,
        payload: dict[str, JsonValue] | None = None,
        result: JsonValue = None,
    ) -> None:
        """The activity's work is done: disarm it, and let its token map outputs."""
        self.state.activities.pop(activity.id, None)
        self._disarm(activity.id)
        if activity.inner_scope is not None:
            self.state.scopes.pop(activity.inner_scope, None)
        token = self.state.tokens[activity.token_id]
        token.phase = "complete"
        token.payload = payload
        token.result = result
        token.status = "ready"

    def _complete_phase(self, token: Token, node: FlowNode) -> None:
        """Map outputs of a finished activity or received message, then move on."""
        outputs = node.niva.outputs
        extra: dict[str, JsonValue] = {"payload": token.payload or {}, "result": token.result}
        if outputs:
            values = [
                (m.target, self._eval(m.source or "", node.id, token.scope_id, extra=extra))
                for m in outputs
                if m.target
            ]
            for target, value in values:
                self._set(token.scope_id, target, value)
        elif token.payload:
            for name, value in token.payload.items():
                self._set(token.scope_id, name, value)
        scope = self.state.scopes.get(token.scope_id)
        if (
            scope is not None
            and scope.key is not None
            and scope.element_id == node.id
            and node.loop is not None
        ):
            self._instance_done(token, node, scope)
            return
        if node.kind == "endEvent":
            # An end event that ran a task (a message end) ends like any other end event.
            token.phase = "enter"
            token.activity_id = None
            self._end_event(token, node)
            return
        self._leave(token, node)

    def _interrupt(self, activity: Activity) -> None:
        """Cancel an activity and everything inside it; its token is removed."""
        self.state.activities.pop(activity.id, None)
        self._disarm(activity.id)
        if activity.kind in _SERVICE_KINDS or self._is_service_event(activity):
            self._effects.append(CancelService(activity_id=activity.id))
        if activity.kind == "callActivity" and activity.child_workflow_id:
            self._effects.append(
                CancelChild(activity_id=activity.id, workflow_id=activity.child_workflow_id)
            )
        for incident_id in [
            i.id for i in self.state.incidents.values() if i.activity_id == activity.id
        ]:
            del self.state.incidents[incident_id]
        if activity.inner_scope is not None:
            self._clear_scope(activity.inner_scope)
        if activity.multi is not None:
            self._interrupt_instances(activity.multi)
        self._drop_token(activity.token_id)
        if activity.parent_activity is None:
            return
        # A multi-instance instance also owns its instance scope.
        for scope in [s for s in self.state.scopes.values() if s.activity_id == activity.id]:
            self._clear_scope(scope.id)

    def _drop_token(self, token_id: str) -> None:
        """Remove a token an interruption ends. A submission accepted for it but not mapped
        yet (its outputs parked in an incident) is not dropped silently: the trail records
        it as discarded."""
        token = self.state.tokens.pop(token_id, None)
        if token is not None and token.phase == "complete" and token.payload is not None:
            completed = self.state.completed_tasks.get(token.activity_id or "")
            self._audit(
                "submission_discarded",
                element_id=token.node_id,
                task_id=token.activity_id,
                actor=completed.actor if completed is not None else token.actor,
                payload_digest=payload_digest(token.payload),
                detail="accepted, then discarded when an interrupting event ended the element",
            )

    def _clear_scope(self, scope_id: str, *, keep_scope: bool = False) -> None:
        """Remove every token, activity, timer and subscription of a scope, recursively."""
        for activity in [a for a in self.state.activities.values() if a.scope_id == scope_id]:
            if activity.id in self.state.activities:
                self._interrupt(activity)
        for token in [t for t in self.state.tokens.values() if t.scope_id == scope_id]:
            self._disarm(token.id)
            self._drop_token(token.id)
        for incident_id in [
            i.id
            for i in self.state.incidents.values()
            if i.token_id is not None
            and i.token_id not in self.state.tokens
            and i.activity_id is None
        ]:
            del self.state.incidents[incident_id]
        self._disarm(scope_id)
        for child in [s for s in self.state.scopes.values() if s.parent_id == scope_id]:
            self._clear_scope(child.id)
        if not keep_scope:
            self.state.scopes.pop(scope_id, None)

    def _check_scope(self, scope_id: str) -> None:
        """End a scope whose last token is gone: the case, or the activity owning it."""
        if any(t.scope_id == scope_id for t in self.state.tokens.values()):
            return
        if scope_id == ROOT_SCOPE:
            self._end(self.state.outcome or "completed")
            return
        scope = self.state.scopes.get(scope_id)
        if scope is None or scope.key is not None:
            return  # multi-instance scopes end with their instance's token
        activity = self.state.activities.get(scope.activity_id)
        if activity is not None:
            self._disarm(scope_id)
            self._finish_activity(activity)

    def _end(self, outcome: str) -> None:
        self.state.ended = True
        self.state.outcome = outcome
        self.state.timers.clear()
        self.state.subscriptions.clear()
        self._audit("ended", detail=outcome)

    # --- multi-instance -------------------------------------------------------------------

    def _enter_multi_instance(self, token: Token, node: FlowNode) -> None:
        loop = node.loop
        assert loop is not None
        items: list[JsonValue]
        niva_loop = loop.niva_loop
        if niva_loop is not None and niva_loop.input_collection:
            collection = self._eval(niva_loop.input_collection, node.id, token.scope_id)
            if isinstance(collection, dict):
                items = [collection[k] for k in sorted(collection)]
            elif isinstance(collection, list):
                items = list(collection)
            else:
                raise ExpressionError(
                    "inputCollection must yield a list",
                    expression=niva_loop.input_collection,
                    element_id=node.id,
                )
        elif loop.loop_cardinality is not None:
            count = self._eval(loop.loop_cardinality.body, node.id, token.scope_id, always=True)
            if not isinstance(count, int) or count < 0:
                raise ExpressionError(
                    "loopCardinality must yield a whole number",
                    expression=loop.loop_cardinality.body,
                    element_id=node.id,
                )
            items = list(range(count))
        else:
            raise ModelFailure("expression", "multi-instance has no collection")
        if len(items) > self.limits.max_multi_instance and self.patched(CASE_LIMITS_PATCH):
            raise ModelFailure(
                "limit",
                f"the multi-instance would create {len(items):,} instances, more than the "
                f"{self.limits.max_multi_instance:,} allowed (NIVA_LIMITS_MAX_MULTI_INSTANCE)",
            )
        keys = [_item_key(item, index) for index, item in enumerate(items)]
        self._wrote = True  # the items are a copy of the collection, carried in the state
        body = Activity(
            id=self._task_id(node.id, None),
            element_id=node.id,
            kind="multiInstanceBody",
            name=node.name,
            scope_id=token.scope_id,
            token_id=token.id,
            created=self.now,
            multi=MultiInstanceState(keys=keys, items=items, sequential=loop.is_sequential),
        )
        token.activity_id = body.id
        token.status = "waiting"
        self.state.activities[body.id] = body
        if niva_loop is not None and niva_loop.output_collection:
            self._set(token.scope_id, niva_loop.output_collection, {})
        for boundary in self.model.boundary_events(node.id):
            self._arm_catch(boundary, owner=body.id, scope_id=token.scope_id)
        if not items:
            self._finish_multi_instance(body)
            return
        batch = 1 if loop.is_sequential else len(items)
        if (
            node.kind in _THROTTLED_KINDS
            and batch > self.limits.max_in_flight
            and self.patched(CASE_LIMITS_PATCH)
        ):
            # Temporal allows 2,000 pending activities or children per run: start the
            # others as running ones complete (`_instance_done`).
            batch = self.limits.max_in_flight
        for _ in range(batch):
            self._start_instance(body, node)

    def _start_instance(self, body: Activity, node: FlowNode) -> None:
        multi = body.multi
        assert multi is not None
        assert node.loop is not None
        index = multi.next_index
        multi.next_index += 1
        key, item = multi.keys[index], multi.items[index]
        scope = Scope(
            id=self.state.next_id("scope"),
            element_id=node.id,
            parent_id=body.scope_id,
            activity_id=body.id,
            key=key,
        )
        niva_loop = node.loop.niva_loop
        if niva_loop is not None and niva_loop.input_element:
            scope.variables[niva_loop.input_element] = item
        scope.variables["loopCounter"] = index + 1
        self.state.scopes[scope.id] = scope
        token = self._new_token(node.id, scope.id)
        instance = self._enter_activity(token, node, key=key, parent_activity=body.id)
        scope.activity_id = instance.id
        multi.running.append(instance.id)

    def _instance_done(self, token: Token, node: FlowNode, scope: Scope) -> None:
        body = next(
            a
            for a in self.state.activities.values()
            if a.multi is not None and a.element_id == node.id and a.scope_id == scope.parent_id
        )
        multi = body.multi
        assert multi is not None
        assert node.loop is not None
        niva_loop = node.loop.niva_loop
        if niva_loop is not None and niva_loop.output_collection:
            element = niva_loop.output_element
            # Like every output mapping, the element sees what the instance was completed
            # with (``payload``) and its activity's ``result``.
            extra: dict[str, JsonValue] = {"payload": token.payload or {}, "result": token.result}
            value: JsonValue = (
                self._eval(element, node.id, scope.id, extra=extra)
                if element
                else dict(scope.variables)
            )
            collection = self.variables(body.scope_id).get(niva_loop.output_collection)
            collected = dict(collection) if isinstance(collection, dict) else {}
            collected[scope.key or ""] = value
            self._set(body.scope_id, niva_loop.output_collection, collected)
        self.state.tokens.pop(token.id, None)
        self.state.scopes.pop(scope.id, None)
        multi.running = [r for r in multi.running if r != scope.activity_id]
        multi.completed += 1
        condition = node.loop.completion_condition
        done = False
        if condition is not None:
            variables = {
                "numberOfInstances": len(multi.keys),
                "numberOfCompletedInstances": multi.completed,
                "numberOfActiveInstances": len(multi.running),
            }
            expression = self.model.expression(condition.body, node.id, always=True)
            done = expression.evaluate_bool(
                {**self.variables(body.scope_id), **variables},
                now=self.now,
                tz=self.model.tz,
                reference=self.model.source.reference,
                budget=self.limits.expression_cost,
            )
        if done:
            self._interrupt_instances(multi)
            multi.running = []
        more = not done and multi.next_index < len(multi.keys)
        if more and not (multi.sequential and multi.running):
            # The next sequential instance, or one held back by max_in_flight.
            self._start_instance(body, node)
            return
        if multi.running:
            return
        self._finish_multi_instance(body)

    def _interrupt_instances(self, multi: MultiInstanceState) -> None:
        """End every running instance of a multi-instance body, also one whose work is done
        but whose outputs wait in an incident: its scope and token go too (the trail keeps
        what was submitted for it)."""
        for instance_id in list(multi.running):
            instance = self.state.activities.get(instance_id)
            if instance is not None:
                self._interrupt(instance)
                continue
            for scope in [s for s in self.state.scopes.values() if s.activity_id == instance_id]:
                self._clear_scope(scope.id)

    def _finish_multi_instance(self, body: Activity) -> None:
        self.state.activities.pop(body.id, None)
        self._disarm(body.id)
        token = self.state.tokens[body.token_id]
        token.phase = "enter"
        token.activity_id = None
        self._leave(token, self.model.node(body.element_id))

    # --- errors ---------------------------------------------------------------------------

    def _catching_boundary(
        self, activity: Activity, code: str, *, code_first: bool = False
    ) -> FlowNode | None:
        """The error boundary of ``activity`` that catches ``code``: the first in the model
        naming it or catching every error, or with ``code_first`` one naming it before one
        catching every error."""
        boundaries = [
            (boundary, self.model.error_code(boundary))
            for boundary in self.model.boundary_events(activity.element_id)
            if "error" in boundary.event_kinds()
        ]
        if code_first:
            boundaries.sort(key=lambda pair: pair[1] is None)  # stable: model order kept
        for boundary, caught in boundaries:
            if caught is None or caught == code:
                return boundary
        return None

    def _catching_event_subprocess(self, scope_id: str, code: str) -> FlowNode | None:
        """The error start event of an event subprocess of the scope that catches ``code``:
        one naming the code first, else one catching every error."""
        if scope_id == ROOT_SCOPE:
            container_id = self.model.process.id
        else:
            scope = self.state.scopes.get(scope_id)
            if scope is None or scope.key is not None:
                return None  # a multi-instance instance holds no event subprocess
            container_id = scope.element_id
        if container_id not in self.model.containers:
            return None
        starts = [
            start
            for sub in self.model.event_subprocesses(container_id)
            if sub.subprocess is not None
            for start in sub.subprocess.start_events()
            if "error" in start.event_kinds()
        ]
        codes = [self.model.error_code(start) for start in starts]
        for wanted in (code, None):
            for start, caught in zip(starts, codes, strict=True):
                if caught == wanted:
                    return start
        return None

    def _throw_error(self, activity: Activity, code: str, message: str) -> None:
        """A BPMN error thrown by ``activity``; uncaught, it parks the activity in an
        incident (its token stays), and a retry runs the activity again."""
        if not self.patched(ERROR_PROPAGATION_PATCH):
            self._throw_error_unpatched(activity, code, message)
            return
        if not self._propagate_error(activity, activity.scope_id, code, message):
            activity.status = "incident"
            self._incident(
                "error",
                activity.element_id,
                f"uncaught BPMN error {code}: {message}",
                activity_id=activity.id,
            )

    def _throw_at_end(self, token: Token, node: FlowNode) -> None:
        """An error end event: the error leaves the token's scope. Uncaught, the token stays
        at the end event in an incident; a retry runs the end event, throwing again (to be
        caught if the model or the case has changed since), so the case waits for an
        operator rather than for nothing."""
        code = self.model.error_code(node) or node.id
        message = f"error end event {node.id}"
        if not self.patched(ERROR_PROPAGATION_PATCH):
            self.state.tokens.pop(token.id, None)
            self._throw_from_scope(token.scope_id, code, message)
            return
        if self._propagate_error(None, token.scope_id, code, message):
            self.state.tokens.pop(token.id, None)
            return
        token.status = "incident"
        self._incident(
            "error", node.id, f"uncaught BPMN error {code}: {message}", token_id=token.id
        )

    def _propagate_error(
        self, thrower: Activity | None, scope_id: str, code: str, message: str
    ) -> bool:
        """Hand a BPMN error to its innermost catcher and run it; False if none catches it.

        Innermost first: the thrower's error boundary (a multi-instance instance's is its
        body's), then an error-start event subprocess of the enclosing scope, then that
        scope's owner's boundary, and so on out to the process. An error thrown inside an
        event subprocess is not caught by the event subprocesses beside it (one catching
        every error would otherwise catch its own error for ever).
        """
        holder = thrower
        if thrower is not None and thrower.parent_activity is not None:
            holder = self.state.activities.get(thrower.parent_activity) or thrower
        while True:
            skip_scope = False
            if holder is not None:
                boundary = self._catching_boundary(holder, code, code_first=True)
                if boundary is not None:
                    boundary_scope = holder.scope_id
                    self._interrupt(holder)
                    token = self._new_token(boundary.id, boundary_scope)
                    self._audit("error_caught", element_id=boundary.id, detail=f"{code}: {message}")
                    self._arrive_with(token, boundary, None, None)
                    return True
                scope_id = holder.scope_id
                skip_scope = self.model.node(holder.element_id).triggered_by_event
            start = None if skip_scope else self._catching_event_subprocess(scope_id, code)
            if start is not None:
                self._audit("error_caught", element_id=start.id, detail=f"{code}: {message}")
                self._start_event_subprocess(start, scope_id, None, None)
                return True
            scope = self.state.scopes.get(scope_id) if scope_id != ROOT_SCOPE else None
            owner = self.state.activities.get(scope.activity_id) if scope is not None else None
            if owner is None:
                return False
            holder = owner
            if owner.parent_activity is not None:
                holder = self.state.activities.get(owner.parent_activity) or owner

    def _throw_error_unpatched(self, activity: Activity, code: str, message: str) -> None:
        """How cases recorded before `ERROR_PROPAGATION_PATCH` threw: boundary events only,
        the thrower interrupted first."""
        holder = (
            self.state.activities.get(activity.parent_activity)
            if activity.parent_activity
            else None
        ) or activity
        boundary = self._catching_boundary(holder, code)
        if boundary is not None:
            scope_id = holder.scope_id
            self._interrupt(holder)
            token = self._new_token(boundary.id, scope_id)
            self._audit("error_caught", element_id=boundary.id, detail=f"{code}: {message}")
            self._arrive_with(token, boundary, None, None)
            return
        self._interrupt(holder)
        self._throw_from_scope(holder.scope_id, code, message)

    def _throw_from_scope(self, scope_id: str, code: str, message: str) -> None:
        """The unpatched outward search: an unbound incident when nothing catches."""
        if scope_id == ROOT_SCOPE:
            self._incident("error", self.model.process.id, f"uncaught BPMN error {code}: {message}")
            return
        scope = self.state.scopes[scope_id]
        owner = self.state.activities.get(scope.activity_id)
        if owner is None:
            self._incident("error", scope.element_id, f"uncaught BPMN error {code}: {message}")
            return
        self._throw_error_unpatched(owner, code, message)

    # --- event subprocesses ---------------------------------------------------------------

    def _arm_event_subprocesses(self, container_id: str, scope_id: str) -> None:
        for sub in self.model.event_subprocesses(container_id):
            assert sub.subprocess is not None
            for start in sub.subprocess.start_events():
                self._arm_catch(start, owner=scope_id, scope_id=scope_id)

    def _start_event_subprocess(
        self,
        start: FlowNode,
        scope_id: str,
        payload: dict[str, JsonValue] | None,
        actor: str | None,
    ) -> None:
        sub_id = self.model.container_id[start.id]
        sub = self.model.node(sub_id)
        if start.is_interrupting:
            self._clear_scope(scope_id, keep_scope=True)
        elif not self.patched(EVENT_SUBPROCESS_REARM_PATCH):
            self._arm_catch(start, owner=scope_id, scope_id=scope_id)
        # A non-interrupting start stays armed as it is: its message subscription is not
        # consumed by a delivery, and a timeCycle timer is moved on when it fires, while a
        # timeDuration or timeDate timer has fired its one time.
        holder = self._new_token(sub.id, scope_id)
        activity = Activity(
            id=self._task_id(sub.id, None),
            element_id=sub.id,
            kind="subProcess",
            name=sub.name,
            scope_id=scope_id,
            token_id=holder.id,
            created=self.now,
        )
        holder.activity_id = activity.id
        holder.status = "waiting"
        self.state.activities[activity.id] = activity
        inner = Scope(
            id=self.state.next_id("scope"),
            element_id=sub.id,
            parent_id=scope_id,
            activity_id=activity.id,
        )
        self.state.scopes[inner.id] = inner
        activity.inner_scope = inner.id
        token = self._new_token(start.id, inner.id)
        self._arrive_with(token, start, payload, actor)

    # --- bookkeeping ------------------------------------------------------------------------

    def _incident(
        self,
        kind: IncidentKind,
        element_id: str,
        message: str,
        *,
        token_id: str | None = None,
        activity_id: str | None = None,
    ) -> None:
        incident = Incident(
            id=self.state.next_id("incident"),
            element_id=element_id,
            token_id=token_id,
            activity_id=activity_id,
            kind=kind,
            message=message,
            created=self.now,
        )
        self.state.incidents[incident.id] = incident
        self._audit("incident", element_id=element_id, detail=message)

    def _participate(self, org: str | None) -> None:
        if org and org not in self.state.participants:
            self.state.participants.append(org)

    def _audit(self, kind: str, **fields: Any) -> None:
        self.state.audit.append(
            AuditEntry(at=self.now, kind=kind, model_version=self.state.version, **fields)
        )


def _item_key(item: JsonValue, index: int) -> str:
    """A multi-instance key: the item itself if a string, else its ``id``, else the index."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("id"), str | int):
        return str(item["id"])
    return str(index)
