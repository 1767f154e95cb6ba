"""Every engine limit is a setting (``NIVA_LIMITS_<FIELD>``) with a line in docs/LIMITS.md,
and the compensation bound is one of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from process_models.limits import EngineLimits
from starter.settings import LimitSettings

LIMITS_DOC = Path(__file__).resolve().parents[2] / "docs" / "LIMITS.md"


def test_every_engine_limit_has_its_setting_in_the_limits_doc():
    text = LIMITS_DOC.read_text()
    for name in EngineLimits.model_fields:
        assert f"`NIVA_LIMITS_{name.upper()}`" in text, name


def test_the_compensation_bound_is_a_case_limit_read_from_its_setting(
    monkeypatch: pytest.MonkeyPatch,
):
    assert EngineLimits().max_compensable == 1_000
    monkeypatch.setenv("NIVA_LIMITS_MAX_COMPENSABLE", "12")
    limits = LimitSettings().engine_limits()
    assert limits.max_compensable == 12
    # Carried in the start input like the other limits: a case keeps it.
    assert EngineLimits.model_validate_json(limits.model_dump_json()).max_compensable == 12
