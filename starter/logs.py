"""structlog, configured once per process.

Console output for people in development, one JSON object per line in production. The
standard library's logging (uvicorn, temporalio) is routed through the same processors so a
process writes one consistent stream.

Logs carry no credential, token or case data (OWASP's logging guidance), whatever logs:

- a traceback is rendered by niva, without local variables (a frame's locals hold request
  headers, payloads and case variables), at most `MAX_FRAMES` frames and `MAX_TRACEBACK`
  characters;
- the same failure logged again (a workflow task or an activity retried) shows its
  traceback once; repeats say how often they occurred instead;
- `redact` masks bearer tokens, ``Authorization`` headers and ``password=…``-like text in
  every string, and the values of credential-like keys (``token``, ``password``,
  ``secret``, …) and of case data keys (``variables``, ``payload``, ``inputs``, …).
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections import OrderedDict
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

import structlog

from starter.settings import LogSettings

__all__ = [
    "MAX_FRAMES",
    "MAX_TRACEBACK",
    "REDACTED",
    "bounded_traceback",
    "configure_logging",
    "redact",
]

REDACTED = "[redacted]"
MAX_FRAMES = 30
"""Frames of a rendered traceback (the innermost ones), per exception of a chain."""
MAX_TRACEBACK = 12_000
"""Characters of a rendered traceback; the rest is cut, saying how much."""
_SEEN_FAILURES = 1_000
"""How many distinct failures `_once_per_failure` remembers."""

# Keys whose values are credentials, and keys whose values are case data.
_SECRET_KEY = re.compile(
    r"authori[sz]ation|token|passw(or)?d|secret|api[_-]?key|credential|cookie|session",
    re.IGNORECASE,
)
_DATA_KEYS = frozenset(
    {"variables", "payload", "inputs", "outputs", "vars", "result", "values", "body"}
)
# Credentials inside free text: "Bearer <token>", "Authorization: <anything>",
# "password=<x>", "'token': '<x>'".
_TEXT_SECRETS = (
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)\b(authorization)(['\"]?\s*[:=]\s*)(['\"]?)[^'\"\r\n,}]+"),
    re.compile(
        r"(?i)\b([a-z_]*(?:passw(?:or)?d|secret|token|api[_-]?key))(['\"]?\s*[:=]\s*)(['\"]?)"
        r"[^\s'\",}&]+"
    ),
)

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

_configured = False


# Payload bytes in the SDK's debug dumps of protobuf messages (`data: "…"`): case data.
_PROTO_DATA = re.compile(r'\bdata: "(?:[^"\\]|\\.)*"')


def _mask_text(text: str) -> str:
    bearer, header, assignment = _TEXT_SECRETS
    text = _PROTO_DATA.sub(f'data: "{REDACTED}"', text)
    text = bearer.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = header.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}", text)
    return assignment.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{REDACTED}", text)


def _redact_value(key: str | None, value: Any) -> Any:
    if key is not None and (key.lower() in _DATA_KEYS or _SECRET_KEY.search(key)):
        return REDACTED
    if isinstance(value, str):
        return _mask_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(None, v) for v in value]
    return value


def redact(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor masking credentials and case data in every field."""
    for key in list(event_dict):
        if key.startswith("_"):
            continue  # structlog's own (the stdlib record), never rendered
        if key == "event":
            event_dict[key] = _mask_text(str(event_dict[key]))
        else:
            event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def bounded_traceback(exc: BaseException) -> str:
    """``exc``'s traceback without local variables, its innermost `MAX_FRAMES` frames per
    exception of the chain, cut at `MAX_TRACEBACK` characters."""
    rendered = "".join(
        traceback.TracebackException.from_exception(
            exc, limit=-MAX_FRAMES, capture_locals=False
        ).format()
    ).rstrip("\n")
    if len(rendered) > MAX_TRACEBACK:
        cut = len(rendered) - MAX_TRACEBACK
        rendered = f"{rendered[:MAX_TRACEBACK]}\n… ({cut} more characters cut)"
    return rendered


def _exc_info(value: Any) -> ExcInfo | None:
    if value is True:
        value = sys.exc_info()
    elif isinstance(value, BaseException):
        value = (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return value
    return None


class _OncePerFailure:
    """Render a failure's traceback the first time it is logged; later identical lines (a
    workflow task or activity retried, each attempt logged by the SDK) only count."""

    def __init__(self, capacity: int = _SEEN_FAILURES) -> None:
        self._seen: OrderedDict[tuple[str, str, str], int] = OrderedDict()
        self._capacity = capacity

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        info = _exc_info(event_dict.pop("exc_info", None))
        if info is None:
            return event_dict
        exc = info[1]
        # The same failure: its type, message and where it was raised. The line's text is
        # left out: the SDK's names the attempt, which changes with every retry.
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        key = (type(exc).__qualname__, str(exc)[:500], where)
        count = self._seen.pop(key, 0) + 1
        self._seen[key] = count
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        if count == 1:
            event_dict["exception"] = bounded_traceback(exc)
        else:
            event_dict["error"] = f"{type(exc).__qualname__}: {exc}"
            event_dict["repeated"] = count
            event_dict["traceback"] = "logged with the first occurrence"
        return event_dict


def configure_logging(settings: LogSettings | None = None) -> None:
    """Configure structlog and the standard library's logging; later calls do nothing."""
    global _configured
    if _configured:
        return
    settings = settings or LogSettings()
    level = logging.getLevelNamesMapping()[settings.level.upper()]
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _OncePerFailure(),
        redact,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        # Tracebacks arrive rendered (`exception`); the plain formatter is the fallback
        # for anything that still carries exc_info: never Rich's, which shows locals.
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    _configured = True
