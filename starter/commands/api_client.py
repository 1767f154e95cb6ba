"""What the ``niva`` commands that talk to the HTTP API share: the connection options,
one call that turns the answer into output or an exit code, and payload files.

Exit codes: 0 done; 1 the API refused the request (4xx); 2 bad usage (a missing token, an
unreadable payload file); 3 the API or Temporal is unavailable (5xx, no connection).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import yaml

__all__ = [
    "DEFAULT_URL",
    "EXIT_REJECTED",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "JsonOpt",
    "TokenOpt",
    "UrlOpt",
    "call",
    "echo_json",
    "read_payload",
    "transport_override",
]

EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3

UrlOpt = Annotated[
    str,
    typer.Option("--url", envvar="NIVA_URL", help="The niva API [NIVA_URL]"),
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", envvar="NIVA_TOKEN", help="Bearer token [NIVA_TOKEN]"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer")]

DEFAULT_URL = "http://127.0.0.1:8000"

transport_override: httpx.BaseTransport | None = None
"""A transport every command uses instead of the network (tests set it)."""


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"niva: {message}", err=True)
    return typer.Exit(code)


def _report_error(response: httpx.Response, as_json: bool) -> typer.Exit:
    try:
        body = response.json()
    except ValueError:
        body = {"error": "error", "detail": response.text.strip() or response.reason_phrase}
    if as_json:
        echo_json(body)
    typer.echo(
        f"niva: {response.status_code} {body.get('error', 'error')}: {body.get('detail', '')}",
        err=True,
    )
    for field in body.get("fields") or []:
        where = ".".join(str(p) for p in field.get("loc", []))
        typer.echo(f"  {where}: {field.get('msg')}", err=True)
    for problem in body.get("problems") or []:
        typer.echo(
            f"  line {problem.get('line') or '?'}: {problem.get('element_id') or '-'}: "
            f"{problem.get('message')}",
            err=True,
        )
    if body.get("instance_id"):
        typer.echo(f"  instance: {body['instance_id']}", err=True)
    if response.status_code == 429 or response.status_code >= 500:
        retry = response.headers.get("retry-after")
        if retry:
            typer.echo(f"  try again in {retry} s", err=True)
    return typer.Exit(EXIT_REJECTED if response.status_code < 500 else EXIT_UNAVAILABLE)


def call(
    method: str,
    path: str,
    *,
    url: str,
    token: str | None,
    as_json: bool,
    show: Callable[[Any], None],
    **request: Any,
) -> Any:
    """Send one request; print the answer with ``show`` (or as JSON), or fail with the
    error's exit code.

    Args:
        method: the HTTP method.
        path: the path below the API's URL.
        url: the API's URL.
        token: the bearer token; required.
        as_json: print the JSON answer instead of calling ``show``.
        show: prints the decoded answer for people.
        request: passed to `httpx.Client.request` (``json``, ``params``, …).
    """
    if not token:
        raise _fail("no token: pass --token or set NIVA_TOKEN", EXIT_USAGE)
    try:
        with httpx.Client(
            base_url=url.rstrip("/") or DEFAULT_URL,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(60.0, connect=10.0),
            transport=transport_override,
        ) as http:
            response = http.request(method, path, **request)
    except httpx.InvalidURL as exc:
        raise _fail(f"--url {url!r} is not a URL: {exc}", EXIT_USAGE) from exc
    except httpx.TransportError as exc:
        raise _fail(f"cannot reach the API at {url}: {exc}", EXIT_UNAVAILABLE) from exc
    if response.is_error:
        raise _report_error(response, as_json)
    data = response.json() if response.content else None
    if as_json:
        echo_json(data)
    else:
        show(data)
    return data


class _Yaml12Loader(yaml.SafeLoader):
    """YAML whose booleans are only true and false (as in YAML 1.2): ``verdict: no`` and
    ``jurisdiction: NO`` stay the strings they are in these processes."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_payload(source: str | None) -> dict[str, Any]:
    """A JSON object from a JSON or YAML file, or from stdin for ``-``; ``{}`` if None."""
    if source is None:
        return {}
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot read payload {source}: {exc.strerror or exc}", EXIT_USAGE) from exc
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        try:
            # YAML reads dates as dates: keep them as the ISO text they were written as.
            data = json.loads(json.dumps(yaml.load(text, Loader=_Yaml12Loader), default=_iso))
        except yaml.YAMLError as exc:
            raise _fail(f"payload {source} is neither JSON nor YAML: {exc}", EXIT_USAGE) from exc
    if not isinstance(data, dict):
        raise _fail(
            f"payload {source} must be a JSON object (field: value), not {type(data).__name__}",
            EXIT_USAGE,
        )
    return data


def _iso(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
