"""``niva tasks``: list, show and complete open tasks through the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from starter.commands.api_client import (
    DEFAULT_URL,
    JsonOpt,
    TokenOpt,
    UrlOpt,
    call,
    echo_json,
    read_payload,
)
from starter.commands.instances import path_segment

__all__ = ["app"]

app = typer.Typer(help="Open tasks: list them, show their forms, complete them (through the API).")


@app.command("list")
def list_command(
    process_id: Annotated[str | None, typer.Option(help="Only this process")] = None,
    page_size: Annotated[int, typer.Option(min=1, max=50, help="Cases per page")] = 20,
    page_token: Annotated[str | None, typer.Option(help="From the previous page")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The open tasks you may complete."""
    params: dict[str, Any] = {"page_size": page_size}
    if process_id is not None:
        params["process_id"] = process_id
    if page_token is not None:
        params["page_token"] = page_token

    def show(data: dict[str, Any]) -> None:
        if not data["tasks"]:
            typer.echo("no open tasks for you")
        for task in data["tasks"]:
            due = f"  due {task['due']}" if task.get("due") else ""
            form = f"  form {task['form_key']}" if task.get("form_key") else ""
            typer.echo(
                f"{task['instance_id']}  {task['task_id']}  {task.get('name') or ''}{due}{form}"
            )
        if data.get("next_page_token"):
            typer.echo(f"more: --page-token {data['next_page_token']}", err=True)

    call("GET", "/tasks", url=url, token=token, as_json=as_json, show=show, params=params)


@app.command()
def show(
    instance_id: Annotated[str, typer.Argument(help="<process_id>:<business_key>")],
    task_id: Annotated[str, typer.Argument(help="The task id")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show an open task and the JSON Schema of its form."""

    def show_task(data: dict[str, Any]) -> None:
        typer.echo(f"{data['task_id']}: {data.get('name') or data['element_id']}")
        typer.echo(f"  instance   {data['instance_id']}")
        typer.echo(f"  candidates {', '.join(data['candidates']) or 'anyone'}")
        typer.echo(f"  you may complete it: {'yes' if data['may_complete'] else 'no'}")
        if data.get("due"):
            typer.echo(f"  due        {data['due']}")
        if data.get("form_schema") is None:
            typer.echo("  form       none (any JSON object)")
        else:
            typer.echo(f"  form       {data['form_key']}:")
            echo_json(data["form_schema"])

    call(
        "GET",
        f"/instances/{path_segment(instance_id)}/tasks/{path_segment(task_id)}",
        url=url,
        token=token,
        as_json=as_json,
        show=show_task,
    )


@app.command()
def complete(
    instance_id: Annotated[str, typer.Argument(help="<process_id>:<business_key>")],
    task_id: Annotated[str, typer.Argument(help="The task id")],
    payload: Annotated[
        str | None,
        typer.Option("--payload", "-p", help="The form's values: a JSON or YAML file, - stdin"),
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Repeat a submission safely with the same key")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Complete an open task."""
    body: dict[str, Any] = {"payload": read_payload(payload)}
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key

    def show_result(data: dict[str, Any]) -> None:
        again = " (repeat of an earlier submission)" if data["duplicate"] else ""
        typer.echo(f"completed {data['task_id']} as {data['actor']} at {data['completed']}{again}")

    call(
        "POST",
        f"/instances/{path_segment(instance_id)}/tasks/{path_segment(task_id)}/complete",
        url=url,
        token=token,
        as_json=as_json,
        show=show_result,
        json=body,
    )
