"""Lists of cases from Temporal's visibility store, filtered by niva's search attributes.

The filters become a visibility query (``NivaProcessId = "…" AND NivaIncident = true``);
pages are fetched one at a time with the server's page token, handed to the client as
URL-safe base64. Visibility lags the cases by about a second.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from starter.api.access import principal_keys
from starter.api.auth import Principal
from starter.api.errors import ApiError, with_retries
from starter.api.schemas import InstanceStatus, InstanceSummary
from workflows import search_attributes as sa

__all__ = [
    "CANDIDATE_KEY_PATTERN",
    "InstanceFilter",
    "Page",
    "decode_page_token",
    "encode_page_token",
    "fetch_page",
    "instance_query",
    "literal",
    "participation_clause",
    "searchable",
    "summary",
]


def literal(value: str) -> str:
    """A string literal of the visibility query language."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return literal(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))


_NAME = r'[^\s",/\x00-\x1f\x7f]+'
CANDIDATE_KEY_PATTERN = rf"^(?:org:{_NAME}(?:/group:{_NAME})?|group:{_NAME}|user:{_NAME})$"
"""A ``NivaCandidates`` keyword as the engine writes them (``group:G``, ``org:O``,
``org:O/group:G``, ``user:SUBJECT``)."""


def searchable(value: str) -> bool:
    """Whether a keyword-list value can be searched for.

    The SQLite visibility store of the embedded server matches keyword lists through a
    full-text index whose query breaks on a double quote, and then answers "unavailable"
    until the client gives up: such values are never sent. No organisation id or group a
    model names contains one.
    """
    return bool(value) and '"' not in value and value.isprintable()


def participation_clause(principal: Principal) -> str | None:
    """Cases ``principal`` takes part in or is a candidate of; None: no such case."""
    alternatives = []
    keys = [key for key in principal_keys(principal) if searchable(key)]
    if keys:
        alternatives.append(f"{sa.CANDIDATES.name} IN ({', '.join(literal(k) for k in keys)})")
    if principal.org and searchable(principal.org):
        alternatives.append(f"{sa.PARTICIPANTS.name} = {literal(principal.org)}")
    if not alternatives:
        return None
    return "(" + " OR ".join(alternatives) + ")"


_STATUS_CLAUSES: dict[str, str] = {
    "running": 'ExecutionStatus = "Running"',
    "completed": (
        f'ExecutionStatus = "Completed" AND ({sa.OUTCOME.name} IS NULL OR '
        f'{sa.OUTCOME.name} != "cancelled")'
    ),
    "cancelled": f'ExecutionStatus = "Completed" AND {sa.OUTCOME.name} = "cancelled"',
    "failed": 'ExecutionStatus IN ("Failed", "Terminated", "TimedOut", "Canceled")',
}


@dataclass(frozen=True, kw_only=True)
class InstanceFilter:
    """What ``GET /instances`` filters by; every field is optional."""

    process_id: str | None = None
    status: InstanceStatus | None = None
    business_key: str | None = None
    candidates: Sequence[str] = ()
    has_incident: bool | None = None
    deadline_before: datetime | None = None


def instance_query(wanted: InstanceFilter, scope: str | None, task_queue: str) -> str:
    """The visibility query for ``wanted`` within ``scope`` (a clause; None: all cases),
    among the cases of ``task_queue`` (the API's own: several niva installations may
    share a namespace)."""
    clauses = [
        f"TaskQueue = {literal(task_queue)}",
        f"{sa.PROCESS_ID.name} IS NOT NULL",
        # Each continue-as-new leaves a closed run behind: list every case once.
        'ExecutionStatus != "ContinuedAsNew"',
    ]
    if wanted.process_id is not None:
        clauses.append(f"{sa.PROCESS_ID.name} = {literal(wanted.process_id)}")
    if wanted.status is not None:
        clauses.append(_STATUS_CLAUSES[wanted.status])
    if wanted.business_key is not None:
        clauses.append(f"{sa.BUSINESS_KEY.name} = {literal(wanted.business_key)}")
    if wanted.candidates:
        keys = ", ".join(literal(key) for key in wanted.candidates)
        clauses.append(f"{sa.CANDIDATES.name} IN ({keys})")
    if wanted.has_incident is True:
        clauses.append(f"{sa.INCIDENT.name} = true")
    elif wanted.has_incident is False:
        clauses.append(f"({sa.INCIDENT.name} IS NULL OR {sa.INCIDENT.name} = false)")
    if wanted.deadline_before is not None:
        clauses.append(f"{sa.NEXT_DEADLINE.name} < {_timestamp(wanted.deadline_before)}")
    if scope is not None:
        clauses.append(scope)
    return " AND ".join(clauses)


_CHECK_BYTES = 8


def _check(query: str, token: bytes) -> bytes:
    return hashlib.sha256(query.encode() + b"\0" + token).digest()[:_CHECK_BYTES]


def encode_page_token(query: str, token: bytes | None) -> str | None:
    """The server's page token as URL-safe text, bound to the query it continues.

    The visibility store answers a token it did not issue with an internal error; the check
    bytes let the API refuse a mangled token, or one of another query, with a 422 first.
    """
    if not token:
        return None
    return base64.urlsafe_b64encode(_check(query, token) + token).decode("ascii")


def decode_page_token(query: str, text: str | None) -> bytes | None:
    """The server's page token back from its text; 422 if it is not one of this query."""
    if not text:
        return None
    try:
        raw = base64.b64decode(text.encode("ascii"), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    check, token = raw[:_CHECK_BYTES], raw[_CHECK_BYTES:]
    if not token or check != _check(query, token):
        raise ApiError(
            422,
            "invalid",
            "page_token is not one this API gave out for these filters: start from page one",
        )
    return token


@dataclass(frozen=True)
class Page:
    """One page of executions and the token of the next."""

    executions: Sequence[WorkflowExecution]
    next_page_token: str | None


async def fetch_page(
    client: Client, query: str, *, page_size: int, page_token: str | None, retries: int
) -> Page:
    """One page of the executions matching ``query``."""
    token = decode_page_token(query, page_token)
    iterator = client.list_workflows(query, page_size=page_size, next_page_token=token)
    await with_retries(iterator.fetch_next_page, attempts=retries)
    return Page(iterator.current_page or [], encode_page_token(query, iterator.next_page_token))


def _status(execution: WorkflowExecution, outcome: str | None) -> InstanceStatus:
    if execution.status == WorkflowExecutionStatus.RUNNING:
        return "running"
    if execution.status == WorkflowExecutionStatus.COMPLETED:
        return "cancelled" if outcome == "cancelled" else "completed"
    return "failed"


def summary(execution: WorkflowExecution) -> InstanceSummary:
    """A case in a list, from its search attributes."""
    attributes = execution.typed_search_attributes
    version = attributes.get(sa.PROCESS_VERSION)
    outcome = attributes.get(sa.OUTCOME)
    return InstanceSummary(
        instance_id=execution.id,
        process_id=attributes.get(sa.PROCESS_ID),
        version=int(version) if version and version.isdigit() else None,
        business_key=attributes.get(sa.BUSINESS_KEY),
        status=_status(execution, outcome),
        outcome=outcome,
        started=execution.start_time,
        closed=execution.close_time,
        open_tasks=list(attributes.get(sa.OPEN_TASKS) or []),
        next_deadline=attributes.get(sa.NEXT_DEADLINE),
        has_incident=bool(attributes.get(sa.INCIDENT)),
    )
