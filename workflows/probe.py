"""A readiness probe: proves that a worker picks up and completes workflow tasks.

`niva dev` and ``niva worker --check`` run it once after start-up. A poller on the task
queue only shows that a worker is connected; a completed probe shows that the worker's
workflow sandbox, data converter and task queue work end to end.
"""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow

__all__ = ["Probe", "ProbeInput", "ProbeResult"]


class ProbeInput(BaseModel):
    """What the caller sends; echoed back so the round trip is checked."""

    nonce: str


class ProbeResult(BaseModel):
    """The echoed nonce and the worker's task queue."""

    nonce: str
    task_queue: str


@workflow.defn(name="niva.Probe")
class Probe:
    """Echoes its input: one workflow task, no history beyond start and completion."""

    @workflow.run
    async def run(self, probe: ProbeInput) -> ProbeResult:
        """Return the nonce together with the task queue that served it."""
        return ProbeResult(nonce=probe.nonce, task_queue=workflow.info().task_queue)
