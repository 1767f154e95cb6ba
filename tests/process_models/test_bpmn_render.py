"""BPMN files rendered by bpmn-js in headless chromium, as bpmn.io shows them.

These tests need Debian's chromium and ``npm ci`` at the repository root; without them
they are skipped with the reason. Screenshots land in ``tests/artifacts/`` for a person to
look at.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from process_models.bpmn.layout import layout_definitions
from process_models.bpmn.reader import read_bpmn
from process_models.bpmn.writer import write_bpmn
from process_models.schema import Definitions
from tests.support.bpmn_render import RenderResult, bpmn_js_bundle, find_chromium, render_bpmn
from tests.support.bpmn_samples import SAMPLES

REPO_ROOT = Path(__file__).resolve().parents[2]
MIWG_REFERENCE = REPO_ROOT / ".." / "shared" / "conformance" / "bpmn-miwg" / "reference"
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"


def _browser_missing() -> str | None:
    if find_chromium() is None:
        return "chromium is not installed (apt-get install -y chromium)"
    if bpmn_js_bundle() is None:
        return "bpmn-js is not installed (run `npm ci` at the repository root)"
    return None


_MISSING = _browser_missing()
if _MISSING:
    print(f"test_bpmn_render skipped: {_MISSING}")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(_MISSING is not None, reason=_MISSING or ""),
]


def _miwg_files() -> list[Path]:
    if not MIWG_REFERENCE.is_dir():
        return []
    return sorted(MIWG_REFERENCE.glob("*.bpmn"))


def _expected_on_first_diagram(root: etree._Element) -> set[str]:
    """Element ids that bpmn-js must draw: those with DI in the first diagram.

    bpmn-js draws only the first BPMNDiagram, and inside a collaboration it skips the
    processes that no participant references (B.1.0 has such a process), so their
    elements are left out.
    """
    diagram = root.find(f"{{{BPMNDI}}}BPMNDiagram")
    assert diagram is not None, "the file has no BPMNDiagram"
    plane = diagram.find(f"{{{BPMNDI}}}BPMNPlane")
    assert plane is not None, "the first BPMNDiagram has no BPMNPlane"
    drawn = {
        ref
        for tag in ("BPMNShape", "BPMNEdge")
        for di in plane.iter(f"{{{BPMNDI}}}{tag}")
        if (ref := di.get("bpmnElement"))
    }
    plane_element = plane.get("bpmnElement")
    collaboration = next(
        (c for c in root.iter(f"{{{BPMN}}}collaboration") if c.get("id") == plane_element),
        None,
    )
    if collaboration is None:
        return drawn
    referenced = {p.get("processRef") for p in collaboration.iter(f"{{{BPMN}}}participant")}
    orphaned = {
        element.get("id")
        for process in root.iter(f"{{{BPMN}}}process")
        if process.get("id") not in referenced
        for element in process.iter()
    }
    return drawn - orphaned


@pytest.mark.skipif(
    not MIWG_REFERENCE.is_dir(),
    reason=f"the MIWG corpus is not at {MIWG_REFERENCE} (shared/ beside the repository)",
)
@pytest.mark.parametrize("path", _miwg_files(), ids=lambda p: p.name)
def test_render_miwg_reference_imports_without_error(path: Path) -> None:
    data = path.read_bytes()
    result = render_bpmn(data, screenshot=ARTIFACTS / "miwg" / f"{path.stem}.png")

    _record_warnings(path.name, result)
    assert result.error is None, f"{path.name}: bpmn-js could not import it: {result.error}"
    expected = _expected_on_first_diagram(etree.fromstring(data))
    rendered = set(result.shapes) | set(result.connections)
    missing = sorted(expected - rendered)
    assert not missing, f"{path.name}: elements with DI that bpmn-js did not draw: {missing}"
    assert (ARTIFACTS / "miwg" / f"{path.stem}.png").stat().st_size > 0


@pytest.mark.parametrize("name", list(SAMPLES))
def test_render_laid_out_model_draws_each_element_once(name: str) -> None:
    defs = layout_definitions(read_bpmn(SAMPLES[name]))
    screenshot = ARTIFACTS / "layout" / f"{name}.png"

    result = render_bpmn(write_bpmn(defs), screenshot=screenshot)

    assert result.error is None
    assert result.warnings == []
    expected_shapes, expected_connections = _drawable(defs)
    assert result.shapes == dict.fromkeys(expected_shapes, 1)
    assert result.connections == dict.fromkeys(expected_connections, 1)
    assert screenshot.stat().st_size > 0


@pytest.mark.skipif(
    not MIWG_REFERENCE.is_dir(),
    reason=f"the MIWG corpus is not at {MIWG_REFERENCE} (shared/ beside the repository)",
)
@pytest.mark.parametrize("path", _miwg_files(), ids=lambda p: p.name)
def test_render_miwg_model_laid_out_afresh(path: Path) -> None:
    bare = read_bpmn(path).model_copy(update={"diagrams": []})
    defs = layout_definitions(bare)
    written = write_bpmn(defs)

    result = render_bpmn(written)

    assert result.error is None, f"{path.name}: {result.error}"
    ours = {s.bpmn_element for d in defs.diagrams for s in d.shapes} | {
        e.bpmn_element for d in defs.diagrams for e in d.edges
    }
    about_our_di = [w for w in result.warnings if any(f"<{i}>" in w for i in ours if i)]
    assert not about_our_di, f"{path.name}: bpmn-js objects to the new DI: {about_our_di}"
    expected = _expected_on_first_diagram(etree.fromstring(written))
    missing = sorted(expected - set(result.shapes) - set(result.connections))
    assert not missing, f"{path.name}: laid out but not drawn: {missing}"


def _drawable(defs: Definitions) -> tuple[list[str], list[str]]:
    """Ids bpmn-js must draw as shapes and as connections, with one diagram per file."""
    shapes = [p.id for p in defs.participants() if p.id]
    connections = [m.id for c in defs.collaborations for m in c.message_flows if m.id]
    for process in defs.processes:
        shapes += [n.id for n in process.all_nodes()]
        connections += [f.id for f in process.all_flows()]
    return shapes, connections


def test_render_reports_import_error_for_non_bpmn() -> None:
    result = render_bpmn("<notBpmn/>")

    assert result.error is not None
    assert result.shapes == {}


def _record_warnings(name: str, result: RenderResult) -> None:
    """Keep the vendor files' warnings beside the screenshots, and show them with ``-s``."""
    target = ARTIFACTS / "miwg" / f"{Path(name).stem}.warnings.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result.warnings, indent=2) + "\n", encoding="utf-8")
    for warning in result.warnings:
        print(f"{name}: bpmn-js warning: {warning}")
