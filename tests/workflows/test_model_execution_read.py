"""The engine reads a deployed model for execution: no diagram, no unmodelled XML."""

from __future__ import annotations

from pathlib import Path

import pytest

from process_models.bpmn import read_bpmn
from process_models.bpmn.namespaces import BPMNDI, clark
from process_models.deployments import ModelSource
from workflows.model import ExecutableModel

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*REPO.glob("process_models/se/*.bpmn"), *REPO.glob("process_models/no/*.bpmn")])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_executable_model_reads_shipped_model_for_execution(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    full = read_bpmn(text)
    process = full.executable_processes()[0]
    assert full.diagrams
    source = ModelSource(
        process_id=process.id, version=1, content_hash="h", timezone="Europe/Stockholm", bpmn=text
    )
    model = ExecutableModel(source)
    definitions = model.definitions
    assert definitions.diagrams == []
    unread = [r for r in definitions.extras if r.tag == clark(BPMNDI, "BPMNDiagram")]
    assert [(r.id, r.xml) for r in unread] == [(d.id, None) for d in full.diagrams]
    # What the interpreter walks is the full read's.
    assert {k: n.model_dump() for k, n in model.nodes.items()} == {
        n.id: n.model_dump() for n in process.all_nodes()
    }
    assert {k: f.model_dump() for k, f in model.flows.items()} == {
        f.id: f.model_dump() for f in process.all_flows()
    }
