"""Hostile or broken input: every case ends in a clear BpmnReadError, never a crash or a hang."""

from __future__ import annotations

from pathlib import Path

import pytest

from process_models.bpmn import read_bpmn
from process_models.bpmn.namespaces import BPMN
from process_models.errors import BpmnReadError

DEFINITIONS = f'<bpmn:definitions xmlns:bpmn="{BPMN}" id="d">{{body}}</bpmn:definitions>'

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="P" name="&lol9;"/>
</bpmn:definitions>
"""


def test_hostile_billion_laughs_refused() -> None:
    with pytest.raises(BpmnReadError, match="DOCTYPE") as info:
        read_bpmn(BILLION_LAUGHS)
    assert info.value.line == 2


def test_hostile_external_entity_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT", encoding="utf-8")
    for target in ("file:///etc/passwd", secret.as_uri()):
        data = (
            '<?xml version="1.0"?>\n'
            f'<!DOCTYPE d [<!ENTITY x SYSTEM "{target}">]>\n'
            + DEFINITIONS.format(body='<bpmn:process id="P" name="&x;"/>')
        ).encode()
        with pytest.raises(BpmnReadError, match="DOCTYPE") as info:
            read_bpmn(data)
        assert "TOP-SECRET" not in str(info.value)
        assert "root:" not in str(info.value)


def test_hostile_external_dtd_and_parameter_entity_refused() -> None:
    for doctype in (
        '<!DOCTYPE d SYSTEM "http://example.invalid/evil.dtd">',
        '<!DOCTYPE d [<!ENTITY % p SYSTEM "http://example.invalid/p.dtd"> %p;]>',
    ):
        data = (doctype + "\n" + DEFINITIONS.format(body="")).encode()
        with pytest.raises(BpmnReadError, match="DOCTYPE"):
            read_bpmn(data)


def test_hostile_50_mb_bytes_refused_before_parsing() -> None:
    body = b"<bpmn:documentation>" + b"x" * (50 * 1024 * 1024) + b"</bpmn:documentation>"
    with pytest.raises(BpmnReadError, match="more than the limit of 10485760 bytes"):
        read_bpmn(DEFINITIONS.format(body="").encode()[:-20] + body)


def test_hostile_50_mb_file_refused_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.bpmn"
    with path.open("wb") as handle:
        # A sparse file: its size says 50 MB, its content would be NUL bytes.
        handle.truncate(50 * 1024 * 1024)
    with pytest.raises(BpmnReadError, match="52428800 bytes"):
        read_bpmn(path)


def test_hostile_size_limit_is_a_keyword() -> None:
    data = DEFINITIONS.format(body='<bpmn:process id="P"/>').encode()
    with pytest.raises(BpmnReadError, match="limit of 50 bytes"):
        read_bpmn(data, max_bytes=50)
    assert read_bpmn(data, max_bytes=len(data)).processes[0].id == "P"


def test_hostile_nesting_10000_deep_refused() -> None:
    inner = b"<a>" * 10_000 + b"</a>" * 10_000
    data = DEFINITIONS.format(body="").encode().replace(b"</bpmn:definitions>", b"")
    with pytest.raises(BpmnReadError, match="nest"):
        read_bpmn(data + inner + b"</bpmn:definitions>")


def test_hostile_nesting_over_depth_limit_refused_with_line() -> None:
    inner = "<bpmn:extensionElements>" + "<x>\n" * 70 + "</x>" * 70 + "</bpmn:extensionElements>"
    data = DEFINITIONS.format(body=f'<bpmn:process id="P">{inner}</bpmn:process>')
    with pytest.raises(BpmnReadError, match="limit of 64") as info:
        read_bpmn(data)
    assert info.value.line is not None
    assert info.value.line > 1
    assert read_bpmn(data, max_depth=100).processes[0].id == "P"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"this is not XML at all", "not well-formed"),
        (b"\x00\xff\xfe garbage \x01", "not"),
        (b"", "empty"),
        (b"   \n\t ", "empty"),
        (
            b'<bpmn:definitions xmlns:bpmn="' + BPMN.encode() + b'"><bpmn:process>',
            "not well-formed",
        ),
        (b"<definitions/>", "root element"),
        (b'<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>', "root element"),
        (b'<bpmn:process xmlns:bpmn="' + BPMN.encode() + b'" id="P"/>', "root element"),
        (b'<?xml version="1.0" encoding="no-such-encoding"?><a/>', "encoding"),
        (b"<a>&undefined;</a>", "not well-formed"),
    ],
)
def test_hostile_not_bpmn_gives_read_error(data: bytes, match: str) -> None:
    with pytest.raises(BpmnReadError, match=match):
        read_bpmn(data)


def test_hostile_error_has_line_of_syntax_error() -> None:
    data = b'<bpmn:definitions xmlns:bpmn="' + BPMN.encode() + b'">\n\n<bpmn:process id="P">\n'
    data += b"</bpmn:task>\n</bpmn:definitions>"
    with pytest.raises(BpmnReadError) as info:
        read_bpmn(data)
    assert info.value.line == 4
    assert str(info.value).startswith("line 4:")


def test_hostile_wrong_root_reports_line() -> None:
    with pytest.raises(BpmnReadError) as info:
        read_bpmn(b'<?xml version="1.0"?>\n\n<foo/>')
    assert info.value.line == 3
    assert "foo" in str(info.value)


def test_hostile_duplicates_and_dangling_refs_are_not_read_errors() -> None:
    body = """<bpmn:process id="P"><bpmn:task id="T"/><bpmn:task id="T"/>
      <bpmn:sequenceFlow id="F" sourceRef="T" targetRef="Missing"/>
      <bpmn:sequenceFlow id="F" sourceRef="Nope"/></bpmn:process>
      <bpmn:process id="P"/>"""
    defs = read_bpmn(DEFINITIONS.format(body=body))
    assert [p.id for p in defs.processes] == ["P", "P"]
    process = defs.processes[0]
    assert [n.id for n in process.nodes] == ["T", "T"]
    assert [(f.id, f.source_ref, f.target_ref) for f in process.flows] == [
        ("F", "T", "Missing"),
        ("F", "Nope", None),
    ]


def test_hostile_broken_diagram_geometry_kept_raw() -> None:
    body = """<bpmn:process id="P"><bpmn:task id="T"/></bpmn:process>
    <bpmndi:BPMNDiagram xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
        xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" id="D">
      <bpmndi:BPMNPlane id="PL" bpmnElement="P">
        <bpmndi:BPMNShape id="A" bpmnElement="T"/>
        <bpmndi:BPMNShape id="B" bpmnElement="T"><dc:Bounds x="NaN" y="1" width="2" height="3"/>
        </bpmndi:BPMNShape>
        <bpmndi:BPMNShape id="C" bpmnElement="T"><dc:Bounds x="one" y="1" width="2" height="3"/>
        </bpmndi:BPMNShape>
      </bpmndi:BPMNPlane>
    </bpmndi:BPMNDiagram>"""
    diagram = read_bpmn(DEFINITIONS.format(body=body)).diagrams[0]
    assert diagram.shapes == []
    assert [raw.id for raw in diagram.plane_extras] == ["A", "B", "C"]


def test_hostile_element_without_id_still_read() -> None:
    body = '<bpmn:process><bpmn:task name="anonymous"/></bpmn:process>'
    process = read_bpmn(DEFINITIONS.format(body=body)).processes[0]
    assert process.id == ""
    assert process.nodes[0].id == ""
    assert process.nodes[0].name == "anonymous"
