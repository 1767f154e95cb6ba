"""Template rendering: dates in the message's language and the process's zone, every
shipped notification complete in every language, errors that name their cause."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.templating import TEMPLATES_DIR, TemplateRenderer, format_date, format_datetime

NOTIFICATIONS = ("task_opened", "reminder", "deadline_passed", "decision_published", "case_ended")
SAMPLE = {
    "case_title": "Svår leversvikt",
    "task_name": "Remissvar",
    "deadline": "2025-05-12",
    "decision": "Vården är nationell högspecialiserad vård.",
    "decision_date": "2025-06-18",
    "outcome": "NHV",
    "case": {"business_key": "2025-leversvikt"},
    "recipient": {"name": "Region Skåne", "email": "nhv@region-skane.example"},
    "timezone": "Europe/Stockholm",
}


@pytest.mark.parametrize(
    ("language", "expected"),
    [("sv", "31 mars 2025"), ("nb", "31. mars 2025"), ("en", "31 March 2025")],
)
def test_format_date_in_language(language: str, expected: str):
    assert format_date("2025-03-31", language) == expected
    assert format_date(date(2025, 3, 31), language) == expected


def test_format_date_uses_process_zone():
    # 23:30 UTC on 31 March is already 1 April in Stockholm (summer time began 30 March).
    late = "2025-03-31T23:30:00Z"
    assert format_date(late, "sv", "Europe/Stockholm") == "1 april 2025"
    assert format_date(late, "sv", "UTC") == "31 mars 2025"
    assert format_datetime(late, "nb", "Europe/Oslo") == "1. april 2025 kl. 01:30"
    assert (
        format_datetime(datetime(2025, 1, 2, 8, 5, tzinfo=UTC), "en") == "2 January 2025 at 08:05"
    )


def test_format_date_rejects_non_dates():
    with pytest.raises(ValueError, match="not a date"):
        format_date(42, "sv")


@pytest.mark.parametrize("language", ["sv", "nb", "en"])
@pytest.mark.parametrize("template", NOTIFICATIONS)
def test_notification_templates_complete(template: str, language: str):
    renderer = TemplateRenderer()
    context = {**SAMPLE, "language": language}
    for part in ("subject", "txt", "html"):
        name = f"notifications/{language}/{template}.{part}.j2"
        assert renderer.exists(name), name
        rendered = renderer.render(name, context, element_id="Notify")
        assert "Svår leversvikt" in rendered or "Remissvar" in rendered, name
        assert "{{" not in rendered, name
        assert "{%" not in rendered, name
    html = renderer.render(f"notifications/{language}/{template}.html.j2", context, element_id="N")
    assert f'<html lang="{language}">' in html


def test_template_syntax_error_names_file_and_line(tmp_path: Path):
    (tmp_path / "broken.txt.j2").write_text("line one\n{% if %}\n", encoding="utf-8")
    with pytest.raises(ApplicationError) as caught:
        TemplateRenderer(tmp_path).render("broken.txt.j2", {"language": "sv"}, element_id="E")
    assert caught.value.type == "TemplateError"
    assert caught.value.non_retryable
    assert "broken.txt.j2 line 2" in caught.value.message


def test_template_missing_attribute_names_it(tmp_path: Path):
    (tmp_path / "letter.txt.j2").write_text("Till {{ holder.name }}\n", encoding="utf-8")
    with pytest.raises(ApplicationError) as caught:
        TemplateRenderer(tmp_path).render(
            "letter.txt.j2", {"language": "sv", "holder": {}}, element_id="E"
        )
    assert caught.value.type == "TemplateVariableMissing"
    assert "'name'" in caught.value.message
    assert "letter.txt.j2 line 1" in caught.value.message


def test_templates_dir_is_inside_the_package():
    assert Path(__file__).resolve().parents[2] / "activities" / "templates" == TEMPLATES_DIR
