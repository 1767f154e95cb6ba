"""Validation of executable processes: every problem at once, each with element id and line.

`validate` checks what can be known before a case runs: the structure of the graph (a start
event, a none start in every embedded subprocess and exactly one in every event subprocess,
no flow to nowhere, no unreachable node, no gateway that nothing leaves, link events that
pair up (`process_models.links`), escalation events that name an escalation, every element
with a unique id; an activity or event that nothing leaves ends its token, as in BPMN), process
ids (`process_models.ids`), the executable subset, the ``niva:`` extensions against the
`Registry` (task types, form keys), other engines' execution settings
(`process_models.foreign`), that every CEL expression compiles (with a hint when it looks
like FEEL or JUEL) and every timer parses, that no literal cycle repeats more often than the
minimum period, and that call activities name a process. What only shows at run time (a
gateway whose conditions all fail) is an incident, not a validation problem.

`check_model` also returns warnings, which never refuse a deployment: settings of other
engines that decide neither who may act nor what runs, and a call activity whose process is
neither deployed nor in the same deployment (deployments are often split; a case that
reaches the call first waits in an incident, retried once the process is deployed).

The checks use lookups built once per process or subprocess, so validation time grows
linearly with the size of the model.

Only processes marked ``isExecutable="true"`` are validated: the other pools of a
collaboration are documentation.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from process_models.bpmn.namespaces import NIVA
from process_models.bpmn.reader import NIVA_ELEMENTS, did_you_mean
from process_models.bpmn.subset import blockers, is_niva_language
from process_models.bpmn.zeebe import (
    EMBEDDED_FORM_PREFIX,
    split_candidate_groups,
    unsupported_settings,
)
from process_models.calendars import calendar_problems
from process_models.compensation import compensation_problems, is_for_compensation
from process_models.cron import CronSchedule
from process_models.dialect import compile_value, language_name
from process_models.errors import ExpressionError, Problem, TimerSpecError
from process_models.expressions import is_expression
from process_models.foreign import foreign_settings
from process_models.ids import id_problem
from process_models.limits import MIN_CYCLE_PERIOD
from process_models.links import link_problems, link_targets
from process_models.registry import Registry, default_registry
from process_models.schema import (
    BaseElement,
    Definitions,
    Dialect,
    EventDefinition,
    Expression,
    FlowContainer,
    FlowNode,
    Process,
    RawElement,
    SequenceFlow,
)
from process_models.timers import IsoDuration, TimerKind, parse_timer
from service_contract import JOBS_TASK_QUEUE

__all__ = [
    "ValidationResult",
    "check_model",
    "executable_processes",
    "niva_vocabulary_problems",
    "reference_entries",
    "validate",
]

_TIMER_KINDS: dict[str, TimerKind] = {
    "timeDuration": "duration",
    "timeDate": "date",
    "timeCycle": "cycle",
}
_SERVICE_KINDS = {"serviceTask", "sendTask"}
_GATEWAYS = {"exclusiveGateway", "parallelGateway", "eventBasedGateway", "inclusiveGateway"}
_MESSAGE_WAITERS = {"intermediateCatchEvent", "boundaryEvent", "startEvent", "receiveTask"}
# What other engines' expressions look like, to say so when one does not compile as CEL.
_JUEL = re.compile(r"^\s*[$#]\{.*\}\s*$", re.DOTALL)
_FEEL_EQUALS = re.compile(r"(?<![=!<>])=(?!=)")
_FEEL_WORDS = re.compile(r"\b(?:and|or|then|else|satisfies)\b|\bnot\s*\(")


def executable_processes(defs: Definitions) -> list[Process]:
    """The processes niva deploys from a file: those marked ``isExecutable="true"``."""
    return [p for p in defs.processes if p.is_executable]


def validate(
    defs: Definitions,
    *,
    registry: Registry | None = None,
    known_processes: Collection[str] | None = None,
    min_cycle_period: timedelta = MIN_CYCLE_PERIOD,
) -> list[Problem]:
    """Every problem of the file's executable processes, in document order.

    Args:
        defs: the file as read by `process_models.bpmn.read_bpmn`.
        registry: task types and forms the model may name; the shipped registry by default.
        known_processes: process ids a call activity may start (deployed ones and those of
            the same deployment). None skips that check.
        min_cycle_period: the shortest period a literal ``timeCycle`` may have.
    """
    return check_model(
        defs,
        registry=registry,
        known_processes=known_processes,
        min_cycle_period=min_cycle_period,
    ).problems


class ValidationResult(BaseModel):
    """What validation found: problems refuse a deployment, warnings are only reported."""

    problems: list[Problem] = Field(default_factory=list)
    warnings: list[Problem] = Field(
        default_factory=list,
        description="Settings niva ignores without changing who may act or what runs, and "
        "call activities of processes not deployed yet.",
    )


def check_model(
    defs: Definitions,
    *,
    registry: Registry | None = None,
    known_processes: Collection[str] | None = None,
    min_cycle_period: timedelta = MIN_CYCLE_PERIOD,
) -> ValidationResult:
    """Problems and warnings of the file's executable processes, each in document order.

    The arguments are `validate`'s.
    """
    checker = _Checker(defs, registry or default_registry, known_processes)
    checker.min_cycle_period = min_cycle_period
    problems = checker.run()
    return ValidationResult(problems=problems, warnings=_in_order(checker.warnings))


_REFERENCE = re.compile(r"(?<![\w.])reference\b")
_ENTRY = re.compile(r"\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*(['\"])(\w+)\2\s*\])")


def reference_entries(
    defs: Definitions, process: Process, *, registry: Registry | None = None
) -> frozenset[str] | None:
    """The entries of the reference data that ``process``'s expressions read.

    An expression reads an entry as ``reference.organisations`` or
    ``reference["organisations"]``. None when some expression uses ``reference`` in any
    other way (``reference[key]``, the whole map): then it may read every entry.
    """
    checker = _Checker(defs, registry or default_registry, None)
    checker._container(process, process)
    entries: set[str] = set()
    for source in checker.expression_sources:
        for found in _REFERENCE.finditer(source):
            entry = _ENTRY.match(source, found.end())
            if entry is None:
                return None
            entries.add(entry.group(1) or entry.group(3))
    return frozenset(entries)


class _Index:
    """One container's nodes, outgoing flows and boundary events by id, built once.

    `FlowContainer`'s own lookups scan the whole container; asked once per node, they
    made validation quadratic in the size of the model.
    """

    def __init__(self, container: FlowContainer) -> None:
        self.nodes: dict[str, FlowNode] = {}
        self._outgoing: dict[str, list[SequenceFlow]] = {}
        self._boundaries: dict[str, list[FlowNode]] = {}
        for node in container.nodes:
            self.nodes.setdefault(node.id, node)
            if node.kind == "boundaryEvent" and node.attached_to_ref is not None:
                self._boundaries.setdefault(node.attached_to_ref, []).append(node)
        for flow in container.flows:
            if flow.source_ref:
                self._outgoing.setdefault(flow.source_ref, []).append(flow)

    def node(self, node_id: str) -> FlowNode | None:
        """The first node with this id, or None."""
        return self.nodes.get(node_id)

    def outgoing(self, node_id: str) -> list[SequenceFlow]:
        """Flows leaving the node, in source order."""
        return self._outgoing.get(node_id, [])

    def boundary_events(self, attached_to: str) -> list[FlowNode]:
        """Boundary events attached to the activity, in source order."""
        return self._boundaries.get(attached_to, [])


class _Checker:
    def __init__(
        self,
        defs: Definitions,
        registry: Registry,
        known_processes: Collection[str] | None,
    ) -> None:
        self.defs = defs
        self.registry = registry
        self.known_processes = known_processes
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.expression_sources: list[str] = []
        self.default_language = defs.attributes.get("expressionLanguage")
        self.min_cycle_period = MIN_CYCLE_PERIOD
        # The one place validation learns the file's dialect: it decides the language
        # every expression compiles in (process_models.dialect) and the vocabulary named.
        self.dialect: Dialect = defs.dialect
        self.vocabulary = "zeebe" if self.dialect == "camunda8" else "niva"
        self.process = Process()

    def report(self, message: str, element_id: str | None, line: int | None) -> None:
        self.problems.append(Problem(message=message, element_id=element_id, line=line))

    def run(self) -> list[Problem]:
        processes = executable_processes(self.defs)
        if not processes:
            self.report(
                'the file has no executable process: mark the process isExecutable="true"',
                self.defs.id,
                self.defs.line,
            )
        self._duplicate_ids()
        for process in processes:
            self.process = process
            self.problems.extend(
                blockers(process, expression_language=self.default_language, dialect=self.dialect)
            )
            self._process_settings(process)
            self._container(process, process)
        return _in_order(self.problems)

    # --- whole file -----------------------------------------------------------------------

    def _duplicate_ids(self) -> None:
        seen: dict[str, int | None] = {}
        for element_id, line, kind in self._all_ids():
            if not element_id:
                self.report(
                    f"{kind} without id (line {line}): give every element a unique id",
                    None,
                    line,
                )
            elif element_id in seen:
                first = seen[element_id]
                self.report(
                    f"duplicate id {element_id!r} (first used on line {first}); "
                    "ids must be unique in the file",
                    element_id,
                    line,
                )
            else:
                seen[element_id] = line

    def _all_ids(self) -> Iterator[tuple[str, int | None, str]]:
        for process in self.defs.processes:
            yield process.id, process.line, "process"
            for node in process.all_nodes():
                yield node.id, node.line, node.kind
            for flow in process.all_flows():
                yield flow.id, flow.line, "sequenceFlow"
        for root in (*self.defs.messages, *self.defs.errors, *self.defs.escalations):
            if root.id:
                yield root.id, root.line, ""

    def _process_settings(self, process: Process) -> None:
        # A process id is part of every case's workflow id and of URLs (process_models.ids).
        problem = id_problem(process.id, what="process id") if process.id else None
        if problem is not None:
            self.report(problem, process.id, process.line)
        if process.timezone is not None:
            try:
                ZoneInfo(process.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                self.report(
                    f"niva:timezone {process.timezone!r} is not an IANA time zone "
                    "(e.g. Europe/Stockholm)",
                    process.id,
                    process.line,
                )
        self._starters(process)
        self.problems.extend(calendar_problems(process))
        self.problems.extend(niva_vocabulary_problems(process, dialect=self.dialect))
        problems, warnings = foreign_settings(self.defs, process)
        self.problems.extend(problems)
        self.warnings.extend(warnings)
        if self.dialect == "camunda8":
            self.problems.extend(unsupported_settings(process))

    def _starters(self, process: Process) -> None:
        # Who may start is decided before the case has variables: no expressions.
        starters = process.starters
        if starters is None:
            return
        for attribute, value in (
            ("candidateGroups", starters.candidate_groups),
            ("candidateOrgs", starters.candidate_orgs),
        ):
            if value is not None and is_expression(value):
                self.report(
                    f"niva:starters {attribute} must be a comma list, not an expression: who "
                    "may start a case is known before it has variables",
                    process.id,
                    starters.line,
                )

    # --- one process or subprocess ----------------------------------------------------------

    def _container(self, container: FlowContainer, owner: Process | FlowNode) -> None:
        """Check a process (``owner`` is ``container``) or a subprocess (``owner`` holds it)."""
        index = _Index(container)
        ids = index.nodes
        starts = container.start_events()
        self._starts(owner, starts)
        for flow in container.flows:
            for end, ref in (("source", flow.source_ref), ("target", flow.target_ref)):
                if not ref:
                    self.report(f"sequence flow has no {end}Ref", flow.id, flow.line)
                elif ref not in ids:
                    self.report(
                        f"sequence flow {end} {ref!r} is not a node of the same "
                        "process or subprocess",
                        flow.id,
                        flow.line,
                    )
        self._reachability(container, index, starts)
        self.problems.extend(compensation_problems(self.defs, container))
        for node in container.nodes:
            self._node(index, node)
            if node.subprocess is not None:
                self._container(node.subprocess, node)

    def _starts(self, owner: Process | FlowNode, starts: list[FlowNode]) -> None:
        if isinstance(owner, Process):
            if not starts:
                self.report("the process has no start event", owner.id, owner.line or 1)
            return
        if owner.triggered_by_event:
            # Each start of an event subprocess is a trigger of its own; which one fired
            # would decide nothing else, so BPMN allows exactly one.
            if len(starts) != 1:
                self.report(
                    f"an event subprocess needs exactly one start event (it has {len(starts)}), "
                    "with a message, timer, signal, error, escalation or conditional trigger",
                    owner.id,
                    owner.line,
                )
            return
        # An embedded subprocess starts when a token reaches it: only a none start can run
        # then (a triggered start is the subset's problem, reported on the start itself).
        if not any(not start.event_definitions for start in starts):
            which = "none start event" if starts else "start event"
            self.report(
                f"the subprocess has no {which}: an embedded subprocess starts when a token "
                "reaches it; add a start event without a trigger",
                owner.id,
                owner.line,
            )

    def _reachability(
        self, container: FlowContainer, index: _Index, starts: list[FlowNode]
    ) -> None:
        reached: set[str] = set()
        links = link_targets(container)
        self.problems.extend(link_problems(container))
        # An event subprocess starts by its own trigger, so it is an entry point too.
        frontier = [n.id for n in starts] + [n.id for n in container.nodes if n.triggered_by_event]
        while frontier:
            current = frontier.pop()
            if current in reached:
                continue
            reached.add(current)
            frontier.extend(f.target_ref for f in index.outgoing(current) if f.target_ref)
            frontier.extend(b.id for b in index.boundary_events(current))
            if current in links:
                frontier.append(links[current])
        for node in container.nodes:
            # A compensation handler runs when its activity is compensated, not by a flow.
            if node.id not in reached and starts and not is_for_compensation(node):
                self.report(
                    "unreachable: no path from a start event leads here", node.id, node.line
                )
            # An activity or event that nothing leaves ends its token there (an implicit
            # end, as BPMN and Camunda run it); a gateway exists to route tokens onward.
            if node.kind in _GATEWAYS and not index.outgoing(node.id):
                self.report(
                    "dead end: nothing leaves this gateway; add a sequence flow from it",
                    node.id,
                    node.line,
                )

    def _node(self, index: _Index, node: FlowNode) -> None:
        ext = node.niva
        if ext.called_decision is not None and node.kind != "businessRuleTask":
            self.report(
                f"{self.vocabulary}:calledDecision on a {node.kind} is not read: only a "
                "business rule task calls a decision",
                node.id,
                ext.called_decision.line or node.line,
            )
        if ext.script is not None and node.kind != "scriptTask":
            self.report(
                f"{self.vocabulary}:script on a {node.kind} is not read: only a script task "
                "runs a script",
                node.id,
                ext.script.line or node.line,
            )
        if node.kind == "businessRuleTask" and ext.called_decision is not None:
            # That the decision is deployed is checked by the deployment, which knows them.
            self._called_decision(node)
        elif node.kind in _SERVICE_KINDS or (
            node.kind in ("scriptTask", "businessRuleTask") and ext.task_definition is not None
        ):
            self._task_definition(node)
        elif node.kind == "scriptTask" and (self.dialect == "camunda8" or ext.script is not None):
            # A niva script task without niva:script is the subset's problem (a blocker).
            self._script(node)
        # A Camunda Form (formId) is checked by the deployment, which knows the deployed forms.
        if ext.form is not None and self.dialect == "camunda8":
            self._zeebe_form_key(node)
        elif ext.form is not None and not (ext.form.form_id or ext.form.external_reference):
            key = ext.form.key
            if not key:
                self.report("niva:form has no key", node.id, ext.form.line)
            elif key not in self.registry.forms:
                known = ", ".join(sorted(self.registry.forms)) or "none"
                self.report(f"unknown form key {key!r} (registered: {known})", node.id, node.line)
        if ext.assignment is not None:
            self._assignment(node)
        for constraint in ext.constraints:
            if not constraint.expression:
                self.report("niva:constraint has no expression", node.id, constraint.line)
            else:
                self._expression(constraint.expression, node.id, constraint.line)
        for mapping in (*ext.inputs, *ext.outputs):
            if not mapping.target:
                self.report("input/output mapping has no target", node.id, mapping.line)
            self._maybe_expression(mapping.source, node.id, mapping.line)
        if ext.subscription is not None:
            self._maybe_expression(ext.subscription.correlation_key, node.id, ext.subscription.line)
        if ext.subscription is not None and ext.subscription.ttl:
            self._duration(ext.subscription.ttl, node.id, ext.subscription.line, "ttl")
        self._events(node)
        self._gateway(index, node)
        self._loop(node)
        self._call(node)
        if node.kind == "boundaryEvent":
            host = index.node(node.attached_to_ref or "")
            if host is None or not host.is_activity:
                self.report(
                    f"boundary event is attached to {node.attached_to_ref!r}, which is not "
                    "an activity of the same process or subprocess",
                    node.id,
                    node.line,
                )

    def _assignment(self, node: FlowNode) -> None:
        assignment = node.niva.assignment
        assert assignment is not None
        line = assignment.line
        for value in (
            assignment.candidate_groups,
            assignment.candidate_orgs,
            assignment.candidate_users,
            assignment.assignee,
        ):
            self._maybe_expression(value, node.id, line)
        groups = assignment.candidate_groups
        if (
            assignment.org_candidates
            and groups is not None
            and not is_expression(groups)
            and split_candidate_groups(groups.split(",")) is None
        ):
            self.report(
                f"candidateGroups {groups!r} mix organisations (org:ORG), roles in them "
                "(org:ORG/role) and roles in a way niva's candidate rule cannot express: use "
                "only org:ORG/role entries (every organisation with every role), only org:ORG "
                "entries, or only roles",
                node.id,
                line,
            )

    def _zeebe_form_key(self, node: FlowNode) -> None:
        """A Camunda 8 ``formKey`` is an embedded form's link, which must name a
        ``zeebe:userTaskForm`` of the process, or an external reference passed through."""
        form = node.niva.form
        assert form is not None
        key = form.key or ""
        if not key.startswith(EMBEDDED_FORM_PREFIX):
            return
        form_id = key[len(EMBEDDED_FORM_PREFIX) :]
        if form_id not in self.process.user_task_forms:
            known = ", ".join(sorted(self.process.user_task_forms)) or "none"
            self.report(
                f"formKey {key!r} names no zeebe:userTaskForm of the process (embedded "
                f"forms: {known})",
                node.id,
                form.line,
            )

    def _script(self, node: FlowNode) -> None:
        """A script task: an expression (FEEL in a Camunda 8 file, CEL in a niva file) and
        the variable it sets."""
        script = node.niva.script
        if script is None or not script.expression or not script.result_variable:
            as_job = (
                ' (or <zeebe:taskDefinition type="…"/> to run as a job)'
                if self.dialect == "camunda8"
                else ""
            )
            self.report(
                f'a script task needs <{self.vocabulary}:script expression="=…" '
                f'resultVariable="…"/>{as_job}',
                node.id,
                script.line if script is not None else node.line,
            )
            return
        self._expression(script.expression, node.id, script.line, "the script")

    def _called_decision(self, node: FlowNode) -> None:
        """A business rule task names a DMN decision by id and the variable its result
        goes to."""
        called = node.niva.called_decision
        assert called is not None
        if not called.decision_id or not called.result_variable:
            self.report(
                f'a business rule task needs <{self.vocabulary}:calledDecision decisionId="…" '
                'resultVariable="…"/>: the id of a DMN decision deployed with the model, and '
                "the variable its result goes to",
                node.id,
                called.line or node.line,
            )
        elif is_expression(called.decision_id):
            self.report(
                f"decisionId {called.decision_id!r} is an expression: niva binds a process "
                "version to the decisions it names when it is deployed, so name the decision",
                node.id,
                called.line or node.line,
            )

    def _task_definition(self, node: FlowNode) -> None:
        definition = node.niva.task_definition
        if definition is None or not definition.type:
            self.report(
                f'{node.kind} needs <{self.vocabulary}:taskDefinition type="…"/> naming a '
                f"task type ({', '.join(sorted(self.registry.task_types))} or a job type)",
                node.id,
                node.line,
            )
            return
        if self.dialect == "camunda8" and is_expression(definition.type):
            # A computed job type (type="=…") is known only when the job starts.
            self._expression(definition.type, node.id, definition.line)
        elif definition.type not in self.registry.task_types:
            self._job_type(definition.type, node.id, definition.line)
        if definition.retries is not None and not (
            definition.retries.isdigit() and int(definition.retries) >= 1
        ):
            self.report(
                f"{self.vocabulary}:taskDefinition retries={definition.retries!r} must be a "
                "whole number >= 1",
                node.id,
                definition.line,
            )
        if definition.timeout is not None:
            self._duration(definition.timeout, node.id, definition.line, "timeout")

    def _job_type(self, task_type: str, element_id: str, line: int | None) -> None:
        """A type niva does not implement runs as a job; in the niva dialect one that looks
        like a misspelling of a registered type is reported instead."""
        if task_type.startswith("="):
            # A computed job type (Camunda 8): known only when the task starts.
            return
        registered = sorted(self.registry.task_types)
        # Strict: a job type merely like a niva type ("send_mail") is a job, not a typo.
        close = difflib.get_close_matches(task_type, registered, n=1, cutoff=0.8)
        if close and self.dialect == "niva":
            self.report(
                f"unknown task type {task_type!r}{did_you_mean(task_type, close)}: a type niva "
                "does not implement runs as a job on the job workers' task queue "
                f"(NIVA_WORKER_JOBS_TASK_QUEUE, default {JOBS_TASK_QUEUE}); niva implements "
                + ", ".join(registered),
                element_id,
                line,
            )
            return
        self.warnings.append(
            Problem(
                message=f"task type {task_type!r} is not one niva implements: it runs as a job "
                "on the job workers' task queue (NIVA_WORKER_JOBS_TASK_QUEUE, default "
                f"{JOBS_TASK_QUEUE}) and waits there until a worker registers {task_type!r}",
                element_id=element_id,
                line=line,
            )
        )

    def _events(self, node: FlowNode) -> None:
        for definition in node.event_definitions:
            timer = definition.timer
            if definition.kind == "timer" and timer is None:
                self.report(
                    "timer event has no timeDuration, timeDate or timeCycle", node.id, node.line
                )
            elif timer is not None:
                kind, value = timer
                if not self._is_niva(value):
                    continue  # a foreign language is a blocker, reported by the subset check
                if is_expression(value.body.strip()):
                    self._expression(value.body.strip(), node.id, value.line)
                else:
                    try:
                        spec = parse_timer(
                            _TIMER_KINDS[kind], value.body.strip(), element_id=node.id
                        )
                    except TimerSpecError as exc:
                        self.report(
                            f"{exc.reason} (value: {exc.value!r})", node.id, value.line or node.line
                        )
                    else:
                        self._cycle_period(spec.duration if kind == "timeCycle" else None, node)
                        if spec.cron is not None:
                            self._cron(spec.cron, node, value.line or node.line)
            elif definition.kind == "message" and node.kind in _MESSAGE_WAITERS:
                self._message_name(node, definition.message_ref)
            elif (
                definition.kind == "error"
                and definition.error_ref is not None
                and self.defs.error(definition.error_ref) is None
            ):
                self.report(
                    f"errorRef {definition.error_ref!r} names no bpmn:error of the file",
                    node.id,
                    node.line,
                )
            elif definition.kind == "escalation":
                self._escalation(node, definition.attributes.get("escalationRef"))
            elif definition.kind == "signal":
                self._signal(node, definition.attributes.get("signalRef"))
            elif definition.kind == "conditional":
                self._condition(node, definition)
        if node.kind == "receiveTask":
            self._message_name(node, node.attributes.get("messageRef"))

    def _condition(self, node: FlowNode, definition: EventDefinition) -> None:
        """A conditional event holds a ``bpmn:condition`` that compiles."""
        condition = definition.condition
        if condition is None:
            self.report(
                "a conditional event needs a <bpmn:condition> (e.g. =amount > 1000)",
                node.id,
                definition.line or node.line,
            )
        elif self._is_niva(condition):  # a foreign language is the subset's problem
            self._expression(
                condition.body.strip(),
                node.id,
                condition.line or definition.line or node.line,
                "the condition",
            )

    def _escalation(self, node: FlowNode, ref: str | None) -> None:
        """An escalation event names a bpmn:escalation of the file; a throw must (its code
        is what catchers match), a catch without one catches every escalation."""
        if ref is not None and self.defs.escalation(ref) is None:
            self.report(
                f"escalationRef {ref!r} names no bpmn:escalation of the file", node.id, node.line
            )
        elif ref is None and node.kind in ("endEvent", "intermediateThrowEvent"):
            self.report(
                "an escalation throw event needs an escalationRef to a bpmn:escalation with "
                "an escalationCode: the code is what its catchers match",
                node.id,
                node.line,
            )

    def _signal(self, node: FlowNode, ref: str | None) -> None:
        """A signal event names a bpmn:signal of the file with a name: the name is what a
        broadcast and its catchers match."""
        signal = self.defs.signal(ref)
        if signal is None or not signal.name:
            self.report(
                "the signal of this event has no name: give it a signalRef to a bpmn:signal "
                "with a name (what broadcasts and catchers match)",
                node.id,
                node.line,
            )
        elif is_expression(signal.name) and node.id in {n.id for n in self.process.start_events()}:
            # A process's signal start waits before any case exists: nothing to evaluate in.
            self.report(
                f"signal {signal.id!r} has a computed name ({signal.name!r}), which a signal "
                "start event of the process cannot evaluate: name the signal as written",
                node.id,
                node.line,
            )
        elif is_expression(signal.name):
            # Evaluated in the case when the subscription opens or the signal is thrown.
            self._expression(signal.name, node.id, signal.line or node.line)

    def _cycle_period(self, period: IsoDuration | None, node: FlowNode) -> None:
        # Each firing is history the case keeps and work a worker does; a cycle of seconds
        # fills both (and replays every missed firing after downtime).
        least = self.min_cycle_period.total_seconds()
        if period is not None and period.approximate_seconds() < least:
            self.report(
                f"the cycle repeats every {period}, more often than the shortest period "
                f"allowed, {_seconds(least)} (setting NIVA_LIMITS_MIN_CYCLE_SECONDS); "
                "use a longer period",
                node.id,
                node.line,
            )

    def _cron(self, cron: CronSchedule, node: FlowNode, line: int | None) -> None:
        """A cron cycle fires at least the shortest period apart, and fires at all."""
        least = self.min_cycle_period.total_seconds()
        gap = cron.shortest_gap().total_seconds()
        if gap < least:
            self.report(
                f"the cron cycle {cron.source!r} fires {_seconds(gap)} apart, more often than "
                f"the shortest period allowed, {_seconds(least)} (setting "
                "NIVA_LIMITS_MIN_CYCLE_SECONDS)",
                node.id,
                line,
            )
        elif cron.nth_after(datetime(2000, 1, 1, tzinfo=UTC), 1, ZoneInfo("UTC")) is None:
            self.report(f"the cron cycle {cron.source!r} never fires", node.id, line)
        elif node.kind == "startEvent" and (cron.month_rules or cron.week_rules):
            self.report(
                f"the cron cycle {cron.source!r} of a timer start event uses L, W or #, which "
                "a Temporal schedule cannot express; list the days instead",
                node.id,
                line,
            )

    def _message_name(self, node: FlowNode, message_ref: str | None) -> None:
        subscription = node.niva.subscription
        if subscription is not None and subscription.message_name:
            return
        message = self.defs.message(message_ref)
        if message is None or not message.name:
            self.report(
                "the message this element waits for has no name: give it a messageRef to a "
                'named bpmn:message or <niva:subscription messageName="…"/>',
                node.id,
                node.line,
            )

    def _gateway(self, index: _Index, node: FlowNode) -> None:
        outgoing = index.outgoing(node.id)
        if node.default_flow is not None and node.default_flow not in {f.id for f in outgoing}:
            self.report(
                f"default flow {node.default_flow!r} is not an outgoing flow of this element",
                node.id,
                node.line,
            )
        for flow in outgoing:
            condition = flow.condition
            if condition is not None and self._is_niva(condition):
                self._expression(
                    condition.body.strip(), flow.id, condition.line or flow.line, "the condition"
                )
        if node.kind in ("exclusiveGateway", "inclusiveGateway") and len(outgoing) > 1:
            # As in Camunda 8: every flow of a deciding gateway but its default has a
            # condition (an inclusive one would otherwise always take it).
            which = node.kind.removesuffix("Gateway")
            for flow in outgoing:
                if flow.condition is None and flow.id != node.default_flow:
                    self.report(
                        f"flow leaves {which} gateway {node.id!r} with no condition and is "
                        "not its default flow",
                        flow.id,
                        flow.line,
                    )
        if node.kind == "eventBasedGateway":
            for flow in outgoing:
                target = index.node(flow.target_ref or "")
                if target is not None and not (
                    target.kind == "receiveTask"
                    or (
                        target.kind == "intermediateCatchEvent"
                        and target.event_kinds() in (["message"], ["timer"], ["signal"])
                    )
                ):
                    self.report(
                        "an event-based gateway may lead only to message, timer or signal "
                        "catch events and receive tasks",
                        flow.id,
                        flow.line,
                    )

    def _loop(self, node: FlowNode) -> None:
        loop = node.loop
        if loop is None:
            return
        if loop.niva_loop is None and loop.loop_cardinality is None:
            self.report(
                f"multi-instance needs <{self.loop_element} inputCollection=…> or a "
                "loopCardinality",
                node.id,
                loop.line or node.line,
            )
        if loop.niva_loop is not None:
            nl = loop.niva_loop
            if not nl.input_collection:
                self.report(f"{self.loop_element} has no inputCollection", node.id, nl.line)
            self._maybe_expression(nl.input_collection, node.id, nl.line)
            self._maybe_expression(nl.output_element, node.id, nl.line)
        for what, expression in (
            ("the loop cardinality", loop.loop_cardinality),
            ("the completion condition", loop.completion_condition),
        ):
            if expression is not None and self._is_niva(expression):
                self._expression(expression.body.strip(), node.id, expression.line, what)

    def _call(self, node: FlowNode) -> None:
        if node.kind != "callActivity":
            return
        called = node.niva.called_element
        process_id = (called.process_id if called else None) or node.called_element
        if not process_id:
            self.report(
                f"call activity names no process: add <{self.vocabulary}:calledElement "
                'processId="…"/>',
                node.id,
                node.line,
            )
        elif is_expression(process_id):
            self._expression(process_id, node.id, node.line)
        elif self.known_processes is not None and process_id not in self.known_processes:
            # Deployments are often split: the called process may come later. A case that
            # reaches the call before it does waits in an incident, retried once it is.
            self.warnings.append(
                Problem(
                    message=f"call activity starts process {process_id!r}, which is neither "
                    "deployed nor part of this deployment: deploy it before a case reaches "
                    "this call, or the case waits there in an incident",
                    element_id=node.id,
                    line=node.line,
                )
            )
        if called is not None and called.detached and node.niva.outputs:
            self.report(
                "a detached call activity cannot map outputs: it does not wait for the child",
                node.id,
                node.line,
            )

    # --- values ---------------------------------------------------------------------------

    @property
    def loop_element(self) -> str:
        return "zeebe:loopCharacteristics" if self.dialect == "camunda8" else "niva:loop"

    def _is_niva(self, expression: Expression) -> bool:
        """True when the expression is in niva's language (its own or the file's default)."""
        return is_niva_language(expression.language or self.default_language)

    def _expression(
        self, source: str, element_id: str, line: int | None, what: str | None = None
    ) -> None:
        # Conditions and cardinalities are always expressions; the '=' prefix is optional.
        text = source if is_expression(source) else f"={source}"
        if what is not None and not text[1:].strip():
            self.report(
                f"{what} is empty: write a {language_name(self.dialect)} expression "
                "(e.g. amount > 1000) or remove it",
                element_id,
                line,
            )
            return
        self.expression_sources.append(text)
        try:
            compile_value(text, dialect=self.dialect, element_id=element_id)
        except ExpressionError as exc:
            hint = _foreign_dialect(text[1:]) if self.dialect == "niva" else None
            reason = f"{exc.reason}; {hint}" if hint else exc.reason
            self.report(f"{reason} (expression: {exc.expression})", element_id, line)

    def _maybe_expression(self, value: str | None, element_id: str, line: int | None) -> None:
        if value is not None and is_expression(value):
            self._expression(value, element_id, line)

    def _duration(self, value: str, element_id: str, line: int | None, what: str) -> None:
        if is_expression(value):
            self._expression(value, element_id, line)
            return
        try:
            IsoDuration.parse(value)
        except TimerSpecError as exc:
            self.report(f"{what}: {exc.reason} (value: {value!r})", element_id, line)


_NIVA_NS = "{" + NIVA + "}"


def niva_vocabulary_problems(process: Process, *, dialect: Dialect = "niva") -> list[Problem]:
    """Every niva element or attribute in ``process`` that niva does not read.

    The reader keeps what it does not read, so a misspelt ``niva:calender`` would otherwise
    be silently ignored: an element the reader does not know, a known one where it is not
    read (a second ``niva:form``, a ``niva:loop`` on a task), and a niva-namespace attribute
    on a BPMN element. Each is reported with the id of the process, node or flow that holds
    it (an event definition's or a loop's problems with their node's). In a Camunda 8 file
    (``dialect``) every niva element mixes the two dialects, which the reader does not read.
    """
    problems: list[Problem] = []
    for element_id, kind, element, extra in _niva_holders(process):
        for raw in (*element.foreign_extensions, *element.extras, *extra):
            if not raw.tag.startswith(_NIVA_NS):
                continue
            name = raw.local_name
            if dialect == "camunda8":
                message = (
                    f"niva:{name} in a Camunda 8 file: the file uses zeebe: extensions, and one "
                    "file is in one dialect, so niva: settings are not read here; write the "
                    "setting as its zeebe: extension (see docs/MODELLING.md), or make the file "
                    "niva's by replacing the zeebe: ones"
                )
            elif name in NIVA_ELEMENTS:
                message = (
                    f"niva:{name} is not read here (in a {kind}): niva reads it once, and "
                    "only in the extensionElements of the elements it configures"
                )
            else:
                hint = did_you_mean(name, NIVA_ELEMENTS, prefix="niva:")
                message = f"unknown niva extension element niva:{name}{hint}"
            problems.append(Problem(message=message, element_id=element_id, line=raw.line))
        for attribute in element.attributes:
            if attribute.startswith(_NIVA_NS):
                problems.append(
                    Problem(
                        message=f"unknown niva attribute niva:{attribute[len(_NIVA_NS) :]} on "
                        f"a {kind}: niva's settings are niva elements in extensionElements",
                        element_id=element_id,
                        line=element.line,
                    )
                )
    return problems


def _niva_holders(
    process: Process,
) -> Iterator[tuple[str | None, str, BaseElement, list[RawElement]]]:
    """Each element of ``process`` that may hold niva vocabulary: the id to report it by,
    its kind, the element, and the raw content of a subprocess it holds."""
    yield process.id or None, "process", process, []
    for node in process.all_nodes():
        content = node.subprocess.extras if node.subprocess is not None else []
        yield node.id or None, node.kind, node, content
        for definition in node.event_definitions:
            yield node.id or None, f"{definition.kind}EventDefinition", definition, []
        if node.loop is not None:
            yield node.id or None, "multiInstanceLoopCharacteristics", node.loop, []
    for flow in process.all_flows():
        yield flow.id or None, "sequenceFlow", flow, []


def _in_order(problems: list[Problem]) -> list[Problem]:
    """By line, so an editor walks them top to bottom."""
    return sorted(problems, key=lambda p: (p.line or 0, p.element_id or ""))


def _foreign_dialect(text: str) -> str | None:
    """A hint when an expression that does not compile as CEL looks like FEEL or JUEL."""
    if _JUEL.match(text):
        dialect = "JUEL (Camunda 7)"
    elif _FEEL_EQUALS.search(_without_strings(text)) or _FEEL_WORDS.search(text):
        dialect = "FEEL"
    else:
        return None
    return (
        f"this looks like {dialect}, but niva's expressions are CEL: == for equality, "
        "&& and || for and/or, no ${…} (e.g. =amount > 1000 && region == 'SE-AB'); "
        "FEEL is for Camunda 8 models (zeebe: extensions), a separate dialect"
    )


def _without_strings(text: str) -> str:
    """The text with its quoted strings emptied, so an '=' inside one is not counted."""
    return re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", text)


def _seconds(seconds: float) -> str:
    """A period for people: ``1 min``, ``90 s``."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"
