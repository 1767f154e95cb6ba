"""Temporal workflow code: deterministic, free of I/O, replay-safe.

``WORKFLOWS`` (every workflow class a niva worker registers) is resolved lazily: Temporal's
default sandbox (which CI replays the recorded histories in, see `workflows.sandbox`)
re-imports this package for every workflow run it starts, so it must not import the
workflow modules itself.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WORKFLOWS"]


def __getattr__(name: str) -> Any:
    if name == "WORKFLOWS":
        from workflows.migration_batch import MigrationBatch
        from workflows.probe import Probe
        from workflows.process_instance import ProcessInstance
        from workflows.publication import MessagePublication
        from workflows.signals import SignalBroadcast

        return [ProcessInstance, Probe, MessagePublication, SignalBroadcast, MigrationBatch]
    raise AttributeError(f"module 'workflows' has no attribute {name!r}")
