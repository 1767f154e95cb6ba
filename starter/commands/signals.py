"""``niva signals``: broadcast a BPMN signal through the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from starter.commands.api_client import DEFAULT_URL, JsonOpt, TokenOpt, UrlOpt, call
from starter.commands.instances import path_segment
from starter.commands.messages import read_variables

__all__ = ["app"]

app = typer.Typer(help="Broadcast signals to the cases waiting for them (through the API).")


@app.command()
def broadcast(
    name: Annotated[str, typer.Argument(help="The signal's name in the model")],
    variables: Annotated[
        str | None,
        typer.Option(
            "--variables", "-v", help="The signal's values: JSON, a JSON or YAML file, - stdin"
        ),
    ] = None,
    signal_id: Annotated[
        str | None, typer.Option(help="Broadcast again safely with the same id")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Broadcast a signal to every case waiting for it; start the processes it starts."""
    body: dict[str, Any] = {"variables": read_variables(variables)}
    if signal_id is not None:
        body["signal_id"] = signal_id

    def show(data: dict[str, Any]) -> None:
        delivered, started = data["delivered_to"], data["started"]
        typer.echo(
            f"{name} ({data['signal_id']}) delivered to "
            + (", ".join(delivered) if delivered else "no case")
            + (f"; started {', '.join(started)}" if started else "")
        )

    call(
        "POST",
        f"/signals/{path_segment(name)}",
        url=url,
        token=token,
        as_json=as_json,
        show=show,
        json=body,
    )
