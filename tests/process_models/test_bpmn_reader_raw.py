"""The reader's shortcuts give what the long way gives: raw element XML and the depth check.

A raw element is serialized without the namespace clean-up when the document declares its
namespaces on the root only, and element nesting is checked with one XPath query; both
must give byte for byte what `raw_element` and a walk of the tree give.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from lxml import etree

from process_models.bpmn import read_bpmn
from process_models.bpmn.namespaces import BPMN
from process_models.bpmn.reader import _declares_only_on_root, _Reader, raw_element
from process_models.bpmn.xml import parse_document
from process_models.errors import BpmnReadError

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "bpmn-miwg"
FILES = sorted([*CORPUS.glob("reference/*.bpmn"), *CORPUS.glob("bpmn-io-export/*.bpmn")])

INNER_DECLARATIONS = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN}" xmlns:x="urn:x" xmlns:tns="urn:tns" id="D">
  <bpmn:process id="P">
    <bpmn:task id="T">
      <bpmn:extensionElements>
        <x:unused xmlns:z="urn:z" k="1"/>
        <x:qname xmlns:q="urn:q" ref="q:Item"/>
        <x:again xmlns:tns="urn:tns" ref="tns:Msg"/>
        <x:inner><x:child xmlns:x="urn:x" xmlns:w="urn:w"/></x:inner>
      </bpmn:extensionElements>
    </bpmn:task>
  </bpmn:process>
</bpmn:definitions>
"""

INNER_DECLARATIONS_XML = [
    '<x:unused xmlns:x="urn:x" k="1"/>',
    '<x:qname xmlns:q="urn:q" xmlns:x="urn:x" ref="q:Item"/>',
    '<x:again xmlns:tns="urn:tns" xmlns:x="urn:x" ref="tns:Msg"/>',
    '<x:inner xmlns:x="urn:x"><x:child xmlns:x="urn:x"/></x:inner>',
]


def _utf16(document: str) -> bytes:
    return document.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")


@pytest.mark.skipif(not FILES, reason=f"the MIWG conformance corpus is not at {CORPUS}")
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_raw_every_element_of_miwg_file_as_raw_element_writes_it(path: Path) -> None:
    data = path.read_bytes()
    root = parse_document(data)
    reader = _Reader(root, data, text=False)
    # Every element but the root, which declares the namespaces and is never kept raw.
    for element in root.iterdescendants(etree.Element):
        fast, reference = reader.raw(element), raw_element(element)
        assert fast.xml == reference.xml, f"{path.name}:{element.sourceline}"
        assert (fast.tag, fast.id, fast.line) == (reference.tag, reference.id, reference.line)


@pytest.mark.parametrize(
    "data", [INNER_DECLARATIONS.encode(), _utf16(INNER_DECLARATIONS), INNER_DECLARATIONS]
)
def test_raw_declarations_inside_elements_cleaned_up(data: bytes | str) -> None:
    task = read_bpmn(data).processes[0].nodes[0]
    assert [raw.xml for raw in task.foreign_extensions] == INNER_DECLARATIONS_XML


@pytest.mark.parametrize(
    ("document", "only_on_root"),
    [
        (INNER_DECLARATIONS, False),
        (INNER_DECLARATIONS.replace(' xmlns:z="urn:z"', ""), False),
        (
            f'<bpmn:definitions xmlns:bpmn="{BPMN}" id="D"><bpmn:process id="P"/>'
            "</bpmn:definitions>",
            True,
        ),
        # "xmlns" in a comment is no declaration: the tree is walked to be sure.
        (
            f'<bpmn:definitions xmlns:bpmn="{BPMN}" id="D"><!-- xmlns:a="urn:a" -->'
            "</bpmn:definitions>",
            True,
        ),
        (
            f'<d:definitions xmlns:d="{BPMN}" id="D"><d:process xmlns:e="urn:e" id="P"/>'
            "</d:definitions>",
            False,
        ),
    ],
)
def test_raw_declarations_only_on_root_detected(document: str, only_on_root: bool) -> None:
    encoded = {
        "utf-8": document.encode(),
        "utf-16": _utf16(document) if "encoding=" in document else document.encode("utf-16"),
        "latin-1": document.encode("latin-1"),
    }
    for name, data in encoded.items():
        root = parse_document(data)
        assert _declares_only_on_root(root, data, text=False) is only_on_root, name
    root = parse_document(document.encode(), text=True)
    assert _declares_only_on_root(root, document.encode(), text=True) is only_on_root


def test_raw_utf16_text_that_spells_xmlns_in_bytes_is_no_declaration() -> None:
    # "\u6d78\u6e6cs" is the bytes "xmlns\0" in UTF-16LE: twice, as many as the root
    # declares, while the declarations themselves are not the ASCII bytes "xmlns".
    document = INNER_DECLARATIONS.replace(' xmlns:tns="urn:tns" id="D"', ' id="D"').replace(
        '<bpmn:task id="T">', '<bpmn:task id="T" name="\u6d78\u6e6cs \u6d78\u6e6cs">'
    )
    data = document.replace('encoding="UTF-8"', 'encoding="UTF-16LE"').encode("utf-16-le")
    assert data.count(b"xmlns") == 2
    task = read_bpmn(data).processes[0].nodes[0]
    assert task.foreign_extensions[0].xml == INNER_DECLARATIONS_XML[0]


def _walk_depth(root: etree._Element, max_depth: int) -> tuple[int, int | None] | None:
    """The reference: depth and line of the node a depth-first walk finds over the limit."""
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > max_depth:
            line = element.sourceline
            return depth, line if isinstance(line, int) else None
        stack.extend((child, depth + 1) for child in element)
    return None


def _random_document(rng: random.Random, depth: int, size: int) -> bytes:
    root = etree.Element(f"{{{BPMN}}}definitions")
    nodes = [(root, 1)]
    for _ in range(size):
        parent, level = rng.choice(nodes)
        if level >= depth:
            continue
        kind = rng.random()
        if kind < 0.1:
            child: etree._Element = etree.Comment("c")
            parent.append(child)
        elif kind < 0.15:
            child = etree.ProcessingInstruction("p", "x")
            parent.append(child)
        else:
            child = etree.SubElement(parent, "e")
            nodes.append((child, level + 1))
        child.tail = "\n" if rng.random() < 0.5 else None
    return etree.tostring(root)


def _depth_error(data: bytes, max_depth: int) -> tuple[int, int | None] | None:
    """Depth and line of the error the check reports, or None when it passes."""
    try:
        parse_document(data, max_depth=max_depth)
    except BpmnReadError as exc:
        message = str(exc)
        return int(message.split(" nest ", 1)[1].split()[0]), exc.line
    return None


def test_depth_check_reports_what_the_walk_finds_on_random_trees() -> None:
    rng = random.Random(20240601)
    for _ in range(300):
        data = _random_document(rng, rng.randint(1, 30), rng.randint(1, 200))
        root = etree.fromstring(data)
        for max_depth in (0, 1, 2, rng.randint(1, 30), 64, 251):
            assert _depth_error(data, max_depth) == _walk_depth(root, max_depth), max_depth


def test_depth_check_counts_a_comment_below_the_deepest_element() -> None:
    inner = "<x:a>" * 61 + "<!-- deep -->" + "</x:a>" * 61
    document = (
        f'<bpmn:definitions xmlns:bpmn="{BPMN}" xmlns:x="urn:x" id="D"><bpmn:process id="P">'
        f"<bpmn:extensionElements>{inner}</bpmn:extensionElements></bpmn:process>"
        "</bpmn:definitions>"
    )
    with pytest.raises(BpmnReadError, match="nest 65 deep, more than the limit of 64"):
        read_bpmn(document)
    assert read_bpmn(document.replace("<!-- deep -->", "")).processes[0].id == "P"


def test_depth_check_above_xpath_limit_still_refuses() -> None:
    document = "<a>" + "<b>\n" * 255 + "</b>" * 255 + "</a>"
    with pytest.raises(BpmnReadError, match="nest 252 deep, more than the limit of 251") as info:
        parse_document(document.encode(), max_depth=251)
    assert info.value.line == 251
    assert parse_document(document.encode(), max_depth=256).tag == "a"
