"""Camunda Forms through the API: a model and its form deployed as one multipart
deployment, the form's JSON Schema with the task, and completions checked against it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from typer.testing import CliRunner, Result

from process_models.camunda_forms import read_form
from starter.cases import start_case
from starter.cli import app
from tests.support.api import Api
from tests.support.camunda_forms import (
    GOOD_PAYLOAD,
    REVIEW_FORM_ID,
    c8_embedded_model,
    c8_review_model,
    form_file,
    review_form,
)

Files = list[tuple[str, tuple[str, bytes]]]
runner = CliRunner()


def files(*named: tuple[str, bytes]) -> Files:
    return [("files", item) for item in named]


async def deploy(api: Api, upload: Files, subject: str = "modeler") -> Any:
    return await api.http.post("/process-models", files=upload, headers=api.auth(subject))


async def test_deploy_model_with_form_then_complete_against_the_form(api: Api):
    model = c8_review_model().encode()
    form = form_file(review_form())
    created = await deploy(api, files(("review.bpmn", model), ("review.form", form)))
    assert created.status_code == 201, created.text
    assert created.json() == [
        {
            "id": "c8_review",
            "version": 1,
            "created": True,
            "name": "Review",
            "forms": {REVIEW_FORM_ID: 1},
            "decisions": {},
            "warnings": [],
        }
    ]
    again = await deploy(api, files(("review.bpmn", model), ("review.form", form)))
    assert again.status_code == 200
    assert again.json()[0]["created"] is False

    instance_id = await api.start("c8_review", "form-1")
    detail = await api.http.get(
        f"/instances/{instance_id}/tasks/Review", headers=api.auth("sos-officer")
    )
    assert detail.status_code == 200, detail.text
    schema = detail.json()["form_schema"]
    assert schema == read_form(form, name="review.form").json_schema()
    assert schema["properties"]["amount"]["maximum"] == 1000

    # Out of range and a required field missing: 422 naming each field, nothing completed.
    bad = {**GOOD_PAYLOAD, "amount": 5000, "applicant": {"email": "reg@example.se"}}
    refused = await api.complete(instance_id, "Review", bad, "sos-officer")
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["fields"] == [
        {"loc": ["applicant", "name"], "msg": "is required"},
        {"loc": ["amount"], "msg": "must be at most 1000"},
    ]
    assert f"form {REVIEW_FORM_ID}" in body["detail"]

    done = await api.complete(instance_id, "Review", GOOD_PAYLOAD, "sos-officer")
    assert done.status_code == 200, done.text
    shown = await api.http.get(f"/instances/{instance_id}", headers=api.auth("sos-officer"))
    assert shown.json()["status"] == "completed"
    assert shown.json()["variables"]["amount"] == 120.5


async def test_a_running_case_keeps_the_form_it_started_with(api: Api):
    model = c8_review_model().encode()
    await deploy(api, files(("review.bpmn", model), ("review.form", form_file(review_form()))))
    instance_id = await api.start("c8_review", "form-old")
    # A new version of the form makes amount optional and unbounded.
    loose = review_form(components=[{"type": "number", "id": "Field_amount", "key": "amount"}])
    redeployed = await deploy(api, files(("review.bpmn", model), ("review.form", form_file(loose))))
    assert redeployed.json()[0]["version"] == 2
    assert redeployed.json()[0]["forms"] == {REVIEW_FORM_ID: 2}

    detail = await api.http.get(
        f"/instances/{instance_id}/tasks/Review", headers=api.auth("sos-officer")
    )
    assert "applicant" in detail.json()["form_schema"]["properties"]
    refused = await api.complete(instance_id, "Review", {"amount": 5000}, "sos-officer")
    assert refused.status_code == 422
    assert {"loc": ["amount"], "msg": "must be at most 1000"} in refused.json()["fields"]

    newer = await api.start("c8_review", "form-new")
    done = await api.complete(newer, "Review", {"amount": 5000}, "sos-officer")
    assert done.status_code == 200, done.text


async def test_a_start_event_form_checks_the_start_variables(api: Api):
    start_form = review_form(
        form_id="Form_start",
        components=[
            {
                "type": "textfield",
                "id": "Field_region",
                "key": "region",
                "validate": {"required": True, "pattern": "^SE-[A-Z]+$"},
            }
        ],
    )
    model = c8_review_model(start_form="Form_start").encode()
    deployed = await deploy(
        api,
        files(
            ("review.bpmn", model),
            ("review.form", form_file(review_form())),
            ("start.form", form_file(start_form)),
        ),
    )
    assert deployed.status_code == 201, deployed.text
    assert deployed.json()[0]["forms"] == {"Form_start": 1, REVIEW_FORM_ID: 1}
    refused = await api.http.post(
        "/instances",
        json={"process_id": "c8_review", "business_key": "s-1", "title": "S", "variables": {}},
        headers=api.auth("sos-officer"),
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["fields"] == [{"loc": ["region"], "msg": "is required"}]
    assert "start event Start" in refused.json()["detail"]
    started = await api.start("c8_review", "s-2", {"region": "SE-AB"})
    assert started == "c8_review:s-2"

    # Started past the API (a schedule, a message start), the case itself checks the form.
    handle = await start_case(
        api.client,
        api.store,
        process_id="c8_review",
        business_key="s-3",
        title="S",
        task_queue=api.task_queue,
        variables={"region": "Skåne"},
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert "region must match the pattern ^SE-[A-Z]+$" in str(failed.value.cause)


async def test_deployment_errors_name_the_file_element_and_form(api: Api):
    model = c8_review_model().encode()
    missing = await deploy(api, files(("review.bpmn", model)))
    assert missing.status_code == 422
    [problem] = missing.json()["problems"]
    assert problem["file"] == "review.bpmn"
    assert (problem["element_id"], problem["line"]) == ("Review", 14)
    assert f"'{REVIEW_FORM_ID}' is neither in this deployment nor deployed" in problem["message"]

    broken = await deploy(
        api, files(("review.bpmn", model), ("review.form", b'{"id": "Form_review", '))
    )
    assert broken.status_code == 422
    [unreadable] = [p for p in broken.json()["problems"] if p["file"] == "review.form"]
    assert unreadable["message"].startswith("not a JSON document")

    decision = await deploy(api, files(("rules.dmn", b"<definitions/>")))
    assert decision.status_code == 422
    assert "expected DMN definitions" in decision.json()["problems"][0]["message"]

    text = await deploy(api, files(("notes.txt", b"hello")))
    assert text.status_code == 422
    assert "cannot deploy notes.txt" in text.json()["detail"]

    other_field = await api.http.post(
        "/process-models",
        data={"comment": "hi"},
        files=files(("review.bpmn", model)),
        headers=api.auth("modeler"),
    )
    assert other_field.status_code == 422

    too_many = await deploy(
        api, files(*[(f"f{i}.form", b"{}") for i in range(api.store.limits.max_files + 1)])
    )
    assert too_many.status_code == 413
    assert "NIVA_MODELS_MAX_FILES" in too_many.json()["detail"]

    assert (await api.http.get("/process-models", headers=api.auth("modeler"))).json() == []


async def test_only_a_modeler_deploys_several_files(api: Api):
    model = c8_review_model().encode()
    refused = await deploy(
        api,
        files(("review.bpmn", model), ("review.form", form_file(review_form()))),
        subject="sos-officer",
    )
    assert refused.status_code == 403


async def test_cli_deploys_a_model_and_its_form_as_one_deployment(
    api: Api, served: str, tmp_path: Path
):
    model = tmp_path / "review.bpmn"
    model.write_text(c8_review_model())
    form = tmp_path / "review.form"
    form.write_bytes(form_file(review_form()))
    env = {"NIVA_URL": served, "NIVA_TOKEN": api.tokens["modeler"]}

    def niva(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    alone = await asyncio.to_thread(niva, "models", "deploy", str(model))
    assert alone.exit_code == 1
    assert "is neither in this deployment nor deployed" in alone.stderr
    both = await asyncio.to_thread(niva, "models", "deploy", str(model), str(form))
    assert both.exit_code == 0, both.output
    assert both.output.strip() == f"c8_review version 1 deployed (forms {REVIEW_FORM_ID} v1)"


async def test_forms_deploy_alone_and_a_later_model_uses_them(api: Api):
    form = form_file(review_form())
    first = await deploy(api, files(("review.form", form)))
    assert (first.status_code, first.json()) == (201, [])
    again = await deploy(api, files(("review.form", form)))
    assert (again.status_code, again.json()) == (200, [])
    # One BPMN body, as before multipart existed, finds the form deployed before.
    model = await api.http.post(
        "/process-models",
        content=c8_review_model().encode(),
        headers={**api.auth("modeler"), "Content-Type": "application/xml"},
    )
    assert model.status_code == 201, model.text
    assert model.json()[0]["forms"] == {REVIEW_FORM_ID: 1}


async def test_an_embedded_form_is_the_tasks_schema_and_checks_completions(api: Api):
    deployed = await api.http.post(
        "/process-models",
        content=c8_embedded_model(review_form()).encode(),
        headers={**api.auth("modeler"), "Content-Type": "application/xml"},
    )
    assert deployed.status_code == 201, deployed.text
    instance_id = await api.start("c8_embedded", "emb-1")
    detail = await api.http.get(
        f"/instances/{instance_id}/tasks/Review", headers=api.auth("sos-officer")
    )
    schema = detail.json()["form_schema"]
    assert schema["title"] == "userTaskForm_1"
    assert schema["properties"]["verdict"]["enum"] == ["yes", "no"]
    refused = await api.complete(
        instance_id, "Review", {**GOOD_PAYLOAD, "verdict": "maybe"}, "sos-officer"
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["fields"] == [{"loc": ["verdict"], "msg": 'must be one of "yes", "no"'}]
    done = await api.complete(instance_id, "Review", GOOD_PAYLOAD, "sos-officer")
    assert done.status_code == 200, done.text
