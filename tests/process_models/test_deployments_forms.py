"""Deployments with Camunda Forms: several files all or none, forms versioned and bound to the
process version that names them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from process_models.deployments import DeployLimits, ModelFile, ModelStore
from process_models.errors import ModelInvalidError, ModelTooLargeError
from process_models.store import FileBlobStore
from tests.support.camunda_forms import (
    REVIEW_FORM_ID,
    c8_embedded_model,
    c8_review_model,
    form_file,
    review_form,
)


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(FileBlobStore(tmp_path))


def bpmn_file(process_id: str = "c8_review", form_id: str = REVIEW_FORM_ID) -> ModelFile:
    return ModelFile(
        name=f"{process_id}.bpmn", content=c8_review_model(process_id, form_id).encode()
    )


def the_form(**changes: object) -> ModelFile:
    return ModelFile(name="review.form", content=form_file(review_form(**changes)))


def test_a_model_and_its_form_deploy_together(store: ModelStore):
    deployment = store.deploy_files([bpmn_file(), the_form()])
    [form] = deployment.forms
    assert (form.form.form_id, form.form.version, form.created) == (REVIEW_FORM_ID, 1, True)
    [process] = deployment.processes
    assert process.model.forms == {REVIEW_FORM_ID: form.form.binding}
    source = store.source("c8_review")
    assert source.forms[REVIEW_FORM_ID] == review_form()
    assert store.form(REVIEW_FORM_ID, form.form.binding).id == REVIEW_FORM_ID


def test_a_missing_form_names_element_line_and_form_id(store: ModelStore):
    with pytest.raises(ModelInvalidError) as caught:
        store.deploy_files([bpmn_file(form_id="Form_elsewhere")])
    [problem] = caught.value.problems
    assert (problem.file, problem.element_id, problem.line) == ("c8_review.bpmn", "Review", 14)
    assert "'Form_elsewhere' is neither in this deployment nor deployed" in problem.message
    assert store.process_ids() == []


def test_a_form_deployed_before_is_found_and_kept_per_version(store: ModelStore):
    store.deploy_files([the_form()])
    [first] = store.deploy([bpmn_file()])
    assert first.model.forms[REVIEW_FORM_ID].version == 1
    # A new form version: the model's file is the same, but it now binds another form,
    # so it is a new version; the first keeps the form it was deployed with.
    changed = the_form(components=[{"type": "textfield", "key": "note", "id": "Field_note"}])
    deployment = store.deploy_files([bpmn_file(), changed])
    [second] = deployment.processes
    assert (second.model.version, second.created) == (2, True)
    assert second.model.forms[REVIEW_FORM_ID].version == 2
    assert store.source("c8_review", 1).forms[REVIEW_FORM_ID] == review_form()
    assert store.source("c8_review", 2).forms[REVIEW_FORM_ID]["components"][0]["key"] == "note"
    # The same files again change nothing.
    again = store.deploy_files([bpmn_file(), changed])
    assert [r.created for r in again.processes] == [False]
    assert [f.created for f in again.forms] == [False]


def test_one_bad_file_deploys_nothing_and_every_problem_is_named(store: ModelStore):
    bad_form = ModelFile(name="broken.form", content=b"{not json")
    unknown = ModelFile(
        name="upload.form",
        content=form_file(
            review_form(
                form_id="Form_up", components=[{"type": "filepicker", "id": "F", "key": "f"}]
            )
        ),
    )
    decision = ModelFile(name="rules.dmn", content=b"<definitions/>")
    with pytest.raises(ModelInvalidError) as caught:
        store.deploy_files([bpmn_file(), the_form(), bad_form, unknown, decision])
    files = sorted(p.file or "" for p in caught.value.problems)
    assert files == ["broken.form", "rules.dmn", "upload.form"]
    messages = " | ".join(p.message for p in caught.value.problems)
    assert "not a JSON document" in messages
    assert "expected DMN definitions" in messages
    assert store.process_ids() == []
    assert store.form_versions(REVIEW_FORM_ID) == []


def test_two_forms_with_one_id_in_one_deployment_are_refused(store: ModelStore):
    other = ModelFile(name="copy.form", content=form_file(review_form(components=[])))
    with pytest.raises(ModelInvalidError) as caught:
        store.deploy_files([the_form(), other])
    [problem] = caught.value.problems
    assert problem.file == "copy.form"
    assert "also the id of review.form" in problem.message


def test_limits_on_files_and_on_a_model_with_its_forms(tmp_path: Path):
    few = ModelStore(FileBlobStore(tmp_path / "a"), limits=DeployLimits(max_files=1))
    with pytest.raises(ModelTooLargeError, match="NIVA_MODELS_MAX_FILES"):
        few.deploy_files([bpmn_file(), the_form()])
    model, form = bpmn_file(), the_form()
    # Each file fits, but a case would carry both.
    limit = max(len(model.content), len(form.content)) + 10
    small = ModelStore(FileBlobStore(tmp_path / "b"), limits=DeployLimits(max_model_bytes=limit))
    with pytest.raises(ModelTooLargeError, match="with the forms it names"):
        small.deploy_files([model, form])
    assert small.form_versions(REVIEW_FORM_ID) == []


def test_a_model_without_forms_is_unchanged(store: ModelStore):
    model = ModelFile(
        name="plain.bpmn",
        content=c8_review_model()
        .replace(f'<zeebe:formDefinition formId="{REVIEW_FORM_ID}"/>', "")
        .encode(),
    )
    [result] = store.deploy([model])
    assert result.model.forms == {}
    stored = json.loads(store.blobs.get("models/c8_review/1.json"))
    assert stored["forms"] == {}
    assert store.source("c8_review").forms == {}


def test_an_embedded_form_is_checked_when_deployed(store: ModelStore):
    good = ModelFile(name="embedded.bpmn", content=c8_embedded_model(review_form()).encode())
    [result] = store.deploy([good])
    assert result.model.forms == {}  # it travels in the BPMN file itself
    broken = review_form(components=[{"type": "filepicker", "id": "Field_f", "key": "f"}])
    bad = ModelFile(
        name="embedded.bpmn", content=c8_embedded_model(broken, process_id="other").encode()
    )
    with pytest.raises(ModelInvalidError) as caught:
        store.deploy([bad])
    [problem] = caught.value.problems
    assert problem.file == "embedded.bpmn"
    assert problem.element_id == "Field_f"
    assert problem.message.startswith("the embedded form 'userTaskForm_1' (zeebe:userTaskForm): ")
    assert "'filepicker'" in problem.message
