"""A job worker for tests: plain async functions served as activities named by task type.

It is what any job worker is: a Temporal worker on the job workers' task queue that
registers one activity per task type. A handler receives the `service_contract.JobCall`
and returns the result variables (or raises `bpmn_error` / any other exception).

A test module whose cases hand jobs to it imports the fixtures `jobs_queue_fixture`,
`time_skipping_client` and `job_worker_cases`, which its tests request as ``jobs_queue``
(the queue, set as a deployment sets it), ``client`` (the session's time-skipping server)
and ``cases`` (the engine's worker on the test's task queue).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from service_contract import BPMN_ERROR_TYPE, JobCall
from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, running_cases

__all__ = [
    "JobHandler",
    "JobWorker",
    "job_bpmn_error",
    "job_worker_cases",
    "jobs_queue_fixture",
    "returning",
    "running_job_worker",
    "time_skipping_client",
]

JobHandler = Callable[[JobCall], Awaitable[dict[str, Any] | None]]
"""What a job type does: the job in, its result variables out."""


def job_bpmn_error(
    code: str, message: str | None = None, variables: dict[str, Any] | None = None
) -> ApplicationError:
    """A BPMN error as the contract spells it, written out as a worker in any SDK would."""
    detail: dict[str, Any] = {"code": code}
    if message is not None:
        detail["message"] = message
    if variables is not None:
        detail["variables"] = variables
    return ApplicationError(message or code, detail, type=BPMN_ERROR_TYPE, non_retryable=True)


class JobWorker:
    """Handlers by task type; every job it runs is kept in `calls`, in order."""

    def __init__(self, handlers: Mapping[str, JobHandler]) -> None:
        self.handlers = dict(handlers)
        self.calls: list[JobCall] = []

    def activities(self) -> list[Callable[..., Any]]:
        """One activity per task type, named by it."""
        return [self._activity(task_type, handler) for task_type, handler in self.handlers.items()]

    def _activity(self, task_type: str, handler: JobHandler) -> Callable[..., Any]:
        async def run(job: JobCall) -> dict[str, Any] | None:
            self.calls.append(job)
            return await handler(job)

        return activity.defn(name=task_type)(run)

    def attempts(self, task_type: str) -> int:
        """How many times jobs of ``task_type`` ran."""
        return sum(1 for call in self.calls if call.type == task_type)


@asynccontextmanager
async def running_job_worker(
    client: Client, task_queue: str, jobs: JobWorker
) -> AsyncIterator[JobWorker]:
    """Poll ``task_queue`` for the jobs' activities until the block ends."""
    async with Worker(client, task_queue=task_queue, activities=jobs.activities()):
        yield jobs


def returning(**variables: Any) -> JobHandler:
    """A handler that answers every job with ``variables``."""

    async def handler(job: JobCall) -> dict[str, Any]:
        return dict(variables)

    return handler


@pytest.fixture(name="jobs_queue")
def jobs_queue_fixture(task_queue: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The job workers' queue of this test, set as a deployment sets it."""
    queue = f"{task_queue}-jobs"
    monkeypatch.setenv("NIVA_WORKER_JOBS_TASK_QUEUE", queue)
    return queue


@pytest.fixture(name="client")
def time_skipping_client(time_skipping_env: WorkflowEnvironment) -> Client:
    """The session's time-skipping server, as the engine's error-path tests use."""
    return time_skipping_env.client


@pytest.fixture(name="cases")
async def job_worker_cases(
    client: Client, task_queue: str, jobs_queue: str, tmp_path: Path
) -> AsyncIterator[Cases]:
    """The engine's worker, started once ``jobs_queue`` is set so its cases hand jobs
    there."""
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running
