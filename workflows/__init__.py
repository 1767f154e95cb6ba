"""Temporal workflow code: deterministic, free of I/O, replay-safe."""

from __future__ import annotations

from workflows.probe import Probe
from workflows.process_instance import ProcessInstance

__all__ = ["WORKFLOWS"]

WORKFLOWS: list[type] = [ProcessInstance, Probe]
"""Every workflow class a niva worker registers."""
