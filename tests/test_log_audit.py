"""The run's log audit finds a registered secret or a marked value in a log line, in the
test process's rendered output and in subprocesses' log files, and nothing else."""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
from pathlib import Path

import pytest

from tests.support import log_audit
from tests.support.log_audit import LogAudit


def test_a_registered_secret_is_found_wherever_it_is_in_a_line():
    audit = LogAudit()
    tokens = [secrets.token_urlsafe(24) for _ in range(500)]
    audit.add(*tokens, what="token")
    audit.check("request path=/instances status=200", "here")
    audit.check(f"note={tokens[17]}.", "here")
    audit.check(f"{tokens[-1]}", "there")
    assert audit.lines == 3
    assert [(leak.where, leak.what) for leak in audit.leaks] == [
        ("here", "token"),
        ("there", "token"),
    ]
    assert tokens[17] not in "\n".join(audit.report())


def test_a_marked_value_is_found_without_registering():
    audit = LogAudit()
    audit.check("variables={'name': 'SECRET-MARK Lind'}", "here")
    assert audit.leak_count == 1


def test_short_values_are_refused():
    with pytest.raises(ValueError, match="at least"):
        LogAudit().add("k")


def test_subprocess_log_files_are_checked_with_the_dev_tokens_written_beside_them():
    # Outside the run's temporary directory, which the run's own audit reads at its end.
    with tempfile.TemporaryDirectory() as scratch:
        _check_log_files(Path(scratch))


def _check_log_files(tmp_path: Path) -> None:
    dev_token = secrets.token_urlsafe(24)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "api-tokens.json").write_text(json.dumps({dev_token: {}}))
    (tmp_path / "data" / "logs").mkdir()
    (tmp_path / "data" / "logs" / "api").write_text(f"ok\nsent {dev_token}\n")
    (tmp_path / "worker.log").write_text("ok\n")
    (tmp_path / "notes.txt").write_text(dev_token)  # not a log file
    audit = LogAudit()
    assert audit.scan_files([tmp_path]) == 2
    assert [leak.what for leak in audit.leaks] == ["dev token"]


def test_the_test_process_lines_are_checked_as_rendered_after_redaction():
    token = secrets.token_urlsafe(24)
    log_audit.secret(token, what="token")
    before = log_audit.audit.lines
    # Redacted by niva's configuration, so no leak: the rendered line is what counts.
    logging.getLogger("niva.test").warning("sent Authorization: Bearer %s", token)
    assert log_audit.audit.lines > before
    assert not any(token in leak.line for leak in log_audit.audit.leaks)
