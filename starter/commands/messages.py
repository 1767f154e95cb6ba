"""``niva messages``: send a message to a case, or publish one by correlation key, through
the HTTP API."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from starter.commands.api_client import (
    DEFAULT_URL,
    EXIT_USAGE,
    JsonOpt,
    TokenOpt,
    UrlOpt,
    call,
    read_payload,
)
from starter.commands.instances import path_segment

__all__ = ["app", "read_variables"]

app = typer.Typer(help="Send messages to cases, or publish them by key (through the API).")


@app.command()
def send(
    instance_id: Annotated[str, typer.Argument(help="<process_id>:<business_key>")],
    name: Annotated[str, typer.Argument(help="The message's name in the model")],
    payload: Annotated[
        str | None,
        typer.Option("--payload", "-p", help="The message's values: JSON or YAML file, - stdin"),
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Repeat a message safely with the same key")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a message to a case."""
    body: dict[str, Any] = {"payload": read_payload(payload)}
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key

    def show(data: dict[str, Any]) -> None:
        again = " (repeat of an earlier message)" if data["duplicate"] else ""
        if data["buffered"]:
            typer.echo(f"{data['name']} is kept until an element of the case waits for it{again}")
        else:
            typer.echo(f"{data['name']} received by {', '.join(data['received_by'])}{again}")

    call(
        "POST",
        f"/instances/{path_segment(instance_id)}/messages/{path_segment(name)}",
        url=url,
        token=token,
        as_json=as_json,
        show=show,
        json=body,
    )


def read_variables(source: str | None) -> dict[str, Any]:
    """``--variables``: a JSON object written out, or a JSON or YAML file, or - for stdin."""
    if source is None or not source.lstrip().startswith("{"):
        return read_payload(source)
    try:
        data = json.loads(source)
    except ValueError as exc:
        typer.echo(f"niva: --variables is not a JSON object: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    if not isinstance(data, dict):  # pragma: no cover - a "{" opens an object
        raise typer.Exit(EXIT_USAGE)
    return data


@app.command()
def publish(
    name: Annotated[str, typer.Argument(help="The message's name in the model")],
    key: Annotated[str, typer.Option("--key", "-k", help="The correlation key")],
    variables: Annotated[
        str | None,
        typer.Option(
            "--variables", "-v", help="The message's values: JSON, a JSON or YAML file, - stdin"
        ),
    ] = None,
    ttl: Annotated[
        str | None,
        typer.Option(help="ISO 8601 duration (PT1H): how long it waits for a case to subscribe"),
    ] = None,
    message_id: Annotated[
        str | None, typer.Option(help="Publish again safely with the same id")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish a message to every case waiting for it with the correlation key."""
    body: dict[str, Any] = {
        "name": name,
        "correlation_key": key,
        "variables": read_variables(variables),
    }
    if ttl is not None:
        body["ttl"] = ttl
    if message_id is not None:
        body["message_id"] = message_id

    def show(data: dict[str, Any]) -> None:
        delivered = data["delivered_to"]
        if delivered:
            typer.echo(f"{name} ({data['message_id']}) delivered to {', '.join(delivered)}")
        elif data.get("buffered_until"):
            typer.echo(
                f"{name} ({data['message_id']}) waits for a subscription until "
                f"{data['buffered_until']}"
            )
        else:
            typer.echo(f"{name} ({data['message_id']}) delivered to no case: none waits for it")

    call("POST", "/messages", url=url, token=token, as_json=as_json, show=show, json=body)
