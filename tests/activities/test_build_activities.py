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


def test_build_activities_names_match_task_types(tmp_path: Path):
    activities = build_activities(ActivitySettings.in_data_dir(tmp_path))
    names = []
    for function in activities:
        definition = _Definition.from_callable(function)
        assert definition is not None
        names.append(definition.name)
    assert names == ["notify", "render_document"] == list(TASK_TYPES)


def test_build_activities_defaults_to_outbox_and_filesystem(tmp_path: Path):
    settings = ActivitySettings.in_data_dir(tmp_path)
    assert settings.outbox_dir == tmp_path / "outbox"
    assert settings.sent_log_dir == tmp_path / "sent-log"
    assert settings.documents_dir == tmp_path / "documents"
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
        tmp_path, smtp_host="mail.example", smtp_username="niva", smtp_password="hunter2"
    )
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in settings.model_dump_json()


def test_service_call_import_stays_light():
    # Workflow code imports activities.service_call; the package must not drag the PDF,
    # SMTP and HTTP libraries into every workflow worker's import.
    code = (
        "import sys, activities.service_call; "
        "heavy = {'fpdf', 'aiosmtplib', 'httpx', 'jinja2', 'boto3'} & set(sys.modules); "
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
