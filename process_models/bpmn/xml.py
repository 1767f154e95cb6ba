"""Hardened XML parsing for BPMN files that may come from anyone.

A BPMN file is uploaded by process owners and read by the API, so parsing must neither
expand entities (billion laughs), nor read files or the network (external entities and
DTDs), nor run out of memory or stack. The defences, in the order they apply:

1. the input's size is checked on the bytes before any parsing (a file is ``stat``-ed
   and read no further than the limit);
2. libxml2 parses with entity substitution, DTD loading and network access off and its
   own depth and size guards on (``huge_tree=False``);
3. a document that declares a DOCTYPE is refused outright: BPMN has no use for one, and
   refusing it closes every entity trick at once;
4. element nesting deeper than a limit is refused after parsing.

Bytes are parsed as bytes, so the encoding declared in the prolog applies (MIWG A.1.0 is
ISO-8859-1); a ``str`` is XML text already decoded, so its declaration is overridden.
Every failure is a `BpmnReadError` with the line where the parser knows it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

from process_models.errors import BpmnReadError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "load_source",
    "parse_document",
    "parse_fragment",
    "safe_parser",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
"""Largest accepted input: the largest MIWG model is 240 kB, niva's own far smaller."""

DEFAULT_MAX_DEPTH = 64
"""Deepest accepted element nesting; real models stay below 20."""


def safe_parser(*, encoding: str | None = None) -> etree.XMLParser:
    """An lxml parser that never substitutes entities, loads a DTD or touches the network.

    Args:
        encoding: Overrides the document's declared encoding (used for already decoded text).
    """
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
        encoding=encoding,
    )


def load_source(source: bytes | str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The input as bytes, refusing anything larger than ``max_bytes`` before reading it all.

    A ``str`` is XML text (it must start with ``<``) and is returned UTF-8 encoded; read a
    file by passing a `Path`.

    Raises:
        BpmnReadError: The file cannot be read, the input is too large, or a ``str`` is not
            XML text.
    """
    if isinstance(source, Path):
        return _read_file(source, max_bytes=max_bytes)
    if isinstance(source, str):
        if not source.lstrip("\ufeff \t\r\n").startswith("<"):
            raise BpmnReadError(
                "the input is a str that is not XML text (it does not start with '<'); "
                "to read a file, pass a pathlib.Path"
            )
        data = source.encode("utf-8")
    else:
        data = bytes(source)
    _check_size(len(data), max_bytes)
    return data


def _read_file(path: Path, *, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        _check_size(size, max_bytes)
        with path.open("rb") as handle:
            # A device or a growing file may report a small size: never read past the limit.
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise BpmnReadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    _check_size(len(data), max_bytes)
    return data


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise BpmnReadError(
            f"the input is {size} bytes, more than the limit of {max_bytes} bytes; "
            "split the model or raise max_bytes if the file is trusted"
        )


def parse_document(
    data: bytes,
    *,
    text: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    expected_root: str | None = None,
) -> etree._Element:
    """Parse bytes into an element tree with every defence of this module.

    Args:
        data: The document.
        text: The bytes are UTF-8 encoded text whose own encoding declaration must be
            ignored (the input was a ``str``).
        max_bytes: Size limit, checked before parsing.
        max_depth: Nesting limit, checked after parsing.
        expected_root: The root element's tag in Clark notation, if it must be a given one.

    Returns:
        The root element (its ``sourceline`` and its descendants' are set).

    Raises:
        BpmnReadError: Empty, too large, not well-formed, a DOCTYPE, too deep, or the
            wrong root element.
    """
    _check_size(len(data), max_bytes)
    if not data or data.isspace():  # (data.strip() would copy the whole document)
        raise BpmnReadError("the input is empty; expected a BPMN 2.0 XML document")
    parser = safe_parser(encoding="utf-8" if text else None)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        if _doctype_line(data) is not None:
            # libxml2 may stop inside the DTD (entity amplification) before the check below.
            raise _doctype_error(data) from exc
        raise _syntax_error(exc) from exc
    except (ValueError, LookupError) as exc:
        raise BpmnReadError(f"the input is not readable XML: {exc}") from exc
    if root is None:
        raise BpmnReadError("the input holds no XML element; expected a BPMN 2.0 document")
    docinfo = root.getroottree().docinfo
    # lxml-stubs lack DocInfo.doctype; it is the DOCTYPE declaration or ''.
    doctype = str(getattr(docinfo, "doctype", "") or "")
    if doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _doctype_error(data)
    _check_depth(root, max_depth)
    if expected_root is not None and root.tag != expected_root:
        raise BpmnReadError(
            f"the root element is {_describe_tag(root.tag)}, expected {expected_root}: "
            "this is not a BPMN 2.0 definitions document",
            line=_line(root),
        )
    return root


def parse_fragment(xml: str) -> etree._Element:
    """Parse one serialized element (a kept raw element) with the same defences.

    Raises:
        BpmnReadError: The fragment is not well-formed XML or declares a DOCTYPE.
    """
    return parse_document(xml.encode("utf-8"), text=True)


def _doctype_error(data: bytes) -> BpmnReadError:
    return BpmnReadError(
        "the document declares a DOCTYPE, which BPMN files never need and niva refuses "
        "(DTDs and entities are how entity-expansion and external-entity attacks work); "
        "remove the DOCTYPE",
        line=_doctype_line(data),
    )


def _syntax_error(exc: etree.XMLSyntaxError) -> BpmnReadError:
    message = str(exc.msg or exc)
    if "Excessive depth" in message or "Maximum depth" in message:
        return BpmnReadError(
            "the elements nest deeper than the parser allows; this is not a BPMN model "
            f"({message.strip()})",
            line=exc.lineno,
        )
    return BpmnReadError(f"the input is not well-formed XML: {message.strip()}", line=exc.lineno)


def _check_depth(root: etree._Element, max_depth: int) -> None:
    if 1 <= max_depth <= _XPATH_MAX_DEPTH:
        # One XPath evaluation walks the tree in C, where the Python walk below takes
        # longer than the parse itself. Both report the last node, in document order, of
        # the first level over the limit.
        found = _nodes_below(max_depth)(root)
        if isinstance(found, list) and found:
            node = found[-1]
            line = _line(node) if isinstance(node, etree._Element) else None
            raise _depth_error(max_depth + 1, max_depth, line)
        return
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > max_depth:
            raise _depth_error(depth, max_depth, _line(element))
        stack.extend((child, depth + 1) for child in element)


def _depth_error(depth: int, max_depth: int, line: int | None) -> BpmnReadError:
    return BpmnReadError(
        f"elements nest {depth} deep, more than the limit of {max_depth}; "
        "flatten the model (subprocesses nested this deep are not supported)",
        line=line,
    )


_XPATH_MAX_DEPTH = 250
"""The highest limit checked with XPath. The expression has a step per level and libxml2
bounds how deeply it evaluates nested steps; a higher limit is checked by the Python walk
(libxml2 refuses elements nested deeper than 256 while parsing anyway)."""


@functools.lru_cache(maxsize=8)
def _nodes_below(max_depth: int) -> etree.XPath:
    """The nodes one level deeper than ``max_depth``, in document order (the root is 1).

    The last step selects what the Python walk counts as children: elements, comments
    and processing instructions, not text.
    """
    return etree.XPath("/*" + "/*" * (max_depth - 1) + "/node()[not(self::text())]")


def _line(element: etree._Element) -> int | None:
    line = element.sourceline
    return line if isinstance(line, int) else None


def _doctype_line(data: bytes) -> int | None:
    index = data.find(b"<!DOCTYPE")
    return None if index < 0 else data.count(b"\n", 0, index) + 1


def _describe_tag(tag: object) -> str:
    return str(tag) if isinstance(tag, str) else "not an element"
