"""The XML namespaces of BPMN 2.0 and niva, and small helpers to name tags by them.

BPMN files bind these URIs to whatever prefixes their tool likes (``bpmn:``, ``bpmn2:``,
``semantic:``, ``model:`` or the default namespace), so the reader goes by URI only; the
writer uses the conventional prefixes in `WRITE_PREFIXES`.
"""

from __future__ import annotations

from process_models.schema import ZEEBE_NAMESPACE

__all__ = [
    "BPMN",
    "BPMNDI",
    "DC",
    "DI",
    "NIVA",
    "WRITE_PREFIXES",
    "XSI",
    "ZEEBE",
    "bpmn",
    "bpmndi",
    "clark",
    "dc",
    "di",
    "local_name",
    "namespace_of",
    "niva",
    "xsi",
    "zeebe",
]

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NIVA = "urn:niva:bpmn:1"
#: Camunda 8's extension namespace: a file that uses it is in the Camunda 8 dialect.
ZEEBE = ZEEBE_NAMESPACE

#: The prefixes the writer always declares, in the order they appear on the root.
WRITE_PREFIXES: dict[str, str] = {
    "bpmn": BPMN,
    "bpmndi": BPMNDI,
    "dc": DC,
    "di": DI,
    "xsi": XSI,
    "niva": NIVA,
}


def clark(namespace: str | None, local: str) -> str:
    """A tag or attribute name in Clark notation: ``{namespace}local`` (or ``local``)."""
    return f"{{{namespace}}}{local}" if namespace else local


def bpmn(local: str) -> str:
    """``{BPMN model namespace}local``."""
    return clark(BPMN, local)


def bpmndi(local: str) -> str:
    """``{BPMN DI namespace}local``."""
    return clark(BPMNDI, local)


def dc(local: str) -> str:
    """``{DC namespace}local``."""
    return clark(DC, local)


def di(local: str) -> str:
    """``{DI namespace}local``."""
    return clark(DI, local)


def xsi(local: str) -> str:
    """``{XSI namespace}local``."""
    return clark(XSI, local)


def niva(local: str) -> str:
    """``{niva namespace}local``."""
    return clark(NIVA, local)


def zeebe(local: str) -> str:
    """``{zeebe namespace}local``."""
    return clark(ZEEBE, local)


def namespace_of(name: str) -> str | None:
    """The namespace of a Clark-notation name, or None when it has none."""
    return name[1:].split("}", 1)[0] if name.startswith("{") else None


def local_name(name: str) -> str:
    """The local part of a Clark-notation name."""
    return name.rsplit("}", 1)[-1]
