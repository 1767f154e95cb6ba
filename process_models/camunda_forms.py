"""Camunda Forms: the form-js JSON that Camunda Modeler writes (``.form`` files).

A form is read once (`read_form`), which refuses what niva does not understand, and then
serves twice: as the JSON Schema of the user task it is linked to
(`CamundaForm.json_schema`), and as the check of a completion (`CamundaForm.check`), which
returns one `FieldProblem` per field that breaks a rule, located by its path in the payload.

What niva reads of a form::

    {"id": "Form_review", "schemaVersion": 16, "type": "default",
     "components": [
       {"type": "textfield", "key": "applicant.name", "id": "Field_1",
        "validate": {"required": true, "maxLength": 80}},
       {"type": "number", "key": "amount", "validate": {"min": 0, "max": 1000}},
       {"type": "dynamiclist", "path": "items", "components": [...]}]}

- Input components with a ``key`` (a dotted key nests: ``applicant.name``): textfield,
  textarea, number, checkbox, checklist, radio, select, taglist, datetime (``subtype`` date,
  time or datetime) and expression (a value the form computes: any JSON).
- Containers: group (its optional ``path`` prefixes its children's keys) and dynamiclist
  (its ``path`` holds a list of objects, each with the children's keys).
- Display-only components, which carry no data: text, html, image, spacer, separator,
  button, iframe, table, documentPreview.
- Rules: ``validate.required``, ``min``/``max``, ``minLength``/``maxLength`` (of the trimmed
  text, as form-js counts), ``pattern`` (searched, not anchored, with JavaScript's ASCII
  ``\\d`` and ``\\w``, on RE2 so that no pattern can stall a case: `process_models.regex`),
  ``validationType`` email or phone; a number's ``decimalDigits`` and ``increment``; the
  static ``values`` of select, radio, checklist and taglist.

Not enforced, and said so in the schema's descriptions: a rule written as FEEL
(``"min": "=limit"``), options from ``valuesKey`` or ``valuesExpression`` (any value of the
type is accepted), ``required`` on a field a ``conditional`` may hide, and ``required`` on a
``disabled`` field (form-js submits neither). Keys the form does not name are accepted, as
Camunda accepts them. niva's phone rule is looser than form-js's list of country codes:
``+`` or ``00``, then 7 to 24 digits.

Pure and deterministic: a case's update validator runs `CamundaForm.check`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, JsonValue

from process_models.bpmn.zeebe import EMBEDDED_FORM_PREFIX
from process_models.errors import ModelInvalidError, Problem
from process_models.regex import RegexError, compile_regex
from process_models.schema import FlowNode

__all__ = [
    "DISPLAY_COMPONENTS",
    "INPUT_COMPONENTS",
    "CamundaForm",
    "FieldProblem",
    "FormField",
    "FormList",
    "FormRef",
    "form_from_document",
    "form_ref",
    "read_form",
]

ValueKind = Literal[
    "text", "number", "boolean", "choice", "choices", "date", "time", "datetime", "any"
]

INPUT_COMPONENTS: dict[str, ValueKind] = {
    "textfield": "text",
    "textarea": "text",
    "number": "number",
    "checkbox": "boolean",
    "checklist": "choices",
    "taglist": "choices",
    "radio": "choice",
    "select": "choice",
    "datetime": "datetime",
    "expression": "any",
}
"""The form-js components that carry a value under their ``key``, and its kind."""

DISPLAY_COMPONENTS = frozenset(
    {"text", "html", "image", "spacer", "separator", "button", "iframe", "table", "documentPreview"}
)
"""The form-js components that show something and carry no data."""

_CONTAINERS = frozenset({"group", "dynamiclist"})
_FORM_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_PHONE = re.compile(r"^(?:\+|00)[1-9]\d{6,23}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
_SUBTYPES: dict[str, ValueKind] = {"date": "date", "time": "time", "datetime": "datetime"}


class FieldProblem(BaseModel):
    """One field of a submission that breaks a rule of the form."""

    loc: list[str | int]
    msg: str


@dataclass(frozen=True)
class FormField:
    """An input component: where its value goes and the rules it must meet."""

    component_id: str | None
    type: str
    kind: ValueKind
    path: tuple[str, ...]
    label: str | None = None
    required: bool = False
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_message: str | None = None
    validation_type: str | None = None
    decimal_digits: int | None = None
    increment: Decimal | None = None
    as_string: bool = False
    options: tuple[JsonValue, ...] | None = None
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """How messages name the field: its component id, else its key."""
        return self.component_id or ".".join(self.path)


@dataclass(frozen=True)
class FormList:
    """A dynamic list: a list of objects at ``path``, each with ``fields``."""

    component_id: str | None
    path: tuple[str, ...]
    fields: tuple[FormField | FormList, ...]
    label: str | None = None

    @property
    def type(self) -> str:
        """The form-js component type."""
        return "dynamiclist"


@dataclass(frozen=True)
class CamundaForm:
    """A form read from form-js JSON: its id, its fields, and the document as written."""

    id: str
    fields: tuple[FormField | FormList, ...]
    document: dict[str, Any]

    @property
    def schema_version(self) -> int | None:
        """form-js's ``schemaVersion`` of the file (kept, not interpreted)."""
        version = self.document.get("schemaVersion")
        return version if isinstance(version, int) else None

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) a completion's payload must satisfy."""
        schema: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": self.id,
            "description": f"Camunda Form {self.id}; niva checks it when the task is completed.",
            "type": "object",
            "properties": {},
        }
        _fill_schema(schema, self.fields)
        return schema

    def check(self, payload: dict[str, JsonValue]) -> list[FieldProblem]:
        """Every rule ``payload`` breaks, one problem per field (empty: it satisfies the form)."""
        problems: list[FieldProblem] = []
        _check_fields(self.fields, payload, [], problems, set())
        return problems


@dataclass(frozen=True)
class FormRef:
    """The Camunda Form an element names: a deployed form (``formId``), or a form embedded in
    the process (``formKey="camunda-forms:bpmn:<id>"`` linking a ``zeebe:userTaskForm``)."""

    form_id: str
    embedded: bool


def form_ref(node: FlowNode) -> FormRef | None:
    """The Camunda Form ``node`` names, if any (a registered niva form is not one)."""
    form = node.niva.form
    if form is None:
        return None
    if form.form_id:
        return FormRef(form_id=form.form_id, embedded=False)
    if form.key and form.key.startswith(EMBEDDED_FORM_PREFIX):
        return FormRef(form_id=form.key[len(EMBEDDED_FORM_PREFIX) :], embedded=True)
    return None


# --- reading --------------------------------------------------------------------------------


def read_form(content: bytes, *, name: str, embedded_id: str | None = None) -> CamundaForm:
    """Read a ``.form`` file, or with ``embedded_id`` the body of a ``zeebe:userTaskForm``
    (its id is the form's, and a body without components is an empty form).

    Raises:
        ModelInvalidError: the file is not JSON, not a form, or has components niva does not
            understand; every problem names the file (and the component, where one is at
            fault).
    """
    try:
        document = json.loads(content)
    except UnicodeDecodeError as exc:
        raise ModelInvalidError(
            [Problem(message=f"a form must be UTF-8 JSON: {exc.reason}", file=name, line=1)]
        ) from exc
    except json.JSONDecodeError as exc:
        raise ModelInvalidError(
            [Problem(message=f"not a JSON document: {exc.msg}", file=name, line=exc.lineno)]
        ) from exc
    return form_from_document(document, name=name, embedded_id=embedded_id)


def form_from_document(document: Any, *, name: str, embedded_id: str | None = None) -> CamundaForm:
    """A form from its parsed JSON (`read_form` without the decoding).

    Raises:
        ModelInvalidError: as `read_form`.
    """
    problems: list[Problem] = []

    def report(message: str, component_id: str | None = None) -> None:
        problems.append(Problem(message=message, element_id=component_id, file=name, line=1))

    if not isinstance(document, dict):
        report("a Camunda Form is a JSON object with 'components' and 'id'")
        raise ModelInvalidError(problems)
    form_id = embedded_id or document.get("id")
    if not isinstance(form_id, str) or not _FORM_ID.match(form_id):
        report(
            f"the form's id {form_id!r} is missing or not a form id (letters, digits, '_', "
            "'.', '-'; at most 200): a BPMN user task names the form by it (formId)"
        )
    components = document.get("components", [] if embedded_id else None)
    if not isinstance(components, list):
        report("the form has no 'components' list")
        raise ModelInvalidError(problems)
    fields = _components(components, (), report)
    _check_paths(fields, report)
    if problems:
        raise ModelInvalidError(problems)
    return CamundaForm(id=str(form_id), fields=fields, document=document)


def _components(
    components: list[Any], prefix: tuple[str, ...], report: Any
) -> tuple[FormField | FormList, ...]:
    fields: list[FormField | FormList] = []
    for index, component in enumerate(components):
        if not isinstance(component, dict):
            report(f"component {index + 1} is not a JSON object")
            continue
        cid = component.get("id") if isinstance(component.get("id"), str) else None
        kind = component.get("type")
        who = f"component {cid or index + 1}"
        if kind in DISPLAY_COMPONENTS:
            continue
        if kind in _CONTAINERS:
            path = _path(component.get("path"), who, cid, "path", report, optional=kind == "group")
            children = component.get("components", [])
            if not isinstance(children, list):
                report(f"{who} ({kind}) has no 'components' list", cid)
                continue
            if path is None:
                continue
            if kind == "group":
                fields.extend(_components(children, prefix + path, report))
            else:
                inner = _components(children, (), report)
                fields.append(
                    FormList(
                        component_id=cid, path=prefix + path, fields=inner, label=_label(component)
                    )
                )
            continue
        if kind not in INPUT_COMPONENTS:
            known = ", ".join(sorted({*INPUT_COMPONENTS, *_CONTAINERS, *DISPLAY_COMPONENTS}))
            report(
                f"{who} has type {kind!r}, which niva does not support (it supports {known})", cid
            )
            continue
        path = _path(component.get("key"), who, cid, "key", report, optional=False)
        if path is None:
            continue
        field = _field(component, str(kind), cid, prefix + path, who, report)
        if field is not None:
            fields.append(field)
    return tuple(fields)


def _path(
    value: Any, who: str, cid: str | None, attribute: str, report: Any, *, optional: bool
) -> tuple[str, ...] | None:
    if value is None or value == "":
        if optional:
            return ()
        report(f"{who} has no {attribute}: where its value goes in the task's variables", cid)
        return None
    parts = tuple(value.split(".")) if isinstance(value, str) else ()
    if not parts or any(not part.strip() for part in parts):
        report(f"{who} has the {attribute} {value!r}, which is not a dotted name", cid)
        return None
    return parts


def _field(
    component: dict[str, Any],
    kind_name: str,
    cid: str | None,
    path: tuple[str, ...],
    who: str,
    report: Any,
) -> FormField | None:
    kind = INPUT_COMPONENTS[kind_name]
    if kind_name == "datetime":
        subtype = component.get("subtype", "date")
        if subtype not in _SUBTYPES:
            report(f"{who} has the datetime subtype {subtype!r} (date, time or datetime)", cid)
            return None
        kind = _SUBTYPES[subtype]
    validate = component.get("validate") or {}
    if not isinstance(validate, dict):
        report(f"{who}: 'validate' is not an object", cid)
        return None
    notes: list[str] = []
    required = validate.get("required") is True
    if required and isinstance(component.get("conditional"), dict):
        required = False
        notes.append(
            "required unless hidden by its condition; niva does not evaluate the condition"
        )
    if required and component.get("disabled") is True:
        required = False
        notes.append("disabled: form-js does not submit it")

    def number(rule: str) -> Decimal | None:
        value = validate.get(rule)
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, str) and value.startswith("="):
            notes.append(f"{rule} is the FEEL expression {value!r}, not checked by niva")
            return None
        try:
            return Decimal(str(value))
        except InvalidOperation:
            report(f"{who}: validate.{rule} {value!r} is not a number", cid)
            return None

    def length(rule: str) -> int | None:
        found = number(rule)
        if found is None:
            return None
        if found != found.to_integral_value() or found < 0:
            report(f"{who}: validate.{rule} {validate.get(rule)!r} is not a length", cid)
            return None
        return int(found)

    pattern = validate.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            report(f"{who}: validate.pattern is not a string", cid)
            pattern = None
        else:
            try:
                compile_regex(pattern)
            except RegexError as exc:
                report(
                    f"{who}: validate.pattern {pattern!r} is not a regular expression: {exc}", cid
                )
                pattern = None
    validation_type = validate.get("validationType")
    if validation_type not in (None, "", "email", "phone"):
        report(f"{who}: validationType {validation_type!r} is not email or phone", cid)
    options: tuple[JsonValue, ...] | None = None
    if kind in ("choice", "choices"):
        options = _options(component, who, cid, report, notes)
    decimal_digits = component.get("decimalDigits")
    increment = component.get("increment")
    return FormField(
        component_id=cid,
        type=kind_name,
        kind=kind,
        path=path,
        label=_label(component),
        required=required,
        minimum=number("min"),
        maximum=number("max"),
        min_length=length("minLength"),
        max_length=length("maxLength"),
        pattern=pattern,
        pattern_message=validate.get("patternErrorMessage") or None,
        validation_type=validation_type or None,
        decimal_digits=decimal_digits
        if isinstance(decimal_digits, int) and decimal_digits >= 0
        else None,
        increment=_decimal(increment),
        as_string=component.get("serializeToString") is True,
        options=options,
        notes=tuple(notes),
    )


def _options(
    component: dict[str, Any], who: str, cid: str | None, report: Any, notes: list[str]
) -> tuple[JsonValue, ...] | None:
    for dynamic in ("valuesKey", "valuesExpression"):
        if component.get(dynamic):
            notes.append(
                f"options come from {dynamic} {component[dynamic]!r} at run time: niva accepts "
                "any value of the type"
            )
            return None
    values = component.get("values", [])
    if not isinstance(values, list):
        report(f"{who}: 'values' is not a list of options", cid)
        return None
    options: list[JsonValue] = []
    for option in values:
        value = option.get("value") if isinstance(option, dict) else option
        if not isinstance(value, str | int | float | bool):
            report(f"{who}: the option {option!r} has no value (a string, number or boolean)", cid)
            continue
        options.append(value)
    return tuple(options)


def _label(component: dict[str, Any]) -> str | None:
    label = component.get("label") or component.get("dateLabel") or component.get("timeLabel")
    return label if isinstance(label, str) else None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        found = Decimal(str(value))
    except InvalidOperation:
        return None
    return found if found > 0 else None


def _check_paths(fields: tuple[FormField | FormList, ...], report: Any) -> None:
    """Two components may not claim the same value, nor one a value inside another's."""
    claimed: dict[tuple[str, ...], str] = {}
    for field in fields:
        for path, name in list(claimed.items()):
            shorter, longer = sorted((path, field.path), key=len)
            if longer[: len(shorter)] == shorter:
                mine = field.component_id or ".".join(field.path)
                report(
                    f"components {name} and {mine} both claim the value "
                    f"{'.'.join(shorter)!r}: give them different keys",
                    field.component_id,
                )
                break
        claimed[field.path] = field.component_id or ".".join(field.path)
        if isinstance(field, FormList):
            _check_paths(field.fields, report)


# --- the JSON Schema ------------------------------------------------------------------------


def _fill_schema(container: dict[str, Any], fields: tuple[FormField | FormList, ...]) -> None:
    for field in fields:
        parent = container
        for segment in field.path[:-1]:
            properties = parent.setdefault("properties", {})
            parent = properties.setdefault(segment, {"type": "object", "properties": {}})
        leaf = field.path[-1]
        if isinstance(field, FormList):
            item: dict[str, Any] = {"type": "object", "properties": {}}
            _fill_schema(item, field.fields)
            schema: dict[str, Any] = {"type": ["array", "null"], "items": item}
            if field.label:
                schema["title"] = field.label
        else:
            schema = _field_schema(field)
        parent.setdefault("properties", {})[leaf] = schema
        if isinstance(field, FormField) and field.required:
            _require(container, field.path)


def _require(container: dict[str, Any], path: tuple[str, ...]) -> None:
    """Mark ``path`` required, and every object on the way to it."""
    node = container
    for segment in path:
        required = node.setdefault("required", [])
        if segment not in required:
            required.append(segment)
        node = node["properties"][segment]


def _field_schema(field: FormField) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    if field.label:
        schema["title"] = field.label
    kind = field.kind
    if kind == "text":
        schema["type"] = "string"
        if field.min_length is not None or field.required:
            schema["minLength"] = max(field.min_length or 0, 1 if field.required else 0)
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        if field.pattern is not None:
            schema["pattern"] = field.pattern
        if field.validation_type == "email":
            schema["format"] = "email"
        elif field.validation_type == "phone":
            schema["pattern"] = _PHONE.pattern
    elif kind == "number":
        if field.as_string:
            schema["type"] = "string"
            schema["pattern"] = r"^-?\d+(\.\d+)?$"
        else:
            schema["type"] = "integer" if field.decimal_digits == 0 else "number"
            if field.minimum is not None:
                schema["minimum"] = _json_number(field.minimum)
            if field.maximum is not None:
                schema["maximum"] = _json_number(field.maximum)
            if field.increment is not None:
                schema["multipleOf"] = _json_number(field.increment)
    elif kind == "boolean":
        schema["type"] = "boolean"
        if field.required:
            schema["const"] = True
    elif kind == "choice":
        if field.options is not None:
            schema["enum"] = list(field.options)
        else:
            schema["type"] = ["string", "number", "boolean"]
    elif kind == "choices":
        items: dict[str, Any] = (
            {"enum": list(field.options)}
            if field.options is not None
            else {"type": ["string", "number", "boolean"]}
        )
        schema["type"] = "array"
        schema["items"] = items
        if field.required:
            schema["minItems"] = 1
    elif kind == "date":
        schema.update(type="string", format="date")
    elif kind == "time":
        schema.update(type="string", pattern=_TIME.pattern)
    elif kind == "datetime":
        schema.update(type="string", pattern=_DATETIME.pattern)
    notes = list(field.notes)
    if field.pattern_message:
        notes.append(field.pattern_message)
    if notes:
        schema["description"] = "; ".join(notes)
    if not field.required and kind != "any":
        _allow_null(schema)
    return schema


def _allow_null(schema: dict[str, Any]) -> None:
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
        return
    kind = schema.get("type")
    if isinstance(kind, list):
        schema["type"] = [*kind, "null"]
    elif isinstance(kind, str):
        schema["type"] = [kind, "null"]


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


# --- checking a submission ------------------------------------------------------------------


def _check_fields(
    fields: tuple[FormField | FormList, ...],
    data: dict[str, Any],
    loc: list[str | int],
    problems: list[FieldProblem],
    reported: set[tuple[str | int, ...]],
) -> None:
    for field in fields:
        present, value = _lookup(data, field.path, loc, problems, reported)
        where = [*loc, *field.path]
        if isinstance(field, FormList):
            if not present or value is None:
                continue
            if not isinstance(value, list):
                problems.append(FieldProblem(loc=where, msg="must be a list"))
                continue
            for index, item in enumerate(value):
                if not isinstance(item, dict):
                    problems.append(FieldProblem(loc=[*where, index], msg="must be an object"))
                    continue
                _check_fields(field.fields, item, [*where, index], problems, reported)
            continue
        message = _field_problem(field, present, value)
        if message is not None:
            problems.append(FieldProblem(loc=where, msg=message))


def _lookup(
    data: dict[str, Any],
    path: tuple[str, ...],
    loc: list[str | int],
    problems: list[FieldProblem],
    reported: set[tuple[str | int, ...]],
) -> tuple[bool, Any]:
    """Whether the payload has a value at ``path``, and the value; an object on the way
    that is not one is reported once."""
    node: Any = data
    for depth, segment in enumerate(path):
        if node is None:
            return False, None
        if not isinstance(node, dict):
            where = (*loc, *path[:depth])
            if where not in reported:
                reported.add(where)
                problems.append(FieldProblem(loc=list(where), msg="must be an object"))
            return False, None
        if segment not in node:
            return False, None
        node = node[segment]
    return True, node


def _field_problem(field: FormField, present: bool, value: Any) -> str | None:
    """What is wrong with one field's value, or None."""
    empty = (
        not present
        or value is None
        or value == ""
        or (isinstance(value, list) and not value)
        or (field.kind == "boolean" and value is False)
    )
    if empty:
        return "is required" if field.required else None
    check = _CHECKS[field.kind]
    return check(field, value)


def _check_text(field: FormField, value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if field.pattern is not None and not compile_regex(field.pattern).search(value):
        return field.pattern_message or f"must match the pattern {field.pattern}"
    length = len(value.strip())
    if field.min_length is not None and length < field.min_length:
        return f"must be at least {field.min_length} characters long"
    if field.max_length is not None and length > field.max_length:
        return f"must be at most {field.max_length} characters long"
    if field.validation_type == "email" and not _EMAIL.match(value):
        return "must be an email address"
    if field.validation_type == "phone" and not _PHONE.match(value):
        return "must be an international phone number (e.g. +4930664040900)"
    return None


def _check_number(field: FormField, value: Any) -> str | None:
    if field.as_string:
        if not isinstance(value, str):
            return "must be a number written as a string"
        try:
            number = Decimal(value)
        except InvalidOperation:
            return "must be a number written as a string"
    elif isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    else:
        number = Decimal(str(value))
    if not number.is_finite():
        return "must be a number"
    if field.minimum is not None and number < field.minimum:
        return f"must be at least {_json_number(field.minimum)}"
    if field.maximum is not None and number > field.maximum:
        return f"must be at most {_json_number(field.maximum)}"
    digits = field.decimal_digits
    exponent = number.normalize().as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if digits is not None and decimals > digits:
        return "must be a whole number" if digits == 0 else f"must have at most {digits} decimals"
    if field.increment is not None and number % field.increment != 0:
        return f"must be a multiple of {_json_number(field.increment)}"
    return None


def _check_boolean(field: FormField, value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _is_option(field: FormField, value: Any) -> bool:
    if field.options is None:
        return isinstance(value, str | int | float | bool)
    # JSON true is not the option 1, nor 1 the option true.
    return any(value == o and isinstance(value, bool) == isinstance(o, bool) for o in field.options)


def _choices_text(field: FormField) -> str:
    return ", ".join(json.dumps(o) for o in field.options or ())


def _check_choice(field: FormField, value: Any) -> str | None:
    if _is_option(field, value):
        return None
    if field.options is None:
        return "must be a string, number or boolean"
    return f"must be one of {_choices_text(field)}"


def _check_choices(field: FormField, value: Any) -> str | None:
    if not isinstance(value, list):
        return "must be a list"
    wrong = [v for v in value if not _is_option(field, v)]
    if not wrong:
        return None
    if field.options is None:
        return "must be a list of strings, numbers or booleans"
    return f"holds {json.dumps(wrong[0])}, not one of {_choices_text(field)}"


def _check_date(field: FormField, value: Any) -> str | None:
    if isinstance(value, str) and _DATE.match(value):
        try:
            date.fromisoformat(value)
            return None
        except ValueError:
            pass
    return "must be a date (YYYY-MM-DD)"


def _check_time(field: FormField, value: Any) -> str | None:
    if isinstance(value, str) and _TIME.match(value):
        return None
    return "must be a time (HH:MM, optionally with Z or an offset)"


def _check_datetime(field: FormField, value: Any) -> str | None:
    if isinstance(value, str) and _DATETIME.match(value):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return None
        except ValueError:
            pass
    return "must be a date and time (YYYY-MM-DDTHH:MM, optionally with seconds and an offset)"


def _check_any(field: FormField, value: Any) -> str | None:
    return None


_CHECKS = {
    "text": _check_text,
    "number": _check_number,
    "boolean": _check_boolean,
    "choice": _check_choice,
    "choices": _check_choices,
    "date": _check_date,
    "time": _check_time,
    "datetime": _check_datetime,
    "any": _check_any,
}
