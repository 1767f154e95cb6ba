"""Conditional events: when their condition is evaluated, and what counts as a change.

A conditional event (an intermediate catch, a boundary, an event-subprocess start) is
armed like a message subscription (`workflows.state.ConditionSubscription`). Its
condition is evaluated when it is armed and again whenever the variables it can see have
changed, and it fires when the condition turns from false to true: an intermediate catch
whose condition already holds goes on at once (BPMN's rule; Camunda 8 evaluates every
conditional event when its scope is activated, too), and a non-interrupting one fires
again only after its condition was false in between.

What counts as a change is told by a digest of the variables the event sees (or of its
``zeebe:conditionalFilter variableNames`` alone), kept with the subscription: so each
armed condition is evaluated once per change of what it reads, whichever path changed it
(a completed task, a message, a job's result, a retry with corrected variables, a
migration or a modification), and a case without conditional events does nothing at all.
Camunda 8's ``variableEvents`` (re-evaluate on ``create`` and/or ``update`` only) is kept
in the model but not applied: niva re-evaluates on any change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from pydantic import JsonValue

from process_models.schema import EventDefinition, FlowNode

__all__ = ["conditional_definition", "seen_digest"]


def conditional_definition(node: FlowNode) -> EventDefinition | None:
    """The node's conditional event definition, or None when it is no conditional event."""
    return next((d for d in node.event_definitions if d.kind == "conditional"), None)


def seen_digest(variables: Mapping[str, JsonValue], names: Sequence[str] | None) -> str:
    """A digest of what a condition reads: every visible variable, or only ``names``
    (a variable that is absent reads as null, as the condition sees it)."""
    read = dict(variables) if names is None else {name: variables.get(name) for name in names}
    canonical = json.dumps(read, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
