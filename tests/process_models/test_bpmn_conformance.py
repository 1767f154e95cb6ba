"""The BPMN MIWG test suite (an outside corpus) read, checked and round-tripped.

The files are the BPMN Model Interchange Working Group's reference models (CC BY 3.0),
read from the shared conformance folder beside the repository and never copied into it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

import pytest
from lxml import etree

from process_models.bpmn import blockers_by_process, read_bpmn, write_bpmn
from process_models.bpmn.namespaces import BPMN, BPMNDI, DC, DI
from process_models.schema import Definitions, same_model, without_lines

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "bpmn-miwg"
FILES = sorted([*CORPUS.glob("reference/*.bpmn"), *CORPUS.glob("bpmn-io-export/*.bpmn")])

pytestmark = pytest.mark.skipif(
    not FILES, reason=f"the MIWG conformance corpus is not at {CORPUS.resolve()}"
)


@pytest.fixture(scope="module")
def corpus() -> dict[Path, Definitions]:
    return {path: read_bpmn(path) for path in FILES}


def _round_trip(defs: Definitions) -> tuple[bytes, Definitions]:
    data = write_bpmn(defs)
    again = read_bpmn(data)
    assert (
        again.namespaces.items()
        >= {
            k: v for k, v in defs.namespaces.items() if k not in ("bpmn", "bpmndi", "dc", "di")
        }.items()
    )
    again.namespaces = defs.namespaces
    return data, again


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_conformance_read_every_process_executable_or_blocked(
    path: Path, corpus: dict[Path, Definitions]
) -> None:
    defs = corpus[path]
    assert defs.processes, f"{path.name}: no process read"
    for process_id, problems in blockers_by_process(defs).items():
        for problem in problems:
            assert problem.element_id, f"{path.name}/{process_id}: {problem.message}"
            assert problem.line is not None, problem.message
            assert problem.line > 0, problem.message
            assert "executable" in problem.message or "niva" in problem.message


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_conformance_round_trip_preserves_model(
    path: Path, corpus: dict[Path, Definitions]
) -> None:
    defs = corpus[path]
    _, again = _round_trip(defs)
    assert same_model(defs, again)
    # Spot-check what same_model covers, so a weakened comparison cannot hide a loss.
    plain, plain_again = without_lines(defs), without_lines(again)
    for process, process_again in zip(plain.processes, plain_again.processes, strict=True):
        assert [(n.id, n.kind, n.name) for n in process.all_nodes()] == [
            (n.id, n.kind, n.name) for n in process_again.all_nodes()
        ]
        assert [(f.id, f.source_ref, f.target_ref) for f in process.all_flows()] == [
            (f.id, f.source_ref, f.target_ref) for f in process_again.all_flows()
        ]
        assert [n.documentation for n in process.all_nodes()] == [
            n.documentation for n in process_again.all_nodes()
        ]
        assert [n.foreign_extensions for n in process.all_nodes()] == [
            n.foreign_extensions for n in process_again.all_nodes()
        ]
    for diagram, diagram_again in zip(defs.diagrams, again.diagrams, strict=True):
        assert [(s.bpmn_element, s.bounds) for s in diagram.shapes] == [
            (s.bpmn_element, s.bounds) for s in diagram_again.shapes
        ]
        assert [(e.bpmn_element, e.waypoints) for e in diagram.edges] == [
            (e.bpmn_element, e.waypoints) for e in diagram_again.edges
        ]


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_conformance_written_xml_keeps_every_element_and_id(path: Path) -> None:
    source = etree.parse(str(path)).getroot()
    written = etree.fromstring(write_bpmn(read_bpmn(path)))

    def elements(root: etree._Element) -> Counter[str]:
        # Empty extensionElements carry nothing and are not written back.
        return Counter(
            str(e.tag)
            for e in root.iter()
            if isinstance(e.tag, str)
            and not (e.tag == f"{{{BPMN}}}extensionElements" and len(e) == 0)
        )

    assert elements(written) == elements(source)
    ids = [e.get("id") for e in source.iter() if isinstance(e.tag, str) and e.get("id")]
    ids_written = {e.get("id") for e in written.iter() if isinstance(e.tag, str)}
    assert set(ids) <= ids_written
    assert _foreign_extensions(written) == _foreign_extensions(source)


def _foreign_extensions(root: etree._Element) -> Counter[str]:
    """Every vendor extension element, canonical (prefixes rewritten, blank text dropped)."""
    return Counter(
        ElementTree.canonicalize(
            etree.tostring(element, encoding="unicode"), rewrite_prefixes=True, strip_text=True
        )
        for extensions in root.iter(f"{{{BPMN}}}extensionElements")
        for element in extensions
        if isinstance(element.tag, str)
        and etree.QName(element).namespace not in (BPMN, BPMNDI, DC, DI)
    )


def test_conformance_round_trip_is_stable_after_one_write(corpus: dict[Path, Definitions]) -> None:
    for path, defs in corpus.items():
        once = write_bpmn(defs)
        assert write_bpmn(read_bpmn(once)) == once, path.name


def test_conformance_known_facts_of_the_corpus(corpus: dict[Path, Definitions]) -> None:
    by_name = {f"{p.parent.name}/{p.name}": d for p, d in corpus.items()}
    # A.1.0 is ISO-8859-1 with a `semantic:` prefix: five nodes in a line.
    a10 = by_name["reference/A.1.0.bpmn"]
    assert [n.kind for n in a10.processes[0].nodes] == [
        "startEvent",
        "task",
        "task",
        "task",
        "endEvent",
    ]
    assert blockers_by_process(a10) == {"WFP-6-": []}
    # A.3.0 has an escalation boundary event, which niva runs.
    assert blockers_by_process(by_name["reference/A.3.0.bpmn"]) == {"WFP-6-": []}
    # C.4.0 (no XML declaration) holds four collaborations, one pool each.
    c40 = by_name["reference/C.4.0.bpmn"]
    assert len(c40.collaborations) == 4
    for process in c40.processes:
        participant = c40.participant_for(process.id)
        assert participant is not None, process.id
    # A.2.1 declares conditions in XPath: kept, but not executable.
    a21 = by_name["reference/A.2.1.bpmn"]
    conditions = [f.condition for f in a21.processes[0].flows if f.condition is not None]
    assert conditions
    assert all(c.language for c in conditions)
    [a21_problems] = blockers_by_process(a21).values()
    assert any("XPath" in p.message for p in a21_problems)


def test_conformance_lines_differ_but_content_equal(corpus: dict[Path, Definitions]) -> None:
    # same_model ignores lines and nothing else: a changed name makes models differ.
    defs = corpus[FILES[0]]
    changed = without_lines(defs)
    changed.processes[0].nodes[0].name = "changed"
    assert not same_model(defs, changed)
    assert same_model(defs, without_lines(defs))
