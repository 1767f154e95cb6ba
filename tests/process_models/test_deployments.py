"""Deployments: versions per process, identical content kept, all-or-nothing, snapshots."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from process_models.deployments import ModelFile, ModelStore, process_timezone, version_tag_key
from process_models.errors import ModelInvalidError, UnknownModelError
from process_models.schema import Process
from process_models.store import FileBlobStore
from tests.workflows.harness import bpmn


def model(process_id: str = "p", *, tag: str | None = None, task: str = "Review") -> str:
    extension = (
        f'<bpmn:extensionElements><niva:versionTag value="{tag}"/></bpmn:extensionElements>'
        if tag
        else ""
    )
    return bpmn(f"""
    <bpmn:process id="{process_id}" name="Process {process_id}" isExecutable="true">
      {extension}
      <bpmn:startEvent id="s"/>
      <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="{task}"/>
      <bpmn:userTask id="{task}"/>
      <bpmn:sequenceFlow id="f2" sourceRef="{task}" targetRef="e"/>
      <bpmn:endEvent id="e"/>
    </bpmn:process>
    """)


def file(text: str, name: str = "m.bpmn") -> ModelFile:
    return ModelFile(name=name, content=text.encode())


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(FileBlobStore(tmp_path), reference=lambda: {"calendar": [1, 2]})


def test_versions_count_per_process_and_identical_content_is_kept(store: ModelStore):
    [first] = store.deploy([file(model())])
    assert (first.model.version, first.created) == (1, True)
    [same] = store.deploy([file(model())])
    assert (same.model.version, same.created) == (1, False)
    [changed] = store.deploy([file(model(task="Check"))])
    assert (changed.model.version, changed.created) == (2, True)
    [other] = store.deploy([file(model("q"))])
    assert other.model.version == 1
    assert [m.key for m in store.latest()] == ["p/2", "q/1"]
    assert store.get("p", 1).content_hash == first.model.content_hash
    assert store.bpmn(store.get("p")) == model(task="Check").encode()


def test_version_tags_order_one_deployment(store: ModelStore):
    results = store.deploy(
        [file(model(tag="2024"), "v2.bpmn"), file(model(tag="2019", task="Old"), "v1.bpmn")]
    )
    assert [(r.model.version_tag, r.model.version) for r in results] == [("2019", 1), ("2024", 2)]
    assert store.get("p").file_name == "v2.bpmn"


def test_version_tag_natural_order():
    assert version_tag_key("2") < version_tag_key("10")
    assert version_tag_key("2024") < version_tag_key("2024.1")
    assert version_tag_key(None) < version_tag_key("1")


def test_invalid_file_deploys_nothing_and_reports_every_file(store: ModelStore):
    broken = model().replace('targetRef="e"', 'targetRef="missing"')
    with pytest.raises(ModelInvalidError) as caught:
        store.deploy(
            [file(model("q"), "good.bpmn"), file(broken, "bad.bpmn"), file("<x/>", "junk.bpmn")]
        )
    files = {p.file for p in caught.value.problems}
    assert files == {"bad.bpmn", "junk.bpmn"}
    assert store.process_ids() == []


def reading(expression: str, process_id: str = "p", task: str = "Review") -> str:
    """A model whose one timer's date is ``expression``."""
    return model(process_id, task=task).replace(
        f'<bpmn:userTask id="{task}"/>',
        f"""<bpmn:userTask id="{task}"/>
      <bpmn:boundaryEvent id="Due" attachedToRef="{task}">
        <bpmn:timerEventDefinition><bpmn:timeDate>{expression}</bpmn:timeDate></bpmn:timerEventDefinition>
      </bpmn:boundaryEvent>
      <bpmn:sequenceFlow id="f3" sourceRef="Due" targetRef="e"/>""",
    )


def test_reference_snapshot_is_taken_at_deployment(tmp_path: Path):
    data = {"calendar": ["2024-03-13"]}
    store = ModelStore(FileBlobStore(tmp_path), reference=lambda: dict(data))
    store.deploy([file(reading("=date(reference.calendar[0])"))])
    data["calendar"] = ["2025-03-12"]
    store.deploy([file(reading("=date(reference.calendar[0])", task="Other"))])
    assert store.get("p", 1).reference == {"calendar": ["2024-03-13"]}
    assert store.source("p", 2).reference == {"calendar": ["2025-03-12"]}


@pytest.mark.parametrize(
    ("expression", "kept"),
    [
        ("=date(reference.calendar[0])", {"calendar"}),
        ("=date(reference['calendar'][0])", {"calendar"}),
        ('=date(reference [ "calendar" ][0]) + duration(reference.pause)', {"calendar", "pause"}),
        ("=now + duration('P1D')", set()),
        ("=date(reference[string(1)][0])", {"calendar", "pause", "organisations"}),
        ("=size(reference) > 0 ? now : now", {"calendar", "pause", "organisations"}),
    ],
)
def test_snapshot_keeps_the_entries_the_expressions_read(
    tmp_path: Path, expression: str, kept: set[str]
):
    data = {"calendar": ["2024-03-13"], "pause": "P1D", "organisations": [{"id": "SE-AB"}]}
    store = ModelStore(FileBlobStore(tmp_path), reference=lambda: dict(data))
    store.deploy([file(reading(expression))])
    assert set(store.get("p").reference) == kept
    assert set(store.source("p").reference) == kept


def test_unknown_process_and_version_say_what_exists(store: ModelStore):
    store.deploy([file(model())])
    with pytest.raises(UnknownModelError, match=r"deployed: p"):
        store.get("nope")
    with pytest.raises(UnknownModelError, match=r"versions 1 to 1"):
        store.get("p", 7)


def test_concurrent_deployments_get_distinct_versions(tmp_path: Path):
    stores = [ModelStore(FileBlobStore(tmp_path), reference=dict) for _ in range(4)]
    results: list[int] = []

    def deploy(i: int) -> None:
        [result] = stores[i].deploy([file(model(task=f"T{i}"))])
        results.append(result.model.version)

    threads = [threading.Thread(target=deploy, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [1, 2, 3, 4]


def test_call_activity_may_name_a_process_of_the_same_deployment(store: ModelStore):
    parent = bpmn("""
    <bpmn:process id="parent" isExecutable="true">
      <bpmn:startEvent id="s"/>
      <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="c"/>
      <bpmn:callActivity id="c"><bpmn:extensionElements><niva:calledElement processId="p"/></bpmn:extensionElements></bpmn:callActivity>
      <bpmn:sequenceFlow id="f2" sourceRef="c" targetRef="e"/>
      <bpmn:endEvent id="e"/>
    </bpmn:process>
    """)
    together = store.deploy([file(parent), file(model())])
    assert {r.model.process_id for r in together} == {"parent", "p"}
    assert all(r.warnings == [] for r in together)


def test_call_activity_of_a_process_not_deployed_deploys_with_a_warning(store: ModelStore):
    parent = bpmn("""
    <bpmn:process id="parent" isExecutable="true">
      <bpmn:startEvent id="s"/>
      <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="c"/>
      <bpmn:callActivity id="c"><bpmn:extensionElements><niva:calledElement processId="later"/></bpmn:extensionElements></bpmn:callActivity>
      <bpmn:sequenceFlow id="f2" sourceRef="c" targetRef="e"/>
      <bpmn:endEvent id="e"/>
    </bpmn:process>
    """)
    [result] = store.deploy([file(parent, name="parent.bpmn")])
    [warning] = result.warnings
    assert (warning.file, warning.element_id) == ("parent.bpmn", "c")
    assert "'later'" in warning.message


def test_process_time_zone_defaults():
    assert process_timezone(Process(id="se_nhv_designation")) == "Europe/Stockholm"
    assert process_timezone(Process(id="no_national_service_lifecycle")) == "Europe/Oslo"
    assert process_timezone(Process(id="x", timezone="Europe/Helsinki")) == "Europe/Helsinki"
    assert process_timezone(Process(id="x")) == "UTC"


def test_latin1_file_reaches_cases_as_utf8(store: ModelStore):
    text = model().replace('name="Process p"', 'name="Ärende"').replace("UTF-8", "ISO-8859-1")
    store.deploy([ModelFile(name="latin.bpmn", content=text.encode("latin-1"))])
    source = store.source("p")
    assert "Ärende" in source.bpmn
    assert store.bpmn(store.get("p")) == text.encode("latin-1")


def test_blob_store_is_write_once(tmp_path: Path):
    blobs = FileBlobStore(tmp_path)
    assert blobs.put_if_absent("a/b.txt", b"one")
    assert not blobs.put_if_absent("a/b.txt", b"two")
    assert blobs.get("a/b.txt") == b"one"
    assert blobs.list("a/") == ["a/b.txt"]
    with pytest.raises(ValueError, match="invalid store key"):
        blobs.put_if_absent("../escape", b"x")
    with pytest.raises(KeyError):
        blobs.get("a/missing")
