"""Replay recorded histories against the current workflow code, and say where they diverge.

Temporal's `Replayer` runs the workflow code over a recorded history and fails when the
code issues other commands than the history recorded (a nondeterminism error) or raises
while replaying. Its error text is written for SDK developers; `explain` turns it into a
sentence an auditor can act on: which event of which run, what the history recorded, what
the code did instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from pydantic import BaseModel, Field
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.converter import DataConverter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Replayer

from starter.audit.histories import RunHistory
from starter.payload_store import niva_data_converter
from workflows import WORKFLOWS
from workflows.sandbox import shared_runner

__all__ = ["Divergence", "ReplayResult", "explain", "replay_runs"]


class Divergence(BaseModel):
    """Where and how the current code no longer reproduces a recorded run."""

    kind: str = Field(description="nondeterminism, or failure (the code raised).")
    event_id: int | None = Field(default=None, description="The history event concerned.")
    event_type: str | None = None
    expected: str | None = Field(default=None, description="What the history recorded.")
    actual: str | None = Field(default=None, description="What the code did instead.")
    message: str = Field(description="The divergence as one readable sentence.")
    raw: str = Field(description="The SDK's error text, unabridged.")


class ReplayResult(BaseModel):
    """The outcome of replaying one run."""

    workflow_id: str
    run_id: str
    source: str
    ok: bool
    divergence: Divergence | None = None


_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_FAILURE_TYPE = re.compile(r'r#type: "([^"]*)"')
_EVENT_REF = re.compile(r"HistoryEvent\(id: (\d+), (\w+)")
_MISMATCH = re.compile(
    r"(?P<what>[\w ]+?) of scheduled event '(?P<expected>[^']*)' does not match "
    r"[\w ]+? of (?P<command>[\w ]+?) command '(?P<actual>[^']*)'"
)
_QUOTED = re.compile(r"'([^']+)'")
_FRAME = re.compile(r'File \\?"([^"\\]+)\\?", line (\d+), in (\w+)')


@functools.cache
def _quiet_runtime() -> Runtime:
    """A runtime whose core logs only errors: a divergence is reported here, once, instead
    of as a warning per failed workflow task."""
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        )
    )


def _event_type_name(event: HistoryEvent) -> str:
    name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    return "".join(part.capitalize() for part in name.split("_"))


def _mentions(event: HistoryEvent, token: str) -> bool:
    """Whether an event that carries an id names ``token`` (activity, child, timer, update)."""
    if event.HasField("activity_task_scheduled_event_attributes"):
        return event.activity_task_scheduled_event_attributes.activity_id == token
    if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
        return event.start_child_workflow_execution_initiated_event_attributes.workflow_id == token
    if event.HasField("timer_started_event_attributes"):
        return event.timer_started_event_attributes.timer_id == token
    if event.HasField("workflow_execution_update_accepted_event_attributes"):
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        return any(token.encode() in p.data for p in request.input.args.payloads)
    return False


def _locate(run: RunHistory, tokens: Sequence[str]) -> HistoryEvent | None:
    for token in tokens:
        for event in run.history.events:
            if _mentions(event, token):
                return event
    return None


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\").replace("\\n", "\n")


def explain(run: RunHistory, error: Exception) -> Divergence:
    """A readable account of a replay failure of ``run``.

    Args:
        run: the run that was replayed.
        error: the replay failure the SDK reported.
    """
    raw = str(error)
    found = _CORE_MESSAGE.search(raw)
    core = _unescape(found.group(1)) if found else raw
    nondeterministic = "Nondeterminism" in raw or "NonDeterministic" in raw
    where = f"run {run.run_id} of {run.workflow_id}"
    event: HistoryEvent | None = None
    expected = actual = None
    if (ref := _EVENT_REF.search(core)) is not None:
        event_id = int(ref.group(1))
        event = next((e for e in run.history.events if e.event_id == event_id), None)
    if (mismatch := _MISMATCH.search(core)) is not None:
        expected, actual = mismatch.group("expected"), mismatch.group("actual")
        what = mismatch.group("what").strip().lower()
        event = event or _locate(run, [expected])
        description = (
            f"the history scheduled {what} {expected!r}, the code now issues {what} {actual!r}"
        )
    elif nondeterministic:
        description = core.split("Nondeterminism error:", 1)[-1].strip()
    else:
        failure_type = _FAILURE_TYPE.search(raw)
        frames = _FRAME.findall(raw)
        own = [f for f in frames if "site-packages" not in f[0]]
        at = f" at {own[-1][0].rsplit('/', 1)[-1]}:{own[-1][1]} in {own[-1][2]}" if own else ""
        kind = failure_type.group(1) if failure_type and failure_type.group(1) else "an error"
        description = f"the code raises {kind} {core}{at} where the history continues"
        actual = f"{kind} {core}"
        event = event or _locate(run, _QUOTED.findall(core))
    if event is not None:
        where += f" diverges at event {event.event_id} ({_event_type_name(event)})"
    else:
        where += " diverges"
    return Divergence(
        kind="nondeterminism" if nondeterministic else "failure",
        event_id=event.event_id if event is not None else None,
        event_type=_event_type_name(event) if event is not None else None,
        expected=expected,
        actual=actual,
        message=f"{where}: {description}",
        raw=raw,
    )


async def replay_runs(
    runs: Sequence[RunHistory],
    *,
    workflows: Sequence[type] | None = None,
    data_converter: DataConverter | None = None,
) -> list[ReplayResult]:
    """Replay each run against the current workflow code.

    Args:
        runs: the recorded runs.
        workflows: the workflow classes to replay with; default: `workflows.WORKFLOWS`.
        data_converter: how the payloads are read; default: the worker's
            (`starter.payload_store.niva_data_converter`), so model sources and large
            payloads come from the configured document store, and encrypted payloads are
            decrypted with the configured keys. Payloads recorded inline pass through.
    """
    replayer = Replayer(
        workflows=list(workflows or WORKFLOWS),
        data_converter=data_converter or niva_data_converter(),
        workflow_runner=shared_runner(),
        runtime=_quiet_runtime(),
    )
    results = []
    for run in runs:
        outcome = await replayer.replay_workflow(run.history, raise_on_replay_failure=False)
        failure = outcome.replay_failure
        results.append(
            ReplayResult(
                workflow_id=run.workflow_id,
                run_id=run.run_id,
                source=run.source,
                ok=failure is None,
                divergence=explain(run, failure) if failure is not None else None,
            )
        )
    return results
