"""Compensation in a process model: which handler undoes which activity.

A compensation boundary event (a ``boundaryEvent`` with a ``compensateEventDefinition``)
attached to an activity is linked by an ``association`` to its compensation handler, an
activity with ``isForCompensation="true"`` and no sequence flows. This module reads those
links once per model; validation (`process_models.validation`) checks them and the
interpreter (`workflows.compensation`) runs the handlers.

The reader keeps an association's XML also when it reads a model for execution, so the
links are read from the ``association`` elements kept among a container's extras (a
process, a subprocess, or a collaboration, where some tools put artifacts).
"""

from __future__ import annotations

import xml.etree.ElementTree as StdET
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from process_models.bpmn.namespaces import BPMN
from process_models.errors import Problem
from process_models.schema import Definitions, FlowContainer, FlowNode, RawElement, local_ref

__all__ = [
    "CompensationLink",
    "activity_ref",
    "association_targets",
    "compensation_links",
    "compensation_problems",
    "is_compensation_boundary",
    "is_compensation_throw",
    "is_for_compensation",
]


_Report = Callable[[FlowNode, str], None]


@dataclass(frozen=True)
class CompensationLink:
    """A compensation boundary event and the handler associated with it."""

    activity_id: str
    """The activity the boundary event is attached to (the one to undo)."""
    boundary_id: str
    handler_id: str


def is_for_compensation(node: FlowNode) -> bool:
    """Whether the node is a compensation handler (``isForCompensation="true"``)."""
    return node.attributes.get("isForCompensation", "").strip() in ("true", "1")


def is_compensation_boundary(node: FlowNode) -> bool:
    """Whether the node is a compensation boundary event."""
    return node.kind == "boundaryEvent" and "compensate" in node.event_kinds()


def is_compensation_throw(node: FlowNode) -> bool:
    """Whether the node is a compensation intermediate throw or end event."""
    return node.kind in ("intermediateThrowEvent", "endEvent") and (
        "compensate" in node.event_kinds()
    )


def activity_ref(node: FlowNode) -> str | None:
    """The activity a compensation throw names (``activityRef``), or None: every one."""
    for definition in node.event_definitions:
        if definition.kind == "compensate":
            return local_ref(definition.attributes.get("activityRef")) or None
    return None


def _associations(extras: list[RawElement]) -> Iterator[tuple[str, str]]:
    for raw in extras:
        if raw.namespace != BPMN or raw.local_name != "association" or raw.xml is None:
            continue
        try:
            element = StdET.fromstring(raw.xml)
        except StdET.ParseError:
            continue
        source = local_ref(element.get("sourceRef"))
        target = local_ref(element.get("targetRef"))
        if source and target:
            yield source, target


def _all_associations(definitions: Definitions) -> list[tuple[str, str]]:
    containers: list[FlowContainer] = []
    for process in definitions.processes:
        containers.append(process)
        containers.extend(n.subprocess for n in process.all_nodes() if n.subprocess is not None)
    pairs = [pair for c in containers for pair in _associations(c.extras)]
    for collaboration in definitions.collaborations:
        pairs.extend(_associations(collaboration.extras))
    return pairs


def association_targets(definitions: Definitions, source_id: str) -> list[str]:
    """Ids an association links ``source_id`` with, either way round, in file order."""
    targets = []
    for source, target in _all_associations(definitions):
        if source == source_id:
            targets.append(target)
        elif target == source_id:
            targets.append(source)
    return targets


def compensation_links(
    definitions: Definitions, container: FlowContainer
) -> list[CompensationLink]:
    """The compensation boundary events of ``container`` (nested subprocesses included)
    with their handler: the one node of the boundary's container that an association
    links it with and that is for compensation. A boundary without exactly one such
    handler has no link (validation reports it)."""
    pairs = _all_associations(definitions)
    links = []
    for node in container.all_nodes():
        if not is_compensation_boundary(node) or not node.attached_to_ref:
            continue
        holder = container.container_of(node.id)
        assert holder is not None
        linked = [t for s, t in pairs if s == node.id] + [s for s, t in pairs if t == node.id]
        handlers = [
            n.id
            for n in holder.nodes
            if n.id in linked and n.is_activity and is_for_compensation(n)
        ]
        if len(handlers) == 1:
            links.append(CompensationLink(node.attached_to_ref, node.id, handlers[0]))
    return links


def compensation_problems(definitions: Definitions, container: FlowContainer) -> list[Problem]:
    """What keeps the compensation elements directly in ``container`` from running: a
    compensation boundary event with other than exactly one handler associated with it, or
    with sequence flows leaving it; a handler with sequence flows, boundary events or no
    compensation boundary event; a throw whose ``activityRef`` names no activity of its
    scope, or that does not wait for completion."""
    problems: list[Problem] = []

    def report(node: FlowNode, message: str) -> None:
        problems.append(Problem(message=message, element_id=node.id or None, line=node.line))

    pairs = _all_associations(definitions)

    def linked(node_id: str) -> list[str]:
        return [t for s, t in pairs if s == node_id] + [s for s, t in pairs if t == node_id]

    for node in container.nodes:
        if is_compensation_boundary(node):
            _boundary_problems(container, node, linked(node.id), report)
        if is_for_compensation(node):
            _handler_problems(container, node, linked(node.id), report)
        if is_compensation_throw(node):
            _throw_problems(container, node, report)
    return problems


def _boundary_problems(
    container: FlowContainer, node: FlowNode, linked: list[str], report: _Report
) -> None:
    handlers = [
        n.id for n in container.nodes if n.id in linked and n.is_activity and is_for_compensation(n)
    ]
    if len(handlers) != 1:
        found = f"{len(handlers)}: {', '.join(handlers)}" if handlers else "none"
        report(
            node,
            "a compensation boundary event needs exactly one compensation handler associated "
            "with it (an association to an activity of the same process or subprocess with "
            f'isForCompensation="true"); found {found}',
        )
    if container.outgoing(node.id):
        report(
            node,
            "a compensation boundary event has no outgoing sequence flows: its handler, "
            "linked by an association, is what runs",
        )


def _handler_problems(
    container: FlowContainer, node: FlowNode, linked: list[str], report: _Report
) -> None:
    if not node.is_activity:
        report(node, "only an activity can be a compensation handler (isForCompensation)")
        return
    if container.incoming(node.id) or container.outgoing(node.id):
        report(
            node,
            "a compensation handler has no incoming or outgoing sequence flows: it runs when "
            "its activity is compensated, and ends there",
        )
    if container.boundary_events(node.id):
        report(node, "a compensation handler cannot have boundary events")
    boundaries = [n for n in container.nodes if n.id in linked and is_compensation_boundary(n)]
    if not boundaries:
        report(
            node,
            "no compensation boundary event is associated with this compensation handler, "
            "so it never runs: associate it with the compensation boundary event of the "
            "activity it undoes",
        )


def _throw_problems(container: FlowContainer, node: FlowNode, report: _Report) -> None:
    definition = next(d for d in node.event_definitions if d.kind == "compensate")
    if definition.attributes.get("waitForCompletion", "true").strip() in ("false", "0"):
        report(
            node,
            'a compensation throw that does not wait (waitForCompletion="false") is not '
            "executable: the event waits for its handlers, as in Camunda 8; remove the attribute",
        )
    ref = activity_ref(node)
    if ref is None:
        return
    target = container.node(ref)
    if target is None or not target.is_activity or is_for_compensation(target):
        report(
            node,
            f"activityRef {ref!r} names no activity of the same process or subprocess as the "
            "throw event: only an activity of the throw's scope can be compensated",
        )
