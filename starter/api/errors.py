"""Every error the API answers with, and how lower-level errors become one.

Each answer has the body `starter.api.schemas.ErrorBody` (``{error, detail, fields?, …}``).
Errors from Temporal, the model store and the document store are translated here, at the
boundary, and nowhere else::

    ApiError(status, error, detail)                  raised by routes and `translate`
    ├── 400 bad_request       RPCError INVALID_ARGUMENT (a malformed id or query)
    ├── 401 unauthorized      missing, unknown or expired token (auth.py)
    ├── 403 forbidden         not a candidate, missing role, auditor mutating;
    │                         WorkflowUpdateFailedError ← ApplicationError "Forbidden"
    ├── 404 not_found         no route; UnknownModelError; DocumentNotFoundError;
    │                         RPCError NOT_FOUND (no such case);
    │                         WorkflowQueryFailedError "…expected but not found" (not a case);
    │                         WorkflowUpdateFailedError ← ApplicationError "NotFound"
    ├── 405 method_not_allowed
    ├── 409 conflict          WorkflowAlreadyStartedError (with ``instance_id``);
    │                         RPCError NOT_FOUND "workflow execution already completed";
    │                         DeploymentError (concurrent deployments);
    │                         WorkflowUpdateFailedError ← ApplicationError "Conflict"
    │                         (with ``accepts`` for a message nobody waits for)
    ├── 413 payload_too_large a body over NIVA_API_MAX_BODY_BYTES (`starter.api.limits`);
    │                         ModelTooLargeError (a model over NIVA_MODELS_MAX_BYTES);
    │                         StartTooLargeError (start variables over
    │                         NIVA_LIMITS_MAX_VARIABLES_BYTES, or model and variables
    │                         over Temporal's 2 MB)
    ├── 415 unsupported_media_type
    ├── 422 invalid           RequestValidationError (``fields``); ModelInvalidError and
    │                         BpmnReadError (``problems``);
    │                         WorkflowUpdateFailedError ← ApplicationError "Invalid"
    │                         (``fields`` from ``details[0]["fields"]``)
    ├── 429 too_many_requests RPCError RESOURCE_EXHAUSTED after `with_retries` gave up;
    │                         RPCError FAILED_PRECONDITION "limit on the total number of
    │                         … updates" (the case continues as new, then accepts again)
    └── 503 unavailable       Temporal unreachable (ConnectionError, RPCError UNAVAILABLE,
                              a query or update that timed out: no worker answered);
                              DocumentIntegrityError; the tokens file or JWKS unreadable

Known causes never become a 500; the 500 ``internal`` answer is kept for bugs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import (
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import DocumentIntegrityError, DocumentNotFoundError
from process_models.errors import (
    BpmnReadError,
    DeploymentError,
    ModelInvalidError,
    ModelTooLargeError,
    UnknownModelError,
)
from starter.api.schemas import ErrorBody, FieldError, ModelProblem
from starter.cases import StartTooLargeError

__all__ = [
    "ApiError",
    "error_responses",
    "install_error_handlers",
    "translate",
    "with_retries",
]

log = structlog.get_logger("niva.api")

_T = TypeVar("_T")

RETRY_AFTER_SECONDS = 2
"""What a 429 or 503 tells the client to wait before trying again."""

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal",
    503: "unavailable",
}

_ENGINE_TYPES = {"NotFound": 404, "Forbidden": 403, "Conflict": 409, "Invalid": 422}


class ApiError(Exception):
    """An error answer: status, code, a sentence for people, and optional specifics."""

    def __init__(
        self,
        status_code: int,
        error: str,
        detail: str,
        *,
        fields: list[FieldError] | None = None,
        problems: list[ModelProblem] | None = None,
        instance_id: str | None = None,
        accepts: list[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.body = ErrorBody(
            error=error,
            detail=detail,
            fields=fields,
            problems=problems,
            instance_id=instance_id,
            accepts=accepts,
        )
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        """The JSON answer."""
        return JSONResponse(
            self.body.model_dump(mode="json", exclude_none=True),
            status_code=self.status_code,
            headers=self.headers,
        )


def _busy(detail: str) -> ApiError:
    return ApiError(
        429, "too_many_requests", detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


def _unavailable(detail: str) -> ApiError:
    return ApiError(503, "unavailable", detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _engine_fields(cause: ApplicationError) -> list[FieldError] | None:
    details = cause.details[0] if cause.details else None
    if not isinstance(details, dict) or not isinstance(details.get("fields"), list):
        return None
    return [
        FieldError(loc=[str(p) for p in f.get("loc", [])], msg=str(f.get("msg", "")))
        for f in details["fields"]
        if isinstance(f, dict)
    ]


def _engine_accepts(cause: ApplicationError) -> list[str] | None:
    details = cause.details[0] if cause.details else None
    if isinstance(details, dict) and isinstance(details.get("accepts"), list):
        return [str(name) for name in details["accepts"]]
    return None


def _from_update(exc: WorkflowUpdateFailedError) -> ApiError:
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type in _ENGINE_TYPES:
        status = _ENGINE_TYPES[cause.type]
        return ApiError(
            status,
            _STATUS_CODES[status],
            cause.message,
            fields=_engine_fields(cause) if status == 422 else None,
            accepts=_engine_accepts(cause) if status == 409 else None,
        )
    message = getattr(cause, "message", None) or str(cause or exc)
    return ApiError(409, "conflict", f"the case refused the request: {message}")


def _from_rpc(exc: RPCError) -> ApiError:
    status, message = exc.status, exc.message
    if status == RPCStatusCode.NOT_FOUND and "already completed" in message:
        return ApiError(409, "conflict", "the case has ended; it accepts no more requests")
    if status == RPCStatusCode.NOT_FOUND:
        return ApiError(404, "not_found", f"no such instance: {message}")
    if status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return _busy(f"Temporal is busy ({message}); try again shortly")
    if status == RPCStatusCode.FAILED_PRECONDITION and "limit on the total number" in message:
        return _busy(
            "the case has taken all the requests its current run allows; it continues as "
            "new at its next quiet point: try again shortly"
        )
    if status == RPCStatusCode.INVALID_ARGUMENT:
        return ApiError(400, "bad_request", f"Temporal refused the request: {message}")
    if status == RPCStatusCode.ALREADY_EXISTS:
        return ApiError(409, "conflict", message)
    if status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
        return _unavailable(f"the case did not answer in time ({message}): is a worker running?")
    return _unavailable(f"Temporal cannot serve the request ({status.name}: {message})")


def translate(exc: BaseException) -> ApiError | None:
    """The `ApiError` for a known lower-level error, or None for an unknown one."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, WorkflowUpdateFailedError):
        return _from_update(exc)
    if isinstance(exc, WorkflowAlreadyStartedError):
        return ApiError(
            409,
            "conflict",
            f"a case with this business key exists already: {exc.workflow_id}",
            instance_id=exc.workflow_id,
        )
    if isinstance(exc, WorkflowQueryFailedError):
        if "expected but not found" in exc.message:
            return ApiError(404, "not_found", "this workflow is not a process instance")
        return _unavailable(f"the case could not answer: {exc.message}")
    if isinstance(exc, WorkflowUpdateRPCTimeoutOrCancelledError):
        return _unavailable(
            "the case did not answer in time: is a worker running? A repeat with the same "
            "idempotency key is safe"
        )
    if isinstance(exc, RPCError):
        return _from_rpc(exc)
    if isinstance(exc, UnknownModelError):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, ModelInvalidError):
        return ApiError(
            422,
            "invalid",
            f"the model has {len(exc.problems)} problem(s); nothing was deployed",
            problems=[ModelProblem.from_problem(p) for p in exc.problems],
        )
    if isinstance(exc, BpmnReadError):
        return ApiError(
            422,
            "invalid",
            f"the body is not a readable BPMN 2.0 document: {exc}",
            problems=[ModelProblem.from_problem(exc.problem)],
        )
    if isinstance(exc, ModelTooLargeError | StartTooLargeError):
        return ApiError(413, "payload_too_large", str(exc))
    if isinstance(exc, DeploymentError):
        return ApiError(409, "conflict", f"{exc}; deploy again")
    if isinstance(exc, DocumentNotFoundError):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, DocumentIntegrityError):
        return _unavailable(str(exc))
    if isinstance(exc, ConnectionError):
        return _unavailable(str(exc))
    return None


async def with_retries(call: Callable[[], Awaitable[_T]], *, attempts: int = 3) -> _T:
    """Run a Temporal call, again with backoff while Temporal answers resource-exhausted.

    Temporal limits the updates in flight per case; a short wait usually frees a slot.
    After ``attempts`` more tries the error propagates (and becomes a 429).
    """
    delay = 0.2
    for attempt in range(attempts + 1):
        try:
            return await call()
        except RPCError as exc:
            if exc.status != RPCStatusCode.RESOURCE_EXHAUSTED or attempt == attempts:
                raise
            log.info("temporal busy, retrying", attempt=attempt + 1, delay=delay)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # the loop returns or raises


def _validation_fields(errors: Any) -> list[FieldError]:
    fields = []
    for error in errors:
        loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]
        fields.append(FieldError(loc=loc, msg=str(error.get("msg", "invalid"))))
    return fields


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error, FastAPI's own included, with the one JSON shape."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        translated = translate(exc)
        if translated is None:  # pragma: no cover - only registered for known types
            raise exc
        if translated.status_code >= 500:
            log.warning("request failed", path=request.url.path, detail=translated.body.detail)
        return translated.response()

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = _validation_fields(exc.errors())
        where = ", ".join(".".join(str(p) for p in f.loc) for f in fields[:5])
        return ApiError(
            422, "invalid", f"the request is invalid at {where or 'the body'}", fields=fields
        ).response()

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if status == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}: see /docs"
        return ApiError(
            status, _STATUS_CODES.get(status, "error"), detail, headers=exc.headers
        ).response()

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", path=request.url.path)
        return ApiError(
            500, "internal", f"an unexpected error ({type(exc).__name__}); it was logged"
        ).response()

    for known in (
        ApiError,
        WorkflowUpdateFailedError,
        WorkflowAlreadyStartedError,
        WorkflowQueryFailedError,
        WorkflowUpdateRPCTimeoutOrCancelledError,
        RPCError,
        UnknownModelError,
        ModelInvalidError,
        BpmnReadError,
        DeploymentError,
        StartTooLargeError,
        DocumentNotFoundError,
        DocumentIntegrityError,
        ConnectionError,
    ):
        app.add_exception_handler(known, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the given error statuses, all with `ErrorBody`.

    400, 401, 413, 422, 429 and 503 are added to every route: any request may be malformed
    (`starter.api.limits`), lack a token, be too large, meet a busy Temporal or an
    unreachable one.
    """
    descriptions = {
        400: "A malformed id, filter or body (too deeply nested JSON, a lone surrogate, NUL)",
        401: "Missing, unknown or expired bearer token",
        403: "The caller may not do this",
        404: "Not found",
        409: "Conflicts with the case's state",
        413: "The body, upload or model is larger than its limit",
        415: "Unsupported content type",
        422: "Invalid request",
        429: "Temporal is busy: retry after Retry-After seconds",
        503: "Temporal (or a store) is unreachable or no worker answered",
    }
    wanted = sorted({400, 401, 413, 422, 429, 503, *statuses})
    return {status: {"model": ErrorBody, "description": descriptions[status]} for status in wanted}
