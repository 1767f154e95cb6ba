"""Camunda 8 models from public repositories deploy unmodified.

The files under ``tests/data/camunda8/<repository>/`` are copied byte for byte from
repositories whose license allows it (each folder holds the license and a SOURCES.md naming
the repository, the commit and each file's path). Each deploys alone, as a modeller who
downloads it would deploy it: a call activity of a process deployed later is a warning.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from process_models.deployments import ModelFile, ModelStore
from process_models.errors import ModelInvalidError
from process_models.store import FileBlobStore

DATA = Path(__file__).resolve().parents[1] / "data" / "camunda8"
MODELS = sorted(p for p in DATA.glob("*/*.bpmn"))


def test_there_are_at_least_ten_models_each_with_its_source_and_license():
    assert len(MODELS) >= 10
    for folder in {p.parent for p in MODELS}:
        sources = (folder / "SOURCES.md").read_text()
        assert list(folder.glob("LICENSE*")), folder
        for model in folder.glob("*.bpmn"):
            assert f"`{model.name}`" in sources, model


@pytest.mark.parametrize("path", MODELS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_model_deploys_unmodified(path: Path, tmp_path: Path):
    store = ModelStore(FileBlobStore(tmp_path), reference=dict)
    try:
        results = store.deploy([ModelFile(name=path.name, content=path.read_bytes())])
    except ModelInvalidError as exc:
        pytest.fail("\n".join(p.format() for p in exc.problems))
    assert results, "no executable process"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert all(r.model.content_hash == digest for r in results)
