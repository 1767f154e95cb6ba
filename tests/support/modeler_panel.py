"""Camunda Modeler's Camunda 8 modeler, with its properties panel, in headless chromium.

Camunda Modeler's editor for Camunda 8 files is the "camunda-cloud-modeler" distribution of
the npm package ``camunda-bpmn-js``: bpmn-js with zeebe-bpmn-moddle, the Zeebe properties
panel and element templates (``bpmn-js-element-templates``). `camunda_modeler` loads its
UMD bundle (global ``BpmnModeler``) from ``node_modules`` (installed by ``npm ci``) into one
chromium page with the properties panel attached, and `CamundaModeler` drives it: import a
file and read the import warnings, select an element and read what its properties panel
shows, load element templates through the Modeler's own validation and apply one to a new
task.

`panel_settings` reads, from a BPMN file's XML, the niva settings each element carries and
the panel entry that shows each one (entry ids as ``bpmn-js-properties-panel`` names them,
``data-entry-id`` in the DOM), so a test compares the file with the panel without a list
written by hand. A zeebe extension it has no entry for is listed as unmapped, not skipped.

Nothing is fetched at run time: the page is built from local files only.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic import BaseModel, Field

from tests.support.bpmn_render import REPO_ROOT, find_chromium
from tests.support.browser import chromium_page

__all__ = [
    "EMPTY_CAMUNDA8",
    "MODELER_BUNDLE",
    "AppliedTemplate",
    "CamundaModeler",
    "ElementSettings",
    "ImportReport",
    "TemplateLoad",
    "camunda_modeler",
    "modeler_missing",
    "normalised",
    "panel_settings",
    "read_templates",
]

_DIST = REPO_ROOT / "node_modules" / "camunda-bpmn-js" / "dist"
MODELER_BUNDLE = _DIST / "camunda-cloud-modeler.production.min.js"
"""The Camunda 8 modeler bundle of ``camunda-bpmn-js``; it defines the global ``BpmnModeler``."""
_MODELER_CSS = _DIST / "assets" / "camunda-cloud-modeler.css"

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ZEEBE = "http://camunda.org/schema/zeebe/1.0"


def modeler_missing() -> str | None:
    """Why the Modeler cannot run here (no chromium, no ``camunda-bpmn-js``), or None."""
    if find_chromium() is None:
        return "chromium is not installed (apt-get install -y chromium)"
    if not MODELER_BUNDLE.is_file():
        return "camunda-bpmn-js is not installed (run `npm ci` at the repository root)"
    return None


def normalised(value: str) -> str:
    """``value`` with runs of whitespace as one space: the panel's editors reflow lines."""
    return " ".join(value.split())


# --- what the file says --------------------------------------------------------------------


class ElementSettings(BaseModel):
    """The niva settings of one BPMN element and the panel entries that show them.

    Attributes:
        element_id: The element to select (a participant's id for a pool's process).
        entries: Panel entry id → the value the file gives it.
        unmapped: Zeebe extensions on the element that no panel entry is known for.
    """

    element_id: str
    entries: dict[str, str] = Field(default_factory=dict)
    unmapped: list[str] = Field(default_factory=list)


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _local(element: Any) -> str:
    """The local name of an element; "" for a comment or processing instruction."""
    return str(etree.QName(element).localname) if isinstance(element.tag, str) else ""


_ATTRIBUTE_ENTRIES: dict[str, dict[str, str]] = {
    "taskDefinition": {"type": "taskDefinitionType", "retries": "taskDefinitionRetries"},
    "assignmentDefinition": {
        "assignee": "assignmentDefinitionAssignee",
        "candidateGroups": "assignmentDefinitionCandidateGroups",
        "candidateUsers": "assignmentDefinitionCandidateUsers",
    },
    "formDefinition": {
        "formId": "formId",
        "formKey": "customFormKey",
        "externalReference": "externalReference",
    },
    "calledElement": {
        "processId": "targetProcessId",
        "propagateAllChildVariables": "propagateAllChildVariables",
        "propagateAllParentVariables": "propagateAllParentVariables",
    },
    "calledDecision": {"decisionId": "decisionId", "resultVariable": "resultVariable"},
    "script": {"expression": "scriptExpression", "resultVariable": "resultVariable"},
    "taskSchedule": {
        "dueDate": "taskScheduleDueDate",
        "followUpDate": "taskScheduleFollowUpDate",
    },
    "priorityDefinition": {"priority": "priorityDefinitionPriority"},
    "versionTag": {"value": "versionTag"},
}
"""Zeebe extension → its attribute → the panel entry that edits it."""

_LISTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "input": ("ioMapping", "input", {"target": "target", "source": "source"}),
    "output": ("ioMapping", "output", {"target": "target", "source": "source"}),
    "header": ("taskHeaders", "header", {"key": "key", "value": "value"}),
    "extensionProperty": ("properties", "property", {"name": "name", "value": "value"}),
    "executionListener": (
        "executionListeners",
        "executionListener",
        {"eventType": "eventType", "type": "listenerType", "retries": "retries"},
    ),
}
"""Panel list → (zeebe container, zeebe item, the item's attribute → its entry), an entry
being ``<element>-<list>-<index>-<entry>``."""

_LOOP_ENTRIES = {
    "inputCollection": "multiInstance-inputCollection",
    "inputElement": "multiInstance-inputElement",
    "outputCollection": "multiInstance-outputCollection",
    "outputElement": "multiInstance-outputElement",
}

_HANDLED = {
    *_ATTRIBUTE_ENTRIES,
    "ioMapping",
    "taskHeaders",
    "properties",
    "executionListeners",
    "userTask",
    "userTaskForm",
    "loopCharacteristics",
    "subscription",
}


def _extensions(element: Any) -> list[Any]:
    """The zeebe elements directly under ``element``'s ``bpmn:extensionElements``."""
    ext = element.find(_q(BPMN, "extensionElements"))
    if ext is None:
        return []
    return [
        child
        for child in ext
        if isinstance(child.tag, str) and etree.QName(child).namespace == ZEEBE
    ]


def _zeebe_entries(shape_id: str, element: Any, settings: ElementSettings) -> None:
    for zeebe in _extensions(element):
        kind = _local(zeebe)
        if kind not in _HANDLED:
            settings.unmapped.append(f"zeebe:{kind}")
        for attribute, entry in _ATTRIBUTE_ENTRIES.get(kind, {}).items():
            value = zeebe.get(attribute)
            # An embedded form's key points at its `zeebe:userTaskForm`, whose body the panel
            # shows instead.
            if value is not None and not value.startswith("camunda-forms:bpmn:"):
                settings.entries[entry] = value
        if kind == "userTask":
            settings.entries["userTaskImplementation"] = "zeebeUserTask"
        if kind == "userTaskForm":
            settings.entries["formConfiguration"] = zeebe.text or ""
    for panel_list, (container, item, attributes) in _LISTS.items():
        items = [
            child
            for ext in _extensions(element)
            if _local(ext) == container
            for child in ext
            if child.tag == _q(ZEEBE, item)
        ]
        for index, child in enumerate(items):
            for attribute, entry in attributes.items():
                value = child.get(attribute)
                if value is not None:
                    settings.entries[f"{shape_id}-{panel_list}-{index}-{entry}"] = value
    if element.tag == _q(BPMN, "userTask") and "userTaskImplementation" not in settings.entries:
        settings.entries["userTaskImplementation"] = "jobWorker"


def _message_entries(message: Any, settings: ElementSettings) -> None:
    if message is None:
        return
    if message.get("name") is not None:
        settings.entries["messageName"] = message.get("name")
    for zeebe in _extensions(message):
        if _local(zeebe) == "subscription" and zeebe.get("correlationKey") is not None:
            settings.entries["messageSubscriptionCorrelationKey"] = zeebe.get("correlationKey")


def _event_entries(element: Any, messages: dict[str, Any], settings: ElementSettings) -> None:
    if element.tag == _q(BPMN, "receiveTask"):
        _message_entries(messages.get(element.get("messageRef") or ""), settings)
    for definition in element:
        kind = _local(definition)
        if kind == "timerEventDefinition":
            for timer in definition:
                if _local(timer) in {"timeDate", "timeDuration", "timeCycle"}:
                    settings.entries["timerEventDefinitionType"] = _local(timer)
                    settings.entries["timerEventDefinitionValue"] = timer.text or ""
        elif kind == "messageEventDefinition":
            _message_entries(messages.get(definition.get("messageRef") or ""), settings)
        elif kind == "multiInstanceLoopCharacteristics":
            for zeebe in _extensions(definition):
                if _local(zeebe) == "loopCharacteristics":
                    for attribute, entry in _LOOP_ENTRIES.items():
                        if zeebe.get(attribute) is not None:
                            settings.entries[entry] = zeebe.get(attribute)
                else:
                    settings.unmapped.append(f"zeebe:{_local(zeebe)} (multi-instance)")
            condition = definition.find(_q(BPMN, "completionCondition"))
            if condition is not None and condition.text:
                settings.entries["multiInstance-completionCondition"] = condition.text
        elif kind == "conditionExpression" and element.tag == _q(BPMN, "sequenceFlow"):
            settings.entries["conditionExpression"] = definition.text or ""


_CONTAINERS = {
    _q(BPMN, kind) for kind in ("process", "subProcess", "adHocSubProcess", "transaction")
}
"""Where flow elements (and so the elements with settings) live."""


def panel_settings(xml: bytes) -> list[ElementSettings]:
    """Every element of the file that carries a niva setting, with the panel entries that
    must show it: zeebe extensions, timers, message names and correlation keys,
    multi-instance collections and conditions."""
    root = etree.fromstring(xml)
    messages = {m.get("id"): m for m in root.iter(_q(BPMN, "message"))}
    pools = {p.get("processRef"): p.get("id") for p in root.iter(_q(BPMN, "participant"))}
    found: list[ElementSettings] = []
    for process in root.iter(_q(BPMN, "process")):
        shape_id = pools.get(process.get("id")) or process.get("id")
        elements = [(shape_id, process)] + [
            (element.get("id"), element)
            for element in process.iter(etree.Element)
            if element is not process
            and element.get("id") is not None
            and _local(element) != "laneSet"
            and element.getparent().tag in _CONTAINERS
        ]
        for element_id, element in elements:
            settings = ElementSettings(element_id=element_id)
            _zeebe_entries(element_id, element, settings)
            _event_entries(element, messages, settings)
            if settings.entries or settings.unmapped:
                found.append(settings)
    return found


# --- the Modeler in the browser -------------------------------------------------------------


class ImportReport(BaseModel):
    """What ``importXML`` reported: its warnings, and the error that stopped it (or None)."""

    warnings: list[str] = Field(default_factory=list)
    error: str | None = None


class TemplateLoad(BaseModel):
    """Element templates after the Modeler's loader validated them.

    Attributes:
        loaded: Ids of the templates the Modeler accepted.
        errors: The loader's errors (``elementTemplates.errors``).
    """

    loaded: list[str]
    errors: list[str]


_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<div id="canvas" style="position:absolute;left:0;top:0;width:900px;height:900px"></div>
<div id="panel" style="position:absolute;left:900px;top:0;width:480px;height:900px;overflow:auto"></div>
</body></html>"""

_CREATE = """() => {
  window.nivaTemplateErrors = [];
  window.modeler = new BpmnModeler({ container: '#canvas', propertiesPanel: { parent: '#panel' } });
  window.modeler.on('elementTemplates.errors', (event) => {
    window.nivaTemplateErrors.push(...event.errors.map((error) => String(error && error.message || error)));
  });
}"""

_IMPORT = """async (xml) => {
  try {
    const result = await window.modeler.importXML(xml);
    return { warnings: result.warnings.map((w) => w.message), error: null };
  } catch (err) {
    return { warnings: (err.warnings || []).map((w) => w.message), error: String(err.message || err) };
  }
}"""

# The panel re-renders after a selection (preact), and each FEEL editor (CodeMirror) mounts
# in an effect after that: the entries are read once the panel shows the selected element's
# id and every FEEL editor has its content. Each entry is a `data-entry-id` element whose
# field is an input, textarea or select, or a FEEL editor that shows the expression without
# its leading `=`.
_PANELS = """async (ids) => {
  const modeler = window.modeler;
  const panel = document.querySelector('#panel');
  const shows = (id) => {
    const shown = panel.querySelector('[data-entry-id="id"] input');
    return shown && shown.value === id && [...panel.querySelectorAll(
      '.bio-properties-panel-feel-editor-container')].every((c) => c.querySelector('.cm-content'));
  };
  const read = () => {
    const entries = {};
    for (const entry of panel.querySelectorAll('[data-entry-id]')) {
      const editor = entry.querySelector('.cm-content');
      const field = entry.querySelector('input, textarea, select');
      let value = null;
      if (editor) {
        const view = editor.cmView && editor.cmView.view;
        const text = view ? view.state.doc.toString()
          : [...editor.querySelectorAll('.cm-line')].map((line) => line.textContent).join('\\n');
        value = '=' + text;
      } else if (field) {
        value = field.type === 'checkbox' ? String(field.checked) : field.value;
      }
      entries[entry.getAttribute('data-entry-id')] = value;
    }
    return entries;
  };
  const panels = {};
  for (const id of ids) {
    const element = modeler.get('elementRegistry').get(id);
    if (!element) { panels[id] = null; continue; }
    modeler.get('selection').select(element);
    for (let waited = 0; !shows(id); waited += 5) {
      if (waited > 10000) { throw new Error(`the panel does not show ${id}`); }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    panels[id] = read();
  }
  return panels;
}"""

_APPLY = """async (templateId) => {
  const modeler = window.modeler;
  const templates = modeler.get('elementTemplates');
  const [template] = templates.getLatest(templateId);
  if (!template) { throw new Error(`no template ${templateId}`); }
  const shape = modeler.get('modeling').createShape(
    modeler.get('elementFactory').createShape({ type: 'bpmn:ServiceTask' }),
    { x: 400, y: 300 },
    modeler.get('canvas').getRootElement());
  const applied = templates.applyTemplate(shape, template);
  const { xml } = await modeler.saveXML({ format: true });
  return { id: applied.id, xml };
}"""

EMPTY_CAMUNDA8 = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" xmlns:modeler="http://camunda.org/schema/modeler/1.0" id="Definitions_templates" targetNamespace="urn:niva:test" modeler:executionPlatform="Camunda Cloud" modeler:executionPlatformVersion="8.6.0">
  <bpmn:process id="templates" isExecutable="true">
    <bpmn:startEvent id="Start"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_templates">
    <bpmndi:BPMNPlane id="Plane_templates" bpmnElement="templates">
      <bpmndi:BPMNShape id="Start_di" bpmnElement="Start"><dc:Bounds x="100" y="100" width="36" height="36"/></bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
"""A Camunda 8 file with one start event, as Camunda Modeler creates a new diagram."""


class AppliedTemplate(BaseModel):
    """A new service task with a template applied: the element's id and the saved file."""

    id: str
    xml: str


class CamundaModeler:
    """The Camunda 8 modeler on one page; every call works on the file imported last.

    Attributes:
        page_errors: Uncaught errors of the page (a broken panel throws them).
    """

    def __init__(self, page: Any) -> None:
        self._page = page
        self.page_errors: list[str] = []
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    async def import_xml(self, xml: str) -> ImportReport:
        """Import a BPMN file as opening it in the Modeler does."""
        return ImportReport.model_validate(await self._page.evaluate(_IMPORT, xml))

    async def panels(self, element_ids: list[str]) -> dict[str, dict[str, str | None] | None]:
        """Select each of ``element_ids`` in turn and read its properties panel: element id →
        entry id → the value shown (``=``-prefixed in a FEEL editor, ``"true"``/``"false"``
        for a toggle), or None for an id the diagram lacks. One call for all: each selection
        is a round trip to the browser otherwise."""
        return dict(await self._page.evaluate(_PANELS, element_ids))

    async def load_templates(self, templates: list[dict[str, Any]]) -> TemplateLoad:
        """Give the Modeler ``templates`` as Camunda Modeler's template folder does: through
        its loader, which validates each against Camunda's element template schema."""
        return TemplateLoad.model_validate(
            await self._page.evaluate(
                """(templates) => {
                  window.nivaTemplateErrors = [];
                  window.modeler.get('elementTemplatesLoader').setTemplates(templates);
                  return { loaded: window.modeler.get('elementTemplates').getAll().map((t) => t.id),
                           errors: window.nivaTemplateErrors };
                }""",
                templates,
            )
        )

    async def apply_template(self, template_id: str) -> AppliedTemplate:
        """Draw a new service task in a fresh Camunda 8 diagram, apply the loaded template
        ``template_id`` to it (``elementTemplates.applyTemplate``) and save the file."""
        report = await self.import_xml(EMPTY_CAMUNDA8)
        if report.error is not None:
            raise RuntimeError(f"the empty diagram does not import: {report.error}")
        return AppliedTemplate.model_validate(await self._page.evaluate(_APPLY, template_id))


@contextlib.asynccontextmanager
async def camunda_modeler() -> AsyncIterator[CamundaModeler]:
    """Camunda Modeler's Camunda 8 modeler with its properties panel, in headless chromium.

    Skips (through `chromium_page`) when playwright or chromium cannot run.

    Raises:
        RuntimeError: ``camunda-bpmn-js`` is not installed.
    """
    if not MODELER_BUNDLE.is_file():
        raise RuntimeError(f"{MODELER_BUNDLE} is missing: run `npm ci` at the repository root")
    async with chromium_page(width=1400, height=900) as page:
        await page.set_content(_PAGE)
        await page.add_style_tag(path=str(_MODELER_CSS))
        await page.add_script_tag(path=str(MODELER_BUNDLE))
        await page.evaluate(_CREATE)
        yield CamundaModeler(page)


def read_templates(directory: Path) -> list[dict[str, Any]]:
    """The element templates (``*.json``) of ``directory``, sorted by file name."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))]
