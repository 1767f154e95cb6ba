"""The reliability suite: its bounded form runs with every ``pytest``; ``make soak`` runs
the long form (``-m soak``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.reliability.support import smtp_mailbox
from tests.support.api import Api, running_api
from tests.support.mail import Mailbox


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A loopback SMTP server keeping every message."""
    with smtp_mailbox() as box:
        yield box


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory of its own for the workers of one test."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
async def api(client: Client, task_queue: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The API app with a worker on the test's task queue."""
    async with running_api(client, task_queue, tmp_path) as running:
        yield running
