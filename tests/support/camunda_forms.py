"""A Camunda Form as Camunda Modeler writes it, and Camunda 8 models whose user task names
it (``zeebe:formDefinition formId``) or embeds it, for the form, deployment and API tests."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape

REVIEW_FORM_ID = "Form_review"


def review_form(*, form_id: str = REVIEW_FORM_ID, **changes: Any) -> dict[str, Any]:
    """A review form with every kind of component niva reads (``changes`` replaces keys of
    the document: ``components=[...]`` for another form)."""
    document: dict[str, Any] = {
        "executionPlatform": "Camunda Cloud",
        "executionPlatformVersion": "8.6.0",
        "exporter": {"name": "Camunda Modeler", "version": "5.30.0"},
        "schemaVersion": 16,
        "id": form_id,
        "type": "default",
        "components": [
            {"type": "text", "text": "# Granskning", "id": "Field_intro"},
            {
                "label": "Sökande",
                "type": "textfield",
                "id": "Field_name",
                "key": "applicant.name",
                "validate": {"required": True, "minLength": 2, "maxLength": 80},
            },
            {
                "label": "E-post",
                "type": "textfield",
                "id": "Field_email",
                "key": "applicant.email",
                "validate": {"validationType": "email"},
            },
            {
                "label": "Diarienummer",
                "type": "textfield",
                "id": "Field_ref",
                "key": "reference",
                "validate": {"pattern": "^[0-9]{4}-[0-9]+$"},
            },
            {
                "label": "Belopp",
                "type": "number",
                "id": "Field_amount",
                "key": "amount",
                "decimalDigits": 2,
                "validate": {"required": True, "min": 0, "max": 1000},
            },
            {
                "label": "Godkänd",
                "type": "checkbox",
                "id": "Field_approved",
                "key": "approved",
                "validate": {"required": True},
            },
            {
                "label": "Beslut",
                "type": "radio",
                "id": "Field_verdict",
                "key": "verdict",
                "values": [{"label": "Ja", "value": "yes"}, {"label": "Nej", "value": "no"}],
                "validate": {"required": True},
            },
            {
                "label": "Kanaler",
                "type": "checklist",
                "id": "Field_channels",
                "key": "channels",
                "values": [
                    {"label": "Brev", "value": "letter"},
                    {"label": "E-post", "value": "email"},
                ],
            },
            {
                "label": "Handläggare",
                "type": "select",
                "id": "Field_officer",
                "key": "officer",
                "valuesKey": "officers",
            },
            {
                "label": "Taggar",
                "type": "taglist",
                "id": "Field_tags",
                "key": "tags",
                "valuesExpression": "=tagOptions",
            },
            {
                "type": "datetime",
                "subtype": "date",
                "dateLabel": "Beslutsdatum",
                "id": "Field_decided",
                "key": "decided_on",
            },
            {
                "type": "datetime",
                "subtype": "time",
                "timeLabel": "Klockan",
                "id": "Field_at",
                "key": "decided_at",
            },
            {
                "label": "Kommentar",
                "type": "textarea",
                "id": "Field_comment",
                "key": "comment",
                "validate": {"maxLength": "=limit"},
            },
            {
                "label": "Detaljer",
                "type": "group",
                "id": "Group_details",
                "path": "details",
                "components": [
                    {"label": "Enhet", "type": "textfield", "id": "Field_unit", "key": "unit"},
                ],
            },
            {
                "label": "Poster",
                "type": "dynamiclist",
                "id": "List_items",
                "path": "items",
                "isRepeating": True,
                "components": [
                    {
                        "label": "Antal",
                        "type": "number",
                        "id": "Field_count",
                        "key": "count",
                        "validate": {"required": True, "min": 1},
                    }
                ],
            },
            {"type": "separator", "id": "Field_sep"},
            {"type": "button", "action": "submit", "label": "Skicka", "id": "Field_submit"},
        ],
    }
    document.update(changes)
    return document


def form_file(document: dict[str, Any]) -> bytes:
    """The form as a ``.form`` file (indented, as the Modeler saves it)."""
    return json.dumps(document, indent=2, ensure_ascii=False).encode()


GOOD_PAYLOAD: dict[str, Any] = {
    "applicant": {"name": "Region Skåne", "email": "reg@example.se"},
    "reference": "2026-17",
    "amount": 120.5,
    "approved": True,
    "verdict": "yes",
    "channels": ["letter"],
    "officer": "anna",
    "tags": ["urgent"],
    "decided_on": "2026-12-01",
    "decided_at": "14:30",
    "details": {"unit": "Thorax"},
    "items": [{"count": 2}],
}
"""A completion that satisfies `review_form`."""


def c8_review_model(
    process_id: str = "c8_review", form_id: str = REVIEW_FORM_ID, start_form: str | None = None
) -> str:
    """A Camunda 8 model: one user task (an officer of SE-SOS) with the form ``form_id``;
    with ``start_form``, its start event has that form."""
    start = (
        '<bpmn:startEvent id="Start"><bpmn:extensionElements>'
        f'<zeebe:formDefinition formId="{start_form}"/>'
        "</bpmn:extensionElements></bpmn:startEvent>"
        if start_form
        else '<bpmn:startEvent id="Start"/>'
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0"
    id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn"
    exporter="Camunda Modeler" exporterVersion="5.30.0"
    modeler:executionPlatform="Camunda Cloud" modeler:executionPlatformVersion="8.6.0">
  <bpmn:process id="{process_id}" name="Review" isExecutable="true">
    {start}
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
    <bpmn:userTask id="Review" name="Granska">
      <bpmn:extensionElements>
        <zeebe:userTask/>
        <zeebe:formDefinition formId="{form_id}"/>
        <zeebe:assignmentDefinition candidateGroups="org:SE-SOS/officer"/>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""


def c8_embedded_model(document: dict[str, Any], process_id: str = "c8_embedded") -> str:
    """A Camunda 8 model whose user task's form is embedded in the process, as older Camunda
    Modeler versions write it (``zeebe:userTaskForm`` and ``formKey="camunda-forms:bpmn:…"``)."""
    body = escape(json.dumps(document, ensure_ascii=False))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"
    xmlns:modeler="http://camunda.org/schema/modeler/1.0"
    id="Definitions_2" targetNamespace="http://bpmn.io/schema/bpmn"
    exporter="Camunda Modeler" exporterVersion="5.0.0"
    modeler:executionPlatform="Camunda Cloud" modeler:executionPlatformVersion="8.0.0">
  <bpmn:process id="{process_id}" name="Embedded" isExecutable="true">
    <bpmn:extensionElements>
      <zeebe:userTaskForm id="userTaskForm_1">{body}</zeebe:userTaskForm>
    </bpmn:extensionElements>
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
    <bpmn:userTask id="Review" name="Granska">
      <bpmn:extensionElements>
        <zeebe:formDefinition formKey="camunda-forms:bpmn:userTaskForm_1"/>
        <zeebe:assignmentDefinition candidateGroups="org:SE-SOS/officer"/>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""
