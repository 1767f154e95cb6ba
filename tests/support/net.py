"""Loopback networking for tests: a free port, and waiting for a condition."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Wait for a condition that Temporal's visibility store reaches with a delay."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.2)
