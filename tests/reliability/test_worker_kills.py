"""Workers killed with SIGKILL while cases run: nothing is lost, nothing is doubled.

Workers run as ``niva worker`` subprocesses on the session's dev server. A driver completes
every open task through the ``complete_task`` update, retrying each error with the same
idempotency key, while a killer SIGKILLs the worker at three kinds of moments in turn:
right after an update was sent (the worker is handling it), right after the SMTP server
received a message (``notify`` is between delivery and its sent-log marker) and at random.
Each kill is followed by a new worker. At the end every case must have completed, every
user task's completion be recorded exactly once, every notification have arrived (repeats
allowed, always under the same Message-ID) and every document be stored once.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.reliability.figures import record_figures
from tests.reliability.support import (
    DriverFigures,
    Losses,
    WorkerProcess,
    check_cases,
    check_mail,
    deploy_model,
    drive_case,
    smtp_env,
    start_cases,
    target_host,
)
from tests.support.mail import Mailbox

MODES = ("update", "activity", "random")


@dataclass
class KillRun:
    kills: int
    figures: DriverFigures
    losses: Losses
    repeats: int
    by_mode: dict[str, int]


async def _wait_for(predicate, within: float) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while loop.time() < end:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return False


async def run_kills(
    env: WorkflowEnvironment,
    data_dir: Path,
    mailbox: Mailbox,
    *,
    cases: int,
    kills: int,
    spacing: float,
    budget_seconds: float,
    seed: int,
) -> KillRun:
    """Drive ``cases`` cases to their end while killing the worker ``kills`` times."""
    client = env.client
    store = deploy_model(data_dir)
    task_queue = f"rel-kill-{seed}-{random.randrange(1 << 30):x}"
    worker = WorkerProcess(
        address=target_host(client),
        data_dir=data_dir,
        task_queue=task_queue,
        log_path=data_dir / "worker.log",
        extra_env=smtp_env(mailbox),
    )
    rng = random.Random(seed)
    figures = DriverFigures()
    by_mode = dict.fromkeys(MODES, 0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_seconds
    worker.start()
    drivers: list[asyncio.Task[None]] = []

    def drive(handle) -> None:
        drivers.append(
            asyncio.create_task(
                drive_case(handle, figures, deadline=deadline, think=(0.5, 4.0), seed=seed)
            )
        )

    # Cases start over the whole run, so the kills meet cases at every stage.
    starting = asyncio.create_task(
        start_cases(client, store, task_queue, cases, "example.org", spacing=spacing, started=drive)
    )
    try:
        for index in range(kills):
            mode = MODES[index % len(MODES)]
            # Let the new worker come up and make progress before the next kill.
            await asyncio.sleep(rng.uniform(2.0, 4.0))
            if mode == "update":
                sent = figures.requests
                await _wait_for(lambda sent=sent: figures.requests > sent, 20)
                await asyncio.sleep(rng.uniform(0.0, 0.15))
            elif mode == "activity":
                seen = len(mailbox.envelopes)
                await _wait_for(lambda seen=seen: len(mailbox.envelopes) > seen, 20)
            else:
                await asyncio.sleep(rng.uniform(0.0, 2.0))
            worker.kill()
            by_mode[mode] += 1
            worker.start()
        handles = await starting
        await asyncio.gather(*drivers)
        losses = Losses()
        await check_cases(handles, data_dir, losses)
        mail = check_mail(mailbox, handles, losses)
    finally:
        for task in [starting, *drivers]:
            task.cancel()
        worker.stop()
    return KillRun(
        kills=worker.kills,
        figures=figures,
        losses=losses,
        repeats=mail.repeats,
        by_mode=by_mode,
    )


def _report(section: str, run: KillRun, cases: int) -> None:
    modes = ", ".join(f"{n} {mode}" for mode, n in run.by_mode.items())
    record_figures(
        section,
        "worker SIGKILL",
        faults=run.kills,
        requests=run.figures.requests,
        cases=cases,
        losses=run.losses.count(),
        notes=f"kills: {modes}; {run.figures.errors} errors retried, "
        f"{run.figures.duplicates} duplicate answers, {run.repeats} mail repeats "
        f"(same Message-ID), {run.losses.stray_temporary_files} temporary files left by kills",
    )


def _assert_nothing_lost(run: KillRun, kills: int) -> None:
    assert run.kills >= kills
    assert run.losses.count() == 0, run.losses
    # A completion answered twice (a retry after a lost answer) names the same result.
    assert all(n >= 1 for n in run.figures.completions.values())


async def test_worker_sigkill_loses_nothing(
    temporal_env: WorkflowEnvironment, data_dir: Path, mailbox: Mailbox
):
    cases, kills = 10, 6
    run = await run_kills(
        temporal_env,
        data_dir,
        mailbox,
        cases=cases,
        kills=kills,
        spacing=2.0,
        budget_seconds=150,
        seed=7,
    )
    _report("bounded", run, cases)
    _assert_nothing_lost(run, kills)


@pytest.mark.soak
async def test_worker_sigkill_soak_loses_nothing(
    temporal_env: WorkflowEnvironment, data_dir: Path, mailbox: Mailbox
):
    cases, kills = 80, 60
    run = await run_kills(
        temporal_env,
        data_dir,
        mailbox,
        cases=cases,
        kills=kills,
        spacing=4.0,
        budget_seconds=2700,
        seed=11,
    )
    _report("soak", run, cases)
    _assert_nothing_lost(run, kills)
