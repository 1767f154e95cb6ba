"""Temporal workflow code: deterministic, free of I/O, replay-safe."""

from __future__ import annotations

from workflows.probe import Probe

__all__ = ["WORKFLOWS"]

WORKFLOWS: list[type] = [Probe]
"""Every workflow class a niva worker registers."""
