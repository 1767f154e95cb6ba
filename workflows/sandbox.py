"""The sandbox niva's workflows run in.

Temporal's sandbox does two things: it restricts what workflow code may call (the wall
clock, I/O, random numbers, threads) and it re-imports the module that defines each
workflow for every run, so that module-level state cannot leak from one run into the next.
The re-import is what a case pays for on every start, every cache miss and every replayed
history: it re-executes `workflows.process_instance` (the class, its handler decorators,
and the definition check of every handler's type hints), and each cached case keeps its own
copy of the module's code and class.

niva's workflow modules hold no module-level state (constants and pure functions only;
the one process-wide cache, `workflows.model.load_model`, is keyed by immutable content),
so the workers pass the `workflows` package through, and `process_models`, which the
workflows already import passed through: an import inside a `process_models` function that
a workflow calls would otherwise load the module and its package afresh in every run's
sandbox. Under load such an import can outlast Temporal's two-second deadlock detector,
which then raises an exception in the workflow thread wherever it stands; raised inside
Python's import machinery it can leave a module's import lock held, and every later import
of that module, in any workflow thread, waits for ever (the worker stops running cases).
The call restrictions still apply to everything the sandbox imports. The determinism of the
workflow code is checked where the isolation is strict: `tests/workflows/test_replay.py`
replays every recorded history with Temporal's default sandbox, which re-imports and
restricts `workflows.process_instance`.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

__all__ = ["shared_runner"]


def shared_runner() -> SandboxedWorkflowRunner:
    """The sandbox of niva's workers and replayers: default restrictions, the `workflows`
    and `process_models` packages passed through instead of re-imported per run."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "workflows", "process_models"
        )
    )
