"""The start events of a deployed process, by the name of the message or signal that
starts them: what a publication or a broadcast looks up in every deployed model.

A deployed version never changes, so each is read once per kind of name.
"""

from __future__ import annotations

from collections.abc import Callable

from process_models.deployments import DeployedModel, ModelStore
from process_models.schema import Definitions, FlowNode, Process

__all__ = ["StartEventName", "start_events_by_name"]

StartEventName = Callable[[Definitions, FlowNode], str | None]
"""The name a start event is started by (a message's or a signal's), or None for a start
event of another kind."""

_CACHE: dict[tuple[str, str, str], tuple[dict[str, list[str]], Process | None]] = {}
"""Per kind of name, deployed file (its content hash) and process: the start events by
name, and the process."""


def start_events_by_name(
    store: ModelStore, model: DeployedModel, kind: str, name_of: StartEventName
) -> tuple[dict[str, list[str]], Process | None]:
    """The ids of the start events of a deployed version's process by the name
    ``name_of`` gives them (``kind`` names that function in the cache), and the process
    (None when the file has no such process)."""
    key = (kind, model.content_hash, model.process_id)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    definitions = store.definitions(model)
    process = definitions.process(model.process_id)
    found: dict[str, list[str]] = {}
    for node in process.start_events() if process else []:
        name = name_of(definitions, node)
        if name is not None:
            found.setdefault(name, []).append(node.id)
    _CACHE[key] = (found, process)
    return found, process
