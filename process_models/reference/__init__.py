"""Reference data as files: organisations, calendars, lists the processes read.

Each ``*.yaml`` file in this folder is one entry of the reference data, named by its stem
(``organisations.yaml`` → ``reference.organisations`` in CEL). Workflow code never reads
these files: a deployment snapshots them into the deployed model, so a later edit changes
new versions only, never a running case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["REFERENCE_DIR", "load_reference"]

REFERENCE_DIR = Path(__file__).resolve().parent


def load_reference(directory: Path = REFERENCE_DIR) -> dict[str, Any]:
    """Every YAML file of ``directory`` by stem, in name order; a broken file raises
    `ValueError` naming it."""
    data: dict[str, Any] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            data[path.stem] = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ValueError(f"reference data {path} is not valid YAML: {exc}") from exc
    return data
