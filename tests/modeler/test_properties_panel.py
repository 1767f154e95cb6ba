"""The Camunda 8 files niva ships open in Camunda Modeler's Camunda 8 modeler with every niva
setting in the properties panel, and niva's element templates load and apply there.

The Modeler is ``camunda-bpmn-js``'s camunda-cloud-modeler (what Camunda Modeler runs for
Camunda 8 files) in headless chromium, one page for the whole module
(`tests.support.modeler_panel`). What the panel must show is read from each file's XML
(`panel_settings`), so a file added under ``process_models/camunda8/`` is checked as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]  # no stubs installed
from lxml import etree

from process_models.bpmn import read_bpmn
from tests.support.bpmn_render import REPO_ROOT
from tests.support.modeler_panel import (
    BPMN,
    ZEEBE,
    CamundaModeler,
    camunda_modeler,
    modeler_missing,
    normalised,
    panel_settings,
    read_templates,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(modeler_missing() is not None, reason=modeler_missing() or ""),
]

CONVERTED = sorted((REPO_ROOT / "process_models" / "camunda8").glob("*/*.bpmn"))
TEMPLATES_DIR = REPO_ROOT / "modeler" / "element-templates"
TEMPLATES = {t["id"]: t for t in read_templates(TEMPLATES_DIR)}
TEMPLATE_SCHEMA = (
    REPO_ROOT / "node_modules/@camunda/zeebe-element-templates-json-schema/resources/schema.json"
)
"""Camunda's element template schema, as installed with the Modeler (for failure messages:
the Modeler drops a template that breaks some of its rules without saying why)."""


@pytest.fixture(scope="module")
async def opened_modeler() -> AsyncIterator[CamundaModeler]:
    async with camunda_modeler() as opened:
        yield opened


@pytest.fixture
async def modeler(opened_modeler: CamundaModeler) -> AsyncIterator[CamundaModeler]:
    """The module's one Modeler page; a test fails if the page threw while it ran."""
    opened_modeler.page_errors.clear()
    yield opened_modeler
    assert opened_modeler.page_errors == []


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


# --- the shipped Camunda 8 files -----------------------------------------------------------


@pytest.mark.parametrize("path", CONVERTED, ids=_id)
async def test_shipped_model_opens_in_the_camunda8_modeler_without_warnings(
    modeler: CamundaModeler, path: Path
):
    report = await modeler.import_xml(path.read_text(encoding="utf-8"))
    # An extension zeebe-bpmn-moddle does not know, or a reference that does not resolve,
    # would be a warning here.
    assert report.error is None
    assert report.warnings == []


def _summary(element_id: str, entries: list[str]) -> str:
    """``entries`` with a list's items folded: ``output 0-5 (source, target)``."""
    items: dict[str, tuple[set[int], set[str]]] = {}
    single: list[str] = []
    for entry in entries:
        match = re.fullmatch(rf"{re.escape(element_id)}-(\w+)-(\d+)-(\w+)", entry)
        if match is None:
            single.append(entry)
            continue
        indexes, attributes = items.setdefault(match[1], (set(), set()))
        indexes.add(int(match[2]))
        attributes.add(match[3])
    folded = [
        f"{name} {min(ix)}-{max(ix)} ({', '.join(sorted(attrs))})"
        for name, (ix, attrs) in items.items()
    ]
    return ", ".join(single + folded)


@pytest.mark.parametrize("path", CONVERTED, ids=_id)
async def test_properties_panel_shows_every_niva_setting_of_the_shipped_model(
    modeler: CamundaModeler, path: Path
):
    report = await modeler.import_xml(path.read_text(encoding="utf-8"))
    assert report.error is None
    settings = panel_settings(path.read_bytes())
    assert sum(len(s.entries) for s in settings) > 0
    panels = await modeler.panels([s.element_id for s in settings])
    findings: list[str] = []
    for element in settings:
        panel = panels[element.element_id]
        if panel is None:
            findings.append(f"{element.element_id}: not in the diagram")
            continue
        hidden = [entry for entry in element.entries if entry not in panel]
        differ = [
            f"{entry} shows {panel[entry]!r}, the file has {value!r}"
            for entry, value in element.entries.items()
            if entry in panel and normalised(panel[entry] or "") != normalised(value)
        ]
        findings += [f"{element.element_id}: {ext} has no panel entry" for ext in element.unmapped]
        findings += (
            [f"{element.element_id}: not in the panel: {_summary(element.element_id, hidden)}"]
            if hidden
            else []
        )
        findings += [f"{element.element_id}: {d}" for d in differ]
    assert not findings, "\n".join(findings)


# --- niva's element templates --------------------------------------------------------------


def _schema_errors(template: dict[str, Any]) -> list[str]:
    if not TEMPLATE_SCHEMA.is_file():
        return []
    schema = json.loads(TEMPLATE_SCHEMA.read_text(encoding="utf-8"))
    found: list[str] = []
    pending = list(Draft7Validator(schema).iter_errors(template))
    while pending:
        error = pending.pop()
        if error.context:
            pending += [e for e in error.context if e.validator != "type"]
        elif error.validator != "if":
            found.append(f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}")
    return found


async def test_modeler_accepts_every_niva_template(modeler: CamundaModeler):
    load = await modeler.load_templates(list(TEMPLATES.values()))
    assert load.errors == []
    dropped = {
        template_id: _schema_errors(template)
        for template_id, template in TEMPLATES.items()
        if template_id not in load.loaded
    }
    assert dropped == {}, "the Modeler dropped these templates (Camunda's schema says why)"
    assert sorted(load.loaded) == sorted(TEMPLATES)


def _zeebe(task: Any, container: str, item: str | None = None) -> list[Any]:
    ext = task.find(f"{{{BPMN}}}extensionElements")
    found = [] if ext is None else ext.findall(f"{{{ZEEBE}}}{container}")
    if item is None:
        return found
    return [child for parent in found for child in parent.findall(f"{{{ZEEBE}}}{item}")]


def _bound(task: Any, binding: dict[str, str]) -> str | None:
    """The value the task holds for a template property's ``binding``, or None."""
    kind = binding["type"]
    if kind == "property":
        return task.get(binding["name"])
    if kind in {"zeebe:taskDefinition", "zeebe:taskDefinition:type"}:
        [definition] = _zeebe(task, "taskDefinition")
        return definition.get(binding.get("property", "type"))
    lists = {
        "zeebe:input": ("ioMapping", "input", "target", binding.get("name"), "source"),
        "zeebe:output": ("ioMapping", "output", "source", binding.get("source"), "target"),
        "zeebe:taskHeader": ("taskHeaders", "header", "key", binding.get("key"), "value"),
        "zeebe:property": ("properties", "property", "name", binding.get("name"), "value"),
    }
    container, item, key, name, value = lists[kind]
    matches = [c for c in _zeebe(task, container, item) if c.get(key) == name]
    assert len(matches) <= 1, f"{kind} {name} is written {len(matches)} times"
    return matches[0].get(value, "") if matches else None


def _expected(prop: dict[str, Any]) -> str | None:
    if "value" not in prop:
        return None
    value = prop["value"]
    return str(value).lower() if isinstance(value, bool) else str(value)


@pytest.mark.parametrize("template_id", sorted(TEMPLATES))
async def test_template_applied_in_the_modeler_writes_its_bindings(
    modeler: CamundaModeler, template_id: str
):
    template = TEMPLATES[template_id]
    load = await modeler.load_templates(list(TEMPLATES.values()))
    assert template_id in load.loaded, f"the Modeler does not offer {template_id}"
    applied = await modeler.apply_template(template_id)
    root = etree.fromstring(applied.xml.encode())
    [task] = root.iterfind(f".//*[@id='{applied.id}']")
    element_type = template["elementType"]["value"].removeprefix("bpmn:")
    assert etree.QName(task).localname == element_type[0].lower() + element_type[1:]
    assert task.get(f"{{{ZEEBE}}}modelerTemplate") == template_id
    assert task.get(f"{{{ZEEBE}}}modelerTemplateVersion") == str(template["version"])
    for prop in template["properties"]:
        bound = _bound(task, prop["binding"])
        expected = _expected(prop)
        if expected is not None:
            assert bound == expected, prop
        elif prop.get("optional"):
            assert bound is None, prop  # an optional field left empty is not written
        else:
            assert bound is not None, prop  # a field to fill in is there to be filled in
    # niva reads the task as a task of the template's type.
    [process] = read_bpmn(applied.xml.encode()).processes
    node = process.node(applied.id)
    assert node is not None
    assert node.niva.task_definition is not None
    [type_prop] = [
        p
        for p in template["properties"]
        if p["binding"].get("property", "type") == "type"
        and p["binding"]["type"].startswith("zeebe:taskDefinition")
    ]
    assert node.niva.task_definition.type == type_prop["value"]
