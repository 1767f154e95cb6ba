"""The execution read: the full read without diagrams and without unmodelled XML.

``read_bpmn(..., for_execution=True)`` must give the full read's model in everything the
engine uses, keep each unmodelled element's tag, id and line (``xml`` None), stand for each
unread diagram with one `RawElement` in ``Definitions.extras``, fail on bad input exactly as
the full read fails, and never be written back or laid out as if nothing were missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from process_models.bpmn import layout_definitions, read_bpmn, write_bpmn
from process_models.bpmn.namespaces import BPMN, BPMNDI, DC, NIVA, clark
from process_models.errors import BpmnReadError
from process_models.schema import Definitions, RawElement

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / ".." / "shared" / "conformance" / "bpmn-miwg"
MIWG = sorted([*CORPUS.glob("reference/*.bpmn"), *CORPUS.glob("bpmn-io-export/*.bpmn")])
SHIPPED = sorted([*REPO.glob("process_models/se/*.bpmn"), *REPO.glob("process_models/no/*.bpmn")])
DIAGRAM = clark(BPMNDI, "BPMNDiagram")

needs_corpus = pytest.mark.skipif(
    not MIWG, reason=f"the MIWG conformance corpus is not at {CORPUS.resolve()}"
)


def _raws(value: Any) -> Iterator[RawElement]:
    """Every `RawElement` in a model, in field order."""
    if isinstance(value, RawElement):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _raws(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _raws(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _raws(item)


def _xml_dropped(dump: Any) -> Any:
    """A model dump with the ``xml`` of every raw element (tag, id, line, xml) but an
    association set to None."""
    if isinstance(dump, dict):
        if dump.keys() == {"tag", "id", "line", "xml"}:
            if str(dump["tag"]).endswith("}association"):
                return dump  # kept for execution (compensation handlers)
            return {**dump, "xml": None}
        return {key: _xml_dropped(value) for key, value in dump.items()}
    if isinstance(dump, list):
        return [_xml_dropped(item) for item in dump]
    return dump


def _assert_execution_read_matches(full: Definitions, execution: Definitions) -> None:
    assert execution.diagrams == []
    markers = [r for r in execution.extras if r.tag == DIAGRAM]
    assert [(r.tag, r.id, r.line, r.xml) for r in markers] == [
        (DIAGRAM, d.id, d.line, None) for d in full.diagrams
    ]
    # Every unmodelled element outside the diagrams is there, in the same place, unkept
    # (but associations: running reads which handler compensates what).
    outside = full.model_copy(update={"diagrams": []})
    kept = [(r.tag, r.id, r.line) for r in _raws(outside)]
    unkept = [r for r in _raws(execution) if r.tag != DIAGRAM]
    assert [(r.tag, r.id, r.line) for r in unkept] == kept
    assert all(r.xml is None for r in _raws(execution) if r.local_name != "association")
    assert all(r.xml for r in _raws(full))
    # Everything else is the full read's: processes, niva extensions, documentation, lines.
    expected = _xml_dropped(outside.model_dump())
    actual = execution.model_dump()
    actual["extras"] = [r for r in actual["extras"] if r["tag"] != DIAGRAM]
    assert actual == expected


@needs_corpus
@pytest.mark.parametrize("path", MIWG, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_execution_read_miwg_file_equals_full_read_but_diagram_and_raw_xml(path: Path) -> None:
    _assert_execution_read_matches(read_bpmn(path), read_bpmn(path, for_execution=True))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_execution_read_shipped_model_equals_full_read_but_diagram_and_raw_xml(
    path: Path,
) -> None:
    full = read_bpmn(path)
    assert full.diagrams, f"{path.name} ships with a diagram"
    # Read as the engine reads it: the deployed text, as UTF-8 bytes.
    text = path.read_text(encoding="utf-8")
    _assert_execution_read_matches(full, read_bpmn(text.encode("utf-8"), for_execution=True))
    _assert_execution_read_matches(full, read_bpmn(text, for_execution=True))


def test_execution_read_shipped_models_found() -> None:
    assert len(SHIPPED) >= 6


@needs_corpus
def test_execution_read_corpus_has_diagrams_and_raw_elements() -> None:
    # The comparisons above would prove little on files without either.
    with_diagrams = [p for p in MIWG if read_bpmn(p).diagrams]
    with_raws = [p for p in MIWG if any(True for _ in _raws(read_bpmn(p)))]
    assert len(with_diagrams) == len(MIWG)
    assert len(with_raws) > len(MIWG) // 2


# --- writing and laying out an execution read ------------------------------------------------

DOCUMENT = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN}" xmlns:bpmndi="{BPMNDI}" xmlns:dc="{DC}"
    xmlns:niva="{NIVA}" xmlns:x="urn:vendor" id="D" targetNamespace="urn:test">
  <bpmn:process id="P" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:sequenceFlow id="F1" sourceRef="S" targetRef="T"/>
    <bpmn:userTask id="T">
      <bpmn:extensionElements>
        <niva:form key="se.nhv.ExpertReport"/>
        {{extension}}
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="F2" sourceRef="T" targetRef="E"/>
    <bpmn:endEvent id="E"/>
  </bpmn:process>
  {{diagram}}
</bpmn:definitions>
"""

VENDOR_EXTENSION = '<x:meta id="Meta_1" k="v"/>'
DIAGRAM_XML = """<bpmndi:BPMNDiagram id="Diagram_1">
    <bpmndi:BPMNPlane id="Plane_1" bpmnElement="P">
      <bpmndi:BPMNShape id="S_di" bpmnElement="S">
        <dc:Bounds x="100" y="100" width="36" height="36"/>
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>"""


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_execution_read_write_refused_naming_unkept_element() -> None:
    text = DOCUMENT.format(extension=VENDOR_EXTENSION, diagram="")
    defs = read_bpmn(text, for_execution=True)
    with pytest.raises(ValueError, match="read for execution") as info:
        write_bpmn(defs)
    message = str(info.value)
    assert f"meta 'Meta_1' (line {_line_of(text, 'x:meta')})" in message
    assert "read_bpmn(source)" in message
    assert "for_execution=False" in message
    # The full read of the same text writes.
    assert b"Meta_1" in write_bpmn(read_bpmn(text))


def test_execution_read_write_refused_for_unread_diagram_alone() -> None:
    # Nothing else is unmodelled: only the unread diagram would be lost.
    text = DOCUMENT.format(extension="", diagram=DIAGRAM_XML)
    defs = read_bpmn(text, for_execution=True)
    with pytest.raises(ValueError, match="read for execution") as info:
        write_bpmn(defs)
    assert f"BPMNDiagram 'Diagram_1' (line {_line_of(text, 'BPMNDiagram id')})" in str(info.value)


def test_execution_read_write_refused_for_every_shipped_model() -> None:
    for path in SHIPPED:
        with pytest.raises(ValueError, match="read for execution"):
            write_bpmn(read_bpmn(path, for_execution=True))


@needs_corpus
def test_execution_read_write_refused_for_every_miwg_file() -> None:
    for path in MIWG:
        with pytest.raises(ValueError, match="read for execution"):
            write_bpmn(read_bpmn(path, for_execution=True))


def test_execution_read_with_nothing_unkept_writes_as_full_read() -> None:
    # No diagram and no unmodelled element: the execution read lost nothing.
    text = DOCUMENT.format(extension="", diagram="")
    assert write_bpmn(read_bpmn(text, for_execution=True)) == write_bpmn(read_bpmn(text))


def test_execution_read_layout_refused_when_diagram_unread() -> None:
    text = DOCUMENT.format(extension="", diagram=DIAGRAM_XML)
    with pytest.raises(ValueError, match=r"Diagram_1.*read for execution"):
        layout_definitions(read_bpmn(text, for_execution=True))
    assert len(layout_definitions(read_bpmn(text)).diagrams) == 1


def test_raw_element_unkept_equality() -> None:
    unkept = RawElement(tag="{urn:x}meta", id="M", line=3, xml=None)
    kept = RawElement(tag="{urn:x}meta", id="M", line=3, xml='<x:meta xmlns:x="urn:x" id="M"/>')
    assert unkept == RawElement(tag="{urn:x}meta", id="M", line=3, xml=None)
    assert unkept != kept
    assert kept != unkept
    assert unkept != RawElement(tag="{urn:x}meta", id="M", line=4, xml=None)


# --- bad input fails the same way -------------------------------------------------------------

WRAP = f'<bpmn:definitions xmlns:bpmn="{BPMN}" id="d">{{body}}</bpmn:definitions>'
WRAP_DI = (
    f'<bpmn:definitions xmlns:bpmn="{BPMN}" xmlns:bpmndi="{BPMNDI}" xmlns:dc="{DC}" '
    f'xmlns:niva="{NIVA}" id="d">\n{{body}}\n</bpmn:definitions>'
)
BOUNDS = '<dc:Bounds x="1" y="2" width="3" height="4"/>'


def _shape(attributes: str, content: str = BOUNDS) -> str:
    return (
        '<bpmndi:BPMNDiagram id="Di"><bpmndi:BPMNPlane id="Pl" bpmnElement="P">\n'
        f'<bpmndi:BPMNShape id="Sh" bpmnElement="T" {attributes}>{content}</bpmndi:BPMNShape>\n'
        "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>"
    )


NIVA_TYPO = (
    '<bpmn:process id="P">\n<bpmn:userTask id="T"><bpmn:extensionElements>\n'
    '<niva:assignment candidateGroup="expert"/>\n</bpmn:extensionElements></bpmn:userTask>\n'
    "</bpmn:process>"
)

BAD_INPUT: dict[str, tuple[bytes | str, dict[str, Any]]] = {
    "billion laughs": (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n'
        + WRAP.format(body='<bpmn:process id="P" name="&lol2;"/>').encode(),
        {},
    ),
    "external entity": (
        '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        + WRAP.format(body='<bpmn:process id="P" name="&x;"/>'),
        {},
    ),
    "external dtd": (
        '<!DOCTYPE d SYSTEM "http://example.invalid/evil.dtd">\n' + WRAP.format(body=""),
        {},
    ),
    "too large": (WRAP.format(body='<bpmn:process id="P"/>').encode(), {"max_bytes": 50}),
    "nesting 10000 deep": (
        WRAP.format(body="<a>" * 10_000 + "</a>" * 10_000).encode(),
        {},
    ),
    "nesting over limit": (
        WRAP.format(
            body='<bpmn:process id="P"><bpmn:extensionElements>'
            + "<x>\n" * 70
            + "</x>" * 70
            + "</bpmn:extensionElements></bpmn:process>"
        ),
        {},
    ),
    "not xml": (b"this is not XML at all", {}),
    "binary": (b"\x00\xff\xfe garbage \x01", {}),
    "empty": (b"", {}),
    "unclosed": (WRAP.format(body="<bpmn:process>").replace("</bpmn:definitions>", ""), {}),
    "no namespace root": (b"<definitions/>", {}),
    "process as root": (f'<bpmn:process xmlns:bpmn="{BPMN}" id="P"/>'.encode(), {}),
    "unknown encoding": (b'<?xml version="1.0" encoding="no-such-encoding"?><a/>', {}),
    "undefined entity": (b"<a>&undefined;</a>", {}),
    "str that is not xml": ("process_models/se/referral.bpmn", {}),
    "niva unknown attribute": (WRAP_DI.format(body=NIVA_TYPO), {}),
    "niva bad boolean": (
        WRAP_DI.format(
            body='<bpmn:process id="P"><bpmn:callActivity id="C"><bpmn:extensionElements>\n'
            '<niva:calledElement processId="x" detached="yes"/>\n'
            "</bpmn:extensionElements></bpmn:callActivity></bpmn:process>"
        ),
        {},
    ),
    "process flag": (WRAP.format(body='<bpmn:process id="P" isExecutable="maybe"/>'), {}),
    "boundary flag": (
        WRAP.format(
            body='<bpmn:process id="P">\n<bpmn:boundaryEvent id="B" cancelActivity="no"/>'
            "</bpmn:process>"
        ),
        {},
    ),
    "shape flag": (WRAP_DI.format(body=_shape('isHorizontal="sideways"')), {}),
    "second shape flag": (WRAP_DI.format(body=_shape('isExpanded="1" isMarkerVisible="x"')), {}),
    "shape flag before niva error": (
        WRAP_DI.format(body=_shape('isHorizontal="sideways"') + "\n" + NIVA_TYPO),
        {},
    ),
    "niva error before shape flag": (
        WRAP_DI.format(body=NIVA_TYPO + "\n" + _shape('isHorizontal="sideways"')),
        {},
    ),
}

# Shapes the full read keeps raw without judging their flags: no error in either read.
KEPT_RAW: dict[str, str] = {
    "shape flag without bounds": WRAP_DI.format(body=_shape('isHorizontal="sideways"', "")),
    "shape flag with broken bounds": WRAP_DI.format(
        body=_shape('isHorizontal="sideways"', '<dc:Bounds x="one" y="2" width="3" height="4"/>')
    ),
    "shape flag with broken label": WRAP_DI.format(
        body=_shape(
            'isHorizontal="sideways"',
            BOUNDS + '<bpmndi:BPMNLabel><dc:Bounds x="NaN" y="0" width="1" height="1"/>'
            "</bpmndi:BPMNLabel>",
        )
    ),
    "shape flag outside the plane": WRAP_DI.format(
        body='<bpmndi:BPMNDiagram id="Di"><bpmndi:BPMNPlane id="Pl"/>'
        '<bpmndi:BPMNShape id="Sh" isHorizontal="x">' + BOUNDS + "</bpmndi:BPMNShape>"
        "</bpmndi:BPMNDiagram>"
    ),
    "shape flag in a second plane": WRAP_DI.format(
        body='<bpmndi:BPMNDiagram id="Di"><bpmndi:BPMNPlane id="Pl"/><bpmndi:BPMNPlane id="P2">'
        '<bpmndi:BPMNShape id="Sh" isHorizontal="x">' + BOUNDS + "</bpmndi:BPMNShape>"
        "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>"
    ),
}


def _failure(source: bytes | str | Path, **options: Any) -> tuple[str, str, int | None]:
    with pytest.raises(BpmnReadError) as info:
        read_bpmn(source, **options)
    return type(info.value).__name__, str(info.value), info.value.line


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_execution_read_bad_input_fails_as_full_read(case: str) -> None:
    source, options = BAD_INPUT[case]
    full = _failure(source, **options)
    assert _failure(source, for_execution=True, **options) == full


def test_execution_read_errors_in_document_order() -> None:
    # Which error is reported first follows the document in both reads.
    first, _ = BAD_INPUT["shape flag before niva error"]
    second, _ = BAD_INPUT["niva error before shape flag"]
    for execution in (False, True):
        assert "isHorizontal" in _failure(first, for_execution=execution)[1]
        assert "candidateGroup" in _failure(second, for_execution=execution)[1]


@pytest.mark.parametrize("case", list(KEPT_RAW))
def test_execution_read_unjudged_shape_flags_read_in_both(case: str) -> None:
    text = KEPT_RAW[case]
    _assert_execution_read_matches(read_bpmn(text), read_bpmn(text, for_execution=True))


def test_execution_read_missing_and_huge_files_fail_as_full_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.bpmn"
    with huge.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: the size says 50 MB
    for path in (tmp_path / "absent.bpmn", huge):
        assert _failure(path, for_execution=True) == _failure(path)


def test_execution_read_limits_are_the_full_reads() -> None:
    text = WRAP.format(body='<bpmn:process id="P"/>')
    size = len(text.encode())
    assert read_bpmn(text, max_bytes=size, for_execution=True).processes[0].id == "P"
    deep = BAD_INPUT["nesting over limit"][0]
    assert read_bpmn(deep, max_depth=100, for_execution=True).processes[0].id == "P"
