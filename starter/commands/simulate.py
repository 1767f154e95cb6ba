"""``niva models simulate``: run one scripted case of a model on the time-skipping server.

Exit codes: 0 the case ended, or waits at the horizon; 1 it strands (runs with nothing to
wait for), fails or parks in an incident; 2 a bad scenario or model.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import warnings
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer

from process_models.deployments import ModelFile
from process_models.errors import BpmnReadError, ModelInvalidError, ModelTooLargeError

__all__ = ["simulate_command"]

_T = TypeVar("_T")


def simulate_command(
    model: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The BPMN file")
    ],
    scenario: Annotated[
        Path,
        typer.Option(
            "--scenario", exists=True, dir_okay=False, readable=True, help="The scenario (YAML)"
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {events, outcome, stranded} as JSON")
    ] = False,
    shift_years: Annotated[
        int,
        typer.Option(
            "--shift-years",
            min=0,
            help="Move the scenario's dates (start, messages, dates in variables and "
            "payloads) this many whole years on, e.g. to run one whose start has passed",
        ),
    ] = 0,
) -> None:
    """Run one case of MODEL as SCENARIO scripts it and print its calendar.

    The case runs on Temporal's time-skipping test server, started for the run and stopped
    after it, with activities that record what they would send, render or write. The
    calendar lists every task opened and completed with its due date, timers fired,
    messages, documents, notifications and the end, dates in the process's zone. Progress
    goes to stderr. Exit 0 when the case ended or waits at the horizon, 1 when it strands,
    fails or parks in an incident, 2 on a bad scenario or model.
    """
    # Imported here: the other model commands must not pay for Temporal's worker.
    from temporalio.service import RPCError

    from starter.simulation import ScenarioError, calendar_table, load_scenario, simulate
    from starter.simulation.run import SimulationStuckError

    try:
        script = load_scenario(scenario).shift_years(shift_years)
    except ScenarioError as exc:
        _problems(exc.problems)
        raise typer.Exit(2) from None

    def progress(line: str) -> None:
        typer.echo(f"niva models simulate: {line}", err=True)

    file = ModelFile(name=str(model), content=model.read_bytes())
    try:
        with warnings.catch_warnings():
            # The sandbox notes modules its first workflow imported late; nothing to act on.
            warnings.filterwarnings("ignore", category=UserWarning, module="temporalio")
            result = asyncio.run(_interruptible(simulate(file, script, progress=progress)))
    except _Interrupted:
        _problems(["niva models simulate: interrupted; the test server is stopped"])
        raise typer.Exit(130) from None
    except ScenarioError as exc:
        _problems([f"{scenario}: {problem}" for problem in exc.problems])
        raise typer.Exit(2) from None
    except (ModelInvalidError, BpmnReadError) as exc:
        problems = exc.problems if isinstance(exc, ModelInvalidError) else [exc.problem]
        _problems([p.format() for p in problems])
        raise typer.Exit(2) from None
    except ModelTooLargeError as exc:
        _problems([str(exc)])
        raise typer.Exit(2) from None
    except (SimulationStuckError, RPCError) as exc:
        _problems([f"niva models simulate: the simulation failed: {exc}"])
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        for line in calendar_table(result, ZoneInfo(result.timezone)):
            typer.echo(line)
    sys.stdout.flush()
    raise typer.Exit(result.exit_code)


class _Interrupted(Exception):
    """Ctrl-C or SIGTERM stopped the simulation (after it stopped its test server)."""


async def _interruptible(run: Coroutine[Any, Any, _T]) -> _T:
    """Run ``run``; on SIGINT or SIGTERM cancel it, so that it stops its worker and test
    server on the way out, and raise `_Interrupted` whatever it raised then."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(run)
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt)
    try:
        return await task
    except BaseException as exc:
        # A cancelled Temporal call surfaces as its own error type: an interrupt is an
        # interrupt whatever the simulation raised on its way out.
        if interrupted:
            raise _Interrupted from exc
        raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _problems(problems: list[str]) -> None:
    for problem in problems:
        typer.echo(problem, err=True)
