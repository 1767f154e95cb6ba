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
from process_models.deployments import ModelSource
from process_models.expressions import Expression, compile_expression, is_expression
from process_models.schema import Definitions, FlowContainer, FlowNode, Process, SequenceFlow
from process_models.timers import TimerSpec, parse_timer

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
        self.tz = ZoneInfo(source.timezone)
        # The working-day calendar the version snapshotted when deployed (None: none).
        self.calendar = calendar_from_reference(source.reference)
        self.nodes: dict[str, FlowNode] = {}
        self.container_id: dict[str, str] = {}
        self.containers: dict[str, FlowContainer] = {}
        self.flows: dict[str, SequenceFlow] = {}
        self._index(process, process.id)
        self._expressions: dict[tuple[str, str], Expression] = {}
        self._timers: dict[tuple[str, str, str], TimerSpec] = {}

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

    # --- values -------------------------------------------------------------------------

    def expression(self, source: str, element_id: str, *, always: bool = False) -> Expression:
        """A compiled value (memoised). ``always``: read as CEL even without ``=``
        (conditions and cardinalities)."""
        text = source.strip()
        if always and not is_expression(text):
            text = "=" + text
        key = (element_id, text)
        compiled = self._expressions.get(key)
        if compiled is None:
            compiled = compile_expression(text, element_id=element_id)
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


_CACHE_SIZE = 64
_cache: OrderedDict[tuple[str, int, str, str, str], ExecutableModel] = OrderedDict()
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
