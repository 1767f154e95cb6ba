"""What niva's logging writes, in a process of its own configured as `niva worker` and
`niva api` configure theirs: no traceback locals, no credentials or case data, one
traceback per failure however often it is retried."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TOKEN = "tok-3Zq9xVh2LwP0aa"
MARK = "19121212-1212"

# A request handler failing with the token and the payload in its locals, logged as the
# API logs an unexpected error (structlog) and as uvicorn or temporalio do (the standard
# library), then the same workflow task failure as the SDK logs it on every retry. The
# values come from the command line, as data does: a traceback shows source lines.
SCRIPT = textwrap.dedent(
    """
    import logging, sys
    import structlog
    from starter.logs import configure_logging
    from starter.settings import LogSettings

    configure_logging(LogSettings(format=sys.argv[1], level="debug"))
    log = structlog.get_logger("niva.api")
    TOKEN, MARK = sys.argv[2], sys.argv[3]

    def handle(headers, payload):
        authorization = headers["Authorization"]
        personnummer = payload["personnummer"]
        raise RuntimeError("the handler broke")

    try:
        handle({"Authorization": "Bearer " + TOKEN}, {"personnummer": MARK})
    except RuntimeError:
        log.exception("unexpected error", path="/instances")
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")

    def activation(variables):
        raise KeyError("no such key: region")

    for attempt in range(1, 6):
        try:
            activation({"personnummer": MARK})
        except KeyError as err:
            logging.getLogger("temporalio.worker._workflow_instance").warning(
                "Failed activation on workflow p with ID p:1 and run ID r1", exc_info=err
            )
    log.info(
        "request",
        authorization="Bearer " + TOKEN,
        variables={"personnummer": MARK},
        payload=MARK,
        smtp_password="hunter2",
        status=500,
    )
    logging.getLogger("httpx").info("sent Authorization: Bearer %s", TOKEN)
    """
)


def run(log_format: str, tmp_path: Path) -> str:
    script = tmp_path / "log_script.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), log_format, TOKEN, MARK],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PATH": "/usr/bin:/bin"},
    )
    return done.stderr


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_logs_hold_no_locals_tokens_or_case_data(log_format: str, tmp_path: Path):
    output = run(log_format, tmp_path)

    assert "the handler broke" in output  # the failures are really logged
    assert TOKEN not in output
    assert MARK not in output
    assert "hunter2" not in output
    assert "[redacted]" in output
    # The standard library's traceback, not Rich's panels with its frames' locals.
    assert "Traceback (most recent call last)" in output
    assert "╭" not in output


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_retried_failure_shows_its_traceback_once(log_format: str, tmp_path: Path):
    output = run(log_format, tmp_path)

    failures = [line for line in output.splitlines() if "Failed activation" in line]
    assert len(failures) == 5
    # One traceback per failure: the handler's (logged twice, as structlog and as uvicorn
    # log it) and the workflow task's (five attempts); every later line names the error.
    assert output.count("Traceback (most recent call last)") == 2
    assert output.count("logged with the first occurrence") == 1 + 4
    assert "repeated=5" in output or '"repeated": 5' in output
    if log_format == "json":
        for line in output.splitlines():
            json.loads(line)  # one JSON object per line, tracebacks included
