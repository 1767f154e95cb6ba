"""Jinja2 rendering shared by notifications and documents.

Templates live under ``activities/templates`` (``notifications/<lang>/…``,
``documents/<lang>/…``). Every template renders with `jinja2.StrictUndefined`, so a
variable the task does not pass is an error naming it instead of an empty gap in a letter,
and every ``*.html.j2`` template autoescapes, so a value such as ``<b>`` in a case title
shows as text. Errors become non-retryable ``ApplicationError`` s naming the template, the
line and the variable: they are bugs in the model, which a retry cannot fix.

Two filters format dates in the language of the message, in the process's time zone:
``{{ deadline | date }}`` → ``31 mars 2025`` / ``31. mars 2025`` / ``31 March 2025``, and
``{{ opened | datetime }}`` adds the time of day.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from jinja2 import pass_context
from jinja2.runtime import Context
from temporalio.exceptions import ApplicationError

from activities.errors import (
    TEMPLATE_ERROR,
    TEMPLATE_NOT_FOUND,
    TEMPLATE_VARIABLE_MISSING,
    model_error,
)

__all__ = ["TEMPLATES_DIR", "TemplateRenderer", "format_date", "format_datetime"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
"""The templates shipped with niva."""

_MONTHS = {
    "sv": (
        "januari",
        "februari",
        "mars",
        "april",
        "maj",
        "juni",
        "juli",
        "augusti",
        "september",
        "oktober",
        "november",
        "december",
    ),
    "nb": (
        "januar",
        "februar",
        "mars",
        "april",
        "mai",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "desember",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}
_TIME_WORD = {"sv": "kl.", "nb": "kl.", "en": "at"}
_UNDEFINED = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


def _parse_moment(value: object, zone: ZoneInfo) -> datetime | date:
    """A date or datetime from a Python value or an ISO 8601 string (JSON has no dates)."""
    if isinstance(value, jinja2.Undefined):
        # A missing variable piped into a filter: let StrictUndefined raise its own error,
        # which names the variable, instead of "not a date".
        str(value)
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    else:
        raise ValueError(f"{value!r} is not a date: pass an ISO 8601 string such as 2025-03-31")
    # A naive time is taken as UTC, as the engine stores its times.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)


def format_date(value: object, language: str, timezone: str = "UTC") -> str:
    """``value`` as a date in ``language`` (sv, nb, en), in the zone ``timezone``."""
    moment = _parse_moment(value, ZoneInfo(timezone))
    day = moment.date() if isinstance(moment, datetime) else moment
    month = _MONTHS.get(language, _MONTHS["en"])[day.month - 1]
    if language == "nb":
        return f"{day.day}. {month} {day.year}"
    return f"{day.day} {month} {day.year}"


def format_datetime(value: object, language: str, timezone: str = "UTC") -> str:
    """``value`` as date and time of day in ``language``, in the zone ``timezone``."""
    moment = _parse_moment(value, ZoneInfo(timezone))
    if not isinstance(moment, datetime):
        return format_date(moment, language, timezone)
    word = _TIME_WORD.get(language, _TIME_WORD["en"])
    return f"{format_date(moment, language, timezone)} {word} {moment:%H:%M}"


@pass_context
def _date_filter(context: Context, value: object) -> str:
    return format_date(value, context["language"], context.get("timezone", "UTC"))


@pass_context
def _datetime_filter(context: Context, value: object) -> str:
    return format_datetime(value, context["language"], context.get("timezone", "UTC"))


def _template_line(exc: BaseException) -> tuple[str | None, int | None]:
    """The template file and line an error was raised at, from Jinja's rewritten traceback."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2"):
            return frame.filename, frame.lineno
    return None, None


class TemplateRenderer:
    """Renders the templates of one folder, strictly, with errors that name their cause.

    Args:
        directory: the folder holding the templates (`TEMPLATES_DIR` by default).
    """

    def __init__(self, directory: Path = TEMPLATES_DIR) -> None:
        self.directory = directory
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html.j2",), default_for_string=False, default=False
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self._env.filters["date"] = _date_filter
        self._env.filters["datetime"] = _datetime_filter

    def exists(self, name: str) -> bool:
        """Whether the template ``name`` (relative to the folder) exists."""
        return (self.directory / name).is_file()

    def render(self, name: str, context: Mapping[str, Any], *, element_id: str) -> str:
        """Render the template ``name`` with ``context``.

        ``context`` must hold ``language`` (and should hold ``timezone``) for the date
        filters.

        Args:
            name: the template's path relative to the folder.
            context: the variables.
            element_id: the BPMN element that asked, named in errors.

        Raises:
            ApplicationError: non-retryable, of type ``TemplateNotFound``,
                ``TemplateVariableMissing`` or ``TemplateError``.
        """
        try:
            template = self._env.get_template(name)
            return template.render(context)
        except jinja2.TemplateNotFound as exc:
            raise model_error(
                TEMPLATE_NOT_FOUND,
                f"service task {element_id} asks for template {name}, which does not exist "
                f"under {self.directory}: fix the template name or language in the task's "
                "inputs, or add the template",
                template=name,
                element_id=element_id,
            ) from exc
        except jinja2.UndefinedError as exc:
            raise self._missing_variable(name, element_id, exc) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise model_error(
                TEMPLATE_ERROR,
                f"template {exc.name or name} line {exc.lineno} does not compile: "
                f"{exc.message}; fix the template",
                template=exc.name or name,
                line=exc.lineno,
                element_id=element_id,
            ) from exc
        except (jinja2.TemplateError, ValueError, TypeError) as exc:
            # A filter handed a value it cannot format (a date that is not a date).
            file, line = _template_line(exc)
            raise model_error(
                TEMPLATE_ERROR,
                f"template {name} (line {line}) cannot render for service task "
                f"{element_id}: {exc}; fix the variable's value in the task's inputs",
                template=name,
                file=file,
                line=line,
                element_id=element_id,
            ) from exc

    def _missing_variable(
        self, name: str, element_id: str, exc: jinja2.UndefinedError
    ) -> ApplicationError:
        match = _UNDEFINED.search(exc.message or "")
        variable = (match.group(1) or match.group(2)) if match else (exc.message or "?")
        file, line = _template_line(exc)
        where = f"{Path(file).relative_to(self.directory)} line {line}" if file else name
        return model_error(
            TEMPLATE_VARIABLE_MISSING,
            f"template {where} needs the variable {variable!r}, which service task "
            f"{element_id} does not pass: add it to the task's 'variables' input",
            template=name,
            variable=variable,
            line=line,
            element_id=element_id,
        )
