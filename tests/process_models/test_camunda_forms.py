"""Camunda Forms: form-js JSON read into a task's JSON Schema and a check of completions."""

from __future__ import annotations

import copy
import time
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import pytest

from process_models.camunda_forms import CamundaForm, read_form
from process_models.errors import ModelInvalidError
from tests.support.camunda_forms import GOOD_PAYLOAD, form_file, review_form


def form(document: dict[str, Any] | None = None) -> CamundaForm:
    return read_form(form_file(document or review_form()), name="review.form")


def problems(payload: dict[str, Any], document: dict[str, Any] | None = None) -> dict[str, str]:
    """The form's complaints about ``payload``, by dotted location."""
    return {".".join(map(str, p.loc)): p.msg for p in form(document).check(payload)}


def changed(**updates: Any) -> dict[str, Any]:
    payload = copy.deepcopy(GOOD_PAYLOAD)
    payload.update(updates)
    return payload


def test_read_form_keeps_id_version_and_input_fields():
    read = form()
    assert read.id == "Form_review"
    assert read.schema_version == 16
    fields = {".".join(f.path): f.type for f in read.fields}
    # Display components (text, separator, button) carry no data; the group's path
    # prefixes its child's key; the dynamic list is one entry.
    assert fields == {
        "applicant.name": "textfield",
        "applicant.email": "textfield",
        "reference": "textfield",
        "amount": "number",
        "approved": "checkbox",
        "verdict": "radio",
        "channels": "checklist",
        "officer": "select",
        "tags": "taglist",
        "decided_on": "datetime",
        "decided_at": "datetime",
        "comment": "textarea",
        "details.unit": "textfield",
        "items": "dynamiclist",
    }


def test_a_good_payload_satisfies_the_form_and_its_schema():
    read = form()
    assert read.check(GOOD_PAYLOAD) == []
    jsonschema.Draft202012Validator(read.json_schema()).validate(GOOD_PAYLOAD)


def test_required_fields_missing_are_named():
    found = problems({"applicant": {}, "approved": False, "items": [{}]})
    assert found == {
        "applicant.name": "is required",
        "amount": "is required",
        "approved": "is required",
        "verdict": "is required",
        "items.0.count": "is required",
    }


@pytest.mark.parametrize(
    ("updates", "where", "message"),
    [
        ({"amount": 1000.01}, "amount", "must be at most 1000"),
        ({"amount": -1}, "amount", "must be at least 0"),
        ({"amount": 1.234}, "amount", "must have at most 2 decimals"),
        ({"amount": "12"}, "amount", "must be a number"),
        ({"amount": True}, "amount", "must be a number"),
        ({"applicant": {"name": " A "}}, "applicant.name", "must be at least 2 characters long"),
        ({"applicant": {"name": "x" * 81}}, "applicant.name", "must be at most 80 characters long"),
        (
            {"applicant": {"name": "Ann", "email": "ann"}},
            "applicant.email",
            "must be an email address",
        ),
        ({"reference": "17"}, "reference", "must match the pattern ^[0-9]{4}-[0-9]+$"),
        ({"verdict": "maybe"}, "verdict", 'must be one of "yes", "no"'),
        ({"channels": ["letter", "fax"]}, "channels", 'holds "fax", not one of "letter", "email"'),
        ({"channels": "letter"}, "channels", "must be a list"),
        ({"officer": {"id": 1}}, "officer", "must be a string, number or boolean"),
        ({"decided_on": "2026-02-30"}, "decided_on", "must be a date (YYYY-MM-DD)"),
        (
            {"decided_at": "25:00"},
            "decided_at",
            "must be a time (HH:MM, optionally with Z or an offset)",
        ),
        ({"approved": "yes"}, "approved", "must be true or false"),
        ({"items": [{"count": 0}]}, "items.0.count", "must be at least 1"),
        ({"items": {"count": 1}}, "items", "must be a list"),
        ({"details": "Thorax"}, "details", "must be an object"),
    ],
)
def test_a_broken_rule_names_the_field(updates: dict[str, Any], where: str, message: str):
    assert problems(changed(**updates)) == {where: message}


def test_dynamic_options_accept_any_value_of_the_type():
    assert problems(changed(officer="someone-else", tags=["any", 3])) == {}


def test_feel_rules_are_not_enforced_and_the_schema_says_so():
    read = form()
    assert read.check(changed(comment="x" * 5000)) == []
    comment = read.json_schema()["properties"]["comment"]
    assert "FEEL expression '=limit'" in comment["description"]
    officer = read.json_schema()["properties"]["officer"]
    assert "valuesKey 'officers'" in officer["description"]


def test_json_schema_carries_the_rules():
    schema = form().json_schema()
    props = schema["properties"]
    assert set(schema["required"]) == {"applicant", "amount", "approved", "verdict"}
    assert props["applicant"]["required"] == ["name"]
    assert props["applicant"]["properties"]["name"] == {
        "title": "Sökande",
        "type": "string",
        "minLength": 2,
        "maxLength": 80,
    }
    assert props["amount"] == {"title": "Belopp", "type": "number", "minimum": 0, "maximum": 1000}
    assert props["approved"]["const"] is True
    assert props["verdict"]["enum"] == ["yes", "no"]
    assert props["channels"]["items"] == {"enum": ["letter", "email"]}
    assert props["decided_on"]["format"] == "date"
    assert props["items"]["items"]["required"] == ["count"]
    assert props["details"]["properties"]["unit"]["type"] == ["string", "null"]
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_schema_refuses_what_the_check_refuses():
    validator = jsonschema.Draft202012Validator(form().json_schema())
    for bad in (changed(amount=2000), changed(verdict="maybe"), changed(approved=False)):
        assert not validator.is_valid(bad)
        assert form().check(bad) != []


def test_hidden_and_disabled_fields_are_not_required():
    document = review_form(
        components=[
            {
                "type": "textfield",
                "id": "Field_hidden",
                "key": "reason",
                "conditional": {"hide": '=verdict = "yes"'},
                "validate": {"required": True},
            },
            {
                "type": "textfield",
                "id": "Field_off",
                "key": "locked",
                "disabled": True,
                "validate": {"required": True},
            },
        ]
    )
    assert problems({}, document) == {}
    assert "condition" in form(document).json_schema()["properties"]["reason"]["description"]


def test_number_kept_as_string_and_increment():
    document = review_form(
        components=[
            {
                "type": "number",
                "id": "F1",
                "key": "a",
                "serializeToString": True,
                "validate": {"max": 10},
            },
            {"type": "number", "id": "F2", "key": "b", "increment": "0.5"},
            {"type": "number", "id": "F3", "key": "c", "decimalDigits": 0},
        ]
    )
    assert problems({"a": "9.5", "b": 1.5, "c": 3}, document) == {}
    assert problems({"a": 9, "b": 1.2, "c": 3.5}, document) == {
        "a": "must be a number written as a string",
        "b": "must be a multiple of 0.5",
        "c": "must be a whole number",
    }
    assert problems({"a": "11"}, document) == {"a": "must be at most 10"}


def test_phone_and_datetime_subtype():
    document = review_form(
        components=[
            {
                "type": "textfield",
                "id": "F1",
                "key": "phone",
                "validate": {"validationType": "phone"},
            },
            {"type": "datetime", "id": "F2", "key": "when", "subtype": "datetime"},
        ]
    )
    assert problems({"phone": "+4930664040900", "when": "2026-12-01T10:15:00.000Z"}, document) == {}
    assert problems({"phone": "0701234567", "when": "2026-12-01"}, document) == {
        "phone": "must be an international phone number (e.g. +4930664040900)",
        "when": "must be a date and time (YYYY-MM-DDTHH:MM, optionally with seconds and an offset)",
    }


def test_unknown_component_type_names_component_and_type():
    document = review_form(
        components=[{"type": "filepicker", "id": "Field_upload", "key": "attachment"}]
    )
    with pytest.raises(ModelInvalidError) as caught:
        form(document)
    [problem] = caught.value.problems
    assert problem.file == "review.form"
    assert problem.element_id == "Field_upload"
    assert "'filepicker', which niva does not support" in problem.message


def test_malformed_json_names_the_file_and_line():
    with pytest.raises(ModelInvalidError) as caught:
        read_form(b'{"id": "Form_x",\n "components": [,]}', name="broken.form")
    [problem] = caught.value.problems
    assert problem.format() == "broken.form:2: -: not a JSON document: Expecting value"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "a Camunda Form is a JSON object"),
        ({"id": "F"}, "the form has no 'components' list"),
        ({"components": []}, "the form's id None is missing"),
        ({"id": "../x", "components": []}, "is missing or not a form id"),
        ({"id": "F", "components": [{"type": "textfield", "id": "A"}]}, "component A has no key"),
        (
            {"id": "F", "components": [{"type": "dynamiclist", "id": "L", "components": []}]},
            "component L has no path",
        ),
        (
            {
                "id": "F",
                "components": [
                    {"type": "textfield", "key": "a", "id": "A", "validate": {"pattern": "("}}
                ],
            },
            "validate.pattern '(' is not a regular expression",
        ),
        (
            {
                "id": "F",
                "components": [
                    {"type": "number", "key": "a", "id": "A", "validate": {"min": "ten"}}
                ],
            },
            "validate.min 'ten' is not a number",
        ),
        (
            {
                "id": "F",
                "components": [
                    {"type": "textfield", "key": "a", "id": "A"},
                    {"type": "textfield", "key": "a.b", "id": "B"},
                ],
            },
            "components A and B both claim the value 'a'",
        ),
        (
            {
                "id": "F",
                "components": [{"type": "datetime", "key": "a", "id": "A", "subtype": "week"}],
            },
            "datetime subtype 'week'",
        ),
    ],
)
def test_forms_niva_cannot_read_are_refused(document: Any, message: str):
    with pytest.raises(ModelInvalidError) as caught:
        read_form(form_file(document), name="f.form")
    assert any(message in p.message for p in caught.value.problems), caught.value.problems


def test_patterns_are_read_as_javascript_reads_them():
    document = review_form(
        components=[
            {
                "type": "textfield",
                "id": "F1",
                "key": "code",
                "validate": {"pattern": r"^(?<year>\d{4})-\w+$"},
            }
        ]
    )
    assert problems({"code": "2026-ab_1"}, document) == {}
    # JavaScript's \d is 0-9 only; Python's would take other scripts' digits.
    assert problems({"code": "٢٠٢٦-ab"}, document) == {
        "code": r"must match the pattern ^(?<year>\d{4})-\w+$"
    }


def test_a_pattern_that_backtracks_checks_a_long_value_at_once():
    # (a|a)*b takes exponential time in Python's re; the check runs in the case's update
    # validator, where a stall would hold the workflow task.
    document = review_form(
        components=[
            {"type": "textfield", "id": "F1", "key": "code", "validate": {"pattern": "^(a|a)*b$"}}
        ]
    )
    started = time.perf_counter()
    assert problems({"code": "a" * 5_000 + "!"}, document) == {
        "code": "must match the pattern ^(a|a)*b$"
    }
    assert time.perf_counter() - started < 0.5


def test_a_pattern_that_needs_backtracking_is_refused_when_deployed():
    document = review_form(
        components=[
            {"type": "textfield", "id": "F1", "key": "c", "validate": {"pattern": r"^(a)\1$"}}
        ]
    )
    with pytest.raises(ModelInvalidError) as caught:
        read_form(form_file(document), name="f.form")
    assert any("no backreferences or lookaround" in p.message for p in caught.value.problems)
