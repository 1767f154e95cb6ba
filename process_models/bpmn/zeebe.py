"""Camunda 8's ``zeebe:`` extensions, read into niva's dialect-neutral `NivaExtensions`.

A file in the Camunda 8 dialect (`Definitions.dialect`) configures execution with the
extension elements Camunda Modeler writes. The reader keeps each of them raw, so the
writer puts the file back as it was, and reads what niva runs from them into the same
fields the ``niva:`` elements fill: the engine, validation and the API read only those.

| zeebe | niva's view |
|---|---|
| ``taskDefinition type retries`` | `TaskDefinition` (``type`` may be ``=`` FEEL) |
| ``taskHeaders`` / ``header key value`` | ``TaskDefinition.headers``, verbatim strings |
| ``ioMapping`` / ``input``, ``output`` ``source target`` | ``inputs`` / ``outputs`` |
| ``assignmentDefinition`` | `Assignment` (see `split_candidate_groups`) |
| ``formDefinition formId externalReference formKey`` | `Form` |
| ``userTaskForm`` (on a process) | ``Process.user_task_forms`` (‡‡) |
| ``calledElement processId propagateAll…Variables`` | `CalledElement` |
| ``loopCharacteristics`` | `LoopExtension` |
| ``subscription correlationKey`` on a ``bpmn:message`` | ``Subscription.correlation_key`` (†) |
| ``script expression resultVariable`` | `Script` |
| ``calledDecision decisionId resultVariable`` | `CalledDecision` |
| ``properties`` / ``property name value`` | ``properties`` (‡) |
| ``executionListeners`` / ``executionListener`` | ``execution_listeners`` (‡‡‡) |
| ``taskListeners`` / ``taskListener`` (on a user task) | ``task_listeners`` |

(†) of every element that waits for that message. (‡) on a process, the properties
``niva:calendar`` and ``niva:timezone`` set the process's calendar and zone. (‡‡) an
embedded form's form-js JSON by id, which a task links with
``formKey="camunda-forms:bpmn:<id>"``. (‡‡‡) of the node, or of the ``Process``.

Other zeebe elements (``userTask``, ``versionTag``, …) are kept raw only. Those that
would run work niva does not run yet (`UNSUPPORTED`; execution and task listeners where
`listener_problems` says) are validation problems (`unsupported_settings`),
so a model never runs with them silently dropped. Zeebe's vocabulary is read leniently,
as Camunda Modeler writes it: an attribute niva does not use is ignored rather than an
error.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml import etree

from process_models.bpmn.namespaces import ZEEBE
from process_models.errors import Problem
from process_models.schema import (
    Assignment,
    BaseElement,
    CalledDecision,
    CalledElement,
    ExecutionListener,
    FlowNode,
    Form,
    IoMapping,
    LoopExtension,
    NivaExtensions,
    Process,
    Script,
    Subscription,
    TaskDefinition,
    TaskListener,
)
from service_contract import BUILTIN_TASK_TYPE_NAMES

__all__ = [
    "EMBEDDED_FORM_PREFIX",
    "UNSUPPORTED",
    "ZEEBE_PREFIX",
    "is_zeebe",
    "listener_events",
    "listener_problems",
    "read_execution_listeners",
    "read_loop",
    "read_node_extension",
    "read_process_properties",
    "read_subscription_key",
    "split_candidate_groups",
    "unsupported_settings",
    "with_correlation_key",
]

_Element = etree._Element

#: Clark-notation prefix of every zeebe tag.
ZEEBE_PREFIX = "{" + ZEEBE + "}"

#: A ``formKey`` with this prefix links a ``zeebe:userTaskForm`` of the process by its id.
EMBEDDED_FORM_PREFIX = "camunda-forms:bpmn:"

#: The zeebe:properties names of a process that set niva's process settings.
PROCESS_PROPERTIES: dict[str, str] = {"niva:calendar": "calendar", "niva:timezone": "timezone"}


def is_zeebe(element: _Element) -> bool:
    """True for an element in the zeebe namespace."""
    return str(element.tag).startswith(ZEEBE_PREFIX)


def _name(element: _Element) -> str:
    return str(element.tag)[len(ZEEBE_PREFIX) :]


def _line(element: _Element) -> int | None:
    line = element.sourceline
    return line if isinstance(line, int) else None


def _children(element: _Element, local: str) -> Iterable[_Element]:
    tag = ZEEBE_PREFIX + local
    return (child for child in element if child.tag == tag)


def _flag(value: str | None) -> bool | None:
    """A zeebe boolean attribute: None when absent (Zeebe's default applies)."""
    if value is None:
        return None
    return value.strip().lower() in ("true", "1")


def read_node_extension(element: _Element, niva: NivaExtensions) -> None:
    """Fill ``niva`` from one zeebe extension element of a flow node (the first of each
    kind counts, as Zeebe reads one)."""
    get = element.get
    line = _line(element)
    name = _name(element)
    if name == "taskDefinition" and niva.task_definition is None:
        niva.task_definition = TaskDefinition(type=get("type"), retries=get("retries"), line=line)
    elif name == "taskHeaders":
        # Headers reach the job as written: Zeebe never evaluates them, '=' or not.
        headers = {
            header.get("key") or "": header.get("value") or ""
            for header in _children(element, "header")
        }
        if niva.task_definition is None:
            niva.task_definition = TaskDefinition(line=line)
        niva.task_definition.headers.update(headers)
    elif name == "ioMapping":
        for child in element:
            if child.tag in (ZEEBE_PREFIX + "input", ZEEBE_PREFIX + "output"):
                mapping = IoMapping(
                    target=child.get("target"), source=child.get("source"), line=_line(child)
                )
                (niva.inputs if _name(child) == "input" else niva.outputs).append(mapping)
    elif name == "assignmentDefinition" and niva.assignment is None:
        niva.assignment = _assignment(element)
    elif name == "formDefinition" and niva.form is None:
        niva.form = Form(
            key=get("formKey"),
            form_id=get("formId"),
            external_reference=get("externalReference"),
            line=line,
        )
    elif name == "calledElement" and niva.called_element is None:
        niva.called_element = CalledElement(
            process_id=get("processId"),
            propagate_all_child_variables=_flag(get("propagateAllChildVariables")),
            propagate_all_parent_variables=_flag(get("propagateAllParentVariables")),
            line=line,
        )
    elif name == "script" and niva.script is None:
        niva.script = Script(
            expression=get("expression"), result_variable=get("resultVariable"), line=line
        )
    elif name == "calledDecision" and niva.called_decision is None:
        niva.called_decision = CalledDecision(
            decision_id=get("decisionId"), result_variable=get("resultVariable"), line=line
        )
    elif name == "properties":
        niva.properties.update(_properties(element))
    elif name == "executionListeners":
        niva.execution_listeners.extend(read_execution_listeners(element))
    elif name == "taskListeners":
        niva.task_listeners.extend(
            TaskListener(
                event_type=child.get("eventType"),
                type=child.get("type"),
                retries=child.get("retries"),
                line=_line(child),
            )
            for child in _children(element, "taskListener")
        )


def read_execution_listeners(element: _Element) -> list[ExecutionListener]:
    """The listeners of a ``zeebe:executionListeners``, in model order."""
    return [
        ExecutionListener(
            event_type=child.get("eventType"),
            type=child.get("type"),
            retries=child.get("retries"),
            line=_line(child),
        )
        for child in _children(element, "executionListener")
    ]


def _properties(element: _Element) -> dict[str, str]:
    return {
        prop.get("name") or "": prop.get("value") or "" for prop in _children(element, "property")
    }


def _assignment(element: _Element) -> Assignment:
    groups = element.get("candidateGroups")
    assignment = Assignment(
        assignee=element.get("assignee"),
        candidate_users=element.get("candidateUsers"),
        line=_line(element),
    )
    if groups is None or not groups.strip():
        return assignment
    split = None if groups.lstrip().startswith("=") else split_candidate_groups(groups.split(","))
    if split is None:
        # Known only when the task opens (an expression), or a mix validation reports.
        assignment.candidate_groups = groups
        assignment.org_candidates = True
    else:
        roles, orgs = split
        assignment.candidate_groups = ", ".join(roles) or None
        assignment.candidate_orgs = ", ".join(orgs) or None
    return assignment


def split_candidate_groups(values: Iterable[str]) -> tuple[list[str], list[str]] | None:
    """Camunda candidate groups as niva's ``(roles, organisations)``, or None.

    ``org:SE-AB`` names an organisation, ``org:SE-AB/registrator`` a role in it, a plain
    name a role. niva's rule admits a role *in* an organisation when both are given, so a
    list is expressible only when it is all roles, all organisations, or every pairing of
    its organisations and roles; anything else (``org:SE-AB, registrator``, which Camunda
    reads as either) is None rather than a rule that admits more or fewer principals.
    """
    roles: list[str] = []
    orgs: list[str] = []
    pairs: set[tuple[str, str]] = set()
    kinds: set[str] = set()
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        if value.startswith("org:"):
            org, _, role = value[len("org:") :].partition("/")
            org, role = org.strip(), role.strip()
            if not org:
                return None
            _add(orgs, org)
            if role:
                kinds.add("pair")
                _add(roles, role)
                pairs.add((org, role))
            else:
                kinds.add("org")
        else:
            kinds.add("role")
            _add(roles, value)
    if len(kinds) > 1:
        return None
    if kinds == {"pair"} and len(pairs) != len(roles) * len(orgs):
        return None
    return roles, orgs


def _add(values: list[str], value: str) -> None:
    if value not in values:
        values.append(value)


def read_loop(element: _Element) -> LoopExtension:
    """A ``zeebe:loopCharacteristics`` as niva's `LoopExtension`."""
    get = element.get
    return LoopExtension(
        input_collection=get("inputCollection"),
        input_element=get("inputElement"),
        output_collection=get("outputCollection"),
        output_element=get("outputElement"),
        line=_line(element),
    )


def read_process_properties(element: _Element) -> dict[str, str]:
    """niva's process settings in a process's ``zeebe:properties``, by schema field."""
    return {
        PROCESS_PROPERTIES[name]: value
        for name, value in _properties(element).items()
        if name in PROCESS_PROPERTIES
    }


def read_subscription_key(extensions: Iterable[_Element]) -> str | None:
    """The ``correlationKey`` of a ``bpmn:message``'s ``zeebe:subscription``, if any."""
    for element in extensions:
        if element.tag == ZEEBE_PREFIX + "subscription":
            return element.get("correlationKey")
    return None


#: zeebe extension elements that run work niva does not run yet, with what to do instead.
UNSUPPORTED: dict[str, str] = {}


def unsupported_settings(process: Process) -> list[Problem]:
    """A problem for each zeebe element of ``process`` (its own, and its flow nodes')
    that niva does not run yet (`UNSUPPORTED`), naming the element and its line, and for
    each execution or task listener niva cannot run as written (`listener_problems`)."""
    holders: list[tuple[str, BaseElement]] = [("process", process)]
    holders += [(node.kind, node) for node in process.all_nodes()]
    problems = listener_problems(process)
    for kind, element in holders:
        for raw in element.foreign_extensions:
            if not raw.tag.startswith(ZEEBE_PREFIX):
                continue
            name = raw.tag[len(ZEEBE_PREFIX) :]
            if name in UNSUPPORTED:
                problems.append(
                    Problem(
                        message=f"zeebe:{name} on {kind} {element.id!r}: {UNSUPPORTED[name]}",
                        element_id=element.id,
                        line=raw.line or element.line,
                    )
                )
    return problems


#: Tasks: execution listeners at their start and end (`workflows.listeners`).
LISTENER_TASK_KINDS = frozenset(
    {
        "userTask",
        "serviceTask",
        "sendTask",
        "receiveTask",
        "scriptTask",
        "businessRuleTask",
        "task",
        "manualTask",
    }
)

#: Task listener event types niva runs, by the names Camunda Modeler writes (older
#: versions wrote the short ones).
TASK_LISTENER_EVENTS: dict[str, str] = {
    "creating": "creating",
    "create": "creating",
    "completing": "completing",
    "complete": "completing",
}

#: Task listener event types Camunda defines that niva does not run yet, and why.
TASK_LISTENER_NOT_YET: dict[str, str] = {
    "assigning": "niva assigns a task only when it opens (a creating listener may set the "
    "assignee then)",
    "assignment": "niva assigns a task only when it opens (a creating listener may set the "
    "assignee then)",
    "updating": "niva has no update of an open task",
    "update": "niva has no update of an open task",
    "canceling": "niva cancels a task at once, without waiting for a job",
    "cancel": "niva cancels a task at once, without waiting for a job",
}


def listener_events(node: FlowNode) -> tuple[str, ...]:
    """The execution-listener event types Camunda runs on ``node`` (docs/MODELLING.md,
    "Execution listeners"): start and end on tasks (for each instance of a multi-instance
    activity), subprocesses, call activities, intermediate events and end events; only end
    on start events and boundary events; only start on error end events and gateways; none
    on compensation boundary events. Where niva does not run one of them yet, `_not_yet`
    says why."""
    kinds = node.event_kinds()
    kind = node.kind
    if kind in LISTENER_TASK_KINDS or kind == "callActivity" or kind == "subProcess":
        return ("start", "end")
    if kind == "startEvent" or (kind == "boundaryEvent" and "compensate" not in kinds):
        return ("end",)
    if kind in ("exclusiveGateway", "parallelGateway", "eventBasedGateway", "inclusiveGateway"):
        return ("start",)
    if kind == "intermediateCatchEvent":
        return ("start", "end")
    if kind == "intermediateThrowEvent" or kind == "endEvent":
        # An error end event leaves its scope at once (Camunda runs no end listener there).
        return ("start",) if "error" in kinds else ("start", "end")
    return ()


def _not_yet(node: FlowNode, event: str) -> str | None:
    """Why niva does not run an ``event`` listener Camunda runs on ``node`` (None: it does)."""
    kinds = node.event_kinds()
    if event == "start" and node.kind == "subProcess" and node.triggered_by_event:
        return "niva does not run start listeners on an event subprocess yet"
    throws = node.kind in ("intermediateThrowEvent", "endEvent")
    if event == "end" and throws and {"compensate", "link"} & set(kinds):
        return "niva does not run end listeners on a compensation or link throw event yet"
    return None


def _refused(node: FlowNode, event: str) -> str:
    """Why Camunda refuses an ``event`` listener on ``node``, with what to do instead."""
    if node.kind == "startEvent":
        return (
            "a start event runs no start listener (Camunda's rule): use the process's or "
            "the subprocess's"
        )
    if node.kind == "boundaryEvent" and event == "start":
        return (
            "a boundary event runs no start listener (Camunda's rule): use the start "
            "listeners of the activity it is attached to"
        )
    if node.kind == "boundaryEvent":
        return (
            "a compensation boundary event runs no listener (Camunda's rule): use the "
            "compensation handler's"
        )
    if node.kind.endswith("Gateway"):
        return (
            "a gateway runs no end listener (Camunda's rule): use a start listener of the "
            "element after it"
        )
    if "error" in node.event_kinds():
        return "an error end event runs no end listener (Camunda's rule): use the catching event's"
    return f"a {node.kind} runs no execution listener"


def listener_problems(process: Process) -> list[Problem]:
    """A problem for each ``zeebe:executionListener`` or ``zeebe:taskListener`` of
    ``process`` or its flow nodes that niva cannot run as written: without a job type,
    with an event type Camunda does not allow on the element (`listener_events`) or niva
    does not run yet, with ``retries`` that are not a positive whole number, a type given
    twice for one event (Zeebe refuses it too), a computed type, or niva's own task type;
    task listeners anywhere but on a user task."""
    problems: list[Problem] = []
    where = "zeebe:executionListener on process " + repr(process.id)
    seen: set[tuple[str | None, str]] = set()
    for listener in process.execution_listeners:
        mistakes = _listener_mistakes(listener, seen, ("start", "end"))
        problems += [_at(process, listener, f"{where}: {m}") for m in mistakes]
    for node in process.all_nodes():
        where = f"zeebe:executionListener on {node.kind} {node.id!r}"
        allowed = listener_events(node)
        seen = set()
        for listener in node.niva.execution_listeners:
            event = listener.event_type
            if event in ("start", "end") and event not in allowed:
                problems.append(_at(node, listener, f"{where}: {_refused(node, event)}"))
                continue
            reason = _not_yet(node, event) if event in ("start", "end") else None
            if reason is not None:
                message = (
                    f"{where}: {reason}: model the listener's work as a service task before "
                    "or after the element"
                )
                problems.append(_at(node, listener, message))
                continue
            mistakes = _listener_mistakes(listener, seen, ("start", "end"))
            problems += [_at(node, listener, f"{where}: {m}") for m in mistakes]
        problems += _task_listener_problems(node)
    return problems


def _task_listener_problems(node: FlowNode) -> list[Problem]:
    where = f"zeebe:taskListener on {node.kind} {node.id!r}"
    listeners = node.niva.task_listeners
    if listeners and node.kind != "userTask":
        return [_at(node, listeners[0], f"{where}: task listeners run on user tasks only")]
    problems: list[Problem] = []
    seen: set[tuple[str | None, str]] = set()
    for listener in listeners:
        event = listener.event_type or ""
        if event in TASK_LISTENER_NOT_YET:
            message = (
                f"{where}: niva does not run {event} task listeners yet: "
                f"{TASK_LISTENER_NOT_YET[event]}"
            )
            problems.append(_at(node, listener, message))
            continue
        mistakes = _listener_mistakes(listener, seen, tuple(TASK_LISTENER_EVENTS))
        problems += [_at(node, listener, f"{where}: {m}") for m in mistakes]
    return problems


def _listener_mistakes(
    listener: ExecutionListener,
    seen: set[tuple[str | None, str]],
    events: tuple[str, ...],
) -> list[str]:
    """What is wrong with one listener (``seen``: the event types and job types before it;
    ``events``: the event types it may name)."""
    mistakes: list[str] = []
    job_type = (listener.type or "").strip()
    if listener.event_type not in events:
        if events == ("start", "end"):
            mistakes.append("eventType must be start or end")
        else:
            mistakes.append("eventType must be creating or completing")
    if not job_type:
        mistakes.append("the listener needs a type (the job type it runs)")
    elif job_type.startswith("="):
        mistakes.append("a computed listener type is not supported yet")
    elif job_type in BUILTIN_TASK_TYPE_NAMES:
        mistakes.append(f"{job_type!r} is niva's own task type; a listener runs as a job")
    retries = (listener.retries or "").strip()
    if retries and not (retries.isdigit() and int(retries) > 0):
        mistakes.append("retries must be a positive whole number")
    event = TASK_LISTENER_EVENTS.get(listener.event_type or "", listener.event_type)
    key = (event, job_type)
    if key in seen:
        mistakes.append(
            f"the {listener.event_type} listener {job_type!r} is given twice (Zeebe refuses it too)"
        )
    seen.add(key)
    return mistakes


def _at(element: BaseElement, listener: ExecutionListener, message: str) -> Problem:
    return Problem(message=message, element_id=element.id, line=listener.line or element.line)


def with_correlation_key(niva: NivaExtensions, key: str, line: int | None) -> None:
    """Give an element that waits for a message the message's correlation key."""
    if niva.subscription is None:
        niva.subscription = Subscription(line=line)
    niva.subscription.correlation_key = key
