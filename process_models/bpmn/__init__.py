"""Read, check and write BPMN 2.0 process models.

``read_bpmn`` turns a file into the typed model of `process_models.schema` with a hardened
parser; ``write_bpmn`` writes it back (diagram included) so a read → write → read round trip
keeps ids, names, flows, extensions, documentation and coordinates; ``blockers`` says what
keeps a process out of niva's executable subset; ``layout_definitions`` gives a diagram to
processes that have none.
"""

from __future__ import annotations

from process_models.bpmn.layout import has_diagram, layout_definitions, layout_process
from process_models.bpmn.reader import read_bpmn
from process_models.bpmn.subset import (
    EXECUTABLE_NODE_KINDS,
    MODELLING_ONLY,
    blockers,
    blockers_by_process,
    is_executable,
)
from process_models.bpmn.writer import write_bpmn
from process_models.bpmn.xml import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "EXECUTABLE_NODE_KINDS",
    "MODELLING_ONLY",
    "blockers",
    "blockers_by_process",
    "has_diagram",
    "is_executable",
    "layout_definitions",
    "layout_process",
    "read_bpmn",
    "write_bpmn",
]
