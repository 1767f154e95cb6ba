"""Link events: a throw link event jumps to the catch link event of the same name.

A pair of link events is a sequence flow drawn as two events (an off-page connector): both
stand in the same process or subprocess, each name has one catch, and every throw has its
catch. `link_problems` reports what breaks that, `link_targets` pairs them.
"""

from __future__ import annotations

from process_models.errors import Problem
from process_models.schema import FlowContainer, FlowNode

__all__ = ["link_name", "link_problems", "link_targets"]


def link_name(node: FlowNode) -> str | None:
    """The name of a link event's ``linkEventDefinition``, or None (not a link event, or
    a link without a name)."""
    for definition in node.event_definitions:
        if definition.kind == "link":
            return definition.attributes.get("name") or None
    return None


def _catches(container: FlowContainer) -> dict[str, str]:
    """Each link name of the container -> its first catch link event's id."""
    catches: dict[str, str] = {}
    for node in container.nodes:
        name = link_name(node)
        if name is not None and node.kind == "intermediateCatchEvent":
            catches.setdefault(name, node.id)
    return catches


def link_targets(container: FlowContainer) -> dict[str, str]:
    """Each throw link event directly in the container -> its catch link event's id
    (throws without a catch are left out: validation reports them)."""
    catches = _catches(container)
    return {
        node.id: catches[name]
        for node in container.nodes
        if node.kind == "intermediateThrowEvent"
        and (name := link_name(node)) is not None
        and name in catches
    }


def link_problems(container: FlowContainer) -> list[Problem]:
    """What keeps the link events directly in the container from pairing up."""
    problems: list[Problem] = []
    catches = _catches(container)
    targets = {f.target_ref for f in container.flows}
    for node in container.nodes:
        if "link" not in node.event_kinds():
            continue
        name = link_name(node)
        if name is None:
            message = 'a link event needs a name (<bpmn:linkEventDefinition name="…"/>)'
        elif node.kind == "intermediateThrowEvent" and name not in catches:
            message = (
                f"no catch link event named {name!r} in the same process or subprocess: "
                "a throw link event jumps to the catch link event of its name"
            )
        elif node.kind == "intermediateCatchEvent" and catches[name] != node.id:
            message = (
                f"a second catch link event named {name!r} in the same process or "
                "subprocess: each name has one catch, where its throws jump to"
            )
        elif node.kind == "intermediateCatchEvent" and node.id in targets:
            message = (
                "a catch link event has no incoming sequence flow: tokens reach it from the "
                "throw link events of its name"
            )
        else:
            continue
        problems.append(Problem(message=message, element_id=node.id, line=node.line))
    return problems
