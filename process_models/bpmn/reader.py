"""Read BPMN 2.0 XML into the typed model of `process_models.schema`.

The reader goes by namespace URI, never by prefix, so ``bpmn:``, ``bpmn2:``, ``semantic:``
and a default namespace read the same. It keeps everything: what niva models becomes typed
fields, everything else becomes a `RawElement` the writer puts back unchanged. It does not
judge the model: duplicate ids, flows to missing nodes and elements outside the executable
subset are represented as they are, for validation and `subset.blockers` to report.
Comments and processing instructions between modelled elements are not kept (inside a
kept raw element they are).

The ``niva:`` extensions are niva's own vocabulary, so they are read strictly: an unknown
attribute on a known niva element is an error rather than ignored, because a misspelt
``candidateGroup`` that is silently dropped would let anyone complete the task. An element
in the niva namespace the reader does not know (``niva:calender``), or a known one where it
is not read, is kept raw like a foreign extension, and validation reports it.

A file that uses the zeebe namespace is in the Camunda 8 dialect (`Definitions.dialect`):
its zeebe extension elements fill the same typed fields (`process_models.bpmn.zeebe`) and
are kept raw as well, so the writer puts them back as written; its niva elements are kept
raw, for validation to report the mix.

Every upload and deployment reads a model, so the walk is kept cheap: tags are compared as
Clark-notation strings (``{namespace}local``, what lxml gives) rather than parsed into
`etree.QName` objects, and a raw element skips the namespace clean-up when the document
declares its namespaces on the root only, as modelling tools write them (see `_Reader`).

The engine reads a model only to run it (once per deployed version in each worker), so
``for_execution=True`` leaves out what only a round trip needs: the diagrams (each
``BPMNDiagram`` becomes one `RawElement` in ``Definitions.extras``) and the XML of the
elements niva does not model (their `RawElement` keeps tag, id and line; ``xml`` is None).
Serializing those and reading the diagram is most of what a full read of a modelling
tool's file costs. Everything else, errors for bad input included, is what the full read
gives; the writer refuses such a model, since writing it would lose what was not kept.
"""

from __future__ import annotations

import codecs
import contextlib
import copy
import difflib
import functools
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

from lxml import etree
from pydantic import BaseModel

from process_models.bpmn import zeebe
from process_models.bpmn.namespaces import BPMN, BPMNDI, DC, DI, NIVA, XSI, ZEEBE, bpmn, clark
from process_models.bpmn.niva_properties import apply_node_properties, starters_from_zeebe
from process_models.bpmn.xml import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    load_source,
    parse_document,
)
from process_models.errors import BpmnReadError
from process_models.schema import (
    FLOW_NODE_KINDS,
    SUBPROCESS_KINDS,
    Assignment,
    Bounds,
    CalledDecision,
    CalledElement,
    Collaboration,
    Constraint,
    Definitions,
    Diagram,
    DiLabel,
    Documentation,
    Edge,
    ErrorDef,
    EscalationDef,
    EventDefinition,
    Expression,
    FlowContainer,
    FlowNode,
    Form,
    IoMapping,
    LoopExtension,
    MessageDef,
    MessageFlow,
    MultiInstance,
    NivaExtensions,
    Participant,
    Process,
    RawElement,
    Script,
    SequenceFlow,
    Shape,
    SignalDef,
    Starters,
    Subscription,
    TaskDefinition,
    local_ref,
)

__all__ = ["NIVA_ATTRIBUTES", "NIVA_ELEMENTS", "did_you_mean", "read_bpmn"]

_Element = etree._Element

#: Children of a process or subprocess that belong to its content, not to the activity.
CONTAINER_CONTENT: frozenset[str] = frozenset(
    {
        "laneSet",
        "dataObject",
        "dataObjectReference",
        "dataStoreReference",
        "textAnnotation",
        "association",
        "group",
    }
)

#: Attribute names (in the XML) of each niva extension element, mapped to schema fields.
NIVA_ATTRIBUTES: dict[str, dict[str, str]] = {
    "taskDefinition": {"type": "type", "retries": "retries", "timeout": "timeout"},
    "input": {"target": "target", "source": "source"},
    "output": {"target": "target", "source": "source"},
    "form": {"key": "key"},
    "assignment": {"candidateGroups": "candidate_groups", "candidateOrgs": "candidate_orgs"},
    "starters": {"candidateGroups": "candidate_groups", "candidateOrgs": "candidate_orgs"},
    "constraint": {"expression": "expression", "message": "message"},
    "loop": {
        "inputCollection": "input_collection",
        "inputElement": "input_element",
        "outputCollection": "output_collection",
        "outputElement": "output_element",
    },
    "calledElement": {"processId": "process_id", "detached": "detached", "version": "version"},
    "calledDecision": {"decisionId": "decision_id", "resultVariable": "result_variable"},
    "script": {"expression": "expression", "resultVariable": "result_variable"},
    "subscription": {
        "messageName": "message_name",
        "candidateGroups": "candidate_groups",
        "candidateOrgs": "candidate_orgs",
        "ttl": "ttl",
        "correlationKey": "correlation_key",
    },
    "versionTag": {"value": "value"},
    "timezone": {"value": "value"},
    "calendar": {"value": "value"},
}

#: Local names of the niva extension elements the reader knows: those of `NIVA_ATTRIBUTES`
#: and the ``ioMapping`` wrapper around inputs and outputs. Any other element in the niva
#: namespace is kept raw, and validation reports it.
NIVA_ELEMENTS: frozenset[str] = frozenset({*NIVA_ATTRIBUTES, "ioMapping"})

# An attribute value that starts with a declared prefix ("tns:Msg_1",
# "semantic:tFormalExpression") needs that prefix kept in a raw element's XML.
_QNAME_PREFIX = re.compile(r"^\s*([A-Za-z_][\w.\-]*):(?!//)")

# Tags in Clark notation. lxml names an element "{namespace}local" (or "local"), so equal
# strings mean equal namespace and local name.
_BPMN_NS = "{" + BPMN + "}"
_NIVA_NS = "{" + NIVA + "}"
_DOCUMENTATION = bpmn("documentation")
_EXTENSION_ELEMENTS = bpmn("extensionElements")
_PROCESS = bpmn("process")
_MESSAGE = bpmn("message")
_ASSOCIATION = bpmn("association")
_ERROR = bpmn("error")
_ESCALATION = bpmn("escalation")
_SIGNAL = bpmn("signal")
_COLLABORATION = bpmn("collaboration")
_PARTICIPANT = bpmn("participant")
_MESSAGE_FLOW = bpmn("messageFlow")
_CONDITION_EXPRESSION = bpmn("conditionExpression")
_CONDITION = bpmn("condition")
_ZEEBE_CONDITIONAL_FILTER = clark(ZEEBE, "conditionalFilter")
_TIMERS = frozenset({bpmn("timeDate"), bpmn("timeDuration"), bpmn("timeCycle")})
_LOOP_EXPRESSIONS = frozenset({bpmn("loopCardinality"), bpmn("completionCondition")})
_NIVA_IO_MAPPING = clark(NIVA, "ioMapping")
_NIVA_LOOP = clark(NIVA, "loop")
_ZEEBE_LOOP = clark(ZEEBE, "loopCharacteristics")
_ZEEBE_VERSION_TAG = clark(ZEEBE, "versionTag")
_ZEEBE_PROPERTIES = clark(ZEEBE, "properties")
_ZEEBE_USER_TASK_FORM = clark(ZEEBE, "userTaskForm")
_DIAGRAM = clark(BPMNDI, "BPMNDiagram")
_PLANE = clark(BPMNDI, "BPMNPlane")
_SHAPE = clark(BPMNDI, "BPMNShape")
_EDGE = clark(BPMNDI, "BPMNEdge")
_LABEL = clark(BPMNDI, "BPMNLabel")
_BOUNDS = clark(DC, "Bounds")
_WAYPOINT = clark(DI, "waypoint")

# What each element reads into typed fields; its other attributes go to ``attributes``.
_EXPRESSION_KNOWN = frozenset({"language", clark(XSI, "type")})
_EVENT_DEFINITION_KNOWN = frozenset({"id", "messageRef", "errorRef"})
_MULTI_INSTANCE_KNOWN = frozenset({"id", "isSequential"})
_SEQUENCE_FLOW_KNOWN = frozenset({"id", "name", "sourceRef", "targetRef"})
_NODE_KNOWN = frozenset(
    {
        "id",
        "name",
        "attachedToRef",
        "cancelActivity",
        "isInterrupting",
        "default",
        "triggeredByEvent",
        "calledElement",
    }
)
_PROCESS_KNOWN = frozenset({"id", "name", "isExecutable"})
_NAMED_KNOWN = frozenset({"id", "name"})
_DEFINITIONS_KNOWN = frozenset({"id", "name", "targetNamespace", "exporter", "exporterVersion"})
_SHAPE_KNOWN = frozenset({"id", "bpmnElement", "isHorizontal", "isExpanded", "isMarkerVisible"})
_EDGE_KNOWN = frozenset({"id", "bpmnElement", "sourceElement", "targetElement"})
_PLANE_KNOWN = frozenset({"id", "bpmnElement"})
_NOTHING_KNOWN: frozenset[str] = frozenset()
_SHAPE_FLAGS = ("isHorizontal", "isExpanded", "isMarkerVisible")
_BOOLEANS = frozenset({"true", "1", "false", "0"})
# The shapes `_Reader.diagram` reads (those of a diagram's first plane) that carry a flag.
_FLAGGED_SHAPES = etree.XPath(
    "di:BPMNPlane[1]/di:BPMNShape[@isHorizontal or @isExpanded or @isMarkerVisible]",
    namespaces={"di": BPMNDI},
)

_M = TypeVar("_M", bound=BaseModel)


def _validator(model: type[_M]) -> Callable[[dict[str, Any]], _M]:
    """``model``'s validator: ``model(**values)`` without the keyword-argument detour.

    The same validation and the same result (the schema has no aliases); for the models
    made once per element it takes a third less time than calling the class.
    """
    return cast("Callable[[dict[str, Any]], _M]", model.__pydantic_validator__.validate_python)


_new_raw = _validator(RawElement)
_new_bounds = _validator(Bounds)
_new_label = _validator(DiLabel)
_new_shape = _validator(Shape)
_new_edge = _validator(Edge)
_new_node = _validator(FlowNode)
_new_flow = _validator(SequenceFlow)
_new_niva = _validator(NivaExtensions)


def read_bpmn(
    source: bytes | str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    for_execution: bool = False,
) -> Definitions:
    """Read a BPMN 2.0 document.

    Args:
        source: The document as bytes (its declared encoding applies), as XML text (a
            ``str`` starting with ``<``), or a `Path` to a file.
        max_bytes: Refuse larger input before parsing it.
        max_depth: Refuse deeper element nesting.
        for_execution: Read only what running the processes needs: no diagram (each
            ``BPMNDiagram`` is a `RawElement` in ``extras``) and no XML of the elements niva
            does not model (their ``xml`` is None). The result cannot be written back;
            `write_bpmn` refuses it. Errors are those of the full read.

    Returns:
        The model, every element carrying its source line.

    Raises:
        BpmnReadError: The input is not a readable BPMN 2.0 document (not XML, hostile XML,
            too large or deep, wrong root element, a malformed value niva must interpret).
    """
    text = isinstance(source, str)
    data = load_source(source, max_bytes=max_bytes)
    root = parse_document(
        data,
        text=text,
        max_bytes=max_bytes,
        max_depth=max_depth,
        expected_root=bpmn("definitions"),
    )
    return _Reader(root, data, text=text, for_execution=for_execution).definitions(root)


# --- helpers ------------------------------------------------------------------------------


def _line(element: _Element) -> int | None:
    """The element's source line (lxml-stubs type it loosely)."""
    line = element.sourceline
    return line if isinstance(line, int) else None


def _children(element: _Element) -> list[_Element]:
    # Comments and processing instructions between elements carry no model content.
    return [child for child in element if isinstance(child.tag, str)]


def _local(element: _Element) -> str:
    return str(element.tag).rpartition("}")[2]


def _attributes(element: _Element) -> dict[str, str]:
    """The element's attributes in source order (lxml gives str, its stubs say str | bytes)."""
    return dict(cast("list[tuple[str, str]]", element.items()))


def _other_attributes(element: _Element, known: frozenset[str]) -> dict[str, str]:
    items = cast("list[tuple[str, str]]", element.items())
    return {key: value for key, value in items if key not in known}


def _describe(element: _Element) -> str:
    element_id = element.get("id")
    name = _local(element)
    return f"{name} '{element_id}'" if element_id else name


def _flag(element: _Element, attribute: str, value: str | None, default: bool) -> bool:
    """The boolean ``value`` of ``attribute`` (None when absent), read as `_bool` does."""
    if value is None:
        return default
    text = value.strip()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise BpmnReadError(
        f"{_describe(element)}: attribute {attribute}={value!r} is not a boolean; "
        "write true or false",
        line=_line(element),
    )


def _bool(element: _Element, attribute: str, default: bool) -> bool:
    return _flag(element, attribute, element.get(attribute), default)


def _optional_bool(element: _Element, attribute: str, value: str | None) -> bool | None:
    return None if value is None else _flag(element, attribute, value, False)


def _documentation(element: _Element) -> Documentation | None:
    if _children(element):
        return None  # rich (XHTML) documentation is kept raw instead
    return Documentation(
        text=element.text or "",
        text_format=element.get("textFormat"),
        id=element.get("id"),
        line=_line(element),
    )


def _expression(element: _Element) -> Expression:
    return Expression(
        body="".join(cast("Iterator[str]", element.itertext())),
        language=element.get("language"),
        line=_line(element),
        attributes=_other_attributes(element, _EXPRESSION_KNOWN),
    )


def _niva_fields(element: _Element) -> dict[str, Any]:
    name = _local(element)
    allowed = NIVA_ATTRIBUTES[name]
    unknown = [str(k) for k in element.attrib if k not in allowed]
    if unknown:
        named = ", ".join(f"{k}{did_you_mean(k, allowed)}" for k in sorted(unknown))
        raise BpmnReadError(
            f"niva:{name} has unknown attribute(s) {named}; niva:{name} takes {', '.join(allowed)}",
            line=_line(element),
        )
    fields: dict[str, Any] = {"line": _line(element)}
    for attribute, field in allowed.items():
        value = element.get(attribute)
        if value is not None:
            fields[field] = value
    return fields


def _conditional_filter(extensions: Iterable[_Element]) -> list[str] | None:
    """The ``variableNames`` of a conditional event's ``zeebe:conditionalFilter``, if any
    (its ``variableEvents`` is kept in the raw XML only: niva re-evaluates on any change)."""
    for element in extensions:
        if element.tag == _ZEEBE_CONDITIONAL_FILTER:
            names = [n.strip() for n in (element.get("variableNames") or "").split(",")]
            return [n for n in names if n] or None
    return None


def did_you_mean(name: str, known: Iterable[str], *, prefix: str = "") -> str:
    """`` (did you mean <prefix><closest>?)`` for the known name closest to a misspelt one,
    or '' when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""


@functools.cache
def _snake(name: str) -> str:
    # Cached: the names are the few attribute names of the BPMN schema's root elements.
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    # NaN and infinities would draw nothing and break equality; keep such shapes raw.
    return number if number - number == 0 else None


def _bounds(element: _Element) -> Bounds | None:
    get = element.get
    x = _number(get("x"))
    y = _number(get("y"))
    width = _number(get("width"))
    height = _number(get("height"))
    if x is None or y is None or width is None or height is None:
        return None
    # ``or 0.0`` stores a negative zero as zero, as the reader always has.
    return _new_bounds(
        {"x": x or 0.0, "y": y or 0.0, "width": width or 0.0, "height": height or 0.0}
    )


class _Unreadable(Exception):
    """A shape or edge whose geometry cannot be read: it is kept raw."""


# --- raw elements -------------------------------------------------------------------------


def raw_element(element: _Element) -> RawElement:
    """Serialize an element niva does not model, with the namespaces it needs."""
    return _copied(element, cleanup=True)


def _copied(element: _Element, *, cleanup: bool) -> RawElement:
    """The element as a `RawElement`, serialized from a copy of it.

    A copy declares on its top element the namespaces it uses, in the order of first use,
    and keeps the declarations its elements carried in the source. ``cleanup`` drops
    those that nothing in it uses, except prefixes that QName values name.
    """
    clone = copy.copy(element)  # an lxml element's copy is deep
    if cleanup:
        nsmap = element.nsmap
        keep: set[str] = set()
        for node in clone.iter():
            if not isinstance(node.tag, str):
                continue
            for value in node.values():
                match = _QNAME_PREFIX.match(str(value))
                if match and match.group(1) in nsmap:
                    keep.add(match.group(1))
        etree.cleanup_namespaces(clone, keep_ns_prefixes=sorted(keep))
    return _new_raw(
        {
            "tag": str(element.tag),
            "id": element.get("id"),
            "line": _line(element),
            "xml": etree.tostring(clone, encoding="unicode", with_tail=False),
        }
    )


def _declares_only_on_root(root: _Element, data: bytes, *, text: bool) -> bool:
    """True when no element but the root declares a namespace.

    Every declaration is an ``xmlns`` attribute in the source; when the source spells ASCII
    as ASCII and holds no more ``xmlns`` than the root declares, there is no other. In any
    other case iterwalk reports each declaration of the tree as a ``start-ns`` event.
    """
    declared = len(root.nsmap)  # the root has no ancestors: these are its own
    if _ascii_compatible(root, data, text=text) and data.count(b"xmlns") == declared:
        return True
    walk = etree.iterwalk(root, events=("start-ns",))
    return sum(1 for _ in walk) == declared


def _zeebe_declaration(root: _Element, data: bytes, *, text: bool) -> str | None:
    """The prefix the document binds to the zeebe namespace (None: it does not use it).

    Modelling tools declare it on the root; a declaration further in is found by a walk,
    skipped when the source spells ASCII as ASCII and does not hold the URI at all.
    """
    for prefix, uri in root.nsmap.items():
        if uri == ZEEBE:
            return prefix or "zeebe"
    if _ascii_compatible(root, data, text=text) and ZEEBE.encode() not in data:
        return None
    taken = {prefix for prefix in root.nsmap if prefix}
    for _event, (prefix, uri) in etree.iterwalk(root, events=("start-ns",)):
        if uri == ZEEBE:
            return prefix if prefix and prefix not in taken else "zeebe"
    return None


# Encodings that write every ASCII character as that one byte, and no other character as
# an ASCII byte sequence that could spell a declaration (as UTF-7 or ISO-2022 may).
_ASCII_SUPERSETS = frozenset(
    {
        "utf-8",
        "ascii",
        *(f"iso8859-{n}" for n in range(1, 17)),
        *(f"cp{n}" for n in range(1250, 1259)),
    }
)


def _ascii_compatible(root: _Element, data: bytes, *, text: bool) -> bool:
    """True when the parser read ``data`` in an encoding that writes ASCII as ASCII.

    A str is parsed from its UTF-8 encoding. Bytes must start with ``<`` (after a UTF-8
    byte order mark) and no NUL, which rules out UTF-16, UTF-32 and EBCDIC whatever the
    declaration says; the declared encoding (UTF-8 when none) must be in the list above.
    """
    if text:
        return True
    start = data[3:7] if data.startswith(b"\xef\xbb\xbf") else data[:4]
    if start[:1] != b"<" or b"\x00" in start:
        return False
    try:
        encoding = codecs.lookup(root.getroottree().docinfo.encoding or "utf-8").name
    except LookupError:
        return False
    return encoding in _ASCII_SUPERSETS


# --- reading ------------------------------------------------------------------------------


class _Base:
    """The common parts of a BPMN element, collected while its children are walked."""

    __slots__ = ("attributes", "documentation", "element", "extensions", "extras", "rest")

    def __init__(self, reader: _Reader, element: _Element, known: frozenset[str]) -> None:
        self.element = element
        self.documentation: list[Documentation] = []
        self.extensions: list[_Element] = []
        self.extras: list[RawElement] = []
        self.attributes = _other_attributes(element, known)
        self.rest: list[_Element] = []
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            if tag == _DOCUMENTATION:
                doc = _documentation(child)
                if doc is None:
                    self.extras.append(reader.raw(child))
                else:
                    self.documentation.append(doc)
            elif tag == _EXTENSION_ELEMENTS:
                self.extensions.extend(_children(child))
            else:
                self.rest.append(child)

    def fields(self) -> dict[str, Any]:
        return {
            "id": self.element.get("id"),
            "line": _line(self.element),
            "documentation": self.documentation,
            "attributes": self.attributes,
            "extras": self.extras,
        }


class _NodeExtensions:
    """Sorts a flow node's extension elements into typed niva fields and raw ones.

    In a Camunda 8 file the zeebe elements fill the typed fields and stay raw too (the
    writer puts them back as written); niva elements there are kept raw, and validation
    reports the mix.
    """

    def __init__(self, reader: _Reader, elements: list[_Element]) -> None:
        self.reader = reader
        self.niva = _new_niva({})
        self.foreign: list[RawElement] = []
        if reader.camunda8:
            for element in elements:
                if zeebe.is_zeebe(element):
                    zeebe.read_node_extension(element, self.niva)
                self.foreign.append(reader.raw(element))
            # niva's settings Zeebe has no element for travel as zeebe:properties.
            apply_node_properties(self.niva)
            return
        for element in elements:
            if element.tag == _NIVA_IO_MAPPING:
                for child in _children(element):
                    self._add(child)
            else:
                self._add(element)

    def _add(self, element: _Element) -> None:
        tag = str(element.tag)
        if not tag.startswith(_NIVA_NS):
            self.foreign.append(self.reader.raw(element))
            return
        niva = self.niva
        name = tag[len(_NIVA_NS) :]
        if name in ("input", "output"):
            mapping = IoMapping(**_niva_fields(element))
            (niva.inputs if name == "input" else niva.outputs).append(mapping)
        elif name == "constraint":
            niva.constraints.append(Constraint(**_niva_fields(element)))
        elif name == "taskDefinition" and niva.task_definition is None:
            niva.task_definition = TaskDefinition(**_niva_fields(element))
        elif name == "form" and niva.form is None:
            niva.form = Form(**_niva_fields(element))
        elif name == "assignment" and niva.assignment is None:
            niva.assignment = Assignment(**_niva_fields(element))
        elif name == "calledElement" and niva.called_element is None:
            fields = _niva_fields(element)
            fields["detached"] = _bool(element, "detached", False)
            niva.called_element = CalledElement(**fields)
        elif name == "subscription" and niva.subscription is None:
            niva.subscription = Subscription(**_niva_fields(element))
        elif name == "calledDecision" and niva.called_decision is None:
            niva.called_decision = CalledDecision(**_niva_fields(element))
        elif name == "script" and niva.script is None:
            niva.script = Script(**_niva_fields(element))
        elif name == "calendar" and niva.calendar is None:
            niva.calendar = _niva_fields(element).get("value")
        else:
            # Unknown niva elements and repeats of a single-valued one are kept as written
            # (validation reports both), as are foreign vocabularies.
            self.foreign.append(self.reader.raw(element))


class _Reader:
    """Reads one parsed document into the schema.

    Serializing the elements niva does not model is most of the work in a file from a
    modelling tool (vendor extensions on every node). When no element but the root
    declares a namespace, a copy of an element declares exactly the namespaces it uses,
    so the clean-up of unused declarations (and the walk that finds the QName prefixes
    to keep) has nothing to do and is skipped.
    """

    def __init__(
        self, root: _Element, data: bytes, *, text: bool, for_execution: bool = False
    ) -> None:
        self.for_execution = for_execution
        # The dialect decides how extension elements are read, so it is known first.
        self.zeebe_prefix = _zeebe_declaration(root, data, text=text)
        self.camunda8 = self.zeebe_prefix is not None
        # Correlation keys by message id, given to the elements that wait for a message
        # once the whole file is read (messages often follow the processes).
        self.correlation_keys: dict[str, str] = {}
        # The embedded forms of the process being read.
        self.user_task_forms: dict[str, str] = {}
        # Only serializing needs to know where namespaces are declared.
        self._cleanup = not for_execution and not _declares_only_on_root(root, data, text=text)

    def raw(self, element: _Element) -> RawElement:
        """The element as a `RawElement`: as `raw_element` makes it, or unkept for execution
        (except an association: running needs to know which compensation handler a
        compensation boundary event is associated with, `workflows.compensation`)."""
        if self.for_execution and element.tag != _ASSOCIATION:
            return _new_raw(
                {
                    "tag": str(element.tag),
                    "id": element.get("id"),
                    "line": _line(element),
                    "xml": None,
                }
            )
        return _copied(element, cleanup=self._cleanup)

    def raws(self, elements: list[_Element]) -> list[RawElement]:
        return [self.raw(element) for element in elements]

    # --- flow elements --------------------------------------------------------------------

    def event_definition(self, element: _Element) -> EventDefinition:
        kind = _local(element).removesuffix("EventDefinition")
        base = _Base(self, element, _EVENT_DEFINITION_KNOWN)
        timers: dict[str, Expression] = {}
        condition: Expression | None = None
        for child in base.rest:
            if kind == "timer" and child.tag in _TIMERS:
                local = _local(child)
                if local not in timers:
                    timers[local] = _expression(child)
            elif kind == "conditional" and child.tag == _CONDITION and condition is None:
                condition = _expression(child)
            else:
                base.extras.append(self.raw(child))
        variable_names = None
        if kind == "conditional" and self.camunda8:
            variable_names = _conditional_filter(base.extensions)
        return EventDefinition(
            **base.fields(),
            foreign_extensions=self.raws(base.extensions),
            kind=kind,
            message_ref=element.get("messageRef"),
            error_ref=element.get("errorRef"),
            time_date=timers.get("timeDate"),
            time_duration=timers.get("timeDuration"),
            time_cycle=timers.get("timeCycle"),
            condition=condition,
            variable_names=variable_names,
        )

    def multi_instance(self, element: _Element) -> MultiInstance:
        base = _Base(self, element, _MULTI_INSTANCE_KNOWN)
        expressions: dict[str, Expression] = {}
        for child in base.rest:
            if child.tag in _LOOP_EXPRESSIONS:
                local = _local(child)
                if local not in expressions:
                    expressions[local] = _expression(child)
            else:
                base.extras.append(self.raw(child))
        niva_loop: LoopExtension | None = None
        foreign: list[RawElement] = []
        for extension in base.extensions:
            if self.camunda8:
                if niva_loop is None and extension.tag == _ZEEBE_LOOP:
                    niva_loop = zeebe.read_loop(extension)
                foreign.append(self.raw(extension))
            elif niva_loop is None and extension.tag == _NIVA_LOOP:
                niva_loop = LoopExtension(**_niva_fields(extension))
            else:
                foreign.append(self.raw(extension))
        return MultiInstance(
            **base.fields(),
            foreign_extensions=foreign,
            is_sequential=_bool(element, "isSequential", False),
            loop_cardinality=expressions.get("loopCardinality"),
            completion_condition=expressions.get("completionCondition"),
            niva_loop=niva_loop,
        )

    def sequence_flow(self, element: _Element) -> SequenceFlow:
        base = _Base(self, element, _SEQUENCE_FLOW_KNOWN)
        condition: Expression | None = None
        for child in base.rest:
            if condition is None and child.tag == _CONDITION_EXPRESSION:
                condition = _expression(child)
            else:
                base.extras.append(self.raw(child))
        get = element.get
        return _new_flow(
            {
                **base.fields(),
                "id": get("id") or "",
                "foreign_extensions": self.raws(base.extensions),
                "name": get("name"),
                "source_ref": get("sourceRef"),
                "target_ref": get("targetRef"),
                "condition": condition,
            }
        )

    def flow_node(self, element: _Element) -> FlowNode:
        kind = _local(element)
        is_subprocess = kind in SUBPROCESS_KINDS
        base = _Base(self, element, _NODE_KNOWN)
        event_definitions: list[EventDefinition] = []
        loop: MultiInstance | None = None
        content: list[_Element] = []
        for child in base.rest:
            tag = str(child.tag)
            if not tag.startswith(_BPMN_NS):
                base.extras.append(self.raw(child))
                continue
            local = tag[len(_BPMN_NS) :]
            if local in ("incoming", "outgoing"):
                continue  # derived from the flows when writing
            if local.endswith("EventDefinition"):
                event_definitions.append(self.event_definition(child))
            elif local == "multiInstanceLoopCharacteristics" and loop is None:
                loop = self.multi_instance(child)
            elif is_subprocess and (
                local in FLOW_NODE_KINDS or local == "sequenceFlow" or local in CONTAINER_CONTENT
            ):
                content.append(child)
            else:
                base.extras.append(self.raw(child))
        extensions = _NodeExtensions(self, base.extensions)
        get = element.get
        # Values are computed in this order, which decides the error reported first.
        return _new_node(
            {
                **base.fields(),
                "id": get("id") or "",
                "foreign_extensions": extensions.foreign,
                "kind": kind,
                "name": get("name"),
                "event_definitions": event_definitions,
                "attached_to_ref": get("attachedToRef"),
                "cancel_activity": _bool(element, "cancelActivity", True),
                "is_interrupting": _bool(element, "isInterrupting", True),
                "default_flow": get("default"),
                "loop": loop,
                "subprocess": self.container(content) if is_subprocess else None,
                "triggered_by_event": _bool(element, "triggeredByEvent", False),
                "called_element": get("calledElement"),
                "niva": extensions.niva,
            }
        )

    def container(self, children: list[_Element]) -> FlowContainer:
        container = FlowContainer()
        self.fill_container(container, children)
        return container

    def fill_container(self, container: FlowContainer, children: list[_Element]) -> None:
        for child in children:
            tag = str(child.tag)
            if tag.startswith(_BPMN_NS):
                local = tag[len(_BPMN_NS) :]
                if local in FLOW_NODE_KINDS:
                    container.nodes.append(self.flow_node(child))
                    continue
                if local == "sequenceFlow":
                    container.flows.append(self.sequence_flow(child))
                    continue
            container.extras.append(self.raw(child))

    def process(self, element: _Element) -> Process:
        base = _Base(self, element, _PROCESS_KNOWN)
        values: dict[str, str | None] = {"versionTag": None, "timezone": None, "calendar": None}
        seen: set[str] = set()
        foreign: list[RawElement] = []
        starters: Starters | None = None
        self.user_task_forms = {}
        for extension in base.extensions:
            tag = str(extension.tag)
            local = tag[len(_NIVA_NS) :] if tag.startswith(_NIVA_NS) else ""
            if self.camunda8:
                self._zeebe_process_extension(extension, values, seen)
                starters = starters or starters_from_zeebe(extension)
                foreign.append(self.raw(extension))
            elif local == "starters" and starters is None:
                starters = Starters(**_niva_fields(extension))
            elif local in values and local not in seen:
                seen.add(local)
                values[local] = _niva_fields(extension).get("value")
            else:
                foreign.append(self.raw(extension))
        fields = base.fields()
        fields["id"] = fields["id"] or ""
        listeners = [
            listener
            for extension in (base.extensions if self.camunda8 else [])
            if zeebe.is_zeebe(extension) and str(extension.tag).endswith("}executionListeners")
            for listener in zeebe.read_execution_listeners(extension)
        ]
        process = Process(
            **fields,
            foreign_extensions=foreign,
            name=element.get("name"),
            is_executable=_optional_bool(element, "isExecutable", element.get("isExecutable")),
            version_tag=values["versionTag"],
            timezone=values["timezone"],
            calendar=values["calendar"],
            starters=starters,
            user_task_forms=self.user_task_forms,
            execution_listeners=listeners,
        )
        self.fill_container(process, base.rest)
        return process

    def _zeebe_process_extension(
        self, extension: _Element, values: dict[str, str | None], seen: set[str]
    ) -> None:
        """niva's process settings from a Camunda 8 process: Camunda's own version tag,
        and ``niva:calendar`` / ``niva:timezone`` as zeebe properties."""
        found: dict[str, str] = {}
        if extension.tag == _ZEEBE_USER_TASK_FORM:
            self.user_task_forms.setdefault(extension.get("id") or "", extension.text or "")
        elif extension.tag == _ZEEBE_VERSION_TAG and extension.get("value") is not None:
            found["versionTag"] = extension.get("value") or ""
        elif extension.tag == _ZEEBE_PROPERTIES:
            found.update(zeebe.read_process_properties(extension))
        for key, value in found.items():
            if key not in seen:
                seen.add(key)
                values[key] = value

    def give_correlation_keys(self, definitions: Definitions) -> None:
        """Each element waiting for a message with a zeebe correlation key gets the key."""
        if not self.correlation_keys:
            return
        for process in definitions.processes:
            for node in process.all_nodes():
                refs = [d.message_ref for d in node.event_definitions if d.kind == "message"]
                if node.kind == "receiveTask":
                    refs.append(node.attributes.get("messageRef"))
                for ref in refs:
                    key = self.correlation_keys.get(local_ref(ref) or "")
                    if key is not None:
                        zeebe.with_correlation_key(node.niva, key, node.line)
                        break

    # --- root elements --------------------------------------------------------------------

    def simple_root(self, element: _Element, known: tuple[str, ...]) -> dict[str, Any]:
        base = _Base(self, element, frozenset(("id", *known)))
        base.extras.extend(self.raws(base.rest))
        return {
            **base.fields(),
            "foreign_extensions": self.raws(base.extensions),
            **{_snake(name): element.get(name) for name in known},
        }

    def collaboration(self, element: _Element) -> Collaboration:
        base = _Base(self, element, _NAMED_KNOWN)
        participants: list[Participant] = []
        message_flows: list[MessageFlow] = []
        for child in base.rest:
            tag = child.tag
            if tag == _PARTICIPANT:
                participants.append(Participant(**self.simple_root(child, ("name", "processRef"))))
            elif tag == _MESSAGE_FLOW:
                fields = self.simple_root(child, ("name", "sourceRef", "targetRef", "messageRef"))
                message_flows.append(MessageFlow(**fields))
            else:
                base.extras.append(self.raw(child))
        return Collaboration(
            **base.fields(),
            foreign_extensions=self.raws(base.extensions),
            name=element.get("name"),
            participants=participants,
            message_flows=message_flows,
        )

    def definitions(self, root: _Element) -> Definitions:
        base = _Base(self, root, _DEFINITIONS_KNOWN)
        get = root.get
        definitions = Definitions(
            **base.fields(),
            foreign_extensions=self.raws(base.extensions),
            name=get("name"),
            target_namespace=get("targetNamespace"),
            exporter=get("exporter"),
            exporter_version=get("exporterVersion"),
            namespaces={prefix or "": uri for prefix, uri in root.nsmap.items()},
        )
        for child in base.rest:
            tag = child.tag
            if tag == _PROCESS:
                definitions.processes.append(self.process(child))
            elif tag == _MESSAGE:
                message = MessageDef(**self.simple_root(child, ("name",)))
                definitions.messages.append(message)
                key = self.message_correlation_key(child)
                if key is not None and message.id:
                    self.correlation_keys.setdefault(message.id, key)
            elif tag == _ERROR:
                fields = self.simple_root(child, ("name", "errorCode"))
                definitions.errors.append(ErrorDef(**fields))
            elif tag == _ESCALATION:
                fields = self.simple_root(child, ("name", "escalationCode"))
                definitions.escalations.append(EscalationDef(**fields))
            elif tag == _SIGNAL:
                definitions.signals.append(SignalDef(**self.simple_root(child, ("name",))))
            elif tag == _COLLABORATION:
                definitions.collaborations.append(self.collaboration(child))
            elif tag == _DIAGRAM:
                if self.for_execution:
                    self.check_diagram(child)
                    definitions.extras.append(self.raw(child))
                else:
                    definitions.diagrams.append(self.diagram(child))
            else:
                definitions.extras.append(self.raw(child))
        if self.zeebe_prefix is not None and ZEEBE not in definitions.namespaces.values():
            # Declared on an inner element only: declared on the root when written, and
            # the file's dialect is told by its root.
            definitions.namespaces[self.zeebe_prefix] = ZEEBE
        self.give_correlation_keys(definitions)
        return definitions

    def message_correlation_key(self, element: _Element) -> str | None:
        if not self.camunda8:
            return None
        extensions = [
            grandchild
            for child in element
            if child.tag == _EXTENSION_ELEMENTS
            for grandchild in _children(child)
        ]
        return zeebe.read_subscription_key(extensions)

    # --- diagram interchange --------------------------------------------------------------

    def label(self, element: _Element) -> DiLabel:
        bounds: Bounds | None = None
        extras: list[RawElement] = []
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            if bounds is None and tag == _BOUNDS:
                bounds = _bounds(child)
                if bounds is None:
                    raise _Unreadable
            else:
                extras.append(self.raw(child))
        return _new_label(
            {
                "bounds": bounds,
                "attributes": _other_attributes(element, _NOTHING_KNOWN),
                "extras": extras,
            }
        )

    def shape(self, element: _Element) -> Shape:
        bounds: Bounds | None = None
        label: DiLabel | None = None
        extras: list[RawElement] = []
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            if bounds is None and tag == _BOUNDS:
                bounds = _bounds(child)
            elif label is None and tag == _LABEL:
                label = self.label(child)
            else:
                extras.append(self.raw(child))
        if bounds is None:
            raise _Unreadable
        attributes = _attributes(element)
        get = attributes.get
        return _new_shape(
            {
                "id": get("id"),
                "bpmn_element": get("bpmnElement"),
                "bounds": bounds,
                "is_horizontal": _optional_bool(element, "isHorizontal", get("isHorizontal")),
                "is_expanded": _optional_bool(element, "isExpanded", get("isExpanded")),
                "is_marker_visible": _optional_bool(
                    element, "isMarkerVisible", get("isMarkerVisible")
                ),
                "label": label,
                "attributes": {k: v for k, v in attributes.items() if k not in _SHAPE_KNOWN},
                "extras": extras,
                "line": _line(element),
            }
        )

    def edge(self, element: _Element) -> Edge:
        waypoints: list[tuple[float, float]] = []
        label: DiLabel | None = None
        extras: list[RawElement] = []
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            if tag == _WAYPOINT:
                x, y = _number(child.get("x")), _number(child.get("y"))
                if x is None or y is None:
                    raise _Unreadable
                waypoints.append((x, y))
            elif label is None and tag == _LABEL:
                label = self.label(child)
            else:
                extras.append(self.raw(child))
        attributes = _attributes(element)
        get = attributes.get
        return _new_edge(
            {
                "id": get("id"),
                "bpmn_element": get("bpmnElement"),
                "waypoints": waypoints,
                "label": label,
                "source_element": get("sourceElement"),
                "target_element": get("targetElement"),
                "attributes": {k: v for k, v in attributes.items() if k not in _EDGE_KNOWN},
                "extras": extras,
                "line": _line(element),
            }
        )

    def check_diagram(self, element: _Element) -> None:
        """Raise the error `diagram` would raise on ``element``, without reading it.

        Only a shape's boolean flags can make a diagram unreadable, so only a shape of the
        plane with a flag that is not a boolean is read, as `diagram` reads it (a shape
        without bounds is kept raw and raises nothing).
        """
        for shape in cast("list[_Element]", _FLAGGED_SHAPES(element)):
            if any(
                value is not None and value.strip() not in _BOOLEANS
                for value in map(shape.get, _SHAPE_FLAGS)
            ):
                with contextlib.suppress(_Unreadable):
                    self.shape(shape)

    def diagram(self, element: _Element) -> Diagram:
        diagram = Diagram(
            id=element.get("id"),
            name=element.get("name"),
            attributes=_other_attributes(element, _NAMED_KNOWN),
            line=_line(element),
        )
        plane: _Element | None = None
        for child in _children(element):
            if plane is None and child.tag == _PLANE:
                plane = child
            else:
                diagram.extras.append(self.raw(child))
        if plane is None:
            return diagram
        diagram.plane_id = plane.get("id")
        diagram.plane_element = plane.get("bpmnElement")
        diagram.plane_attributes = _other_attributes(plane, _PLANE_KNOWN)
        for child in plane:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            try:
                if tag == _SHAPE:
                    diagram.shapes.append(self.shape(child))
                    continue
                if tag == _EDGE:
                    diagram.edges.append(self.edge(child))
                    continue
            except _Unreadable:
                pass
            diagram.plane_extras.append(self.raw(child))
        return diagram
