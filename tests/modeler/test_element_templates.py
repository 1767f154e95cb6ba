"""niva's Camunda 8 element templates (``modeler/element-templates/``) have the shape of
Camunda's element template schema for Camunda 8, and fit the task types they configure.

`TEMPLATE_SCHEMA` is the part of ``@camunda/zeebe-element-templates-json-schema`` these
templates use, written down from Camunda's documentation ("Defining templates", "Template
properties", bindings), so the test needs no network: the required keys, the property
types, the bindings and what each binding requires, and the rules for ``optional`` and
``feel``. Against the activities: the task type is one niva registers, every input the
activity's input model requires is a property, and every input the template sets is a
field of that model (the models forbid others); and a task as Camunda Modeler writes it
with the template applied reads and validates as a niva task of that type.

Where ``npm ci`` has installed Camunda Modeler's packages, each template is also validated
against Camunda's own schema as installed with them (``INSTALLED_SCHEMA``, the schema
Camunda Modeler's template loader checks with); without ``node_modules`` those tests skip
and the written-down copy stands alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]  # no stubs installed
from pydantic import BaseModel

from activities.documents import RenderDocumentInput
from activities.messages import SendMessageInput
from activities.notifications import NotifyInput
from process_models.bpmn import read_bpmn
from process_models.registry import default_registry
from process_models.validation import check_model
from service_contract import NOTIFY, RENDER_DOCUMENT, SEND_MESSAGE

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = REPO_ROOT / "modeler" / "element-templates"
INSTALLED_SCHEMA = (
    REPO_ROOT / "node_modules/@camunda/zeebe-element-templates-json-schema/resources/schema.json"
)
"""Camunda's element template schema for Camunda 8, as ``npm ci`` installs it with
``camunda-bpmn-js`` (its template loader validates with this schema)."""
SCHEMA_URL = "https://unpkg.com/@camunda/zeebe-element-templates-json-schema/resources/schema.json"

INPUT_MODELS: dict[str, type[BaseModel]] = {
    NOTIFY: NotifyInput,
    RENDER_DOCUMENT: RenderDocumentInput,
    SEND_MESSAGE: SendMessageInput,
}
"""The task types niva ships templates for, with the model their inputs must fit."""

_NAMESPACED = "^[\\w\\d]+:[\\w\\d]+$"


def _binding(kind: str, required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
        "then": {"required": required, "properties": properties},
    }


TEMPLATE_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema",
    "type": "object",
    "required": ["$schema", "name", "id", "appliesTo", "properties"],
    "properties": {
        "$schema": {"const": SCHEMA_URL},
        "name": {"type": "string", "minLength": 1},
        "id": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "version": {"type": "integer"},
        "category": {
            "type": "object",
            "required": ["id", "name"],
            "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
        },
        "appliesTo": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": _NAMESPACED},
        },
        "elementType": {
            "type": "object",
            "required": ["value"],
            "properties": {"value": {"type": "string", "pattern": _NAMESPACED}},
        },
        "groups": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "label"],
                "properties": {"id": {"type": "string"}, "label": {"type": "string"}},
            },
        },
        "properties": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["binding"],
                "properties": {
                    "id": {"type": "string"},
                    "label": {"type": "string"},
                    "description": {"type": "string"},
                    "group": {"type": "string"},
                    "type": {"enum": ["String", "Text", "Hidden", "Dropdown", "Boolean", "Number"]},
                    "value": {"type": ["string", "number", "boolean"]},
                    "optional": {"type": "boolean"},
                    "feel": {"enum": ["optional", "required", "static"]},
                    "choices": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "value"],
                            "properties": {
                                "name": {"type": "string"},
                                "value": {"type": "string"},
                            },
                        },
                    },
                    "constraints": {
                        "type": "object",
                        "properties": {
                            "notEmpty": {"type": "boolean"},
                            "minLength": {"type": "integer"},
                            "maxLength": {"type": "integer"},
                            "pattern": {
                                "type": "object",
                                "required": ["value"],
                                "properties": {
                                    "value": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            },
                        },
                    },
                    "binding": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {
                                "enum": [
                                    "property",
                                    "zeebe:taskDefinition",
                                    "zeebe:input",
                                    "zeebe:output",
                                    "zeebe:taskHeader",
                                    "zeebe:property",
                                ]
                            }
                        },
                        "allOf": [
                            _binding("property", ["name"], name={"type": "string"}),
                            _binding(
                                "zeebe:taskDefinition",
                                ["property"],
                                property={"enum": ["type", "retries"]},
                            ),
                            _binding("zeebe:input", ["name"], name={"type": "string"}),
                            _binding("zeebe:output", ["source"], source={"type": "string"}),
                            _binding("zeebe:taskHeader", ["key"], key={"type": "string"}),
                            _binding("zeebe:property", ["name"], name={"type": "string"}),
                        ],
                    },
                },
                "allOf": [
                    # A dropdown offers choices.
                    {
                        "if": {"properties": {"type": {"const": "Dropdown"}}, "required": ["type"]},
                        "then": {"required": ["choices"]},
                    },
                    # Only mappings, headers and properties may be left out ("optional"), and
                    # an optional field's constraints say "notEmpty": false (Camunda Modeler
                    # drops, silently, a template whose optional field has constraints without it).
                    {
                        "if": {
                            "properties": {"optional": {"const": True}},
                            "required": ["optional"],
                        },
                        "then": {
                            "properties": {
                                "binding": {
                                    "properties": {
                                        "type": {
                                            "enum": [
                                                "zeebe:input",
                                                "zeebe:output",
                                                "zeebe:taskHeader",
                                                "zeebe:property",
                                            ]
                                        }
                                    }
                                },
                                "constraints": {
                                    "required": ["notEmpty"],
                                    "properties": {"notEmpty": {"const": False}},
                                },
                            }
                        },
                    },
                    # FEEL is offered in text fields only.
                    {
                        "if": {"required": ["feel"]},
                        "then": {
                            "required": ["type"],
                            "properties": {"type": {"enum": ["String", "Text"]}},
                        },
                    },
                ],
            },
        },
    },
}


def _templates() -> list[Path]:
    return sorted(TEMPLATES.glob("*.json"))


def _task_type(template: dict[str, Any]) -> str:
    [task_type] = [
        p["value"]
        for p in template["properties"]
        if p["binding"] == {"type": "zeebe:taskDefinition", "property": "type"}
    ]
    return str(task_type)


def _inputs(template: dict[str, Any]) -> list[str]:
    return [
        p["binding"]["name"]
        for p in template["properties"]
        if p["binding"]["type"] == "zeebe:input"
    ]


def test_schema_written_down_is_a_valid_json_schema():
    Draft7Validator.check_schema(TEMPLATE_SCHEMA)


def test_there_is_a_template_for_each_of_nivas_configurable_task_types():
    types = [_task_type(json.loads(path.read_text(encoding="utf-8"))) for path in _templates()]
    assert sorted(types) == sorted(INPUT_MODELS)


@pytest.mark.parametrize("path", _templates(), ids=lambda p: p.stem)
def test_template_has_the_shape_of_camundas_schema(path: Path):
    template = json.loads(path.read_text(encoding="utf-8"))
    errors = [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in Draft7Validator(TEMPLATE_SCHEMA).iter_errors(template)
    ]
    assert errors == []
    groups = {g["id"] for g in template.get("groups", [])}
    assert {p["group"] for p in template["properties"] if "group" in p} <= groups
    assert len({p["id"] for p in template["properties"] if "id" in p}) == len(
        [p for p in template["properties"] if "id" in p]
    ), "property ids are unique"


@pytest.mark.parametrize("path", _templates(), ids=lambda p: p.stem)
def test_template_configures_a_registered_type_with_the_inputs_its_activity_takes(path: Path):
    template = json.loads(path.read_text(encoding="utf-8"))
    task_type = _task_type(template)
    assert task_type in default_registry.task_types
    model = INPUT_MODELS[task_type]
    inputs = _inputs(template)
    assert len(inputs) == len(set(inputs)), "an input is set once"
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    assert required <= set(inputs), f"{path.name} lacks required inputs {required - set(inputs)}"
    assert set(inputs) <= set(model.model_fields), f"{path.name} sets inputs {model.__name__} lacks"
    # What the activity needs is never left out by the template.
    for prop in template["properties"]:
        if prop["binding"].get("name") in required:
            name = prop["binding"]["name"]
            assert not prop.get("optional"), name
            assert prop.get("constraints", {}).get("notEmpty") or prop.get("value"), name


def _installed_schema() -> dict[str, Any]:
    if not INSTALLED_SCHEMA.is_file():
        pytest.skip(
            f"{INSTALLED_SCHEMA.relative_to(REPO_ROOT)} is not installed (run `npm ci` at the "
            "repository root)"
        )
    schema: dict[str, Any] = json.loads(INSTALLED_SCHEMA.read_text(encoding="utf-8"))
    return schema


def _installed_schema_errors(template: dict[str, Any]) -> list[str]:
    """Where ``template`` breaks the installed schema. Its rules sit under ``anyOf`` and
    ``if``/``then`` branches, so the failing leaves are reported, not the top-level
    "not valid under any of the given schemas"."""
    found: list[str] = []
    pending = list(Draft7Validator(_installed_schema()).iter_errors(template))
    while pending:
        error = pending.pop()
        if error.context:
            pending += [e for e in error.context if e.validator != "type"]
        elif error.validator != "if":
            found.append(f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}")
    return found


@pytest.mark.parametrize("path", _templates(), ids=lambda p: p.stem)
def test_template_is_valid_against_camundas_installed_schema(path: Path):
    template = json.loads(path.read_text(encoding="utf-8"))
    assert not list(Draft7Validator(_installed_schema()).iter_errors(template)), (
        _installed_schema_errors(template)
    )
    # The template names the schema it is written against, as Camunda's documentation has it.
    assert template["$schema"] == SCHEMA_URL


@pytest.mark.parametrize(
    ("change", "where"),
    [
        # An input binding without the variable it sets.
        (lambda t: t["properties"][0].update(binding={"type": "zeebe:input"}), "binding"),
        # An optional field whose constraints do not say "notEmpty": false.
        (
            lambda t: t["properties"].append(
                {
                    "type": "String",
                    "optional": True,
                    "constraints": {"maxLength": 5},
                    "binding": {"type": "zeebe:input", "name": "extra"},
                }
            ),
            "constraints",
        ),
        (lambda t: t.pop("appliesTo"), "appliesTo"),
    ],
)
def test_the_installed_schema_refuses_a_broken_template(change: Any, where: str):
    """The validation above is not vacuous: what Camunda Modeler drops, it refuses."""
    [path, *_] = _templates()
    template = json.loads(path.read_text(encoding="utf-8"))
    change(template)
    assert list(Draft7Validator(_installed_schema()).iter_errors(template))
    assert any(where in error for error in _installed_schema_errors(template)), (
        _installed_schema_errors(template)
    )


SAMPLES: dict[str, dict[str, str]] = {
    NOTIFY: {"template": "case_ended", "organisations": '=["SE-AB"]', "variables": "={}"},
    RENDER_DOCUMENT: {"template": "decision", "title": '="Beslut " + unit_name'},
    SEND_MESSAGE: {"instance_id": '="se_nhv_permit:" + permit_key', "message": "withdrawn"},
}
"""What a modeller types into the template's fields (the others keep their defaults)."""


def _applied(template: dict[str, Any], values: dict[str, str]) -> str:
    """A Camunda 8 file with one task as Camunda Modeler writes it when ``template`` is
    applied and the fields filled in with ``values``."""
    task_definition: dict[str, str] = {}
    inputs: list[tuple[str, str]] = []
    for prop in template["properties"]:
        binding = prop["binding"]
        value = values.get(prop.get("id", ""), prop.get("value"))
        if value is None:
            continue
        if binding["type"] == "zeebe:taskDefinition":
            task_definition[binding["property"]] = str(value)
        elif binding["type"] == "zeebe:input":
            inputs.append((binding["name"], str(value)))
    element = template["elementType"]["value"].removeprefix("bpmn:")
    element = element[0].lower() + element[1:]
    attributes = " ".join(f"{k}={quoteattr(v)}" for k, v in task_definition.items())
    mappings = "".join(
        f'<zeebe:input source={quoteattr(source)} target="{target}"/>' for target, source in inputs
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="urn:t">
  <bpmn:process id="templated" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Task"/>
    <bpmn:{element} id="Task" zeebe:modelerTemplate="{template["id"]}">
      <bpmn:extensionElements>
        <zeebe:taskDefinition {attributes}/>
        <zeebe:ioMapping>{mappings}</zeebe:ioMapping>
      </bpmn:extensionElements>
    </bpmn:{element}>
    <bpmn:sequenceFlow id="f2" sourceRef="Task" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.mark.parametrize("path", _templates(), ids=lambda p: p.stem)
def test_task_made_with_the_template_is_a_valid_niva_task(path: Path):
    template = json.loads(path.read_text(encoding="utf-8"))
    task_type = _task_type(template)
    defs = read_bpmn(_applied(template, SAMPLES[task_type]).encode())
    result = check_model(defs)
    assert result.problems == []
    assert not [w for w in result.warnings if w.element_id == "Task"]
    [process] = defs.processes
    task = process.node("Task")
    assert task is not None
    assert task.niva.task_definition is not None
    assert task.niva.task_definition.type == task_type
    assert {m.target for m in task.niva.inputs} >= {
        name for name, field in INPUT_MODELS[task_type].model_fields.items() if field.is_required()
    }
