"""What a request may be, checked before any route reads it.

`RequestLimitsMiddleware` answers, with the API's error body and without calling a route:

- **413** when a body is larger than ``NIVA_API_MAX_BODY_BYTES`` (default 4 MiB), from its
  ``Content-Length`` at once, else as soon as the bytes received pass it. Uploads (multipart
  attachments, XML process models) have their own limit, ``NIVA_API_MAX_UPLOAD_BYTES``,
  which their routes enforce, and pass through untouched.
- **400** when a JSON body nests objects and arrays deeper than ``NIVA_API_MAX_JSON_DEPTH``
  (default 64): refused before it is parsed, so it never reaches a case.
- **400** when a JSON string holds a lone surrogate escape (``"\\ud800"``): JSON allows
  the escape, but no UTF-8 text (a Temporal payload, a log line) can carry the character.
- **400** when the path or the query string holds a NUL character, which no id, filter or
  key may contain (the visibility store refuses it with an internal error).

`checked_business_key` applies the id rules of `process_models.ids` to a business key
given in a request (422 naming the field).

The checks scan the body once with a regular expression over strings and brackets, so
their cost grows with the size of the body, which is bounded first.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from process_models.ids import normalised_id
from starter.api.errors import ApiError
from starter.api.schemas import FieldError

__all__ = ["RequestLimitsMiddleware", "checked_business_key", "json_problem"]

_UPLOAD_TYPES = ("multipart/", "application/xml", "text/xml", "application/bpmn+xml")
# A JSON string (with its escapes) or one bracket; everything else is skipped.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def json_problem(body: bytes, *, max_depth: int) -> str | None:
    """Why a JSON body is refused before parsing (too deep, a lone surrogate), or None.

    Whether the rest is valid JSON is left to the route, which says where it is not.
    """
    depth = 0
    for token in _TOKENS.finditer(body):
        first = token.group()[:1]
        if first in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return (
                    f"the JSON body nests objects and arrays deeper than {max_depth} levels "
                    "(setting NIVA_API_MAX_JSON_DEPTH)"
                )
        elif first in (b"]", b"}"):
            depth -= 1
        elif _SURROGATE_ESCAPE.search(token.group()) and not _encodable(token.group()):
            return (
                f"the JSON string at byte {token.start()} holds a lone surrogate escape "
                "(\\ud800 to \\udfff without its pair), which is not a character"
            )
    return None


def _encodable(string_token: bytes) -> bool:
    try:
        json.loads(string_token).encode("utf-8")
    except (UnicodeEncodeError, ValueError):
        return False
    return True


def checked_business_key(value: str) -> str:
    """The business key in Unicode NFC, or 422 when it breaks the id rules.

    ``DUP``, ``DUP `` and ``DUP\u200b`` would otherwise be three cases; a ``:`` or ``#``
    could take the workflow id of another process's case or of a child.
    """
    try:
        return normalised_id(value, what="business key")
    except ValueError as exc:
        raise ApiError(
            422,
            "invalid",
            str(exc),
            fields=[FieldError(loc=["body", "business_key"], msg=str(exc))],
        ) from exc


class RequestLimitsMiddleware:
    """Refuse oversized, over-nested or malformed requests before a route sees them."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _nul_in_target(scope)
        if problem is not None:
            await ApiError(400, "bad_request", problem).response()(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        media_type = headers.get(b"content-type", b"").decode("latin-1").split(";")[0]
        media_type = media_type.strip().lower()
        if media_type.startswith(_UPLOAD_TYPES) or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large().response()(scope, receive, send)
            return
        body, more = await self._read(receive)
        if body is None:
            await self._too_large().response()(scope, receive, send)
            return
        if media_type in ("", "application/json") or media_type.endswith("+json"):
            problem = json_problem(body, max_depth=self.max_json_depth)
            if problem is not None:
                await ApiError(400, "bad_request", problem).response()(scope, receive, send)
                return
        await self.app(scope, _replay(body, more, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes | None, bool]:
        """The whole body, or None once it passes the limit; and whether the client
        disconnected meanwhile."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), True
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None, False
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    def _too_large(self) -> ApiError:
        return ApiError(
            413,
            "payload_too_large",
            f"the request body is larger than {self.max_body_bytes:,} bytes "
            "(setting NIVA_API_MAX_BODY_BYTES); attachments go to the documents route",
        )


def _nul_in_target(scope: Scope) -> str | None:
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogatepass")
    query = scope.get("query_string", b"")
    for part, what in ((raw_path, "path"), (query, "query string")):
        if b"\x00" in part or b"\x00" in unquote_to_bytes(part):
            return f"the {what} contains a NUL character, which no id or filter may hold"
    return None


def _replay(body: bytes, disconnected: bool, receive: Receive) -> Receive:
    """A receive that hands the buffered body over once, then waits as the original."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if disconnected:
            return {"type": "http.disconnect"}
        return await receive()

    return replay
