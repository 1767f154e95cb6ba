"""``niva messages``: send a message to a case through the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from starter.commands.api_client import (
    DEFAULT_URL,
    JsonOpt,
    TokenOpt,
    UrlOpt,
    call,
    read_payload,
)
from starter.commands.instances import path_segment

__all__ = ["app"]

app = typer.Typer(help="Send messages to cases (through the API).")


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
