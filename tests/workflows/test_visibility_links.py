"""The current details link to the case's diagram page when the API's address is known."""

from __future__ import annotations

from pathlib import Path

from process_models.deployments import ModelFile, ModelStore
from process_models.store import FileBlobStore
from tests.support.api import ONE_TASK
from tests.workflows.harness import registry_with_test_types
from workflows.interpreter import Interpreter
from workflows.model import load_model
from workflows.state import InstanceState
from workflows.visibility import details_markdown, diagram_link


def test_diagram_link_names_the_case_page_on_the_api():
    link = diagram_link("https://niva.example/api/", "se_nhv_designation:NHV 2026/17")

    assert link == (
        "[Diagram of the case](https://niva.example/api/instances/"
        "se_nhv_designation:NHV%202026%2F17/diagram)"
    )
    assert diagram_link(None, "p:k") is None
    assert diagram_link("", "p:k") is None


def test_details_end_with_the_diagram_link_only_when_given(tmp_path: Path):
    store = ModelStore(FileBlobStore(tmp_path), registry=registry_with_test_types())
    store.deploy([ModelFile(name="one.bpmn", content=ONE_TASK.encode())])
    state = InstanceState(process_id="api_one", version=1, business_key="k", title="Case k")
    interpreter = Interpreter(load_model(store.source("api_one")), state)
    link = diagram_link("http://127.0.0.1:8000", "api_one:k")

    with_link = details_markdown(interpreter, diagram=link)
    without = details_markdown(interpreter)

    assert with_link == f"{without}\n\n{link}"
    assert "instances/api_one:k/diagram" in with_link
