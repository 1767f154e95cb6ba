"""The API on a real Temporal dev server: an app per test with its own worker, task queue,
model store, document store and dev tokens file (helpers in `tests.support.api`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from temporalio.client import Client

from tests.support.api import Api, running_api
from tests.support.net import free_port


@pytest.fixture
async def api(client: Client, task_queue: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The app with a worker on the test's task queue."""
    async with running_api(client, task_queue, tmp_path) as running:
        yield running


@pytest.fixture
async def served(api: Api) -> AsyncIterator[str]:
    """The same app served by uvicorn on a free loopback port; its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(api.app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
