"""Validation of executable processes: every problem at once, each with element id and line.

`validate` checks what can be known before a case runs: the structure of the graph (a start
event, a none start in every embedded subprocess and exactly one in every event subprocess,
no flow to nowhere, no unreachable or dead-end node, every element with a unique id), process
ids (`process_models.ids`), the executable subset, the ``niva:`` extensions against the
`Registry` (task types, form keys), that every CEL expression compiles (with a hint when it
looks like FEEL or JUEL) and every timer parses, that no literal cycle repeats more often
than the minimum period, and that call activities name a known process. What only shows at
run time (a gateway whose conditions all fail) is an incident, not a validation problem.

The checks use lookups built once per process or subprocess, so validation time grows
linearly with the size of the model.

Only processes marked ``isExecutable="true"`` are validated: the other pools of a
collaboration are documentation.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from process_models.bpmn.namespaces import NIVA
from process_models.bpmn.reader import NIVA_ELEMENTS, did_you_mean
from process_models.bpmn.subset import blockers, is_niva_language
from process_models.calendars import calendar_problems
from process_models.errors import ExpressionError, Problem, TimerSpecError
from process_models.expressions import compile_expression, is_expression
from process_models.ids import id_problem
from process_models.limits import MIN_CYCLE_PERIOD
from process_models.registry import Registry, default_registry
from process_models.schema import (
    BaseElement,
    Definitions,
    Expression,
    FlowContainer,
    FlowNode,
    Process,
    RawElement,
    SequenceFlow,
)
from process_models.timers import IsoDuration, TimerKind, parse_timer

__all__ = ["executable_processes", "niva_vocabulary_problems", "reference_entries", "validate"]

_TIMER_KINDS: dict[str, TimerKind] = {
    "timeDuration": "duration",
    "timeDate": "date",
    "timeCycle": "cycle",
}
_SERVICE_KINDS = {"serviceTask", "sendTask"}
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
    checker = _Checker(defs, registry or default_registry, known_processes)
    checker.min_cycle_period = min_cycle_period
    return checker.run()


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
        self.expression_sources: list[str] = []
        self.default_language = defs.attributes.get("expressionLanguage")
        self.min_cycle_period = MIN_CYCLE_PERIOD

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
            self.problems.extend(blockers(process, expression_language=self.default_language))
            self._process_settings(process)
            self._container(process, process)
        return sorted(self.problems, key=lambda p: (p.line or 0, p.element_id or ""))

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
        for root in (*self.defs.messages, *self.defs.errors):
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
        self.problems.extend(niva_vocabulary_problems(process))

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
                    "with a message, timer or error trigger",
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
        # An event subprocess starts by its own trigger, so it is an entry point too.
        frontier = [n.id for n in starts] + [n.id for n in container.nodes if n.triggered_by_event]
        while frontier:
            current = frontier.pop()
            if current in reached:
                continue
            reached.add(current)
            frontier.extend(f.target_ref for f in index.outgoing(current) if f.target_ref)
            frontier.extend(b.id for b in index.boundary_events(current))
        for node in container.nodes:
            if node.id not in reached and starts:
                self.report(
                    "unreachable: no path from a start event leads here", node.id, node.line
                )
            if (
                node.kind != "endEvent"
                and not node.triggered_by_event
                and not index.outgoing(node.id)
            ):
                self.report(
                    "dead end: nothing leaves this node; add a sequence flow or an end event",
                    node.id,
                    node.line,
                )

    def _node(self, index: _Index, node: FlowNode) -> None:
        ext = node.niva
        if node.kind in _SERVICE_KINDS:
            self._task_definition(node)
        if ext.form is not None:
            key = ext.form.key
            if not key:
                self.report("niva:form has no key", node.id, ext.form.line)
            elif key not in self.registry.forms:
                known = ", ".join(sorted(self.registry.forms)) or "none"
                self.report(f"unknown form key {key!r} (registered: {known})", node.id, node.line)
        if ext.assignment is not None:
            for value in (ext.assignment.candidate_groups, ext.assignment.candidate_orgs):
                self._maybe_expression(value, node.id, ext.assignment.line)
        for constraint in ext.constraints:
            if not constraint.expression:
                self.report("niva:constraint has no expression", node.id, constraint.line)
            else:
                self._expression(constraint.expression, node.id, constraint.line)
        for mapping in (*ext.inputs, *ext.outputs):
            if not mapping.target:
                self.report("input/output mapping has no target", node.id, mapping.line)
            self._maybe_expression(mapping.source, node.id, mapping.line)
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

    def _task_definition(self, node: FlowNode) -> None:
        definition = node.niva.task_definition
        if definition is None or not definition.type:
            self.report(
                f'{node.kind} needs <niva:taskDefinition type="…"/> naming a registered '
                f"task type ({', '.join(sorted(self.registry.task_types))})",
                node.id,
                node.line,
            )
            return
        if definition.type not in self.registry.task_types:
            known = ", ".join(sorted(self.registry.task_types))
            self.report(
                f"unknown task type {definition.type!r} (registered: {known})",
                node.id,
                definition.line,
            )
        if definition.retries is not None and not (
            definition.retries.isdigit() and int(definition.retries) >= 1
        ):
            self.report(
                f"niva:taskDefinition retries={definition.retries!r} must be a whole number >= 1",
                node.id,
                definition.line,
            )
        if definition.timeout is not None:
            self._duration(definition.timeout, node.id, definition.line, "timeout")

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
        if node.kind == "receiveTask":
            self._message_name(node, node.attributes.get("messageRef"))

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
        if node.kind == "exclusiveGateway" and len(outgoing) > 1:
            for flow in outgoing:
                if flow.condition is None and flow.id != node.default_flow:
                    self.report(
                        f"flow leaves exclusive gateway {node.id!r} with no condition and is "
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
                        and target.event_kinds() in (["message"], ["timer"])
                    )
                ):
                    self.report(
                        "an event-based gateway may lead only to message or timer catch "
                        "events and receive tasks",
                        flow.id,
                        flow.line,
                    )

    def _loop(self, node: FlowNode) -> None:
        loop = node.loop
        if loop is None:
            return
        if loop.niva_loop is None and loop.loop_cardinality is None:
            self.report(
                "multi-instance needs <niva:loop inputCollection=…> or a loopCardinality",
                node.id,
                loop.line or node.line,
            )
        if loop.niva_loop is not None:
            nl = loop.niva_loop
            if not nl.input_collection:
                self.report("niva:loop has no inputCollection", node.id, nl.line)
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
                'call activity names no process: add <niva:calledElement processId="…"/>',
                node.id,
                node.line,
            )
        elif is_expression(process_id):
            self._expression(process_id, node.id, node.line)
        elif self.known_processes is not None and process_id not in self.known_processes:
            self.report(
                f"call activity starts process {process_id!r}, which is neither deployed "
                "nor part of this deployment",
                node.id,
                node.line,
            )
        if called is not None and called.detached and node.niva.outputs:
            self.report(
                "a detached call activity cannot map outputs: it does not wait for the child",
                node.id,
                node.line,
            )

    # --- values ---------------------------------------------------------------------------

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
                f"{what} is empty: write a CEL expression (e.g. amount > 1000) or remove it",
                element_id,
                line,
            )
            return
        self.expression_sources.append(text)
        try:
            compile_expression(text, element_id=element_id)
        except ExpressionError as exc:
            hint = _foreign_dialect(text[1:])
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


def niva_vocabulary_problems(process: Process) -> list[Problem]:
    """Every niva element or attribute in ``process`` that niva does not read.

    The reader keeps what it does not read, so a misspelt ``niva:calender`` would otherwise
    be silently ignored: an element the reader does not know, a known one where it is not
    read (a second ``niva:form``, a ``niva:loop`` on a task), and a niva-namespace attribute
    on a BPMN element. Each is reported with the id of the process, node or flow that holds
    it (an event definition's or a loop's problems with their node's).
    """
    problems: list[Problem] = []
    for element_id, kind, element, extra in _niva_holders(process):
        for raw in (*element.foreign_extensions, *element.extras, *extra):
            if not raw.tag.startswith(_NIVA_NS):
                continue
            name = raw.local_name
            if name in NIVA_ELEMENTS:
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
