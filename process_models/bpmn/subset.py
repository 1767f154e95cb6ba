"""niva's executable subset of BPMN 2.0, and what keeps a process out of it.

A process is executable when every element in it is one the engine runs, or one it may
ignore because it only documents the model (lanes, annotations, groups, data objects and
their associations). Anything else is kept in the model and written back, but `blockers`
lists it, with element id and source line and what to use instead, so a modeller sees
everything to change at once.

Executable: none/message/timer start; none, message, error, escalation and terminate end;
user, service, send, receive and manual tasks, and plain ``task`` as an abstract
pass-through (as Camunda 8 runs it); exclusive and inclusive gateways with conditions and a
default flow; parallel and event-based gateways; intermediate timer, message and link
catch; a none, message, escalation or link intermediate throw; boundary timer, message and
escalation events, interrupting or not, and error boundaries; parallel and sequential
multi-instance with a completion condition; embedded subprocesses (started by a none start
event), event subprocesses with message, timer, error or escalation starts; call
activities; business rule tasks that call a DMN decision; script tasks (``niva:script``, or
in the Camunda 8 dialect ``zeebe:script`` or a job). Conditional events (intermediate catch,
boundary, event-subprocess start) and signal events (start, intermediate
catch and throw, boundary, end, event-subprocess start) are executable too, and so is
compensation: compensation boundary events with their handlers (``isForCompensation``),
compensation intermediate throw and end events. Conditions and
timers
must be in niva's expression language:
no ``language`` attribute (and no other ``expressionLanguage`` on the definitions), or one of
`NIVA_LANGUAGES`, in any case (``cel``, ``CEL``, ``text/cel``, ``application/cel``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from process_models.bpmn.namespaces import BPMN
from process_models.errors import Problem
from process_models.schema import (
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

__all__ = [
    "CAMUNDA8_NODE_KINDS",
    "EXECUTABLE_NODE_KINDS",
    "MODELLING_ONLY",
    "NIVA_LANGUAGES",
    "blockers",
    "blockers_by_process",
    "is_executable",
    "is_niva_language",
]

#: Flow node kinds the engine runs (event definitions are checked separately).
EXECUTABLE_NODE_KINDS: frozenset[str] = frozenset(
    {
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        # Plain `task` is an abstract task: it completes at once, as in Camunda 8.
        "task",
        "userTask",
        "serviceTask",
        "sendTask",
        "receiveTask",
        "manualTask",
        "exclusiveGateway",
        "parallelGateway",
        "inclusiveGateway",
        "eventBasedGateway",
        "subProcess",
        "callActivity",
    }
)

#: Flow node kinds the engine runs in the Camunda 8 dialect only: a script task evaluates
#: its ``zeebe:script`` FEEL expression (or runs as a job with a ``zeebe:taskDefinition``).
CAMUNDA8_NODE_KINDS: frozenset[str] = frozenset({"scriptTask"})

#: Elements the engine ignores because they only document the model.
MODELLING_ONLY: frozenset[str] = frozenset(
    {
        "laneSet",
        "textAnnotation",
        "association",
        "group",
        "category",
        "categoryValueRef",
        "dataObject",
        "dataObjectReference",
        "dataStoreReference",
        "dataInputAssociation",
        "dataOutputAssociation",
        "ioSpecification",
        "property",
        # An event's own data declarations: the event form of ioSpecification.
        "dataInput",
        "dataOutput",
        "inputSet",
        "outputSet",
        # Rich documentation kept raw.
        "documentation",
    }
)

#: Values of a ``language`` attribute niva executes (compared case-insensitively, after
#: trimming): the name, and the media-type forms tools write for it.
NIVA_LANGUAGES: frozenset[str] = frozenset({"cel", "text/cel", "application/cel"})


def is_niva_language(language: str | None) -> bool:
    """True when an expression in ``language`` is CEL, which niva runs (None: no language
    declared, so niva's own)."""
    return language is None or language.strip().lower() in NIVA_LANGUAGES


_EVENTS_BY_KIND: dict[str, frozenset[str]] = {
    "startEvent": frozenset({"message", "timer", "signal"}),
    "endEvent": frozenset({"message", "error", "terminate", "escalation", "signal", "compensate"}),
    "intermediateCatchEvent": frozenset({"message", "timer", "link", "signal", "conditional"}),
    "intermediateThrowEvent": frozenset({"message", "escalation", "link", "signal", "compensate"}),
    "boundaryEvent": frozenset(
        {"message", "timer", "error", "escalation", "signal", "conditional", "compensate"}
    ),
}

_KIND_HINTS: dict[str, str] = {
    "complexGateway": "use an exclusive or parallel gateway",
    "scriptTask": 'give it <niva:script expression="=…" resultVariable="…"/> (zeebe:script '
    "in a Camunda 8 file), or use a service task with a registered type (niva:taskDefinition)",
    "businessRuleTask": "name the DMN decision it evaluates: <niva:calledDecision "
    'decisionId="…" resultVariable="…"/> (zeebe:calledDecision in a Camunda 8 file)',
    "transaction": "use an embedded subprocess with error boundary events",
    "adHocSubProcess": "use an embedded subprocess",
    "callChoreography": "choreographies only describe collaboration; model a process",
    "choreographyTask": "choreographies only describe collaboration; model a process",
    "subChoreography": "choreographies only describe collaboration; model a process",
    "implicitThrowEvent": "use an intermediate throw event",
}

_DEFINITION_HINTS: dict[str, str] = {
    "conditional": "a conditional event may be an intermediate catch, a boundary or the start "
    "of an event subprocess; start the process otherwise",
    "compensate": "a compensation event subprocess is not executable; attach a compensation "
    "boundary event to the activity and associate it with a handler (isForCompensation)",
    "cancel": "use an error event",
}

_EXTRA_HINTS: dict[str, str] = {
    "standardLoopCharacteristics": "use a multi-instance or a loop back through a gateway",
    "potentialOwner": "use niva:assignment candidateGroups / candidateOrgs",
    "humanPerformer": "use niva:assignment candidateGroups / candidateOrgs",
    "performer": "use niva:assignment candidateGroups / candidateOrgs",
    "resourceRole": "use niva:assignment candidateGroups / candidateOrgs",
    "rendering": "use niva:form",
    "script": "use a service task with a registered type (niva:taskDefinition)",
    "eventDefinitionRef": "define the event inside the event (e.g. a messageEventDefinition)",
    "loopDataInputRef": "use niva:loop inputCollection",
    "inputDataItem": "use niva:loop inputElement",
    "loopDataOutputRef": "use niva:loop outputCollection",
    "outputDataItem": "use niva:loop outputElement",
    "complexBehaviorDefinition": "use a completion condition",
}


def is_executable(
    process: Process, *, expression_language: str | None = None, dialect: Dialect = "niva"
) -> bool:
    """True when niva can run every element of the process.

    Args:
        process: The process to check.
        expression_language: The ``expressionLanguage`` of the definitions, if declared;
            it applies to expressions that name no language of their own.
        dialect: The file's dialect (`Definitions.dialect`).
    """
    return not blockers(process, expression_language=expression_language, dialect=dialect)


def blockers_by_process(definitions: Definitions) -> dict[str, list[Problem]]:
    """`blockers` of every process in a file, keyed by process id, in file order."""
    language = definitions.attributes.get("expressionLanguage")
    dialect = definitions.dialect
    return {
        p.id: blockers(p, expression_language=language, dialect=dialect)
        for p in definitions.processes
    }


def blockers(
    process: Process, *, expression_language: str | None = None, dialect: Dialect = "niva"
) -> list[Problem]:
    """Every element that keeps the process out of niva's executable subset.

    Args:
        process: The process to check (nested subprocesses included).
        expression_language: The ``expressionLanguage`` of the definitions, if declared;
            it applies to expressions that name no language of their own.
        dialect: The file's dialect: a Camunda 8 file may hold script tasks
            (`CAMUNDA8_NODE_KINDS`).

    Returns:
        One problem per offending element, in document order, each with the element id,
        its source line and what to use instead. Empty when the process is executable.
    """
    check = _Check(expression_language, dialect)
    check.extras(process.id, process.extras)
    check.container(process, scope="process")
    return check.problems


_Scope = Literal["process", "subprocess", "event subprocess"]


class _Check:
    def __init__(self, expression_language: str | None, dialect: Dialect = "niva") -> None:
        self.default_language = expression_language
        self.camunda8 = dialect == "camunda8"
        self.kinds = EXECUTABLE_NODE_KINDS | (
            CAMUNDA8_NODE_KINDS if dialect == "camunda8" else frozenset()
        )
        self.problems: list[Problem] = []

    def add(self, element_id: str | None, line: int | None, message: str) -> None:
        self.problems.append(Problem(message=message, element_id=element_id or None, line=line))

    def container(self, container: FlowContainer, *, scope: _Scope) -> None:
        for node in container.nodes:
            self.node(node, scope=scope)
        for flow in container.flows:
            self.flow(flow)
        if not isinstance(container, Process):
            self.extras(None, container.extras)

    def extras(self, owner_id: str | None, extras: Iterable[RawElement]) -> None:
        for raw in extras:
            local = raw.local_name
            if raw.namespace == BPMN and local in MODELLING_ONLY:
                continue
            hint = _EXTRA_HINTS.get(local)
            # Report the owner (the element a modeller sees in the diagram) and name the
            # offending child by its own id, if it has one.
            child = f"{local} '{raw.id}'" if raw.id else local
            message = f"{child} is not in niva's executable subset"
            self.add(owner_id or raw.id, raw.line, f"{message}; {hint}" if hint else message)

    def language(
        self, owner: str, what: str, expression: Expression | None, line: int | None
    ) -> None:
        if expression is None:
            return
        language = expression.language or self.default_language
        if not is_niva_language(language):
            self.add(
                owner,
                expression.line or line,
                f"{what} is written in {language!r}, which niva does not execute; "
                'write it in CEL (no language attribute, or language="cel")',
            )

    def flow(self, flow: SequenceFlow) -> None:
        self.language(flow.id, "the condition", flow.condition, flow.line)
        self.extras(flow.id, flow.extras)

    def runs(self, node: FlowNode) -> bool:
        """Whether the engine runs the node's kind; a business rule task runs its called
        DMN decision (in either dialect), or as a job in the Camunda 8 dialect."""
        if node.kind == "scriptTask" and not self.camunda8:
            return node.niva.script is not None
        if node.kind == "businessRuleTask":
            return node.niva.called_decision is not None or (
                self.camunda8 and node.niva.task_definition is not None
            )
        return node.kind in self.kinds

    def node(self, node: FlowNode, *, scope: _Scope) -> None:
        if not self.runs(node):
            hint = _KIND_HINTS.get(node.kind, "see the executable subset in DESIGN.md")
            self.add(node.id, node.line, f"{node.kind} is not in niva's executable subset; {hint}")
        else:
            # The children of an element that blocks anyway (a scriptTask's script) would
            # only repeat the same problem.
            self.events(node, scope=scope)
            self.attributes(node)
            self.extras(node.id, node.extras)
        if node.loop is not None:
            loop = node.loop
            self.language(node.id, "the loop cardinality", loop.loop_cardinality, loop.line)
            self.language(node.id, "the completion condition", loop.completion_condition, loop.line)
            self.extras(node.id, loop.extras)
        if node.subprocess is not None:
            inner: _Scope = "event subprocess" if node.triggered_by_event else "subprocess"
            self.container(node.subprocess, scope=inner)

    def attributes(self, node: FlowNode) -> None:
        flags = {
            "parallelMultiple": "a parallel-multiple event is not executable; use a parallel "
            "gateway and one event per trigger",
            "instantiate": "starting a process at a receive task or event-based gateway is not "
            "executable; use a message start event",
        }
        for attribute, message in flags.items():
            if node.attributes.get(attribute, "").strip() in ("true", "1"):
                self.add(node.id, node.line, f"{node.kind} has {attribute}=true: {message}")
        if node.attributes.get("eventGatewayType", "Exclusive") != "Exclusive":
            self.add(
                node.id,
                node.line,
                "a parallel event-based gateway is not executable; use an exclusive one",
            )

    def events(self, node: FlowNode, *, scope: _Scope) -> None:
        allowed = _EVENTS_BY_KIND.get(node.kind)
        if allowed is None:
            if node.event_definitions:
                self.add(node.id, node.line, f"{node.kind} cannot carry event definitions")
            return
        if node.kind == "startEvent" and scope == "subprocess":
            # Nothing would deliver the trigger: the subprocess starts when a token arrives.
            for definition in node.event_definitions:
                self.add(
                    node.id,
                    definition.line or node.line,
                    f"the start event of an embedded subprocess cannot have a "
                    f"{definition.kind} trigger: the subprocess starts when a token reaches "
                    "it; remove the trigger (wait with an intermediate catch event after the "
                    'start) or make it an event subprocess (triggeredByEvent="true")',
                )
            return
        if node.kind == "startEvent" and scope == "event subprocess":
            allowed = allowed | {"error", "escalation", "conditional"}
            if not node.event_definitions:
                self.add(
                    node.id,
                    node.line,
                    "the start event of an event subprocess needs a message, timer, signal, "
                    "error, escalation or conditional definition",
                )
        if node.kind in ("intermediateCatchEvent", "boundaryEvent") and not node.event_definitions:
            self.add(
                node.id,
                node.line,
                f"a {node.kind} without an event definition is not executable; "
                "add a timer or message definition",
            )
        if len(node.event_definitions) > 1:
            self.add(
                node.id,
                node.line,
                "an event with several definitions (a multiple event) is not executable; "
                "use one event per trigger",
            )
        for definition in node.event_definitions:
            self.definition(node, definition, allowed)

    def definition(
        self, node: FlowNode, definition: EventDefinition, allowed: frozenset[str]
    ) -> None:
        line = definition.line or node.line
        if definition.kind not in allowed:
            hint = _DEFINITION_HINTS.get(definition.kind)
            if hint is None:
                kinds = ", ".join(sorted(allowed)) or "none"
                hint = f"a {node.kind} may be {kinds} (or none where BPMN allows)"
            self.add(
                node.id,
                line,
                f"{node.kind} with a {definition.kind}EventDefinition is not in niva's "
                f"executable subset; {hint}",
            )
            return
        if node.kind == "boundaryEvent" and definition.kind == "error" and not node.cancel_activity:
            self.add(
                node.id,
                line,
                'an error boundary event always interrupts; remove cancelActivity="false"',
            )
        timer = definition.timer
        if timer is not None:
            kind, expression = timer
            self.language(node.id, f"the timer's {kind}", expression, line)
        self.language(node.id, "the condition", definition.condition, line)
