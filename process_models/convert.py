"""Convert a niva-dialect model to the Camunda 8 dialect (``niva models convert``).

The result opens in Camunda Modeler's "Camunda 8" mode with every niva setting in its
properties panel, and runs in niva the way the niva-dialect file does. Each ``niva:``
extension becomes its zeebe counterpart, and each CEL expression FEEL
(`process_models.cel_to_feel`); the diagram and everything else stay as they are, but for
a pass-through task with outputs (below).

- ``taskDefinition type retries`` → ``taskDefinition type retries``;
- ``input``/``output`` → ``ioMapping`` (an output reads ``payload.x``/``result.x`` as
  ``x``, and ``=payload`` as the fields of the task's registered form or of the message's
  registered payload model; an optional form field that a case variable could stand in
  for gets a task-local ``=null`` input that shadows it, see `_nulled_fields`; a static
  output source becomes a FEEL string literal, as the Modeler edits output sources as
  FEEL only, while a static input stays static);
- a plain or manual task with outputs → a none ``intermediateThrowEvent`` with the same
  id, name, documentation and flows, its shape an event's circle
  (`_pass_through_as_event`): Zeebe passes through both applying their outputs, but the
  Modeler shows outputs only for the event;
- ``assignment candidateGroups candidateOrgs`` → ``assignmentDefinition candidateGroups``
  (``org:ORG``, ``org:ORG/role`` or a role, every pairing of the two lists);
- ``form key`` → ``formDefinition formKey``;
- ``calledElement processId`` → ``calledElement processId`` (variables passed as below);
- ``loop`` → ``loopCharacteristics``: niva's map output becomes Zeebe's list, each place
  ``{key, value}``, and the expressions that read it read ``context()`` of it;
- ``versionTag`` → ``versionTag``;
- ``timezone``, ``calendar``, ``starters`` on the process, ``constraint``, the
  ``subscription``'s senders and ``ttl``, ``calledElement detached`` and a timer's
  ``calendar`` → ``zeebe:properties`` named ``niva:…``
  (`process_models.bpmn.niva_properties` reads them back).

A call activity keeps niva's variable passing: with input mappings the child starts with
those only (``propagateAllParentVariables="false"``), and without output mappings nothing
returns (``propagateAllChildVariables="false"``).

What cannot be translated is a `ConversionProblem` with the element id and line (a
mapping's dotted target, say: one variable's name in the niva dialect, an object's entry in
Zeebe's); the conversion then produces nothing (no silent guesses).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from lxml import etree
from pydantic import BaseModel

from process_models.bpmn.namespaces import ZEEBE
from process_models.cel_to_feel import (
    TranslationError,
    feel_string,
    parse_cel,
    read_names,
    translate,
    translate_condition,
)

__all__ = ["ConversionError", "ConversionProblem", "convert_to_camunda8"]

NIVA = "urn:niva:bpmn:1"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
MODELER = "http://camunda.org/schema/modeler/1.0"
#: The Camunda 8 version the converted files declare for Camunda Modeler.
EXECUTION_PLATFORM_VERSION = "8.6.0"

_N = "{" + NIVA + "}"
_B = "{" + BPMN + "}"
_Z = "{" + ZEEBE + "}"
_Element = etree._Element

_EXPRESSION_TAGS = frozenset(
    _B + t for t in ("timeDate", "timeDuration", "timeCycle", "loopCardinality")
)
_CONDITION_TAGS = frozenset(_B + t for t in ("conditionExpression", "completionCondition"))


@dataclass(frozen=True)
class ConversionProblem:
    """Something in the niva file that has no faithful Camunda 8 counterpart."""

    element_id: str | None
    line: int | None
    message: str

    def format(self, file: str = "") -> str:
        where = f"{file}:{self.line}" if self.line else file
        return f"{where}: {self.element_id or '-'}: {self.message}"


class ConversionError(ValueError):
    """The file cannot be converted; ``problems`` says where and why."""

    def __init__(self, problems: list[ConversionProblem]) -> None:
        super().__init__("; ".join(p.format() for p in problems))
        self.problems = problems


@dataclass
class _Process:
    zone: str
    maps: frozenset[str]
    variables: _Variables | None = None
    problems: list[ConversionProblem] = field(default_factory=list)


def _owner(element: _Element) -> _Element:
    """The BPMN element whose extension (or child) ``element`` is."""
    node: _Element | None = element
    while node is not None and node.get("id") is None:
        node = node.getparent()
    return node if node is not None else element


def _problem(process: _Process, element: _Element, message: str) -> None:
    owner = _owner(element)
    line = element.sourceline if isinstance(element.sourceline, int) else None
    process.problems.append(ConversionProblem(owner.get("id"), line, message))


def _feel(
    process: _Process,
    element: _Element,
    source: str | None,
    *,
    outputs: bool = False,
    nulled: frozenset[str] = frozenset(),
) -> str | None:
    if source is None:
        return None
    shadowed = frozenset[str]()
    if outputs and process.variables is not None:
        shadowed = process.variables.case_variables(_owner(element)) - nulled
    try:
        return translate(
            source,
            zone=process.zone,
            outputs=outputs,
            maps=process.maps,
            shadowed=shadowed,
            nulled=nulled if outputs else frozenset(),
        )
    except TranslationError as exc:
        _problem(process, element, f"{source!r}: {exc}")
        return source


def _zeebe(tag: str, **attributes: str | None) -> _Element:
    element = etree.Element(_Z + tag)
    for name, value in attributes.items():
        if value is not None:
            element.set(name, value)
    return element


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


# --- the process ----------------------------------------------------------------------------


def _process_settings(process: _Process, element: _Element) -> None:
    extensions = element.find(_B + "extensionElements")
    if extensions is None:
        return
    properties: list[tuple[str, str]] = []
    replaced: list[_Element] = []
    version: _Element | None = None
    for child in extensions:
        if not isinstance(child.tag, str) or not child.tag.startswith(_N):
            continue
        local = child.tag[len(_N) :]
        if local == "versionTag":
            version = _zeebe("versionTag", value=child.get("value"))
        elif local in ("timezone", "calendar"):
            properties.append((f"niva:{local}", child.get("value") or ""))
        elif local == "starters":
            for attr in ("candidateGroups", "candidateOrgs"):
                if child.get(attr) is not None:
                    properties.append((f"niva:starters:{attr}", child.get(attr) or ""))
        else:
            _problem(process, child, f"niva:{local} on a process has no Camunda 8 counterpart")
            continue
        replaced.append(child)
    new = [e for e in (version,) if e is not None]
    if properties:
        new.append(_properties(properties))
    _replace(extensions, replaced, new)


def _properties(values: list[tuple[str, str]]) -> _Element:
    element = _zeebe("properties")
    for name, value in values:
        element.append(_zeebe("property", name=name, value=value))
    return element


def _replace(parent: _Element, old: list[_Element], new: list[_Element]) -> None:
    """Put ``new`` where the first of ``old`` was, indented as it was."""
    if not old:
        for element in new:
            parent.append(element)
        return
    first = old[0]
    index = parent.index(first)
    tail, last_tail = first.tail, old[-1].tail
    for element in old:
        if element is not first:
            _remove(element)
    parent.remove(first)
    for offset, element in enumerate(new):
        element.tail = tail
        parent.insert(index + offset, element)
    if new and index + len(new) == len(parent):
        new[-1].tail = last_tail
    elif not new and index > 0 and index == len(parent):
        parent[index - 1].tail = last_tail
    _indent(new, tail)


def _remove(element: _Element) -> None:
    parent = element.getparent()
    assert parent is not None
    previous = element.getprevious()
    if previous is not None:
        previous.tail = element.tail
    else:
        parent.text = element.tail
    parent.remove(element)


def _indent(elements: list[_Element], tail: str | None) -> None:
    """Indent the children of new elements one step beyond them."""
    base = (tail or "\n").rsplit("\n", 1)[-1]
    for element in elements:
        children = list(element)
        if not children:
            continue
        element.text = "\n" + base + "  "
        for child in children:
            child.tail = "\n" + base + "  "
        children[-1].tail = "\n" + base


# --- flow nodes -----------------------------------------------------------------------------


def _node(process: _Process, node: _Element, extensions: _Element) -> None:
    niva = [c for c in extensions if isinstance(c.tag, str) and c.tag.startswith(_N)]
    if not niva:
        return
    inputs: list[_Element] = []
    outputs: list[_Element] = []
    new: list[_Element] = []
    properties: list[tuple[str, str]] = []
    constraints = 0
    has_outputs = any(c.tag == _N + "output" for c in niva)
    has_inputs = any(c.tag == _N + "input" for c in niva)
    nulled_names = _nulled_fields(process, node, niva)
    nulled = frozenset(nulled_names)
    for name in nulled_names:
        inputs.append(_zeebe("input", source="=null", target=name))
    for child in niva:
        local = child.tag[len(_N) :]
        get = child.get
        if local == "taskDefinition":
            if get("timeout") is not None:
                _problem(process, child, "niva:taskDefinition timeout has no zeebe counterpart")
            new.append(_zeebe("taskDefinition", type=get("type"), retries=get("retries")))
        elif local in ("input", "output") and "." in (get("target") or ""):
            _problem(
                process,
                child,
                f"target {get('target')!r}: in the niva dialect it names one variable, in "
                "Zeebe's an entry of an object; name the variable without a dot",
            )
        elif local == "input":
            source = _feel(process, child, get("source"))
            inputs.append(_zeebe("input", source=source, target=get("target")))
        elif local == "output":
            source = _output_source(process, node, child, nulled)
            outputs.append(_zeebe("output", source=source, target=get("target")))
        elif local == "form":
            new.append(_zeebe("formDefinition", formKey=get("key")))
        elif local == "assignment":
            groups = _candidate_groups(process, child)
            if groups is not None:
                new.append(_zeebe("assignmentDefinition", candidateGroups=groups))
        elif local == "constraint":
            constraints += 1
            name = "niva:constraint" if constraints == 1 else f"niva:constraint:{constraints}"
            properties.append((name, _feel(process, child, get("expression")) or ""))
            if get("message") is not None:
                properties.append((f"{name}:message", get("message") or ""))
        elif local == "calledElement":
            if get("version") is not None:
                _problem(process, child, "niva:calledElement version has no zeebe counterpart")
            new.append(
                _zeebe(
                    "calledElement",
                    processId=_feel(process, child, get("processId")),
                    propagateAllChildVariables=None if has_outputs else "false",
                    propagateAllParentVariables="false" if has_inputs else None,
                )
            )
            if (get("detached") or "").strip().lower() in ("true", "1"):
                properties.append(("niva:detached", "true"))
        elif local == "subscription":
            properties.extend(_subscription(process, node, child))
        elif local == "calendar":
            properties.append(("niva:calendar", get("value") or ""))
        else:
            _problem(process, child, f"niva:{local} has no Camunda 8 counterpart")
            continue
    if inputs or outputs:
        mapping = _zeebe("ioMapping")
        for element in (*inputs, *outputs):
            mapping.append(element)
        new.append(mapping)
    if properties:
        new.append(_properties(properties))
    _replace(extensions, niva, new)


@dataclass(frozen=True)
class _Field:
    """A field of a registered form or message payload model."""

    name: str
    required: bool
    nullable: bool  # whether the model admits an explicit null


def _output_source(
    process: _Process, node: _Element, element: _Element, nulled: frozenset[str]
) -> str | None:
    """An output's source as Zeebe reads it. ``=payload`` (the whole submission or
    message) has no Zeebe name: for a user task with a registered form, or a message catch
    whose message has a registered payload model, it is rebuilt from the model's fields.
    That is faithful only where no case variable of the same name can stand in for an
    optional field left out: on a user task such a field is shadowed by a null input
    mapping (``nulled``, see `_nulled_fields`); a catch event has no input mappings."""
    source = element.get("source")
    if source is not None and not source.lstrip().startswith("="):
        # A static value is a string in both dialects; Camunda Modeler edits an output's
        # source as FEEL only, and would save the bare text as an expression.
        return "=" + feel_string(source)
    if (source or "").strip() != "=payload":
        return _feel(process, element, source, outputs=True, nulled=nulled)
    message = _message_name(node) if _is_message_catch(node) else None
    fields = _message_fields(message) if message else _task_form_fields(node)
    if fields is None:
        _problem(
            process,
            element,
            "'=payload' (the whole submission): Zeebe's output mappings read the element's "
            "variables one by one, and no registered form or message payload model names "
            "them here",
        )
        return source
    clashes = [f for f in _clashes(process, node, fields) if f.name not in nulled]
    if clashes:
        names = ", ".join(f.name for f in clashes)
        if message:
            why = "a catch event has no input mappings to shadow them"
        else:
            why = "; ".join(
                f"{f.name}: the form admits null for it, so a null input mapping cannot stand "
                "for its absence"
                if f.nullable
                else f"{f.name}: the task's own settings use the case's {f.name}, so a null "
                "input mapping cannot shadow it"
                for f in clashes
            )
        _problem(
            process,
            element,
            f"'=payload' (the whole submission): Zeebe's outputs read the optional fields "
            f"{names} by name, and the case's own variables of those names would stand in "
            f"for them when the {'message' if message else 'submission'} leaves them out "
            f"({why})",
        )
        return source
    parts: list[str] = []
    for f in fields:
        entry = f'[{{"key": "{f.name}", "value": {f.name}}}]'
        if f.required:
            parts.append(entry)
        elif f.name in nulled:
            parts.append(f"if {f.name} != null then {entry} else []")
        else:
            parts.append(f"if is defined({f.name}) then {entry} else []")
    return "=context(flatten([" + ", ".join(parts) + "]))"


def _clashes(process: _Process, node: _Element, fields: list[_Field]) -> list[_Field]:
    """The optional fields the case may hold a variable of the same name for when ``node``
    completes."""
    written = process.variables.case_variables(node) if process.variables else frozenset()
    return [f for f in fields if not f.required and f.name in written]


def _nulled_fields(process: _Process, node: _Element, niva: list[_Element]) -> tuple[str, ...]:
    """The optional fields of a user task's registered form that a case variable of the
    same name could stand in for, shadowed here by a task-local input mapping to null.

    Zeebe makes a task's input mapping a local variable; a completion that carries the
    field overwrites it, one that leaves it out keeps null, and output mappings read the
    local variable before the case's. So ``x != null`` tells whether the submission gave
    ``x`` exactly when the form never admits ``x`` as null. Only outputs that read the
    submission need it; a field that admits null, or that the task's other settings read
    as a case variable, is left to `_output_source` to report. In the form's order."""
    if node.tag != _B + "userTask" or not any(c.tag == _N + "output" for c in niva):
        return ()
    fields = _task_form_fields(node)
    if fields is None:
        return ()
    reads_submission = any(
        "payload" in _read(c.get("source")) for c in niva if c.tag == _N + "output"
    )
    if not reads_submission:
        return ()
    targets = {c.get("target") for c in niva if c.tag == _N + "input"}
    read_here: set[str] = set()
    for child in niva:
        if child.tag != _N + "output":
            for value in child.attrib.values():
                read_here |= _read(str(value))
    return tuple(
        f.name
        for f in _clashes(process, node, fields)
        if not f.nullable and f.name not in targets and f.name not in read_here
    )


def _read(value: str | None) -> frozenset[str]:
    """The variables a niva-dialect value reads, ``payload`` and ``result`` included (an
    unreadable value is reported where it is translated)."""
    if not (value or "").strip().startswith("="):
        return frozenset()
    try:
        names = set(read_names(value or ""))
        tree = parse_cel((value or "").strip()[1:])
    except TranslationError:
        return frozenset()
    stack = [tree]
    while stack:
        current = stack.pop()
        if current.op == "name" and current.value in ("payload", "result"):
            names.add(str(current.value))
        stack.extend(current.args)
    return frozenset(names)


def _is_message_catch(node: _Element) -> bool:
    if node.tag == _B + "receiveTask":
        return True
    return node.tag in (
        _B + "startEvent",
        _B + "intermediateCatchEvent",
        _B + "boundaryEvent",
    ) and any(True for _ in node.iter(_B + "messageEventDefinition"))


def _task_form_fields(node: _Element) -> list[_Field] | None:
    form = node.find(f"{_B}extensionElements/{_N}form")
    return _form_fields(form.get("key") if form is not None else None)


def _form_fields(key: str | None) -> list[_Field] | None:
    """The fields of a registered form (None: no such form, or one that accepts fields
    it does not name)."""
    if not key:
        return None
    from process_models.registry import RegistryError, default_registry

    try:
        form = default_registry.form(key)
    except RegistryError:
        return None
    return _model_fields(form)


def _message_fields(name: str) -> list[_Field] | None:
    """The fields of message ``name``'s registered payload model (None: it has none, or
    one that accepts fields it does not name)."""
    from process_models.registry import default_registry

    payload = default_registry.message(name)
    return _model_fields(payload) if payload is not None else None


def _model_fields(model: type[BaseModel]) -> list[_Field] | None:
    if model.model_config.get("extra") != "forbid":
        return None
    return [
        _Field(f.alias or name, f.is_required(), _admits_none(f.annotation))
        for name, f in model.model_fields.items()
    ]


def _admits_none(annotation: Any) -> bool:
    if annotation is None or annotation is type(None) or annotation is Any:
        return True
    if get_origin(annotation) is Annotated:
        return _admits_none(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return any(_admits_none(a) for a in get_args(annotation))
    return False


def _candidate_groups(process: _Process, element: _Element) -> str | None:
    """niva's roles and organisations as Camunda candidate groups (see
    `process_models.bpmn.zeebe.split_candidate_groups` for the reading back)."""
    groups, orgs = element.get("candidateGroups"), element.get("candidateOrgs")
    for attr in ("candidateUsers", "assignee"):
        if element.get(attr) is not None:
            _problem(process, element, f"niva:assignment {attr} is not niva's")
    dynamic_groups = (groups or "").strip().startswith("=")
    dynamic_orgs = (orgs or "").strip().startswith("=")
    if dynamic_groups and orgs:
        _problem(process, element, "computed candidateGroups with candidateOrgs")
        return None
    if dynamic_groups:
        return _feel(process, element, groups)
    if dynamic_orgs:
        feel = _feel(process, element, orgs) or ""
        roles = _list(groups)
        # One entry per organisation the expression yields (a string or a list of them).
        orgs_list = f"flatten([{feel[1:]}])"
        if not roles:
            return f'=for o in {orgs_list} return "org:" + o'
        if len(roles) == 1:
            return f'=for o in {orgs_list} return "org:" + o + "/{roles[0]}"'
        roles_feel = "[" + ", ".join(f'"{r}"' for r in roles) + "]"
        pairs = f'for r in {roles_feel} return "org:" + o + "/" + r'
        return f"=flatten(for o in {orgs_list} return {pairs})"
    roles, organisations = _list(groups), _list(orgs)
    if organisations and roles:
        return ", ".join(f"org:{o}/{r}" for o in organisations for r in roles)
    if organisations:
        return ", ".join(f"org:{o}" for o in organisations)
    return ", ".join(roles) or None


def _subscription(process: _Process, node: _Element, element: _Element) -> list[tuple[str, str]]:
    name = element.get("messageName")
    if name is not None and name != _message_name(node):
        _problem(
            process,
            element,
            f"niva:subscription messageName {name!r} differs from the message the element "
            "refers to; zeebe names the message by its messageRef only",
        )
    values: list[tuple[str, str]] = []
    for attr in ("candidateGroups", "candidateOrgs"):
        value = element.get(attr)
        if value is not None:
            values.append((f"niva:subscription:{attr}", _feel(process, element, value) or ""))
    if element.get("ttl") is not None:
        values.append(("niva:subscription:ttl", element.get("ttl") or ""))
    if element.get("correlationKey") is not None:
        _problem(
            process, element, "a correlation key belongs on the bpmn:message (zeebe:subscription)"
        )
    return values


def _message_name(node: _Element) -> str | None:
    refs = [d.get("messageRef") for d in node.iter(_B + "messageEventDefinition")]
    refs.append(node.get("messageRef"))
    root = node.getroottree().getroot()
    for ref in refs:
        if not ref:
            continue
        for message in root.iter(_B + "message"):
            if message.get("id") == ref:
                return message.get("name")
    return None


def _loop(process: _Process, characteristics: _Element, extensions: _Element) -> None:
    loop = extensions.find(_N + "loop")
    if loop is None:
        return
    get = loop.get
    output_element = get("outputElement")
    element = get("inputElement")
    if get("outputCollection") is not None:
        # niva's output is a map by instance key (the item when a string, else its id);
        # Zeebe's a list: each place holds {key, value}, read back through context().
        value = _feel(process, loop, output_element, outputs=True) if output_element else None
        if value is None:
            _problem(process, loop, "an outputCollection without outputElement")
            value = "=null"
        key = f"if {element} instance of string then {element} else {element}.id"
        output_element = f'={{"key": {key}, "value": {value[1:]}}}'
    new = _zeebe(
        "loopCharacteristics",
        inputCollection=_feel(process, loop, get("inputCollection")),
        inputElement=element,
        outputCollection=get("outputCollection"),
        outputElement=output_element,
    )
    _replace(extensions, [loop], [new])
    del characteristics  # the loop's own expressions are converted with the other texts


# --- pass-through tasks ---------------------------------------------------------------------

_PASS_THROUGH = frozenset({_B + "task", _B + "manualTask"})
_DI = "http://www.omg.org/spec/BPMN/20100524/DI"
_DC = "http://www.omg.org/spec/DD/20100524/DC"
_WAYPOINT = "{http://www.omg.org/spec/DD/20100524/DI}waypoint"
#: A BPMN event's diagram size (Camunda Modeler draws events 36 × 36).
_EVENT_SIZE = 36.0
#: What a task may hold that a none intermediate throw event holds too.
_EVENT_CHILDREN = frozenset(
    _B + t for t in ("documentation", "extensionElements", "incoming", "outgoing")
)


def _pass_through_as_event(process: _Process, node: _Element) -> None:
    """A plain (or manual) task with output mappings as a none intermediate throw event.

    Zeebe passes through both and applies the outputs of both, but Camunda Modeler's
    properties panel shows no output mappings for a task that does no work, so its
    settings would be invisible there; for a none intermediate throw event it shows them.
    The element keeps its id, name, documentation and flows; its diagram shape becomes an
    event's circle in the middle of the task's rectangle (`_shape_as_event`). What a throw
    event cannot hold is a `ConversionProblem`.
    """
    if node.tag not in _PASS_THROUGH:
        return
    mapping = node.find(f"{_B}extensionElements/{_Z}ioMapping")
    if mapping is None or mapping.find(_Z + "output") is None:
        return
    kind = etree.QName(node).localname
    why: list[str] = []
    if mapping.find(_Z + "input") is not None:
        why.append("input mappings")
    root = node.getroottree().getroot()
    node_id = node.get("id")
    if any(b.get("attachedToRef") == node_id for b in root.iter(_B + "boundaryEvent")):
        why.append("boundary events")
    if any(
        node_id in (m.get("sourceRef"), m.get("targetRef")) for m in root.iter(_B + "messageFlow")
    ):
        why.append("message flows")
    if node.get("default") is not None or any(
        f.get("sourceRef") == node_id and f.find(_B + "conditionExpression") is not None
        for f in root.iter(_B + "sequenceFlow")
    ):
        why.append("conditional outgoing flows")
    if (node.get("isForCompensation") or "").strip().lower() == "true":
        why.append("compensation")
    for attr in ("startQuantity", "completionQuantity"):
        if node.get(attr) not in (None, "1"):
            why.append(attr)
    why.extend(
        sorted(
            {
                etree.QName(c).localname
                for c in node
                if isinstance(c.tag, str) and c.tag not in _EVENT_CHILDREN
            }
        )
    )
    if why:
        _problem(
            process,
            node,
            f"the outputs of a bpmn:{kind} do not show in Camunda Modeler, and the none "
            f"intermediate throw event that would carry them cannot have {', '.join(why)}",
        )
        return
    node.tag = _B + "intermediateThrowEvent"
    for attr in ("startQuantity", "completionQuantity", "isForCompensation"):
        if attr in node.attrib:
            del node.attrib[attr]
    _shape_as_event(root, node_id or "", node.get("name") or "")


def _shape_as_event(root: _Element, element_id: str, name: str) -> None:
    """The diagram of a task turned event: the shape a circle of an event's size centred
    in the task's rectangle, and the ends of its flows (and associations) moved from the
    rectangle's edge to the circle's. A label of the shape's own stays; without one the
    Modeler puts the name under the circle, as for any event, unless a flow meets the
    circle from below: then the label goes beside that flow (`_label_beside`)."""
    refs = {e.get("id"): e for e in root.iter(_B + "sequenceFlow", _B + "association")}
    for shape in root.iter(f"{{{_DI}}}BPMNShape"):
        if shape.get("bpmnElement") != element_id:
            continue
        if "isExpanded" in shape.attrib:
            del shape.attrib["isExpanded"]
        bounds = shape.find(f"{{{_DC}}}Bounds")
        if bounds is None:
            continue
        x, y = float(bounds.get("x") or 0), float(bounds.get("y") or 0)
        width, height = float(bounds.get("width") or 0), float(bounds.get("height") or 0)
        centre = (x + width / 2, y + height / 2)
        bounds.set("x", _number(centre[0] - _EVENT_SIZE / 2))
        bounds.set("y", _number(centre[1] - _EVENT_SIZE / 2))
        bounds.set("width", _number(_EVENT_SIZE))
        bounds.set("height", _number(_EVENT_SIZE))
        plane = shape.getparent()
        ends: list[tuple[float, float] | None] = []
        for edge in plane.iter(f"{{{_DI}}}BPMNEdge") if plane is not None else ():
            flow = refs.get(edge.get("bpmnElement"))
            points = edge.findall(_WAYPOINT)
            if flow is None or len(points) < 2 or flow.get("sourceRef") == flow.get("targetRef"):
                continue
            if flow.get("sourceRef") == element_id:
                ends.append(_to_circle(points[0], points[1], centre))
            if flow.get("targetRef") == element_id:
                ends.append(_to_circle(points[-1], points[-2], centre))
        from_below = any(e is not None and e[1] > centre[1] + _EVENT_SIZE / 4 for e in ends)
        if name and from_below and shape.find(f"{{{_DI}}}BPMNLabel") is None:
            _label_beside(shape, centre, name)


def _label_beside(shape: _Element, centre: tuple[float, float], name: str) -> None:
    """A label under the circle but right of a flow that comes in from below, so the line
    does not cross the name. Its height is a guess at the wrapped lines (the Modeler wraps
    the name to the label's width whatever height it is given)."""
    width, line_height, chars_per_line = 90, 14, 15
    lines = max(1, -(-len(name) // chars_per_line))
    last = shape[-1] if len(shape) else None
    inner = shape.text or "\n"
    closing = (last.tail if last is not None else None) or "\n"
    label = etree.SubElement(shape, f"{{{_DI}}}BPMNLabel")
    label_bounds = etree.SubElement(label, f"{{{_DC}}}Bounds")
    label_bounds.set("x", _number(centre[0] + 8))
    label_bounds.set("y", _number(centre[1] + _EVENT_SIZE / 2 + 7))
    label_bounds.set("width", str(width))
    label_bounds.set("height", str(lines * line_height))
    if last is not None:
        last.tail = inner
    label.text = inner + "  "
    label_bounds.tail = inner
    label.tail = closing


def _to_circle(
    end: _Element, neighbour: _Element, centre: tuple[float, float]
) -> tuple[float, float] | None:
    """Move a flow's ``end`` waypoint onto the event circle around ``centre``, keeping the
    last segment horizontal or vertical where it was and still meets the circle; the new
    point (None: left where it was)."""
    radius = _EVENT_SIZE / 2
    ex, ey = float(end.get("x") or 0), float(end.get("y") or 0)
    nx, ny = float(neighbour.get("x") or 0), float(neighbour.get("y") or 0)
    cx, cy = centre
    if ny == ey and abs(ey - cy) < radius and nx != cx:
        reach = (radius**2 - (ey - cy) ** 2) ** 0.5
        point = (cx - reach if nx < cx else cx + reach, ey)
    elif nx == ex and abs(ex - cx) < radius and ny != cy:
        reach = (radius**2 - (ex - cx) ** 2) ** 0.5
        point = (ex, cy - reach if ny < cy else cy + reach)
    else:
        dx, dy = nx - cx, ny - cy
        length = (dx**2 + dy**2) ** 0.5
        if length == 0:
            return None
        point = (cx + dx * radius / length, cy + dy * radius / length)
    end.set("x", _number(point[0]))
    end.set("y", _number(point[1]))
    return point


def _number(value: float) -> str:
    """A diagram coordinate as the Modeler writes it: whole numbers without a fraction."""
    rounded = round(value, 2)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.2f}".rstrip("0")


# --- the document ---------------------------------------------------------------------------


def _zone(process: _Element) -> str | None:
    for child in process.iterfind(f"{_B}extensionElements/{_N}timezone"):
        return child.get("value")
    return None


def _map_outputs(process: _Element) -> frozenset[str]:
    return frozenset(
        loop.get("outputCollection") or ""
        for loop in process.iter(_N + "loop")
        if loop.get("outputCollection")
    )


class _Variables:
    """Which variables a case of the process may hold when an element completes: what
    its outputs, multi-instance outputs and merged submissions write, and what it reads
    without writing (start variables, or a caller's). An output that reads a completion
    variable by name (Zeebe's rule) cannot tell it from a case variable of that name."""

    def __init__(self, process: _Element) -> None:
        self.writers: dict[str, set[str]] = {}
        read: set[str] = set()
        for output in process.iter(_N + "output"):
            name = (output.get("target") or "").split(".")[0]
            self.writers.setdefault(name, set()).add(_owner(output).get("id") or "")
        for loop in process.iter(_N + "loop"):
            if loop.get("outputCollection"):
                self.writers.setdefault(loop.get("outputCollection") or "", set()).add("")
        for extensions in process.iter(_B + "extensionElements"):
            owner = extensions.getparent()
            assert owner is not None
            if extensions.find(_N + "output") is None:
                # Without outputs a completion merges its whole submission, a catch event
                # its whole message.
                message = _message_name(owner) if _is_message_catch(owner) else None
                fields = _message_fields(message) if message else _task_form_fields(owner)
                for f in fields or []:
                    self.writers.setdefault(f.name, set()).add("")
        for element in process.iter():
            for value in [element.text or "", *element.attrib.values()]:
                if value.strip().startswith("="):
                    # A value that does not parse is reported where it is translated.
                    with contextlib.suppress(TranslationError):
                        read |= read_names(value)
        loop_locals = {loop.get("inputElement") or "" for loop in process.iter(_N + "loop")}
        self.started = frozenset(read - set(self.writers) - loop_locals)
        self.reach = _reachable(process)

    def case_variables(self, element: _Element) -> frozenset[str]:
        """The variables that may be in the case when ``element`` completes: those the
        case may start with, and those written by an element that can run before it
        (itself included when it can run again). A merged submission's writer is not
        placed, so it counts everywhere."""
        own = element.get("id") or ""
        names = set(self.started)
        for name, writers in self.writers.items():
            if any(not w or own in self.reach.get(w, ()) for w in writers):
                names.add(name)
        return frozenset(names)


def _reachable(process: _Element) -> dict[str, frozenset[str]]:
    """For each element id, the ids of the elements that can run after it in a case
    (following sequence flows and from an activity to its boundary events)."""
    edges: dict[str, set[str]] = {}
    for flow in process.iter(_B + "sequenceFlow"):
        edges.setdefault(flow.get("sourceRef") or "", set()).add(flow.get("targetRef") or "")
    for event in process.iter(_B + "boundaryEvent"):
        edges.setdefault(event.get("attachedToRef") or "", set()).add(event.get("id") or "")
    reach: dict[str, frozenset[str]] = {}
    for start in edges:
        seen: set[str] = set()
        stack = list(edges[start])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(edges.get(node, ()))
        reach[start] = frozenset(seen)
    return reach


def _convert_process(element: _Element) -> list[ConversionProblem]:
    zone = _zone(element) or "UTC"
    process = _Process(zone=zone, maps=_map_outputs(element), variables=_Variables(element))
    for node in list(element.iter()):
        if not isinstance(node.tag, str):
            continue
        if node.tag in _CONDITION_TAGS and node.text and node.text.strip():
            try:
                node.text = translate_condition(node.text, zone=zone, maps=process.maps)
            except TranslationError as exc:
                _problem(process, node, f"{node.text.strip()!r}: {exc}")
        elif node.tag in _EXPRESSION_TAGS and node.text and node.text.strip().startswith("="):
            node.text = _feel(process, node, node.text.strip())
    for extensions in list(element.iter(_B + "extensionElements")):
        owner = extensions.getparent()
        assert owner is not None
        if owner is element:
            _process_settings(process, element)
        elif owner.tag == _B + "multiInstanceLoopCharacteristics":
            _loop(process, owner, extensions)
        else:
            _node(process, owner, extensions)
    for node in list(element.iter(*_PASS_THROUGH)):
        _pass_through_as_event(process, node)
    return process.problems


def convert_to_camunda8(data: bytes) -> bytes:
    """The Camunda 8 dialect version of a niva-dialect BPMN file.

    Raises:
        ConversionError: some setting or expression has no faithful translation; every
            one is listed with its element id and line.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    root = etree.fromstring(data, parser)
    if root.nsmap.get(None) == ZEEBE or ZEEBE in root.nsmap.values():
        raise ConversionError(
            [ConversionProblem(None, None, "the file is in the Camunda 8 dialect already")]
        )
    problems: list[ConversionProblem] = []
    for process in root.iter(_B + "process"):
        problems.extend(_convert_process(process))
    for signal in root.iter(_B + "signal"):
        # A signal serves every process of the file, each with its own zone and variables:
        # no one translation of a computed name is faithful to all of them.
        if (signal.get("name") or "").strip().startswith("="):
            problems.append(
                ConversionProblem(
                    signal.get("id"),
                    signal.sourceline if isinstance(signal.sourceline, int) else None,
                    f"the computed signal name {signal.get('name')!r} is CEL: write it in FEEL "
                    "in the converted file",
                )
            )
    leftovers = [e for e in root.iter() if isinstance(e.tag, str) and e.tag.startswith(_N)]
    for element in leftovers:
        problems.append(
            ConversionProblem(
                _owner(element).get("id"),
                element.sourceline if isinstance(element.sourceline, int) else None,
                f"{element.tag[len(_N) :]} outside a process has no Camunda 8 counterpart",
            )
        )
    if problems:
        raise ConversionError(problems)
    return _with_camunda8_namespaces(root)


def _with_camunda8_namespaces(root: _Element) -> bytes:
    """The document with zeebe and modeler declared on its root and niva's gone."""
    nsmap: dict[Any, str] = {p: u for p, u in root.nsmap.items() if u != NIVA}
    nsmap["zeebe"] = ZEEBE
    nsmap["modeler"] = MODELER
    new_root = etree.Element(root.tag, nsmap=nsmap)
    for name, value in root.attrib.items():
        new_root.set(name, value)
    new_root.set(f"{{{MODELER}}}executionPlatform", "Camunda Cloud")
    new_root.set(f"{{{MODELER}}}executionPlatformVersion", EXECUTION_PLATFORM_VERSION)
    new_root.text = root.text
    for child in list(root):
        new_root.append(child)
    etree.cleanup_namespaces(new_root, top_nsmap=nsmap)
    body = etree.tostring(new_root, encoding="UTF-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body.rstrip(b"\n") + b"\n"
