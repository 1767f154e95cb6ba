"""``niva dev`` as a person runs it: a real process group on free ports.

Start-up (health waits, retention, search attributes), a clean stop on SIGTERM with no
process left behind, a restart on the same data directory that keeps the cases, and the
clear errors for a taken port or a bad setting.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.support import log_audit
from tests.support.net import free_port
from workflows import search_attributes
from workflows.probe import Probe, ProbeInput, ProbeResult

READY = "niva is running"


class DevStack:
    """A `niva dev` process started by a test, with its output captured."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = {**os.environ, **(env or {})}
        self.temporal_port, self.ui_port, self.api_port = free_port(), free_port(), free_port()
        self.output = data_dir.parent / f"dev-{self.temporal_port}.out"
        self.process: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "starter.cli", "dev",
            "--data-dir", str(self.data_dir),
            "--temporal-port", str(self.temporal_port),
            "--ui-port", str(self.ui_port),
            "--api-port", str(self.api_port),
        ]  # fmt: skip

    def start(self, timeout: float = 120) -> None:
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                self.argv(), stdout=out, stderr=subprocess.STDOUT, env=self.env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY in self.text():
                return
            if self.process.poll() is not None:
                pytest.fail(f"niva dev exited with {self.process.returncode}:\n{self.text()}")
            time.sleep(0.3)
        pytest.fail(f"niva dev not ready within {timeout} s:\n{self.text()}")

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def child_pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"pid=(\d+)", self.text())]

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    async def client(self) -> Client:
        return await Client.connect(
            f"127.0.0.1:{self.temporal_port}", data_converter=pydantic_data_converter
        )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not collected it yet.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[DevStack]:
    stack = DevStack(tmp_path / "data")
    yield stack
    if stack.process is not None and stack.process.poll() is None:
        stack.process.kill()
        stack.process.wait()
    for pid in stack.child_pids():
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


async def _report_units(stack: DevStack, year: int) -> dict[str, int]:
    """Units per care area in the public follow-up report of ``year`` the stack's API serves."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(
            f"http://127.0.0.1:{stack.api_port}/reports/follow-up/{year}?format=json"
        )
    assert response.status_code == 200, response.text
    return {a["name"]: a["totals"]["units"] for a in response.json()["care_areas"]}


async def test_dev_starts_stops_and_keeps_cases(stack: DevStack):
    stack.start()
    async with httpx.AsyncClient(timeout=10) as http:
        health = await http.get(f"http://127.0.0.1:{stack.api_port}/health")
        assert health.status_code == 200
        assert health.json()["temporal"] == "ok"
        ui = await http.get(f"http://127.0.0.1:{stack.ui_port}/")
        assert ui.status_code == 200
        # The printed dev tokens work: an auditor may list cases, nobody without a token.
        tokens = json.loads((stack.data_dir / "api-tokens.json").read_text())
        auditor = next(t for t, p in tokens.items() if "auditor" in p["roles"])
        cases = await http.get(
            f"http://127.0.0.1:{stack.api_port}/instances",
            headers={"Authorization": f"Bearer {auditor}"},
        )
        assert cases.status_code == 200, cases.text
        assert auditor in stack.text()
        anonymous = await http.get(f"http://127.0.0.1:{stack.api_port}/instances")
        assert anonymous.status_code == 401
    assert f"http://127.0.0.1:{stack.ui_port}" in stack.text()

    client = await stack.client()
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    for key in search_attributes.ALL:
        assert key.name in listed.custom_attributes
    namespace = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    assert namespace.config.workflow_execution_retention_ttl.ToTimedelta() >= timedelta(days=3650)
    # The demo: the nine first-round care areas, each at its own stage.
    demo_query = 'NivaProcessId = "se_nhv_designation"'
    for _ in range(40):
        demo = [w.id async for w in client.list_workflows(demo_query)]
        if len(demo) >= 9:
            break
        await asyncio.sleep(0.5)
    assert len(demo) == 9, demo
    # The demo follow-ups: last year's public report has every demo care area.
    demo_units = await _report_units(stack, date.today().year - 1)
    assert len(demo_units) == 9, demo_units

    # A case started in the first run must be there after a restart.
    await client.execute_workflow(
        Probe.run, ProbeInput(nonce="kept"), id="kept-across-restarts", task_queue="niva"
    )

    pids = stack.child_pids()
    assert len(pids) == 3
    assert stack.stop() == 0
    await asyncio.sleep(0.5)
    assert [pid for pid in pids if alive(pid)] == []

    stack.start()
    client = await stack.client()
    handle = client.get_workflow_handle("kept-across-restarts", result_type=ProbeResult)
    assert (await handle.result()).nonce == "kept"
    # The demo is not started twice, nor its follow-ups recorded twice.
    assert len([w.id async for w in client.list_workflows(demo_query)]) == 9
    assert await _report_units(stack, date.today().year - 1) == demo_units
    assert stack.stop() == 0


async def test_dev_prints_no_token_of_a_supplied_tokens_file(tmp_path: Path):
    token = "tok-supplied-" + secrets.token_urlsafe(24)
    log_audit.secret(token, what="supplied token")
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text(
        json.dumps({token: {"subject": "auditor-1", "roles": ["auditor"]}}), encoding="utf-8"
    )
    stack = DevStack(
        tmp_path / "data", env={"NIVA_API_TOKENS_FILE": str(tokens_file), "NIVA_DEV_DEMO": "false"}
    )
    try:
        stack.start()
        async with httpx.AsyncClient(timeout=10) as http:
            listed = await http.get(
                f"http://127.0.0.1:{stack.api_port}/instances",
                headers={"Authorization": f"Bearer {token}"},
            )
        assert listed.status_code == 200, listed.text  # the supplied file is the one used
        assert stack.stop() == 0
    finally:
        if stack.process is not None and stack.process.poll() is None:
            stack.process.kill()
            stack.process.wait()
        for pid in stack.child_pids():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    output = stack.text()
    assert f"NIVA_API_TOKENS_FILE ({tokens_file}), not shown" in output
    assert token not in output
    assert not (stack.data_dir / "api-tokens.json").exists()
    for log in (stack.data_dir / "logs").glob("*"):
        assert token not in log.read_text(errors="replace"), log


def run_dev_expecting_failure(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starter.cli", "dev", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dev_reports_taken_port(tmp_path: Path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = run_dev_expecting_failure(
            "--data-dir", str(tmp_path), "--api-port", str(port),
            "--temporal-port", str(free_port()), "--ui-port", str(free_port()),
        )  # fmt: skip
    assert result.returncode == 2
    assert f"port {port}" in result.stderr
    assert "NIVA_DEV_API_PORT" in result.stderr


def test_dev_reports_bad_port_setting(tmp_path: Path):
    result = run_dev_expecting_failure("--data-dir", str(tmp_path), "--ui-port", "70000")
    assert result.returncode == 2
    assert "ui_port" in result.stderr


def test_dev_reports_unwritable_data_dir(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_dev_expecting_failure("--data-dir", str(blocker / "data"))
    assert result.returncode == 2
    assert "not writable" in result.stderr
