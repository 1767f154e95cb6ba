"""The process models niva ships (``se/*.bpmn``, ``no/*.bpmn``), ready to deploy."""

from __future__ import annotations

from pathlib import Path

from process_models.deployments import ModelFile

__all__ = ["SHIPPED_DIRS", "shipped_model_files"]

SHIPPED_DIRS: tuple[Path, ...] = tuple(
    Path(__file__).resolve().parent / jurisdiction for jurisdiction in ("se", "no")
)


def shipped_model_files() -> list[ModelFile]:
    """Every shipped BPMN file, by jurisdiction and name."""
    return [
        ModelFile(name=f"{path.parent.name}/{path.name}", content=path.read_bytes())
        for directory in SHIPPED_DIRS
        for path in sorted(directory.glob("*.bpmn"))
    ]
