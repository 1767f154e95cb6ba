"""What the worker registers: activities named by their task types, built from settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.activity import _Definition

from activities import TASK_TYPES, ActivitySettings, build_activities
from activities.channels import OutboxChannel
from activities.notifications import NotifyActivity
from activities.settings import DEFAULT_ORGANISATIONS_FILE
from tests.support import log_audit


def test_build_activities_names_match_task_types(tmp_path: Path):
    activities = build_activities(ActivitySettings.in_data_dir(tmp_path))
    names = []
    for function in activities:
        definition = _Definition.from_callable(function)
        assert definition is not None
        names.append(definition.name)
    assert names == ["notify", "render_document", "record_follow_up"] == list(TASK_TYPES)


def test_build_activities_defaults_to_outbox_and_filesystem(tmp_path: Path):
    settings = ActivitySettings.in_data_dir(tmp_path)
    assert settings.outbox_dir == tmp_path / "outbox"
    assert settings.sent_log_dir == tmp_path / "sent-log"
    assert settings.documents_dir == tmp_path / "documents"
    assert settings.statistics_file == tmp_path / "statistics.sqlite3"
    notifier = NotifyActivity.from_settings(settings)
    [channel] = notifier.channels
    assert isinstance(channel, OutboxChannel)
    assert channel.directory == tmp_path / "outbox"


def test_settings_default_organisations_file_is_shipped():
    assert DEFAULT_ORGANISATIONS_FILE.is_file()
    assert DEFAULT_ORGANISATIONS_FILE.parts[-3:] == (
        "process_models",
        "reference",
        "organisations.yaml",
    )


def test_settings_smtp_user_without_password_is_rejected(tmp_path: Path):
    with pytest.raises(ValueError, match="smtp_password"):
        ActivitySettings.in_data_dir(tmp_path, smtp_host="mail.example", smtp_username="niva")


def test_build_activities_missing_organisations_file_names_it(tmp_path: Path):
    settings = ActivitySettings.in_data_dir(tmp_path, organisations_file=tmp_path / "none.yaml")
    with pytest.raises(ValueError, match=r"none\.yaml"):
        build_activities(settings)


def test_settings_password_is_not_printed(tmp_path: Path):
    settings = ActivitySettings.in_data_dir(
        tmp_path,
        smtp_host="mail.example",
        smtp_username="niva",
        smtp_password=log_audit.registered("hunter2", what="SMTP password"),
    )
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        # Workflow code and the model registry import the contract: nothing of Temporal or
        # of the packages that import it.
        ("service_contract", "temporalio activities workflows process_models starter"),
        # Activities and job workers raise BPMN errors; no PDF, SMTP or HTTP library.
        ("activities.service_call", "fpdf aiosmtplib httpx jinja2 boto3 sqlalchemy"),
    ],
)
def test_contract_imports_stay_light(module: str, forbidden: str):
    code = (
        f"import sys, {module}; "
        f"heavy = set({forbidden.split()!r}) & {{m.split('.')[0] for m in sys.modules}}; "
        "print(sorted(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stdout.strip() == "[]"
