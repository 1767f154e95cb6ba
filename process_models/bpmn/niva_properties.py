"""niva's settings that Zeebe has no element for, carried as ``zeebe:properties``.

A Camunda 8 file keeps niva's settings where Camunda Modeler shows and edits them: as
extension properties (name and value) of the element. `process_models.convert` writes
them; the reader gives them to the same typed fields the ``niva:`` elements fill, so the
engine treats both dialects alike.

- ``niva:constraint`` and ``niva:constraint:message`` on a user task (``niva:constraint:2``
  and so on for more): a `Constraint`, its expression FEEL;
- ``niva:subscription:candidateGroups``, ``…:candidateOrgs``, ``…:ttl`` on an element that
  waits for a message: its `Subscription`'s senders and ``ttl``;
- ``niva:detached`` = ``true`` on a call activity: ``CalledElement.detached``;
- ``niva:calendar`` on a timer event: its ``calendar`` (``none`` opts the timer out);
- ``niva:starters:candidateGroups``, ``…:candidateOrgs`` on a process: its `Starters`.

The process's ``niva:calendar`` and ``niva:timezone`` are read by
`process_models.bpmn.zeebe.read_process_properties`.
"""

from __future__ import annotations

import re

from lxml import etree

from process_models.bpmn.namespaces import ZEEBE
from process_models.schema import (
    CalledElement,
    Constraint,
    NivaExtensions,
    Starters,
    Subscription,
)

__all__ = ["apply_node_properties", "starters_from_zeebe"]

_ZEEBE_PROPERTIES = "{" + ZEEBE + "}properties"
_ZEEBE_PROPERTY = "{" + ZEEBE + "}property"

_CONSTRAINT = re.compile(r"niva:constraint(?::(\d+))?")
_SUBSCRIPTION = {
    "niva:subscription:candidateGroups": "candidate_groups",
    "niva:subscription:candidateOrgs": "candidate_orgs",
    "niva:subscription:ttl": "ttl",
}


def apply_node_properties(niva: NivaExtensions, line: int | None = None) -> None:
    """Fill ``niva``'s typed fields from its ``niva:`` properties (after the element's
    other zeebe extensions are read)."""
    properties = niva.properties
    if not any(name.startswith("niva:") for name in properties):
        return
    constraints: dict[int, Constraint] = {}
    for name, value in properties.items():
        match = _CONSTRAINT.fullmatch(name)
        if match:
            number = int(match.group(1) or 1)
            constraints[number] = Constraint(
                expression=value, message=properties.get(f"{name}:message"), line=line
            )
    niva.constraints.extend(constraints[n] for n in sorted(constraints))
    senders = {
        field: properties[name] for name, field in _SUBSCRIPTION.items() if name in properties
    }
    if senders:
        if niva.subscription is None:
            niva.subscription = Subscription(line=line)
        for field, value in senders.items():
            setattr(niva.subscription, field, value)
    if properties.get("niva:detached", "").strip().lower() == "true":
        if niva.called_element is None:
            niva.called_element = CalledElement(line=line)
        niva.called_element.detached = True
    if "niva:calendar" in properties and niva.calendar is None:
        niva.calendar = properties["niva:calendar"]


def starters_from_zeebe(extension: etree._Element) -> Starters | None:
    """A process's `Starters` from the ``niva:starters:…`` entries of a
    ``zeebe:properties`` extension, if it has any (None for any other extension)."""
    if extension.tag != _ZEEBE_PROPERTIES:
        return None
    properties = {
        str(p.get("name")): p.get("value") or ""
        for p in extension
        if p.tag == _ZEEBE_PROPERTY and p.get("name")
    }
    line = extension.sourceline if isinstance(extension.sourceline, int) else None
    groups = properties.get("niva:starters:candidateGroups")
    orgs = properties.get("niva:starters:candidateOrgs")
    if groups is None and orgs is None:
        return None
    return Starters(candidate_groups=groups, candidate_orgs=orgs, line=line)
