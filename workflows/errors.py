"""The errors a process instance answers a request with.

Every one is a Temporal ``ApplicationError`` raised by an update validator (so a rejected
request never reaches the history) or a handler, with a ``type`` the API maps one to one::

    ApplicationError
    ├── type "NotFound"   404  no such open task, incident or message subscription
    ├── type "Forbidden"  403  the actor is not a candidate of the task or message
    ├── type "Conflict"   409  the task was already completed, the case has ended, no
    │                          subscription waits for the message
    └── type "Invalid"    422  the payload breaks the task's form or a niva:constraint;
                               ``details[0]`` lists the field errors

All are non-retryable: repeating the same request cannot succeed.
"""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError

__all__ = ["conflict", "forbidden", "invalid", "not_found"]


def _error(kind: str, message: str, details: Any = None) -> ApplicationError:
    if details is None:
        return ApplicationError(message, type=kind, non_retryable=True)
    return ApplicationError(message, details, type=kind, non_retryable=True)


def not_found(message: str) -> ApplicationError:
    """404: what the request names does not exist (now) in this case."""
    return _error("NotFound", message)


def forbidden(message: str) -> ApplicationError:
    """403: the actor may not do this."""
    return _error("Forbidden", message)


def conflict(message: str, **details: Any) -> ApplicationError:
    """409: the request contradicts the case's state."""
    return _error("Conflict", message, details or None)


def invalid(message: str, fields: list[dict[str, Any]] | None = None) -> ApplicationError:
    """422: the payload is invalid; ``fields`` carries ``{loc, msg}`` per field."""
    return _error("Invalid", message, {"fields": fields or []})
