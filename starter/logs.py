"""structlog, configured once per process.

Console output for people in development, one JSON object per line in production. The
standard library's logging (uvicorn, temporalio) is routed through the same renderer so a
process writes one consistent stream.
"""

from __future__ import annotations

import logging
import sys

import structlog

from starter.settings import LogSettings

__all__ = ["configure_logging"]

_configured = False


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
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
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
