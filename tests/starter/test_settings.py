"""Settings reject bad values with a message that names the setting and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from starter.settings import ApiSettings, DataSettings, DevSettings, ensure_writable_dir


@pytest.mark.parametrize("port", [0, -1, 65536, 70000])
def test_dev_settings_reject_out_of_range_port(port: int):
    with pytest.raises(ValidationError) as caught:
        DevSettings(api_port=port)
    assert caught.value.errors()[0]["loc"] == ("api_port",)


def test_data_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("NIVA_DATA_DIR", str(tmp_path / "d"))
    assert DataSettings().dir == tmp_path / "d"


def test_api_port_from_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NIVA_API_PORT", "9123")
    assert ApiSettings().port == 9123


def test_api_port_from_environment_not_a_number(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NIVA_API_PORT", "eighty")
    with pytest.raises(ValidationError, match="port"):
        ApiSettings()


def test_data_dir_created_when_missing(tmp_path: Path):
    settings = DataSettings(dir=tmp_path / "a" / "b")
    assert settings.dir.is_dir()
    assert settings.dir.is_absolute()


def test_data_dir_under_a_file_is_rejected(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ValidationError) as caught:
        DataSettings(dir=blocker / "data")
    message = str(caught.value)
    assert "not writable" in message
    assert "NIVA_DATA_DIR" in message


def test_ensure_writable_dir_leaves_no_probe_file(tmp_path: Path):
    ensure_writable_dir(tmp_path)
    assert list(tmp_path.iterdir()) == []
