"""What a deployment accepts: file size, flow elements, timer cycles and process ids, each
refused before anything is stored, with the setting that moves the limit."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from process_models.bpmn import read_bpmn
from process_models.deployments import DeployLimits, ModelFile, ModelStore
from process_models.errors import ModelInvalidError, ModelTooLargeError
from process_models.ids import MAX_ID_LENGTH, id_problem, normalised_id
from process_models.shipped import shipped_model_files
from process_models.store import FileBlobStore
from process_models.validation import validate
from tests.support.large_models import linear_model
from tests.workflows.harness import bpmn


def store_with(tmp_path: Path, limits: DeployLimits | None = None) -> ModelStore:
    return ModelStore(FileBlobStore(tmp_path), reference=dict, limits=limits)


def cycle_model(cycle: str, *, process_id: str = "cyclic") -> bytes:
    """A boundary timer cycle on a user task."""
    return bpmn(f"""
<bpmn:process id="{process_id}" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review"/>
  <bpmn:boundaryEvent id="Remind" attachedToRef="Review" cancelActivity="false">
    <bpmn:timerEventDefinition><bpmn:timeCycle>{cycle}</bpmn:timeCycle></bpmn:timerEventDefinition>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="Remind" targetRef="Reminded"/>
  <bpmn:endEvent id="Reminded"/>
  <bpmn:sequenceFlow id="f3" sourceRef="Review" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""").encode()


# --- size and elements -------------------------------------------------------------------


def test_model_over_the_byte_limit_is_refused_before_it_is_read(tmp_path: Path):
    store = store_with(tmp_path, DeployLimits(max_model_bytes=10_000))
    content = linear_model(1_001)
    assert len(content) > 10_000
    with pytest.raises(ModelTooLargeError) as caught:
        store.deploy([ModelFile(name="big.bpmn", content=content)])
    assert "big.bpmn" in str(caught.value)
    assert "NIVA_MODELS_MAX_BYTES" in str(caught.value)
    assert (caught.value.size, caught.value.limit) == (len(content), 10_000)
    assert store.process_ids() == []


def test_default_byte_limit_is_one_mebibyte(tmp_path: Path):
    padding = b"<!--" + b"x" * (1024 * 1024) + b"-->"
    content = cycle_model("R/P1D").replace(b"</bpmn:definitions>", padding + b"</bpmn:definitions>")
    with pytest.raises(ModelTooLargeError):
        store_with(tmp_path).deploy([ModelFile(name="m.bpmn", content=content)])


def test_process_over_the_element_limit_is_a_problem(tmp_path: Path):
    store = store_with(tmp_path, DeployLimits(max_elements=100))
    with pytest.raises(ModelInvalidError) as caught:
        store.deploy([ModelFile(name="big.bpmn", content=linear_model(101))])
    (problem,) = caught.value.problems
    assert (problem.element_id, problem.file) == ("big", "big.bpmn")
    assert "101 flow elements, more than the 100" in problem.message
    assert "NIVA_MODELS_MAX_ELEMENTS" in problem.message
    assert store.process_ids() == []
    assert [
        r.model.process_id
        for r in store.deploy([ModelFile(name="ok.bpmn", content=linear_model(99))])
    ] == ["big"]


def test_default_element_limit_is_five_thousand(tmp_path: Path):
    store = store_with(tmp_path)
    with pytest.raises(ModelInvalidError):
        store.deploy([ModelFile(name="big.bpmn", content=linear_model(5_001))])
    assert store.deploy([ModelFile(name="ok.bpmn", content=linear_model(4_999))])


# --- timer cycles --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cycle", ["R/PT1S", "R/PT59S", "R5/PT0.000001S", "R/2027-01-01T00:00:00Z/PT10S"]
)
def test_cycle_shorter_than_a_minute_is_a_problem(cycle: str):
    problems = validate(read_bpmn(cycle_model(cycle)))
    assert [p.element_id for p in problems] == ["Remind"]
    assert "NIVA_LIMITS_MIN_CYCLE_SECONDS" in problems[0].message
    assert "1 min" in problems[0].message


@pytest.mark.parametrize("cycle", ["R/PT1M", "R/PT60S", "R3/PT5M", "R/P1D", "R/P1M"])
def test_cycle_of_a_minute_or_more_is_valid(cycle: str):
    assert validate(read_bpmn(cycle_model(cycle))) == []


def test_minimum_cycle_follows_the_deploy_limits(tmp_path: Path):
    with pytest.raises(ModelInvalidError):
        store_with(tmp_path).deploy([ModelFile(name="m.bpmn", content=cycle_model("R/PT2S"))])
    relaxed = store_with(tmp_path, DeployLimits(min_cycle_seconds=1))
    (result,) = relaxed.deploy([ModelFile(name="m.bpmn", content=cycle_model("R/PT2S"))])
    assert result.created


def test_shipped_models_keep_within_every_default_limit(tmp_path: Path):
    files = shipped_model_files()
    assert files
    assert store_with(tmp_path).deploy(files)


# --- ids -----------------------------------------------------------------------------------


def test_process_id_with_a_separator_does_not_deploy(tmp_path: Path):
    for bad in ("a:b", "a#b", "a/b"):
        with pytest.raises(ModelInvalidError) as caught:
            store_with(tmp_path).deploy(
                [ModelFile(name="m.bpmn", content=cycle_model("R/P1D", process_id=bad))]
            )
        assert [p.element_id for p in caught.value.problems] == [bad]
        assert "reserved as separators" in caught.value.problems[0].message


@pytest.mark.parametrize(
    "value",
    [
        "SOS-2026-0042",
        "se_nhv_permit",
        "Överklagande 12",
        "Ärende.v2",
        "x" * MAX_ID_LENGTH,
        "日本",
    ],
)
def test_ids_that_are_valid(value: str):
    assert id_problem(value) is None
    assert normalised_id(value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        ("x" * (MAX_ID_LENGTH + 1), "more than"),
        (" DUP", "whitespace"),
        ("DUP ", "whitespace"),
        ("DUP\n", "whitespace"),
        ("a:b", "':'"),
        ("a#2", "'#'"),
        ("a/b", "'/'"),
        ("a\\b", "'\\\\'"),
        ("DUP\u200b", "U+200B"),
        ("\u202eDUP", "U+202E"),
        ("DU\u2066P", "U+2066"),
        ("\ufeffDUP", "U+FEFF"),
        ("D\x00UP", "U+0000"),
        ("D\x07UP", "U+0007"),
        ("DUP\u00a0X", "U+00A0"),
        ("D\u2028UP", "U+2028"),
        ("D\ue000UP", "U+E000"),
        ("D\ud800UP", "U+D800"),
    ],
)
def test_ids_that_are_refused(value: str, reason: str):
    problem = id_problem(value, what="business key")
    assert problem is not None
    assert reason in problem
    assert "business key" in problem
    with pytest.raises(ValueError, match="business key"):
        normalised_id(value, what="business key")


def test_ids_are_compared_in_nfc():
    decomposed = unicodedata.normalize("NFD", "Ärende")
    assert decomposed != "Ärende"
    assert "NFC" in (id_problem(decomposed) or "")
    assert normalised_id(decomposed) == "Ärende"
