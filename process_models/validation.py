"""Validation of executable processes: every problem at once, each with element id and line.

`validate` checks what can be known before a case runs: the structure of the graph (a start
event, no flow to nowhere, no unreachable or dead-end node, no duplicate id), the executable
subset, the ``niva:`` extensions against the `Registry` (task types, form keys), that every
expression compiles and every timer parses, and that call activities name a known process.
What only shows at run time (a gateway whose conditions all fail) is an incident, not a
validation problem.

Only processes marked ``isExecutable="true"`` are validated: the other pools of a
collaboration are documentation.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from process_models.bpmn.subset import blockers
from process_models.errors import ExpressionError, Problem, TimerSpecError
from process_models.expressions import compile_expression, is_expression
from process_models.registry import Registry, default_registry
from process_models.schema import Definitions, FlowContainer, FlowNode, Process
from process_models.timers import IsoDuration, TimerKind, parse_timer

__all__ = ["executable_processes", "reference_entries", "validate"]

_TIMER_KINDS: dict[str, TimerKind] = {
    "timeDuration": "duration",
    "timeDate": "date",
    "timeCycle": "cycle",
}
_SERVICE_KINDS = {"serviceTask", "sendTask"}
_MESSAGE_WAITERS = {"intermediateCatchEvent", "boundaryEvent", "startEvent", "receiveTask"}


def executable_processes(defs: Definitions) -> list[Process]:
    """The processes niva deploys from a file: those marked ``isExecutable="true"``."""
    return [p for p in defs.processes if p.is_executable]


def validate(
    defs: Definitions,
    *,
    registry: Registry | None = None,
    known_processes: Collection[str] | None = None,
) -> list[Problem]:
    """Every problem of the file's executable processes, in document order.

    Args:
        defs: the file as read by `process_models.bpmn.read_bpmn`.
        registry: task types and forms the model may name; the shipped registry by default.
        known_processes: process ids a call activity may start (deployed ones and those of
            the same deployment). None skips that check.
    """
    checker = _Checker(defs, registry or default_registry, known_processes)
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
    checker._container(process, process.id, is_process=True)
    entries: set[str] = set()
    for source in checker.expression_sources:
        for found in _REFERENCE.finditer(source):
            entry = _ENTRY.match(source, found.end())
            if entry is None:
                return None
            entries.add(entry.group(1) or entry.group(3))
    return frozenset(entries)


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
            language = self.defs.attributes.get("expressionLanguage")
            self.problems.extend(blockers(process, expression_language=language))
            self._process_settings(process)
            self._container(process, process.id, is_process=True)
        return sorted(self.problems, key=lambda p: (p.line or 0, p.element_id or ""))

    # --- whole file -----------------------------------------------------------------------

    def _duplicate_ids(self) -> None:
        seen: dict[str, int | None] = {}
        for element_id, line in self._all_ids():
            if element_id in seen:
                first = seen[element_id]
                self.report(
                    f"duplicate id {element_id!r} (first used on line {first}); "
                    "ids must be unique in the file",
                    element_id,
                    line,
                )
            else:
                seen[element_id] = line

    def _all_ids(self) -> Iterator[tuple[str, int | None]]:
        for process in self.defs.processes:
            yield process.id, process.line
            for node in process.all_nodes():
                yield node.id, node.line
            for flow in process.all_flows():
                yield flow.id, flow.line
        for root in (*self.defs.messages, *self.defs.errors):
            if root.id:
                yield root.id, root.line

    def _process_settings(self, process: Process) -> None:
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

    # --- one process or subprocess ----------------------------------------------------------

    def _container(self, container: FlowContainer, owner: str, *, is_process: bool) -> None:
        ids = {node.id for node in container.nodes}
        starts = container.start_events()
        if not starts:
            where = "process" if is_process else "subprocess"
            self.report(f"the {where} has no start event", owner, None)
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
        self._reachability(container, starts)
        for node in container.nodes:
            self._node(container, node)
            if node.subprocess is not None:
                self._container(node.subprocess, node.id, is_process=False)

    def _reachability(self, container: FlowContainer, starts: list[FlowNode]) -> None:
        reached: set[str] = set()
        # An event subprocess starts by its own trigger, so it is an entry point too.
        frontier = [n.id for n in starts] + [n.id for n in container.nodes if n.triggered_by_event]
        while frontier:
            current = frontier.pop()
            if current in reached:
                continue
            reached.add(current)
            frontier.extend(f.target_ref for f in container.outgoing(current) if f.target_ref)
            frontier.extend(b.id for b in container.boundary_events(current))
        for node in container.nodes:
            if node.id not in reached and starts:
                self.report(
                    "unreachable: no path from a start event leads here", node.id, node.line
                )
            if (
                node.kind != "endEvent"
                and not node.triggered_by_event
                and not container.outgoing(node.id)
            ):
                self.report(
                    "dead end: nothing leaves this node; add a sequence flow or an end event",
                    node.id,
                    node.line,
                )

    def _node(self, container: FlowContainer, node: FlowNode) -> None:
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
        self._gateway(container, node)
        self._loop(node)
        self._call(node)
        if node.kind == "boundaryEvent":
            host = container.node(node.attached_to_ref or "")
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
                if value.language not in (None, "cel"):
                    continue  # a foreign language is a blocker, reported by the subset check
                if is_expression(value.body.strip()):
                    self._expression(value.body.strip(), node.id, value.line)
                else:
                    try:
                        parse_timer(_TIMER_KINDS[kind], value.body.strip(), element_id=node.id)
                    except TimerSpecError as exc:
                        self.report(
                            f"{exc.reason} (value: {exc.value!r})", node.id, value.line or node.line
                        )
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

    def _gateway(self, container: FlowContainer, node: FlowNode) -> None:
        outgoing = container.outgoing(node.id)
        if node.default_flow is not None and node.default_flow not in {f.id for f in outgoing}:
            self.report(
                f"default flow {node.default_flow!r} is not an outgoing flow of this element",
                node.id,
                node.line,
            )
        for flow in outgoing:
            condition = flow.condition
            if condition is not None and condition.language in (None, "cel"):
                self._expression(condition.body.strip(), flow.id, condition.line or flow.line)
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
                target = container.node(flow.target_ref or "")
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
        for expression in (loop.loop_cardinality, loop.completion_condition):
            if expression is not None and expression.language in (None, "cel"):
                self._expression(expression.body.strip(), node.id, expression.line)

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

    def _expression(self, source: str, element_id: str, line: int | None) -> None:
        # Conditions and cardinalities are always expressions; the '=' prefix is optional.
        text = source if is_expression(source) else f"={source}"
        self.expression_sources.append(text)
        try:
            compile_expression(text, element_id=element_id)
        except ExpressionError as exc:
            self.report(f"{exc.reason} (expression: {exc.expression})", element_id, line)

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
