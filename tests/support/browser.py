"""Debian's chromium through Playwright, for the tests that check a page in a real browser.

`playwright_or_skip` gives Playwright's async API or skips the test, saying why (no
chromium, no playwright); `chromium_page` opens one page in a headless chromium and closes
it, skipping when chromium is installed but cannot be started; `served_app` serves an ASGI
app over HTTP on loopback for the browser to load.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from tests.support.net import free_port

__all__ = [
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "chromium_executable",
    "chromium_page",
    "playwright_or_skip",
    "served_app",
]

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium (``apt-get install chromium``)."""

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
"""Flags for a headless chromium in a container: no sandbox (tests may run as root), and
nothing that reaches the network on its own."""


def playwright_or_skip() -> Any:
    """Playwright's async API, or a skip that says why the browser cannot be used."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM}); apt-get install chromium")
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        pytest.skip(f"playwright is not installed ({exc}); pip install -e '.[test]'")
    return async_playwright


def chromium_executable() -> str:
    """`CHROMIUM`, or the ``chromium`` found on PATH where Debian's path is not used."""
    return str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium") or str(CHROMIUM)


@contextlib.asynccontextmanager
async def chromium_page(*, width: int = 1280, height: int = 900) -> AsyncIterator[Any]:
    """A new page of a headless chromium with a ``width`` × ``height`` viewport."""
    async_playwright = playwright_or_skip()
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(
                executable_path=chromium_executable(), args=CHROMIUM_FLAGS, headless=True
            )
        except Exception as exc:  # a broken chromium install, not a broken niva
            pytest.skip(f"chromium cannot be started by playwright: {exc}")
        try:
            yield await browser.new_page(viewport={"width": width, "height": height})
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def served_app(app: FastAPI, *, lifespan: bool = False) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a free loopback port (its lifespan run or not); the base
    URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=free_port(),
            log_config=None,
            lifespan="on" if lifespan else "off",
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await serving
