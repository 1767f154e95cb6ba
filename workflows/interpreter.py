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
- An escalation (an escalation end or intermediate throw event) is caught the same way, by
  escalation boundaries and escalation-start event subprocesses, interrupting or not;
  uncaught in a called case, it passes to the call activity in the caller
  (`EscalateToCaller`, taken there by `child_escalated`) and on outwards; caught nowhere,
  the trail records it and the thrower goes on.
- An inclusive join fires when no token of its scope can still reach one of its incoming
  flows that no token has arrived by (`workflows.flow_graph`), checked whenever no token
  is ready.
- Compensation (`workflows.compensation`): completing an activity with a compensation
  handler installs its compensation; a compensation throw or end event waits while the
  handlers of its scope's completed activities run one after another, last first.
- A signal (`workflows.signals`) is taken through `receive_signal` by the subscriptions
  whose candidates admit its broadcaster; a signal throw or end event broadcasts through an
  activity (`THROW_SIGNAL`) its token waits for, like a service task.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from pydantic import JsonValue

from process_models.bpmn.zeebe import split_candidate_groups
from process_models.calendars import (
    NO_CALENDAR,
    CalendarSnapshot,
    CalendarYears,
    WorkingCalendar,
    extension_wanted,
    on_working_day,
    with_extension,
)
from process_models.errors import ExpressionError, TimerSpecError
from process_models.expressions import is_expression
from process_models.limits import DEFAULT_LIMITS, EngineLimits
from process_models.links import link_name
from process_models.schema import Expression, FlowNode, SequenceFlow
from process_models.timers import (
    IsoDuration,
    TimerSpec,
    add_duration,
    check_cycle_period,
    missed_firings,
    next_fire,
)
from workflows.candidates import Actor, may_act
from workflows.compensation import Compensator
from workflows.conditions import conditional_definition, seen_digest
from workflows.effects import (
    CancelChild,
    CancelService,
    Effect,
    EscalateToCaller,
    StartChild,
    StartService,
)
from workflows.listeners import (
    LISTENER_KIND,
    Listeners,
    body_of,
    corrected,
    hold_instance,
    instance_scope,
    starting_tokens,
)
from workflows.model import ExecutableModel, split_list
from workflows.signals import (
    DEFAULT_BROADCASTERS,
    TAKEN_SIGNALS_KEPT,
    THROW_SIGNAL,
    ThrowSignalInputs,
    signal_name,
)
from workflows.state import (
    ROOT_SCOPE,
    Activity,
    AuditEntry,
    BufferedMessage,
    CompletedTask,
    ConditionSubscription,
    Incident,
    IncidentKind,
    InstanceState,
    MultiInstanceState,
    Scope,
    SignalSubscription,
    Subscription,
    Timer,
    Token,
)

__all__ = [
    "CASE_LIMITS_PATCH",
    "CORRELATION_KEYS_PATCH",
    "DETACHED_START_PATCH",
    "ERROR_PROPAGATION_PATCH",
    "ESCALATION_TO_CALLER_PATCH",
    "EVENT_SUBPROCESS_REARM_PATCH",
    "IN_FLIGHT_PER_CASE_PATCH",
    "MESSAGE_SENDERS_PATCH",
    "MULTI_INSTANCE_BODY_PATCH",
    "Interpreter",
    "ModelFailure",
    "ModificationRefusedError",
    "TriggerMemory",
    "json_bytes",
    "payload_digest",
    "variables_bytes",
]

_SERVICE_KINDS = frozenset({"serviceTask", "sendTask"})
# Kinds a Camunda 8 model may implement as a job (a zeebe:taskDefinition) instead.
_JOB_CAPABLE_KINDS = frozenset({"scriptTask", "businessRuleTask"})
_PASS_THROUGH_KINDS = frozenset({"task", "manualTask"})
# Kinds whose Camunda 8 input mappings are local variables set on entry (a service's are
# set when its job starts, a subprocess's and a call's go to their own scope or child).
_LOCAL_INPUT_KINDS = frozenset(
    {"userTask", "scriptTask", "businessRuleTask", "receiveTask", "task", "manualTask"}
)
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
IN_FLIGHT_PER_CASE_PATCH = "niva-in-flight-per-case"
"""``max_in_flight`` bounds the service activities and child cases running in the whole
case (before: the instances of each parallel multi-instance body alone, so two bodies, a
fork or nested multi-instances could pass Temporal's 2,000 pending activities). Asked only
when the bound is reached."""
DETACHED_START_PATCH = "niva-detached-start"
"""A detached call activity waits until its child case has started (not until it ends):
a child that cannot start (its id taken, its model unknown) is an incident on the call
activity, as for an attached one. Before, the token went on at once and a failed start
was only logged."""
CORRELATION_KEYS_PATCH = "niva-correlation-keys"
"""A subscription's correlation key is evaluated when it opens; a message published with a
key (``POST /messages``) reaches only the subscriptions holding that key."""
START_HANDLERS_PATCH = "niva-start-handlers-incident"
"""When the process's event subprocesses cannot be armed at start (a computed timer that
fails), the incident is bound to the start token, and its retry arms them again (before:
an incident bound to nothing, whose retry armed nothing). Asked only when arming fails."""
MULTI_INSTANCE_BODY_PATCH = "niva-multi-instance-own-body"
"""A multi-instance instance that completes counts for its own body, also when several
bodies of the activity run side by side in one scope (before: the first of them, which
could finish early while the other waited for an instance that was gone). Asked only
when several run."""
CHILD_IDS_PATCH = "niva-child-ids-by-element"
"""Two call activities that may call the same process give their children different ids
(the caller's element id after ``#`` in the child's business key); before, the second
child's id was taken by the first (an incident while both ran). Asked only for such call
activities."""
ERROR_PROPAGATION_PATCH = "niva-error-propagation"
"""BPMN errors caught by error-start event subprocesses too; uncaught, an incident on the
activity (or error end event) that threw."""
ESCALATION_TO_CALLER_PATCH = "niva-escalation-to-caller"
"""An escalation a called case does not catch passes to the call activity in its caller
(before: recorded as uncaught in the child alone). Asked only when a case started by a
call activity throws an escalation nothing in it catches."""
RETRY_LOCAL_VARIABLES_PATCH = "niva-retry-local-variables"
"""A retry's corrected variable named as a local variable of the incident's element (a
start listener's result, a Camunda 8 task's input mapping) replaces that local (before:
it went to the case, where the local still shadowed it, so the retry failed again). Asked
only when a corrected variable meets such a local."""


TriggerMemory = dict[tuple[str, str], tuple[datetime, int]]
"""When the timers of each ``(owner, element id)`` were armed and how often they fired
(`Interpreter.rearm_waits`)."""


class ModificationRefusedError(ValueError):
    """An operator's modification does not fit the case (`Interpreter.modify`)."""


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
    """The size of a case's variables as JSON: the root's, every scope's, the items of
    every multi-instance activity (a copy of its collection, carried in the state), and the
    payloads of the buffered messages (they travel in the state too, and become variables
    when delivered)."""
    return (
        json_bytes(state.variables)
        + sum(json_bytes(scope.variables) for scope in state.scopes.values())
        + sum(json_bytes(a.multi.items) for a in state.activities.values() if a.multi)
        + sum(json_bytes(message.payload) for message in state.buffered)
        + sum(json_bytes(entry.variables) for entry in state.compensable)
    )


def _json_kind(value: JsonValue) -> str:
    """``null``, ``a boolean``, ``a list`` or ``an object``: a JSON value's kind, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a list" if isinstance(value, list) else "an object"


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
        self.compensator = Compensator(self)
        self.listeners = Listeners(self)
        self.now: datetime = datetime.min
        self.patched: Callable[[str], bool] = lambda _patch_id: True
        """Whether a behaviour change applies (`workflow.patched` in a case, so histories
        recorded before the change replay the old way; always true elsewhere)."""
        self._latest_calendar_year: int | None = None
        """The latest year a timer of this run fell in beyond the calendar's years."""
        self._extended: tuple[int, WorkingCalendar | None, Mapping[str, Any]] | None = None
        """The calendar and reference data with the case's extra years, by their count."""
        self._kept_conditions: dict[tuple[str, str], ConditionSubscription] = {}
        """The conditional events armed before a migration (`rearm_waits`)."""
        self._listener_view: tuple[str, dict[str, JsonValue]] | None = None
        """While an event or gateway runs: its scope and its start listeners' variables,
        which `variables` shows over the scope's (`_enter`)."""

    # --- public API -----------------------------------------------------------------------

    @property
    def calendar(self) -> WorkingCalendar | None:
        """The process's working-day calendar with the years the case added to it."""
        return self._with_years()[1]

    @property
    def reference(self) -> Mapping[str, Any]:
        """The version's reference data for expressions, its calendar with the case's
        added years."""
        return self._with_years()[2]

    def _with_years(self) -> tuple[int, WorkingCalendar | None, Mapping[str, Any]]:
        years = self.state.calendar_years
        if self._extended is None or self._extended[0] != len(years):
            base, reference = self.model.calendar, self.model.source.reference
            if base is not None and years:
                extended = base.extended(years)
                self._extended = (len(years), extended, with_extension(reference, years))
            else:
                self._extended = (len(years), base, reference)
        return self._extended

    def calendar_years_wanted(self, now: datetime) -> CalendarYears | None:
        """The calendar years the case should add before it goes on: its clock comes near
        the end of the years it knows, or a timer fell beyond them (`extension_wanted`)."""
        year = now.astimezone(self.model.tz).year
        return extension_wanted(self.calendar, year, self._latest_calendar_year)

    def extend_calendar(self, years: CalendarSnapshot, now: datetime) -> None:
        """Add the calendar ``years`` (from ``niva.calendar_years``, recorded in the
        history), and count again the pending timers whose day lay beyond the old ones."""
        self.now = now
        before = self.calendar
        self.state.calendar_years.update(years.days)
        self._latest_calendar_year = None
        self._audit(
            "calendar_extended",
            detail=f"{years.calendar} {years.first_year}..{years.last_year} ({years.source})",
        )
        if before is None:
            return
        for timer in list(self.state.timers.values()):
            nominal = self.nominal_fire_at(timer)
            if nominal is None or nominal.astimezone(self.model.tz).year + 1 <= before.last_year:
                continue
            timer.fire_at = self._on_working_day(self.model.node(timer.element_id), nominal)
        for activity in self.state.activities.values():
            if activity.due is not None:
                activity.due = self._due(activity)

    def calendar_not_extended(self, wanted: CalendarYears, reason: str, now: datetime) -> None:
        """The calendar years could not be had: the trail says so; those years count
        Saturdays and Sundays only."""
        self.now = now
        self._latest_calendar_year = None
        self._audit(
            "calendar_not_extended",
            detail=f"{wanted.calendar} {wanted.first_year}..{wanted.last_year}: {reason}; "
            "beyond the calendar's years only Saturdays and Sundays are skipped",
        )

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
        armed = self._atomically(
            process_id, lambda: self._arm_event_subprocesses(process_id, ROOT_SCOPE)
        )
        token = self._new_token(node.id, ROOT_SCOPE)
        if not armed and self.patched(START_HANDLERS_PATCH):
            # The start token waits in the incident, so that the case waits for something
            # an operator can retry, and the retry arms the handlers (`retry_incident`).
            incident = list(self.state.incidents.values())[-1]
            incident.token_id = token.id
            token.status = "incident"

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
            if token is None and not self.state.ended and self._fire_inclusive_join():
                continue
            # Only a case with armed conditional events evaluates anything here.
            if (
                token is None
                and not self.state.ended
                and self.state.condition_subscriptions
                and self._check_conditions()
            ):
                continue
            if token is None or self.state.ended:
                if self.state.held and not self.state.ended:
                    self._release_held()
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
        return [
            a
            for a in self.state.activities.values()
            # A task whose completing listeners run is completed already for everyone.
            if a.kind == "userTask" and a.id not in self.state.completed_tasks
        ]

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
        if not self.listeners.completing(activity, payload):
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
        correlation_key: str | None = None,
    ) -> list[str]:
        """Deliver a message to every subscription of that name; buffer it if none waits
        and the model declares a ``ttl`` for it. Returns the receiving element ids.

        A message with a ``correlation_key`` (published by key) reaches only the
        subscriptions that hold that key, and is never buffered in the case: the publisher
        keeps it (`workflows.publication`).

        The update validator has checked the sender (`message_candidates`). A buffered
        message keeps its sender (``roles`` too), so delivery can check it again."""
        self.now = now
        waiting = self.waiting_subscriptions(name, correlation_key)
        if not self.patched(MESSAGE_SENDERS_PATCH):
            # Before the patch, sending made the sender's organisation a participant.
            self._participate(org)
        if not waiting and correlation_key is not None:
            return []
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

    def waiting_subscriptions(
        self, name: str, correlation_key: str | None = None
    ) -> list[Subscription]:
        """The open subscriptions to message ``name``; with a ``correlation_key``, only
        those holding that key."""
        return [
            s
            for s in self.state.subscriptions.values()
            if s.message_name == name
            and (correlation_key is None or s.correlation_key == correlation_key)
        ]

    def message_candidates(
        self, name: str, correlation_key: str | None = None
    ) -> list[tuple[list[str], list[str]]]:
        """Who may send message ``name`` now, as ``(groups, orgs)`` rules (any one admits).

        The candidates of the subscriptions that wait for it; when none waits (the message
        would be buffered), those of every element of the model that subscribes to it,
        evaluated in the root scope. An element whose candidates cannot be evaluated there
        (an ``=`` expression over a subprocess's or an instance's variables) admits no one:
        such a message can only be sent while its subscription waits. A message with a
        ``correlation_key`` is never buffered in the case: only the subscriptions waiting
        with that key say who may send it.
        """
        waiting = self.waiting_subscriptions(name, correlation_key)
        if waiting or correlation_key is not None:
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

    # --- signals (`workflows.signals`) ------------------------------------------------------

    def signal_receivers(self, name: str, broadcaster: Actor) -> list[SignalSubscription]:
        """The open subscriptions to signal ``name`` whose candidates admit ``broadcaster``."""
        return [
            s
            for s in self.state.signal_subscriptions.values()
            if s.signal_name == name and may_act(broadcaster, s.candidate_groups, s.candidate_orgs)
        ]

    def waiting_signals(self) -> list[str]:
        """Signal names a subscription waits for now, sorted."""
        return sorted({s.signal_name for s in self.state.signal_subscriptions.values()})

    def receive_signal(
        self,
        broadcast_id: str,
        name: str,
        variables: dict[str, JsonValue],
        *,
        broadcaster: Actor,
        now: datetime,
    ) -> list[str]:
        """Take a broadcast: trigger every subscription to ``name`` that admits the
        broadcaster (the update validator has checked that one does), each with the
        broadcast's variables as its payload. Returns the receiving element ids, which
        the case keeps by ``broadcast_id`` (the latest `TAKEN_SIGNALS_KEPT`)."""
        self.now = now
        received: list[str] = []
        for subscription in self.signal_receivers(name, broadcaster):
            # An earlier trigger of this broadcast may have closed this one (an interrupting
            # event ending the activity it was attached to).
            if subscription.id not in self.state.signal_subscriptions:
                continue
            self._audit(
                "signal",
                element_id=subscription.element_id,
                actor=broadcaster.subject,
                org=broadcaster.org,
                detail=name,
                payload_digest=payload_digest(variables),
            )
            trigger = partial(
                self._trigger,
                subscription.element_id,
                subscription.owner,
                dict(variables),
                broadcaster.subject,
            )
            if self._atomically(subscription.element_id, trigger):
                received.append(subscription.element_id)
        taken = self.state.signals_taken
        taken[broadcast_id] = received
        for oldest in list(taken)[: max(0, len(taken) - TAKEN_SIGNALS_KEPT)]:
            del taken[oldest]
        return received

    def _subscribe_signal(self, node: FlowNode, name: str, owner: str, scope_id: str) -> None:
        """Wait for signal ``name`` at ``node``: from the candidates of its
        ``niva:subscription``, or `DEFAULT_BROADCASTERS` when it names none."""
        sub = node.niva.subscription
        groups = self._eval_list(sub.candidate_groups if sub else None, node.id, scope_id)
        orgs = self._eval_list(sub.candidate_orgs if sub else None, node.id, scope_id)
        subscription = SignalSubscription(
            id=self.state.next_id("s"),
            element_id=node.id,
            signal_name=name,
            owner=owner,
            candidate_groups=groups if groups or orgs else list(DEFAULT_BROADCASTERS),
            candidate_orgs=orgs,
        )
        self.state.signal_subscriptions[subscription.id] = subscription

    def _signal_name(self, node: FlowNode, scope_id: str) -> str | None:
        """The signal ``node`` waits for or throws; a computed name (``name="=…"``, which
        Camunda 8 allows) evaluated now in the file's dialect, as a correlation key is when
        its subscription opens. A failing or non-string result fails the step: an incident
        on the token."""
        name = signal_name(self.model.definitions, node)
        if name is None or not is_expression(name):
            return name
        value = self._eval(name, node.id, scope_id)
        if not isinstance(value, str) or not value:
            raise ExpressionError(
                # The kind, not the value: incidents are shown where variables never are.
                "the signal name must be a non-empty string, not "
                + ("an empty string" if value == "" else _json_kind(value)),
                expression=name,
                element_id=node.id,
            )
        return value

    def _throw_signal(self, activity: Activity, node: FlowNode) -> None:
        """Broadcast the signal of a throw or end event: an activity (`THROW_SIGNAL`) the
        token waits for, so a broadcast that cannot be made is an incident to retry. Its
        variables are the event's input mappings (Zeebe's rule), none without."""
        name = self._signal_name(node, activity.scope_id)
        assert name is not None
        inputs = ThrowSignalInputs(name=name, variables=self._inputs(activity, node))
        self._start(
            StartService(
                activity_id=activity.id,
                attempt=activity.attempt,
                type=THROW_SIGNAL,
                element_id=node.id,
                name=node.name,
                inputs=inputs.model_dump(mode="json"),
                retries=None,
                timeout_seconds=None,
                scope_id=activity.scope_id,
            )
        )

    def service_succeeded(
        self, activity_id: str, result: JsonValue, now: datetime, *, merge: bool = False
    ) -> None:
        """A service task's activity returned ``result``.

        With ``merge`` (a job's result variables, a JSON object) the result is also the
        task's payload: its fields merge into the variables unless the task maps outputs,
        as a completed user task's do (Zeebe's rule for job variables).
        """
        self.now = now
        activity = self.state.activities.get(activity_id)
        if activity is not None and activity.kind == LISTENER_KIND:
            self.listeners.succeeded(activity, result)
        elif activity is not None:
            payload = result if merge and isinstance(result, dict) else None
            self._finish_activity(activity, payload=payload, result=result)

    def service_failed(
        self,
        activity_id: str,
        *,
        error_code: str | None,
        message: str,
        now: datetime,
        variables: dict[str, JsonValue] | None = None,
    ) -> None:
        """A service activity failed: a BPMN error (with code, and the error's
        ``variables`` for the catching event) or exhausted retries."""
        self.now = now
        activity = self.state.activities.get(activity_id)
        if activity is None:
            return
        if activity.kind == LISTENER_KIND:
            self.listeners.failed(activity, error_code, message)
        elif error_code is not None:
            self._throw_error(activity, error_code, message, variables)
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

    def child_started(self, activity_id: str, now: datetime) -> None:
        """A detached call activity's child case started: the activity is done."""
        self.now = now
        activity = self.state.activities.get(activity_id)
        if activity is not None:
            self._finish_activity(activity)

    def child_escalated(self, child_workflow_id: str, code: str, now: datetime) -> None:
        """A child case passed on an escalation it did not catch (Camunda 8's rule): it
        escalates from the call activity that waits on that child, as if thrown there,
        innermost first (`_propagate_escalation`); uncaught here too, it passes on to this
        case's caller, or is recorded. Nothing waits on that child any more (the call
        activity has ended, or a later visit started another child): the trail records
        it and nothing else happens."""
        self.now = now
        call = next(
            (
                a
                for a in self.state.activities.values()
                if a.kind == "callActivity"
                and a.child_workflow_id == child_workflow_id
                and a.status == "active"
            ),
            None,
        )
        if call is None:
            self._audit(
                "escalation_ignored",
                detail=f"{code} from {child_workflow_id}: no call activity of this case "
                "waits on that case",
            )
            return
        self._audit(
            "escalation_from_child", element_id=call.element_id, task_id=call.id, detail=code
        )
        self._atomically(call.element_id, lambda: self._escalate_from_call(call, code))

    def _escalate_from_call(self, call: Activity, code: str) -> None:
        holder = call
        if call.parent_activity is not None:
            holder = self.state.activities.get(call.parent_activity) or call
        if not self._propagate_escalation(holder.scope_id, code, holder=holder):
            self._escalation_uncaught(call.element_id, code)

    def child_failed(self, activity_id: str, message: str, now: datetime) -> None:
        """An attached child case failed or was cancelled, or a child case (attached or
        detached) could not start."""
        self.now = now
        activity = self.state.activities.get(activity_id)
        if activity is not None:
            activity.status = "incident"
            self._incident("child", activity.element_id, message, activity_id=activity.id)

    def retry_incident(
        self, incident_id: str, variables: dict[str, JsonValue], *, actor: str, now: datetime
    ) -> None:
        """Resolve an incident: apply corrected variables, then re-run what failed.

        A corrected variable named as a local variable of the incident's element (held by
        its token: a start listener's result, a Camunda 8 task's input mapping) replaces
        that local, as Operate edits the element instance's own scope; the others are set
        in the case's variables."""
        self.now = now
        incident = self.state.incidents.pop(incident_id)
        local = self._corrected_locals(incident, variables)
        self.state.variables.update(
            {name: value for name, value in variables.items() if name not in local}
        )
        self._audit(
            "incident_resolved",
            element_id=incident.element_id,
            actor=actor,
            detail=_corrected_detail(variables, local) if variables else None,
        )
        if self._watch_again(incident_id):
            return
        if incident.activity_id is not None:
            activity = self.state.activities.get(incident.activity_id)
            if activity is not None:
                self._atomically(activity.element_id, lambda: self._restart(activity))
        elif incident.token_id is not None and incident.token_id in self.state.tokens:
            token = self.state.tokens[incident.token_id]
            process_id = self.model.process.id
            at_start = self.model.node(token.node_id).kind == "startEvent"
            if incident.element_id == process_id and token.scope_id == ROOT_SCOPE and at_start:
                # The process's event subprocesses could not be armed at start.
                armed = self._atomically(
                    process_id,
                    lambda: self._arm_event_subprocesses(process_id, ROOT_SCOPE),
                    token_id=token.id,
                )
                if not armed:
                    return
            token.status = "ready"

    def _corrected_locals(self, incident: Incident, variables: dict[str, JsonValue]) -> list[str]:
        """Set the corrected ``variables`` named as local variables of the incident's
        element in its token's locals; their names (the others go to the case).

        The start listeners' variables layer over a task's inputs, which a restart
        evaluates again: a corrected input-mapping local is kept with them, so it
        survives that and stays the element's own (it ends when the token leaves)."""
        token_id = incident.token_id
        if incident.activity_id is not None and incident.activity_id in self.state.activities:
            token_id = self.state.activities[incident.activity_id].token_id
        token = self.state.tokens.get(token_id or "")
        if token is None:
            return []
        held = {**(token.locals or {}), **(token.listener_locals or {})}
        met = [name for name in variables if name in held]
        if not met or not self.patched(RETRY_LOCAL_VARIABLES_PATCH):
            return []
        corrected = {name: variables[name] for name in met}
        token.listener_locals = {**(token.listener_locals or {}), **corrected}
        if token.locals:
            token.locals = {
                **token.locals,
                **{name: value for name, value in corrected.items() if name in token.locals},
            }
        return met

    def _restart(self, activity: Activity) -> None:
        """Run a failed service task, call activity or listener again (after an incident)."""
        if activity.kind == LISTENER_KIND:
            self.listeners.restart(activity)
            return
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

    # --- migration and modification (`workflows.migration`) -------------------------------

    def rearm_waits(self, memory: TriggerMemory, fresh: frozenset[str], now: datetime) -> None:
        """Arm, from this interpreter's model, every timer and subscription the case waits
        on (after a migration rewrote its element ids and dropped the old ones).

        ``memory`` holds when each owner's timers were armed and how often they fired,
        by ``(owner, target element id)`` (``(owner, "")``: any timer of the owner), so a
        deadline that still applies stays where it was. Only what was armed before, or is
        ``fresh`` (a target element no source element maps to), is armed: a timer that
        already fired does not fire again. A boundary timer new in the target is armed from
        the activity's original start; an open user task gets its candidates and form from
        its (target) element; one already due fires on the next
        step (a cycle fires once for the firings it missed, as after downtime). A
        conditional event is armed again wherever the target has one, evaluated again
        before the case next waits (it fires if its condition turned true, not again if it
        held already at the same element).
        """
        self.now = now
        kept = self.state.condition_subscriptions
        self._kept_conditions = {(c.owner, c.element_id): c for c in kept.values()}
        self.state.condition_subscriptions = {}
        for activity in list(self.state.activities.values()):
            node = self.model.node(activity.element_id)
            if activity.parent_activity is None:
                for boundary in self.model.boundary_events(node.id):
                    self._rearm(
                        boundary, activity.id, activity.scope_id, memory, fresh, activity.created
                    )
            if activity.kind == "receiveTask":
                name = self.model.message_name(node)
                if name is not None:
                    self._subscribe(node, name, activity.id, activity.scope_id)
        for token in list(self.state.tokens.values()):
            if token.status != "waiting" or token.activity_id is not None:
                continue
            node = self.model.node(token.node_id)
            catches = [node] if node.kind == "intermediateCatchEvent" else []
            if node.kind == "eventBasedGateway":
                catches = [
                    self.model.node(f.target_ref or "") for f in self.model.outgoing(node.id)
                ]
            for catch in catches:
                self._rearm(catch, token.id, token.scope_id, memory, fresh, now)
        scopes = [(self.model.process.id, ROOT_SCOPE)]
        for scope in self.state.scopes.values():
            owner = self.state.activities.get(scope.activity_id)
            if owner is not None and owner.inner_scope == scope.id:
                scopes.append((scope.element_id, scope.id))
        for container_id, scope_id in scopes:
            for sub in self.model.event_subprocesses(container_id):
                assert sub.subprocess is not None
                for start in sub.subprocess.start_events():
                    self._rearm(start, scope_id, scope_id, memory, fresh, now)
        for activity in self.state.activities.values():
            if activity.kind == "userTask":
                # The target's element says who may complete it, and with which form.
                activity.candidate_groups, activity.candidate_orgs = [], []
                activity.candidate_users = []
                self._offer(activity, self.model.node(activity.element_id))
                activity.due = self._due(activity)

    def _rearm(
        self,
        node: FlowNode,
        owner: str,
        scope_id: str,
        memory: TriggerMemory,
        fresh: frozenset[str],
        armed_at: datetime,
    ) -> None:
        if conditional_definition(node) is not None:
            old = self._kept_conditions.get((owner, node.id))
            watch = self._watch_condition(node, owner, scope_id)
            if old is not None:
                watch.held, watch.incident_id = old.held, old.incident_id
        if (owner, node.id) not in memory and node.id not in fresh:
            return
        if any(d.kind == "timer" for d in node.event_definitions):
            kept = memory.get((owner, node.id))
            fired = 0
            if kept is not None:
                armed_at, fired = kept
            elif (owner, "") in memory and owner not in self.state.activities:
                armed_at = memory[(owner, "")][0]
            fire_at = self._fire_at(node, scope_id, armed_at, fired)
            if fire_at is not None:
                timer = Timer(
                    id=self.state.next_id("timer"),
                    element_id=node.id,
                    owner=owner,
                    fire_at=fire_at,
                    armed_at=armed_at,
                    fired=fired,
                )
                self.state.timers[timer.id] = timer
        name = self.model.message_name(node)
        if name is not None:
            self._subscribe(node, name, owner, scope_id)

    def modify(
        self,
        *,
        cancel: Sequence[str],
        start_before: Sequence[str],
        variables: Mapping[str, JsonValue],
        reason: str,
        actor: str,
        now: datetime,
    ) -> list[str]:
        """An operator's repair, all or nothing: cancel activities (by task id, or every
        one of an element) and tokens standing at an element, set root variables, and
        place a token before each element of ``start_before`` (moved by the next `run`).
        A subprocess left with no token is cancelled too. Returns what it did.

        Raises:
            ModificationRefusedError: a reference names nothing active, an element cannot
                take a token, or the case would be left with nothing to wait for; the state
                is then as it was.
        """
        self.now = now
        snapshot = self.state.checkpoint()
        effects = len(self._effects)
        try:
            done = self._modify(cancel, start_before)
        except ModificationRefusedError:
            self.state = snapshot
            del self._effects[effects:]
            raise
        self.state.variables.update(variables)
        if variables:
            done.append("variables set: " + ", ".join(sorted(variables)))
        self._audit("modified", actor=actor, detail=f"{reason} ({'; '.join(done)})")
        return done

    def _modify(self, cancel: Sequence[str], start_before: Sequence[str]) -> list[str]:
        done: list[str] = []
        for ref in cancel:
            done.extend(self._cancel_ref(ref))
        for element_id in start_before:
            node = self.model.nodes.get(element_id)
            if node is None or node.kind == "boundaryEvent" or node.triggered_by_event:
                raise ModificationRefusedError(
                    f"cannot start before {element_id!r}: "
                    + ("no such element" if node is None else f"a {node.kind} takes no token")
                )
            self._new_token(element_id, self._scope_for(element_id))
            done.append(f"started before {element_id}")
        while True:
            empty = [
                s
                for s in self.state.scopes.values()
                if s.key is None
                and s.activity_id in self.state.activities
                and not any(t.scope_id == s.id for t in self.state.tokens.values())
            ]
            if not empty:
                break
            self._interrupt(self.state.activities[empty[0].activity_id])
            done.append(f"cancelled {empty[0].activity_id} (nothing left in it)")
        if not self.state.tokens:
            raise ModificationRefusedError(
                "the case would be left with nothing to wait for: start a token somewhere "
                "(start_before), or cancel the case"
            )
        return done

    def _cancel_ref(self, ref: str) -> list[str]:
        activity = self.state.activities.get(ref)
        if activity is not None and activity.parent_activity is not None:
            raise ModificationRefusedError(
                f"{ref} is one instance of multi-instance {activity.parent_activity}: "
                "cancel the body"
            )
        activities = (
            [activity]
            if activity is not None
            else [
                a
                for a in self.state.activities.values()
                if a.element_id == ref and a.parent_activity is None
            ]
        )
        tokens = [
            t for t in self.state.tokens.values() if t.node_id == ref and t.activity_id is None
        ]
        if not activities and not tokens:
            raise ModificationRefusedError(f"nothing active at {ref!r} to cancel")
        for each in activities:
            if each.id in self.state.activities:
                self._interrupt(each)
        for token in tokens:
            self._disarm(token.id)
            self._drop_token(token.id)
            for incident_id in [
                i.id for i in self.state.incidents.values() if i.token_id == token.id
            ]:
                del self.state.incidents[incident_id]
        return [f"cancelled {a.id}" for a in activities] + [
            f"cancelled the token at {t.node_id}" for t in tokens
        ]

    def _scope_for(self, element_id: str) -> str:
        """The scope a token placed before ``element_id`` runs in: the root, or the one
        running instance of its enclosing subprocess."""
        container = self.model.container_id[element_id]
        if container == self.model.process.id:
            return ROOT_SCOPE
        scopes = [
            s.id
            for s in self.state.scopes.values()
            if s.element_id == container
            and s.key is None
            and s.activity_id in self.state.activities
        ]
        if len(scopes) != 1:
            raise ModificationRefusedError(
                f"cannot start before {element_id!r}: its subprocess {container!r} has "
                f"{len(scopes) or 'no'} running instance{'s' if len(scopes) > 1 else ''}; "
                f"start before {container!r} instead"
            )
        return scopes[0]

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
        if self._listener_view is not None and self._listener_view[0] == scope_id:
            merged.update(self._listener_view[1])
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
            reference=self.reference,
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

    def _eval_list(
        self,
        value: str | None,
        element_id: str,
        scope_id: str,
        *,
        extra: dict[str, JsonValue] | None = None,
    ) -> list[str]:
        if not value:
            return []
        if not value.lstrip().startswith("="):
            return split_list(value)
        result = self._eval(value, element_id, scope_id, extra=extra)
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
        if token.phase == "end":
            self._atomically(node.id, lambda: self.listeners.end_phase(token, node), token.id)
        elif token.phase == "complete":
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
        if self.listeners.starting(token, node):
            return  # the element starts once its start listeners have run
        if not token.listener_locals or (node.is_activity and node.kind != "callActivity"):
            self._run_element(token, node)
            return
        # The start listeners' variables are the element's local variables: an event's or
        # gateway's conditions, timers and subscriptions see them, and a call activity's
        # inputs and child (a task keeps them with its inputs, `_local_inputs`; a
        # subprocess in its scope).
        if node.kind == "callActivity":
            # Local to the call activity, they stay there when the child's variables merge.
            token.locals = {**(token.locals or {}), **token.listener_locals}
        self._listener_view = (token.scope_id, token.listener_locals)
        try:
            self._run_element(token, node)
        finally:
            self._listener_view = None

    def _run_element(self, token: Token, node: FlowNode) -> None:
        """Run what ``node`` does once its start listeners have run."""
        kind = node.kind
        if kind == "startEvent":
            if not self._maps_outputs_passing(token, node) and not self.listeners.ending(
                token, node
            ):
                self._leave(token, node)
        elif kind in ("endEvent", "intermediateThrowEvent") and self._has_service(node):
            self._enter_activity(token, node)
        elif kind in ("endEvent", "intermediateThrowEvent") and "compensate" in node.event_kinds():
            self.compensator.throw(token, node)
        elif kind == "endEvent":
            self._end_event(token, node)
        elif kind == "intermediateThrowEvent":
            self._intermediate_throw(token, node)
        elif kind == "exclusiveGateway":
            self._exclusive(token, node)
        elif kind == "inclusiveGateway":
            self._inclusive(token, node)
        elif kind == "parallelGateway":
            self._parallel(token, node)
        elif kind == "eventBasedGateway":
            token.status = "waiting"
            for flow in self.model.outgoing(node.id):
                target = self.model.node(flow.target_ref or "")
                self._arm_catch(target, owner=token.id, scope_id=token.scope_id)
        elif kind == "intermediateCatchEvent" and link_name(node) is not None:
            if not self.listeners.ending(token, node):
                self._leave(token, node)  # a link's catch: where a throw link jumps to
        elif kind == "intermediateCatchEvent":
            token.status = "waiting"
            self._arm_catch(node, owner=token.id, scope_id=token.scope_id)
        elif node.loop is not None and token.activity_id is None:
            scope = instance_scope(self.state, token, node)
            if scope is None:
                self._enter_multi_instance(token, node)
            else:
                self._enter_instance(token, node, scope)
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
        token.listeners_done = 0
        token.listener_locals = None
        token.process_listeners = False
        token.task_corrections = None
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
        if self.listeners.process_ending(token, self.model.node(token.node_id)):
            return  # the case ends once the process's end listeners have run
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
            if self._holds(flow, token.scope_id):
                self._leave(token, node, [flow])
                return
        default = next((f for f in outgoing if f.id == node.default_flow), None)
        if default is None:
            raise ModelFailure(
                "gateway",
                "no condition of the exclusive gateway holds and it has no default flow",
            )
        self._leave(token, node, [default])

    def _holds(self, flow: SequenceFlow, scope_id: str) -> bool:
        """Whether a sequence flow's condition holds in the scope."""
        assert flow.condition is not None
        expression = self.model.expression(flow.condition.body, flow.id, always=True)
        return expression.evaluate_bool(
            self.variables(scope_id),
            now=self.now,
            tz=self.model.tz,
            reference=self.reference,
            budget=self.limits.expression_cost,
        )

    def _inclusive(self, token: Token, node: FlowNode) -> None:
        """An inclusive gateway: a join waits (`_fire_inclusive_join` fires it when nothing
        else can arrive) and the token its firing made forks once the join's start
        listeners ran; a gateway with one incoming flow forks at once."""
        if node.id not in self.model.graph.upstream:
            self._inclusive_fork(token, node)
        elif token.listeners_done:
            # The join fired, and its start listeners run one after another.
            if not self.listeners.starting(token, node, joined=True):
                self._inclusive_fork(token, node)
        else:
            token.status = "waiting"

    def _fire_inclusive_join(self) -> bool:
        """Fire an inclusive join that may fire (`FlowGraph.join_to_fire`; asked when no
        token is ready, so every token stands where it waits). It takes one token of each
        incoming flow that has one; tokens that came by a flow taken already wait for the
        join's next firing. False when no join may fire."""
        if not self.model.graph.upstream:
            return False
        # Tokens earlier firings made, whose start listeners run, joined already.
        joined = starting_tokens(self.state)
        token = self.model.graph.join_to_fire(list(self.state.tokens.values()), joined)
        if token is None:
            return False
        node = self.model.node(token.node_id)

        def join() -> None:
            taken = {token.via_flow}
            for other in list(self.state.tokens.values()):
                if (
                    other.node_id == node.id
                    and other.scope_id == token.scope_id
                    and other.status == "waiting"
                    and other.via_flow not in taken
                    and other.id not in joined
                ):
                    taken.add(other.via_flow)
                    del self.state.tokens[other.id]
            if self.listeners.starting(token, node, joined=True):
                return  # the joined token forks once the gateway's start listeners ran
            self._inclusive_fork(token, node)

        # A fork with no way out parks the joined token in an incident, the others wait;
        # its retry arrives at the join again, which then fires again. (A join with start
        # listeners took the others when it fired: a later fork failure parks the joined
        # token alone, whose retry forks again, `_inclusive`.)
        self._atomically(node.id, join, token.id)
        return True

    def _inclusive_fork(self, token: Token, node: FlowNode) -> None:
        """Leave by every outgoing flow whose condition holds (validation wants one on
        every flow but the default; one without would always hold, as in BPMN); by the
        default flow when none does; else an incident."""
        outgoing = self.model.outgoing(node.id)
        if len(outgoing) <= 1:
            self._leave(token, node)
            return
        taken = [
            flow
            for flow in outgoing
            if flow.id != node.default_flow
            and (flow.condition is None or self._holds(flow, token.scope_id))
        ]
        if not taken:
            taken = [f for f in outgoing if f.id == node.default_flow]
        if not taken:
            raise ModelFailure(
                "gateway",
                "no condition of the inclusive gateway holds and it has no default flow",
            )
        self._leave(token, node, taken)

    def _parallel(self, token: Token, node: FlowNode) -> None:
        incoming = self.model.incoming(node.id)
        if len(incoming) <= 1:
            self._leave(token, node)
            return
        if token.listeners_done:
            # The join fired, and its start listeners run one after another.
            if not self.listeners.starting(token, node, joined=True):
                self._leave(token, node)
            return
        token.status = "waiting"
        # A token an earlier firing made, whose start listeners run, joined already: the
        # tokens that arrive meanwhile wait for the next firing.
        joined = starting_tokens(self.state) if node.niva.execution_listeners else frozenset()
        arrived: dict[str, Token] = {}
        for other in self.state.tokens.values():
            if (
                other.node_id == node.id
                and other.scope_id == token.scope_id
                and other.status == "waiting"
                and other.via_flow not in arrived
                and other.id not in joined
            ):
                arrived[other.via_flow or ""] = other
        if all(flow.id in arrived for flow in incoming):
            for flow in incoming:
                if arrived[flow.id].id != token.id:
                    self.state.tokens.pop(arrived[flow.id].id)
            if self.listeners.starting(token, node, joined=True):
                return  # the joined token leaves once the gateway's start listeners ran
            self._leave(token, node)

    # --- events ---------------------------------------------------------------------------

    def _end_event(self, token: Token, node: FlowNode) -> None:
        kinds = node.event_kinds()
        # In its end phase the event did its work already: its end listeners have run.
        done = token.phase == "end"
        if not done and "escalation" not in kinds and self.listeners.ending(token, node):
            return  # the event ends once its end listeners have run
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
        if "escalation" in kinds and not done:
            self._throw_escalation(token, node)
            if token.id not in self.state.tokens:
                return  # an interrupting catcher ended the scope it was in
            if self.listeners.ending(token, node):
                return
        if self.listeners.process_ending(token, node):
            return  # the case ends once the process's end listeners have run
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
        signal = self._signal_name(node, scope_id)
        if signal is not None:
            self._subscribe_signal(node, signal, owner, scope_id)
        if conditional_definition(node) is not None:
            self._watch_condition(node, owner, scope_id)

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
        if sub is not None and sub.correlation_key and self.patched(CORRELATION_KEYS_PATCH):
            subscription.correlation_key = self._correlation_key(
                sub.correlation_key, node.id, scope_id
            )
        self.state.subscriptions[subscription.id] = subscription

    def _correlation_key(self, source: str, element_id: str, scope_id: str) -> str:
        """A subscription's correlation key: a string, or a number written as text (as
        Zeebe accepts both). Anything else fails the step (an incident), as in Zeebe."""
        value: JsonValue = source
        if is_expression(source):
            value = self._eval(source, element_id, scope_id)
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str) or not value:
            raise ExpressionError(
                # The kind, not the value: incidents are shown where variables never are.
                "the correlation key must be a non-empty string or a number, not "
                + ("an empty string" if value == "" else _json_kind(value)),
                expression=source,
                element_id=element_id,
            )
        return value

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
        signals = self.state.signal_subscriptions
        for sub_id in [s.id for s in signals.values() if s.owner == owner]:
            del signals[sub_id]
        conditions = self.state.condition_subscriptions
        for watch in [c for c in conditions.values() if c.owner == owner]:
            del conditions[watch.id]
            # Its failed evaluation goes with it: nothing waits for that condition any more.
            if watch.incident_id is not None:
                self.state.incidents.pop(watch.incident_id, None)

    # --- conditional events (`workflows.conditions`) ---------------------------------------

    def _watch_condition(self, node: FlowNode, owner: str, scope_id: str) -> ConditionSubscription:
        """Arm a conditional event: its condition is evaluated before the case next waits
        (`_check_conditions`), so one that already holds fires then."""
        watch = ConditionSubscription(
            id=self.state.next_id("c"),
            element_id=node.id,
            owner=owner,
            scope_id=scope_id,
        )
        self.state.condition_subscriptions[watch.id] = watch
        return watch

    def _check_conditions(self) -> bool:
        """Evaluate each armed condition whose variables changed since it was last
        evaluated; fire the first that turned true. Returns whether anything changed (a
        trigger, or an incident), so the caller moves on and checks again."""
        for watch in list(self.state.condition_subscriptions.values()):
            if watch.incident_id is not None:
                continue  # waits for its retry
            node = self.model.node(watch.element_id)
            definition = conditional_definition(node)
            assert definition is not None
            variables = self.variables(watch.scope_id)
            seen = seen_digest(variables, definition.variable_names)
            if seen == watch.seen:
                continue
            watch.seen = seen
            try:
                holds = self._condition_holds(node, definition.condition, variables)
            except (ExpressionError, ModelFailure) as exc:
                self._condition_failed(watch, str(exc))
                return True
            turned_true = holds and not watch.held
            watch.held = holds
            if turned_true:
                self._audit("condition", element_id=node.id)
                trigger = partial(self._trigger, node.id, watch.owner, None, None)
                self._atomically(node.id, trigger)
                return True
        return False

    def _condition_holds(
        self, node: FlowNode, condition: Expression | None, variables: dict[str, JsonValue]
    ) -> bool:
        if condition is None:  # validation refuses it; a model read otherwise is still safe
            raise ModelFailure("expression", f"conditional event {node.id} has no condition")
        expression = self.model.expression(condition.body, node.id, always=True)
        return expression.evaluate_bool(
            variables,
            now=self.now,
            tz=self.model.tz,
            reference=self.reference,
            budget=self.limits.expression_cost,
        )

    def _condition_failed(self, watch: ConditionSubscription, message: str) -> None:
        """A condition that cannot be evaluated is an incident bound to the token that
        waits: the catch event's own (parked), or the token of the activity or subprocess
        the event is attached to, which goes on waiting. Its retry evaluates it again."""
        token_id: str | None = None
        token = self.state.tokens.get(watch.owner)
        if token is not None:
            token.status = "incident"
            token_id = token.id
        else:
            activity = self.state.activities.get(watch.owner)
            scope = self.state.scopes.get(watch.owner)
            if activity is None and scope is not None:
                activity = self.state.activities.get(scope.activity_id)
            if activity is not None:
                token_id = activity.token_id
        self._incident("expression", watch.element_id, message, token_id=token_id)
        watch.incident_id = list(self.state.incidents)[-1]

    def _watch_again(self, incident_id: str) -> bool:
        """A retried incident of a condition: evaluate the condition again before the case
        next waits. Returns False when the incident was no condition's."""
        watch = next(
            (
                c
                for c in self.state.condition_subscriptions.values()
                if c.incident_id == incident_id
            ),
            None,
        )
        if watch is None:
            return False
        watch.incident_id = None
        watch.seen = None
        token = self.state.tokens.get(watch.owner)
        if token is not None and token.status == "incident":
            token.status = "waiting"
        return True

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
                reference=self.reference,
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
                reference=self.reference,
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
        calendar = self.calendar
        if calendar is None or node.kind != "boundaryEvent" or node.niva.calendar == NO_CALENDAR:
            return nominal
        # A day in (or next to) a year the calendar lacks: the case asks for that year
        # before it waits (`calendar_years_wanted`), then counts this timer again.
        year = nominal.astimezone(self.model.tz).year + 1
        if year > calendar.last_year:
            self._latest_calendar_year = max(year, self._latest_calendar_year or year)
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
        """The element runs an activity: it names a task type, or throws a signal."""
        definition = node.niva.task_definition
        if definition is not None and definition.type:
            return True
        return self._throws_signal(node)

    def _throws_signal(self, node: FlowNode) -> bool:
        return node.kind in ("endEvent", "intermediateThrowEvent") and (
            signal_name(self.model.definitions, node) is not None
        )

    def _is_service_event(self, activity: Activity) -> bool:
        """A service run by an element that is not a service task: a message throw or end
        event with a task type, or a Camunda 8 script task implemented as a job."""
        if activity.kind in _JOB_CAPABLE_KINDS:
            return self._has_service(self.model.node(activity.element_id))
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
        if kind in _LOCAL_INPUT_KINDS and self._zeebe and not self._has_service(node):
            self._local_inputs(activity, node)
        if kind == "userTask":
            self._offer(activity, node)
            activity.due = self._due(activity)
        elif kind == "businessRuleTask" and node.niva.called_decision is not None:
            self._run_decision(activity, node)
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
                    self._assign(
                        scope.variables,
                        mapping.target,
                        self._eval(mapping.source or "", node.id, token.scope_id),
                    )
            if token.listener_locals:
                # The start listeners' variables are the subprocess's own (Zeebe's rule).
                scope.variables.update(token.listener_locals)
            self._arm_event_subprocesses(node.id, scope.id)
            start = self.model.none_start(node.id)
            if start is None:
                raise ModelFailure("start", f"subprocess {node.id} has no start event")
            self._new_token(start.id, scope.id)
        elif kind == "callActivity":
            self._start_child(activity, node)
        elif kind == "scriptTask" and node.niva.script is not None:
            self._run_script(activity, node)
        elif kind in _PASS_THROUGH_KINDS:
            self._finish_activity(activity)
        else:
            raise ModelFailure("gateway", f"{kind} is not executable")
        return activity

    def _offer(self, activity: Activity, node: FlowNode) -> None:
        """Evaluate who may complete a user task, and its form, from its element."""
        assignment = node.niva.assignment
        if assignment is not None:
            local = self._locals(activity)
            activity.candidate_groups = self._eval_list(
                assignment.candidate_groups, node.id, activity.scope_id, extra=local
            )
            activity.candidate_orgs = self._eval_list(
                assignment.candidate_orgs, node.id, activity.scope_id, extra=local
            )
            if assignment.org_candidates:
                self._org_candidates(activity, node)
            self._candidate_users(activity, node)
        token = self.state.tokens.get(activity.token_id)
        if token is not None and token.task_corrections:
            self._apply_corrections(activity, node, token.task_corrections)
        for org in activity.candidate_orgs:
            self._participate(org)
        activity.form_key = node.niva.form.key if node.niva.form else None

    def _apply_corrections(
        self, activity: Activity, node: FlowNode, corrections: dict[str, JsonValue]
    ) -> None:
        """Open a user task with what its creating listeners corrected (Camunda 8,
        `workflows.listeners.corrected`): corrected candidate groups are read as the
        model's are (``org:`` names an organisation)."""
        model_groups = activity.candidate_groups + activity.candidate_orgs
        users, groups = corrected(corrections, activity.candidate_users, model_groups)
        activity.candidate_users = users
        if groups != model_groups:
            activity.candidate_groups, activity.candidate_orgs = groups, []
            if groups:
                self._org_candidates(activity, node)

    def _inputs(self, activity: Activity, node: FlowNode) -> dict[str, JsonValue]:
        inputs: dict[str, JsonValue] = {}
        for mapping in node.niva.inputs:
            if mapping.target:
                value = self._eval(mapping.source or "", node.id, activity.scope_id)
                self._assign(inputs, mapping.target, value)
        return inputs

    # --- the Camunda 8 dialect (Zeebe's rules; docs/MODELLING.md) ---------------------------

    @property
    def _zeebe(self) -> bool:
        return self.model.dialect == "camunda8"

    def _local_inputs(self, activity: Activity, node: FlowNode) -> dict[str, JsonValue]:
        """A task's input mappings. In the Camunda 8 dialect they are the task's local
        variables (Zeebe's rule), kept with its token: the task's own expressions and its
        output mappings see them, the enclosing scope never does."""
        inputs = self._inputs(activity, node)
        if self._zeebe:
            token = self.state.tokens[activity.token_id]
            if token.listener_locals:
                # The start listeners' variables are local to the task too, over its inputs.
                inputs = {**inputs, **token.listener_locals}
            token.locals = inputs or None
        return inputs

    def _locals(self, activity: Activity) -> dict[str, JsonValue]:
        """The local variables `_local_inputs` kept for an activity (Camunda 8 dialect)."""
        token = self.state.tokens.get(activity.token_id)
        return dict(token.locals) if token is not None and token.locals else {}

    def _assign(self, variables: dict[str, JsonValue], target: str, value: JsonValue) -> None:
        """Set a mapping's target. In the Camunda 8 dialect a dotted target (``a.b``) sets
        an entry of an object, made or copied as needed, as Zeebe does."""
        if not self._zeebe or "." not in target:
            variables[target] = value
            return
        name, _, rest = target.partition(".")
        variables[name] = _with_entry(variables.get(name), rest.split("."), value)

    def _set_target(self, scope_id: str, target: str, value: JsonValue) -> None:
        """`_set` for an output mapping's target (dotted in the Camunda 8 dialect)."""
        if not self._zeebe or "." not in target:
            self._set(scope_id, target, value)
            return
        name, _, rest = target.partition(".")
        current = self.variables(scope_id).get(name)
        self._set(scope_id, name, _with_entry(current, rest.split("."), value))

    def _org_candidates(self, activity: Activity, node: FlowNode) -> None:
        """Camunda candidate groups known when the task opens (``org:SE-AB/registrator``
        forms) as niva's roles and organisations; a mix niva's rule cannot express parks
        the task in an incident rather than admit other principals."""
        split = split_candidate_groups(activity.candidate_groups)
        if split is None:
            raise ModelFailure(
                "expression",
                f"the candidate groups {activity.candidate_groups} mix organisations, roles "
                "and roles in organisations in a way niva cannot express: use only "
                "org:ORG/role entries (every organisation with every role), only org:ORG "
                "entries, or only roles",
            )
        activity.candidate_groups, activity.candidate_orgs = split

    def _candidate_users(self, activity: Activity, node: FlowNode) -> None:
        """A Camunda 8 ``assignee`` makes the task that principal's alone (as Camunda's
        Tasklist lets only the assignee complete it); ``candidateUsers`` admit principals
        by subject beside the candidate groups."""
        assignment = node.niva.assignment
        assert assignment is not None
        local = self._locals(activity)
        assignee = self._eval_list(assignment.assignee, node.id, activity.scope_id, extra=local)
        if assignee:
            activity.candidate_users = assignee[:1]
            activity.candidate_groups, activity.candidate_orgs = [], []
            return
        activity.candidate_users = self._eval_list(
            assignment.candidate_users, node.id, activity.scope_id, extra=local
        )

    def _run_script(self, activity: Activity, node: FlowNode) -> None:
        """A script task (``zeebe:script``, FEEL, or ``niva:script``, CEL): its expression,
        evaluated here, becomes ``resultVariable``, as a completed task's variables do."""
        script = node.niva.script
        assert script is not None
        value = self._eval(
            script.expression or "",
            node.id,
            activity.scope_id,
            always=True,
            extra=self._locals(activity),
        )
        self._finish_activity(activity, payload={script.result_variable or "": value})

    def _run_decision(self, activity: Activity, node: FlowNode) -> None:
        """A business rule task: its DMN decision, evaluated here with the variables the
        task sees (its input mappings over the scope's), becomes ``resultVariable``, as a
        completed task's variables do. A failing decision parks the token in an incident."""
        called = node.niva.called_decision
        # Validation made sure of both.
        assert called is not None
        assert called.decision_id
        assert called.result_variable
        evaluator = self.model.decision(called.decision_id)
        if evaluator is None:
            raise ModelFailure(
                "expression",
                f"the decision {called.decision_id!r} was not deployed with this process version",
            )
        variables = self.variables(activity.scope_id)
        variables.update(self._locals(activity) if self._zeebe else self._inputs(activity, node))
        value = evaluator.evaluate(
            called.decision_id,
            variables,
            now=self.now,
            tz=self.model.tz,
            reference=self.reference,
            element_id=node.id,
        )
        self._finish_activity(activity, payload={called.result_variable: value})

    def _completion_variables(self, token: Token, node: FlowNode) -> dict[str, JsonValue]:
        """What a finished element hands to the variables in the Camunda 8 dialect: a
        completed task's, a message's or an error's variables, a job's result variables,
        and a called process's end variables (Zeebe lets output mappings read them all by
        name)."""
        variables: dict[str, JsonValue] = {}
        if isinstance(token.result, dict):
            variables.update(token.result)
        variables.update(token.payload or {})
        return variables

    def _maps_outputs_passing(self, token: Token, node: FlowNode) -> bool:
        """In the Camunda 8 dialect a start or throw event that nothing waits at maps its
        outputs as it passes (Zeebe does: ``zeebe:output`` ``=0`` on a start event sets a
        loop counter): the token takes its complete phase, which maps them and leaves.
        False, and nothing changed, when there is nothing to map."""
        if not (self._zeebe and node.niva.outputs):
            return False
        token.phase = "complete"
        token.payload = None
        token.result = None
        token.status = "ready"
        return True

    def _merges_without_outputs(self, node: FlowNode) -> bool:
        """Whether, without output mappings, an element's completion variables merge into
        the case (Camunda 8 dialect): always, except a BPMN error's (Zeebe keeps them in
        the catch event) and a call activity's whose ``propagateAllChildVariables`` is
        false."""
        if "error" in node.event_kinds():
            return False
        called = node.niva.called_element
        if node.kind == "callActivity":
            return called is None or called.propagate_all_child_variables is not False
        return True

    def _start_service(self, activity: Activity, node: FlowNode) -> None:
        if self._throws_signal(node):
            self._throw_signal(activity, node)
            return
        definition = node.niva.task_definition
        assert definition is not None
        assert definition.type
        task_type = definition.type
        if self._zeebe and is_expression(task_type):
            # Camunda 8 lets a job type be computed (type="=…"), once per job.
            evaluated = self._eval(task_type, node.id, activity.scope_id)
            if not isinstance(evaluated, str) or not evaluated:
                raise ExpressionError(
                    f"the job type must be a non-empty string, not {evaluated!r}",
                    expression=task_type,
                    element_id=node.id,
                )
            task_type = evaluated
        # Kept so that operators see which job type (and so which worker) a task waits for.
        activity.task_type = task_type
        timeout = None
        if definition.timeout:
            timeout = IsoDuration.parse(definition.timeout).exact.total_seconds()
        self._start(
            StartService(
                activity_id=activity.id,
                attempt=activity.attempt,
                type=task_type,
                element_id=node.id,
                name=node.name,
                inputs=self._local_inputs(activity, node),
                retries=int(definition.retries) if definition.retries else None,
                timeout_seconds=timeout,
                scope_id=activity.scope_id,
                headers=dict(definition.headers),
            )
        )

    def _start(self, effect: StartService | StartChild) -> None:
        """Start a service activity or child case, or hold it while the case has
        ``max_in_flight`` of them running (Temporal allows 2,000 pending activities or
        children per run); `_release_held` starts it when one ends. Held or not, its inputs
        were evaluated in the step that entered it, so starting it later cannot fail."""
        # The activity asking is active already: the others are what runs.
        running = self._in_flight() - 1
        if running >= self.limits.max_in_flight and self.patched(IN_FLIGHT_PER_CASE_PATCH):
            self.state.held.append(effect)
            return
        self._effects.append(effect)

    def _in_flight(self) -> int:
        """Service activities and child cases started and not yet ended, case-wide."""
        held = {effect.activity_id for effect in self.state.held}
        return sum(
            1
            for a in self.state.activities.values()
            if a.status == "active"
            and a.id not in held
            and (
                a.kind in ("callActivity", LISTENER_KIND)
                or a.kind in _SERVICE_KINDS
                or self._is_service_event(a)
            )
        )

    def _release_held(self) -> None:
        """Start held activities and children, oldest first, as far as the case has room;
        drop those whose activity ended meanwhile (interrupted, cancelled)."""
        room = self.limits.max_in_flight - self._in_flight()
        kept: list[StartService | StartChild] = []
        for effect in self.state.held:
            activity = self.state.activities.get(effect.activity_id)
            if activity is None or activity.status != "active":
                continue
            if room > 0:
                self._effects.append(effect)
                room -= 1
            else:
                kept.append(effect)
        self.state.held = kept

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
        if node.id in self.model.shared_call_targets and self.patched(CHILD_IDS_PATCH):
            # An element id is an NCName, so "#Review" never reads as a repeat's "#2".
            suffix = f"#{node.id}{suffix}"
        business_key = f"{self.state.business_key}{suffix}"
        workflow_id = f"{process_id}:{business_key}"
        activity.child_workflow_id = workflow_id
        if workflow_id not in self.state.children:
            self.state.children.append(workflow_id)
        version = int(called.version) if called and called.version else None
        self._start(
            StartChild(
                activity_id=activity.id,
                process_id=process_id,
                version=version,
                workflow_id=workflow_id,
                business_key=business_key,
                title=f"{self.state.title} — {node.name or node.id}",
                variables=self._child_variables(activity, node),
                detached=bool(called and called.detached),
            )
        )
        if called is not None and called.detached and not self.patched(DETACHED_START_PATCH):
            self._finish_activity(activity)

    def _child_variables(self, activity: Activity, node: FlowNode) -> dict[str, JsonValue]:
        """A called case's start variables: the input mappings, else every variable the
        call activity sees. In the Camunda 8 dialect the visible variables overlaid by the
        input mappings, or only the mappings with ``propagateAllParentVariables="false"``."""
        inputs = self._inputs(activity, node)
        if not self._zeebe:
            return inputs or self.variables(activity.scope_id)
        called = node.niva.called_element
        if called is not None and called.propagate_all_parent_variables is False:
            return inputs
        return {**self.variables(activity.scope_id), **inputs}

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
            self.compensator.scope_completed(
                activity.inner_scope, into=activity.scope_id, element_id=activity.element_id
            )
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
        if self._zeebe:
            # Zeebe's outputs read the completion's variables by name, over the task's local
            # ones; without outputs they merge into the case (a called process's only if it
            # propagates them), except those named as a local variable: Zeebe sets those in
            # the task's own scope, which ends with it.
            local = token.locals or {}
            completion = self._completion_variables(token, node)
            extra = {**local, **completion}
            if not outputs and self._merges_without_outputs(node):
                for name, value in completion.items():
                    if name not in local:
                        self._set(token.scope_id, name, value)
        if outputs:
            values = [
                (m.target, self._eval(m.source or "", node.id, token.scope_id, extra=extra))
                for m in outputs
                if m.target
            ]
            for target, value in values:
                self._set_target(token.scope_id, target, value)
        elif self._zeebe:
            pass  # merged above
        elif token.payload:
            for name, value in token.payload.items():
                self._set(token.scope_id, name, value)
        if self.listeners.ending(token, node):
            return  # the token leaves once the element's end listeners have run
        self._completed(token, node)

    def _completed(self, token: Token, node: FlowNode) -> None:
        """The element's outputs are mapped (and its end listeners have run): install its
        compensation, end its multi-instance instance or its end event, or leave."""
        token.locals = None
        scope = self.state.scopes.get(token.scope_id)
        instance = (
            scope is not None
            and scope.key is not None
            and scope.element_id == node.id
            and node.loop is not None
        )
        if not self.compensator.install(token, node, scope=scope if instance else None):
            raise ModelFailure(
                "limit",
                f"the case holds {self.limits.max_compensable} completed activities to "
                "compensate already (NIVA_LIMITS_MAX_COMPENSABLE): a loop through an activity "
                "with a compensation handler?",
            )
        if instance:
            assert scope is not None
            self._instance_done(token, node, scope)
            return
        if node.kind == "endEvent":
            # An end event that ran a task (a message end) ends like any other end event;
            # after its end listeners it keeps its end phase, so they do not run again.
            if token.phase != "end":
                token.phase = "enter"
            token.activity_id = None
            self._end_event(token, node)
            return
        self._leave(token, node)

    def _interrupt(self, activity: Activity) -> None:
        """Cancel an activity and everything inside it; its token is removed."""
        self.state.activities.pop(activity.id, None)
        self._disarm(activity.id)
        if (
            activity.kind in _SERVICE_KINDS
            or activity.kind == LISTENER_KIND
            or self._is_service_event(activity)
        ):
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
        if activity.kind == "userTask":
            # Its completing listeners go with it (the only listeners beside an activity).
            for listener in [
                a
                for a in self.state.activities.values()
                if a.kind == LISTENER_KIND and a.token_id == activity.token_id
            ]:
                self._interrupt(listener)
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
        if token is not None:
            self.compensator.token_dropped(token)
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
            self.compensator.scope_cancelled(scope_id)
            self.state.scopes.pop(scope_id, None)

    def _check_scope(self, scope_id: str) -> None:
        """End a scope whose last token is gone: the case, or the activity owning it."""
        if any(t.scope_id == scope_id for t in self.state.tokens.values()):
            return
        if scope_id == ROOT_SCOPE:
            self._end(self.state.outcome or "completed")
            return
        if self.compensator.scope_done(scope_id):
            return  # a compensation handler's scope
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
        self.state.signal_subscriptions.clear()
        self.state.condition_subscriptions.clear()
        self.compensator.case_ended()
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
            # Zeebe's output is a list in input order, niva's a map by key.
            empty: JsonValue = [None] * len(items) if self._zeebe else {}
            self._set(token.scope_id, niva_loop.output_collection, empty)
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
        if self.listeners.starting(token, node):
            return  # the instance starts once its start listeners have run (`_enter`)
        instance = self._enter_activity(token, node, key=key, parent_activity=body.id)
        scope.activity_id = instance.id
        multi.running.append(instance.id)

    def _enter_instance(self, token: Token, node: FlowNode, scope: Scope) -> None:
        """A multi-instance instance whose start listeners have run: its activity starts,
        taking the place its listeners held in the body."""
        body = body_of(self.state, scope, node)
        instance = self._enter_activity(token, node, key=scope.key, parent_activity=body.id)
        hold_instance(body, scope, instance.id)

    def _instance_done(self, token: Token, node: FlowNode, scope: Scope) -> None:
        bodies = [
            a
            for a in self.state.activities.values()
            if a.multi is not None and a.element_id == node.id and a.scope_id == scope.parent_id
        ]
        body = bodies[0]
        if len(bodies) > 1 and self.patched(MULTI_INSTANCE_BODY_PATCH):
            # Bodies side by side (a non-interrupting event led to the activity twice):
            # the instance's own, not the first.
            body = next(
                (a for a in bodies if a.multi and scope.activity_id in a.multi.running), body
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
            if self._zeebe:
                self._collect_in_order(body, node, scope, token)
            else:
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
                reference=self.reference,
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

    def _collect_in_order(self, body: Activity, node: FlowNode, scope: Scope, token: Token) -> None:
        """Zeebe's multi-instance output: ``outputElement`` evaluated in the instance (its
        completion's variables merged there), put at the instance's place in the list."""
        assert node.loop is not None
        assert node.loop.niva_loop is not None
        niva_loop = node.loop.niva_loop
        element = niva_loop.output_element
        value: JsonValue = (
            self._eval(element, node.id, scope.id, extra=self._completion_variables(token, node))
            if element
            else None
        )
        name = niva_loop.output_collection or ""
        collection = self.variables(body.scope_id).get(name)
        collected = list(collection) if isinstance(collection, list) else []
        place = scope.variables.get("loopCounter")
        index = (place if isinstance(place, int) else len(collected) + 1) - 1
        collected.extend([None] * (index + 1 - len(collected)))
        collected[index] = value
        self._set(body.scope_id, name, collected)

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
        self, activity: Activity, code: str, *, code_first: bool = False, kind: str = "error"
    ) -> FlowNode | None:
        """The error (or escalation: ``kind``) boundary of ``activity`` that catches
        ``code``: the first in the model naming it or catching every one, or with
        ``code_first`` one naming it before one catching every one."""
        boundaries = [
            (boundary, self._event_code(boundary, kind))
            for boundary in self.model.boundary_events(activity.element_id)
            if kind in boundary.event_kinds()
        ]
        if code_first:
            boundaries.sort(key=lambda pair: pair[1] is None)  # stable: model order kept
        for boundary, caught in boundaries:
            if caught is None or caught == code:
                return boundary
        return None

    def _catching_event_subprocess(
        self, scope_id: str, code: str, kind: str = "error"
    ) -> FlowNode | None:
        """The error (or escalation: ``kind``) start event of an event subprocess of the
        scope that catches ``code``: one naming the code first, else one catching every
        one."""
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
            if kind in start.event_kinds()
        ]
        codes = [self._event_code(start, kind) for start in starts]
        for wanted in (code, None):
            for start, caught in zip(starts, codes, strict=True):
                if caught == wanted:
                    return start
        return None

    def _throw_error(
        self,
        activity: Activity,
        code: str,
        message: str,
        variables: dict[str, JsonValue] | None = None,
    ) -> None:
        """A BPMN error thrown by ``activity``; uncaught, it parks the activity in an
        incident (its token stays), and a retry runs the activity again. The error's
        ``variables`` are the catching event's payload (merged, or read by its outputs)."""
        if not self.patched(ERROR_PROPAGATION_PATCH):
            self._throw_error_unpatched(activity, code, message)
            return
        if not self._propagate_error(activity, activity.scope_id, code, message, variables):
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
        self,
        thrower: Activity | None,
        scope_id: str,
        code: str,
        message: str,
        variables: dict[str, JsonValue] | None = None,
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
                    self._arrive_with(token, boundary, variables or None, None)
                    return True
                scope_id = holder.scope_id
                skip_scope = self.model.node(holder.element_id).triggered_by_event
            start = None if skip_scope else self._catching_event_subprocess(scope_id, code)
            if start is not None:
                self._audit("error_caught", element_id=start.id, detail=f"{code}: {message}")
                self._start_event_subprocess(start, scope_id, variables or None, None)
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

    def _event_code(self, node: FlowNode, kind: str) -> str | None:
        """The error or escalation code an event catches (None: every one)."""
        if kind == "escalation":
            return self.model.escalation_code(node)
        return self.model.error_code(node)

    # --- links and escalations --------------------------------------------------------------

    def _intermediate_throw(self, token: Token, node: FlowNode) -> None:
        """A none throw passes through; a link throw jumps to its catch; an escalation
        throw escalates, then goes on unless an interrupting catcher ended it."""
        target = self.model.graph.link_targets.get(node.id)
        if target is not None:
            token.node_id = target
            token.via_flow = None
            self._leave(token, self.model.node(target))
            return
        if "escalation" in node.event_kinds():
            self._throw_escalation(token, node)
            if token.id not in self.state.tokens:
                return
        if not self._maps_outputs_passing(token, node) and not self.listeners.ending(token, node):
            self._leave(token, node)

    def _throw_escalation(self, token: Token, node: FlowNode) -> None:
        """Escalate from ``token``'s scope outwards: the innermost escalation-start event
        subprocess or escalation boundary that catches the code runs (an interrupting one
        ends what it interrupts, the thrower's token included). Uncaught, see
        `_escalation_uncaught`."""
        code = self.model.escalation_code(node) or node.id
        if not self._propagate_escalation(token.scope_id, code):
            self._escalation_uncaught(node.id, code)

    def _escalation_uncaught(self, element_id: str, code: str) -> None:
        """An escalation nothing in this case caught. A case started by a call activity
        passes it to its caller (Camunda 8's rule) and goes on at once: the caller's
        interrupting catcher, if any, cancels this case there. Caught nowhere, an
        escalation is no error (BPMN's rule): the trail records it and the thrower goes
        on (`escalation_not_delivered` when the caller has gone)."""
        if self.depth > 0 and self.patched(ESCALATION_TO_CALLER_PATCH):
            self._audit("escalation_to_caller", element_id=element_id, detail=code)
            self._effects.append(EscalateToCaller(element_id=element_id, code=code))
            return
        self._audit("escalation_uncaught", element_id=element_id, detail=code)

    def escalation_not_delivered(
        self, effect: EscalateToCaller, reason: str, now: datetime
    ) -> None:
        """The caller could not be told of an escalation (it has ended): uncaught, as in a
        case that no call activity started."""
        self.now = now
        self._audit(
            "escalation_uncaught", element_id=effect.element_id, detail=f"{effect.code} ({reason})"
        )

    def _propagate_escalation(
        self, scope_id: str, code: str, holder: Activity | None = None
    ) -> bool:
        """Hand an escalation to its innermost catcher; False if none catches it.

        Innermost first, as errors go (`_propagate_error`): an escalation-start event
        subprocess of the scope, then an escalation boundary of the scope's owner (a
        multi-instance instance's is its body's), and so on out to the process; an
        escalation thrown inside an event subprocess is not caught beside it. Given a
        ``holder`` (a call activity whose child escalated), the search starts at its
        boundary events.
        """
        skip_scope = False
        while True:
            if holder is None:
                start = None
                if not skip_scope:
                    start = self._catching_event_subprocess(scope_id, code, "escalation")
                if start is not None:
                    self._audit("escalation_caught", element_id=start.id, detail=code)
                    self._start_event_subprocess(start, scope_id, None, None)
                    return True
                scope = self.state.scopes.get(scope_id) if scope_id != ROOT_SCOPE else None
                owner = self.state.activities.get(scope.activity_id) if scope is not None else None
                if owner is None:
                    return False
                holder = owner
                if owner.parent_activity is not None:
                    holder = self.state.activities.get(owner.parent_activity) or owner
            boundary = self._catching_boundary(holder, code, code_first=True, kind="escalation")
            if boundary is not None:
                self._audit("escalation_caught", element_id=boundary.id, detail=code)
                if boundary.cancel_activity:
                    self._interrupt(holder)
                token = self._new_token(boundary.id, holder.scope_id)
                self._arrive_with(token, boundary, None, None)
                return True
            scope_id = holder.scope_id
            skip_scope = self.model.node(holder.element_id).triggered_by_event
            holder = None

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


def _corrected_detail(variables: dict[str, JsonValue], local: list[str]) -> str:
    """What a retry corrected, for the trail: the names only (never a value)."""
    case = [name for name in variables if name not in local]
    parts = [f"the element's local {', '.join(local)}"] if local else []
    parts += [f"the case's {', '.join(case)}"] if case else []
    return "corrected variables: " + "; ".join(parts)


def _with_entry(current: JsonValue, path: list[str], value: JsonValue) -> JsonValue:
    """``current`` (an object, or a new one) with ``value`` at the nested ``path``; the
    objects on the way are copied, never changed in place."""
    result = dict(current) if isinstance(current, dict) else {}
    head, rest = path[0], path[1:]
    result[head] = _with_entry(result.get(head), rest, value) if rest else value
    return result


def _item_key(item: JsonValue, index: int) -> str:
    """A multi-instance key: the item itself if a string, else its ``id``, else the index."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("id"), str | int):
        return str(item["id"])
    return str(index)
