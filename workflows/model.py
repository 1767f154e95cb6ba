"""A process model prepared for execution: indexed once, expressions compiled once.

`ExecutableModel` is what the interpreter walks. It is built from the BPMN file the case
started with (carried in the workflow input, so the history shows exactly what ran) and the
deployed version's metadata (version, time zone, reference data snapshot).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from functools import cached_property
from zoneinfo import ZoneInfo

from process_models.bpmn import read_bpmn
from process_models.calendars import calendar_from_reference
from process_models.camunda_forms import CamundaForm, FormRef, form_from_document, read_form
from process_models.compensation import CompensationLink, compensation_links
from process_models.deployments import ModelSource
from process_models.dialect import ModelExpression, compile_value
from process_models.dmn import DecisionEvaluator, read_dmn
from process_models.expressions import is_expression
from process_models.schema import Definitions, FlowContainer, FlowNode, Process, SequenceFlow
from process_models.timers import TimerSpec, parse_timer
from workflows.flow_graph import FlowGraph

__all__ = ["ExecutableModel", "load_model", "split_list"]


def split_list(value: str | None) -> list[str]:
    """A comma list as written in ``candidateGroups="a, b"``, without blanks."""
    if not value:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


class ExecutableModel:
    """One process of a deployed file, indexed for the interpreter."""

    def __init__(self, source: ModelSource) -> None:
        self.source = source
        # Running needs neither the diagram nor the XML of unmodelled elements.
        self.definitions: Definitions = read_bpmn(source.bpmn.encode("utf-8"), for_execution=True)
        process = self.definitions.process(source.process_id)
        if process is None:
            raise ValueError(f"the model has no process {source.process_id!r}")
        self.process: Process = process
        # The file's dialect decides the language of every '=' value (CEL or FEEL) and
        # where Zeebe's rules differ from niva's (see the interpreter).
        self.dialect = self.definitions.dialect
        self.tz = ZoneInfo(source.timezone)
        # The working-day calendar the version snapshotted when deployed (None: none).
        self.calendar = calendar_from_reference(source.reference)
        self.nodes: dict[str, FlowNode] = {}
        self.container_id: dict[str, str] = {}
        self.containers: dict[str, FlowContainer] = {}
        self.flows: dict[str, SequenceFlow] = {}
        self._index(process, process.id)
        self._expressions: dict[tuple[str, str], ModelExpression] = {}
        self._timers: dict[tuple[str, str, str], TimerSpec] = {}
        self._forms: dict[FormRef, CamundaForm] = {}
        self._decisions: dict[str, DecisionEvaluator] = {}

    def _index(self, container: FlowContainer, container_id: str) -> None:
        self.containers[container_id] = container
        for node in container.nodes:
            self.nodes[node.id] = node
            self.container_id[node.id] = container_id
            if node.subprocess is not None:
                self._index(node.subprocess, node.id)
        for flow in container.flows:
            self.flows[flow.id] = flow

    # --- structure ----------------------------------------------------------------------

    def node(self, node_id: str) -> FlowNode:
        """The node with this id (the model was validated, so it exists)."""
        return self.nodes[node_id]

    def outgoing(self, node_id: str) -> list[SequenceFlow]:
        """Flows leaving the node, in model order."""
        return self.containers[self.container_id[node_id]].outgoing(node_id)

    def incoming(self, node_id: str) -> list[SequenceFlow]:
        """Flows entering the node, in model order."""
        return self.containers[self.container_id[node_id]].incoming(node_id)

    def boundary_events(self, activity_id: str) -> list[FlowNode]:
        """Boundary events attached to the activity element."""
        return self.containers[self.container_id[activity_id]].boundary_events(activity_id)

    def none_start(self, container_id: str) -> FlowNode | None:
        """The start event without trigger of a process or subprocess."""
        container = self.containers[container_id]
        starts = [n for n in container.start_events() if not n.event_definitions]
        return starts[0] if starts else None

    def event_subprocesses(self, container_id: str) -> list[FlowNode]:
        """Event subprocesses directly in a container."""
        return [n for n in self.containers[container_id].nodes if n.triggered_by_event]

    @cached_property
    def subscribing_elements(self) -> list[FlowNode]:
        """Every element that can receive a message, in model order."""
        return [n for n in self.nodes.values() if self.message_name(n) is not None]

    def message_name(self, node: FlowNode) -> str | None:
        """The message name an element waits for, or None."""
        subscription = node.niva.subscription
        if subscription is not None and subscription.message_name:
            return subscription.message_name
        refs = [d.message_ref for d in node.event_definitions if d.kind == "message"]
        if node.kind == "receiveTask":
            refs.append(node.attributes.get("messageRef"))
        for ref in refs:
            message = self.definitions.message(ref)
            if message is not None and message.name:
                return message.name
        return None

    def error_code(self, node: FlowNode) -> str | None:
        """The error code an error event throws or catches; None catches every error."""
        for definition in node.event_definitions:
            if definition.kind == "error":
                error = self.definitions.error(definition.error_ref)
                if error is None:
                    return None
                return error.error_code or error.name or error.id
        return None

    def escalation_code(self, node: FlowNode) -> str | None:
        """The escalation code an escalation event throws or catches; None catches every
        escalation (and a throw without one is refused by validation)."""
        for definition in node.event_definitions:
            if definition.kind == "escalation":
                escalation = self.definitions.escalation(definition.attributes.get("escalationRef"))
                if escalation is None:
                    return None
                return escalation.escalation_code or escalation.name or escalation.id
        return None

    @cached_property
    def shared_call_targets(self) -> frozenset[str]:
        """The call activities whose child could share a workflow id with another call
        activity's child: those that call a process another one calls too, and every call
        of a computed process id when the model has more than one call activity."""
        calls = [n for n in self.nodes.values() if n.kind == "callActivity"]
        targets: dict[str, list[str]] = {}
        for node in calls:
            called = node.niva.called_element
            process_id = (called.process_id if called else None) or node.called_element or ""
            targets.setdefault("=" if process_id.startswith("=") else process_id, []).append(
                node.id
            )
        shared = [
            ids
            for target, ids in targets.items()
            if len(ids) > 1 or (target == "=" and len(calls) > 1)
        ]
        return frozenset(node_id for ids in shared for node_id in ids)

    @cached_property
    def compensation(self) -> dict[str, CompensationLink]:
        """The compensation handler of each activity that has one, by the activity's id."""
        links = compensation_links(self.definitions, self.process)
        return {link.activity_id: link for link in links}

    @cached_property
    def graph(self) -> FlowGraph:
        """Link targets and inclusive joins, worked out once for every case of the version."""
        return FlowGraph(self.containers.values())

    # --- values -------------------------------------------------------------------------

    def expression(self, source: str, element_id: str, *, always: bool = False) -> ModelExpression:
        """A compiled value in the file's language (memoised). ``always``: an expression
        even without ``=`` (conditions and cardinalities)."""
        text = source.strip()
        if always and not is_expression(text):
            text = "=" + text
        key = (element_id, text)
        compiled = self._expressions.get(key)
        if compiled is None:
            compiled = compile_value(text, dialect=self.dialect, element_id=element_id)
            self._expressions[key] = compiled
        return compiled

    def timer_spec(self, element_id: str, kind: str, value: str) -> TimerSpec:
        """A literal timer value, parsed (memoised)."""
        key = (element_id, kind, value)
        spec = self._timers.get(key)
        if spec is None:
            spec = parse_timer(
                {"timeDuration": "duration", "timeDate": "date", "timeCycle": "cycle"}[kind],  # type: ignore[arg-type]
                value.strip(),
                element_id=element_id,
            )
            self._timers[key] = spec
        return spec

    def camunda_form(self, ref: FormRef) -> CamundaForm | None:
        """A Camunda Form of the version (memoised): one it was deployed with, or one
        embedded in its process; None when it has none by that id."""
        form = self._forms.get(ref)
        if form is not None:
            return form
        name = f"{ref.form_id}.form"
        if ref.embedded and ref.form_id in self.process.user_task_forms:
            text = self.process.user_task_forms[ref.form_id]
            form = read_form(text.encode(), name=name, embedded_id=ref.form_id)
        elif not ref.embedded and ref.form_id in self.source.forms:
            form = form_from_document(self.source.forms[ref.form_id], name=name)
        if form is not None:
            self._forms[ref] = form
        return form

    def decision(self, decision_id: str) -> DecisionEvaluator | None:
        """The evaluator of the DMN file the version was deployed with for this decision
        (memoised, one per file); None when the version calls no decision by that id."""
        text = self.source.decisions.get(decision_id)
        if text is None:
            return None
        evaluator = self._decisions.get(text)
        if evaluator is None:
            # Checked when deployed: reading it again cannot fail.
            evaluator = DecisionEvaluator(read_dmn(text.encode(), name=f"{decision_id}.dmn"))
            self._decisions[text] = evaluator
        return evaluator


_CACHE_SIZE = 64
_cache: OrderedDict[tuple[str, int, str, str, str, str, str], ExecutableModel] = OrderedDict()
_cache_lock = threading.Lock()


def load_model(source: ModelSource) -> ExecutableModel:
    """The executable model of a deployed version, shared by every case that runs it.

    A deployed version never changes, so all its cases (and every replay of them) can share
    one parsed, indexed model with compiled expressions: reading and compiling it once per
    worker instead of once per case is most of what a replay or a cached case costs.
    The workflow module is passed through the sandbox, so this cache is process-wide.
    """
    reference = json.dumps(source.reference, sort_keys=True, separators=(",", ":"))
    key = (
        source.process_id,
        source.version,
        source.content_hash,
        source.timezone,
        hashlib.sha256(reference.encode()).hexdigest(),
        # Two stores may hold one process version with other forms (tests do).
        hashlib.sha256(json.dumps(source.forms, sort_keys=True).encode()).hexdigest(),
        hashlib.sha256(json.dumps(source.decisions, sort_keys=True).encode()).hexdigest(),
    )
    with _cache_lock:
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
            return model
    model = ExecutableModel(source)
    with _cache_lock:
        _cache[key] = model
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return model
