"""``niva instances``: start, list, show and cancel cases through the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import typer

from starter.commands.api_client import (
    DEFAULT_URL,
    JsonOpt,
    TokenOpt,
    UrlOpt,
    call,
    read_payload,
)

__all__ = ["app", "path_segment", "print_instance"]

app = typer.Typer(help="Start, list, show, cancel, migrate and modify cases (through the API).")


def _table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@app.command()
def start(
    process_id: Annotated[str, typer.Argument(help="The process to start")],
    business_key: Annotated[str, typer.Argument(help="The case's key, e.g. a diary number")],
    title: Annotated[str, typer.Option(help="The case's title")],
    variables: Annotated[
        str | None,
        typer.Option("--variables", help="Start variables: a JSON or YAML file, - for stdin"),
    ] = None,
    version: Annotated[int | None, typer.Option(help="A version; default the latest")] = None,
    start_event: Annotated[
        str | None, typer.Option(help="A message start event to start at")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a case."""
    body: dict[str, Any] = {
        "process_id": process_id,
        "business_key": business_key,
        "title": title,
        "variables": read_payload(variables),
    }
    if version is not None:
        body["version"] = version
    if start_event is not None:
        body["start_event"] = start_event

    def show(data: dict[str, Any]) -> None:
        typer.echo(
            f"started {data['instance_id']} ({data['process_id']} version {data['version']})"
        )

    call("POST", "/instances", url=url, token=token, as_json=as_json, show=show, json=body)


@app.command("list")
def list_command(
    process_id: Annotated[str | None, typer.Option(help="Only this process")] = None,
    status: Annotated[
        str | None, typer.Option(help="running, completed, cancelled or failed")
    ] = None,
    business_key: Annotated[str | None, typer.Option(help="Only this business key")] = None,
    candidate: Annotated[
        list[str] | None,
        typer.Option(help="With an open task for org:O, group:G or org:O/group:G"),
    ] = None,
    incident: Annotated[
        bool | None, typer.Option("--incident/--no-incident", help="With or without incidents")
    ] = None,
    deadline_before: Annotated[
        str | None, typer.Option(help="Next deadline before this ISO date-time")
    ] = None,
    page_size: Annotated[int, typer.Option(min=1, max=100)] = 20,
    page_token: Annotated[str | None, typer.Option(help="From the previous page")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the cases you may read."""
    params: dict[str, Any] = {"page_size": page_size}
    for name, value in (
        ("process_id", process_id),
        ("status", status),
        ("business_key", business_key),
        ("deadline_before", deadline_before),
        ("page_token", page_token),
    ):
        if value is not None:
            params[name] = value
    if candidate:
        params["candidate"] = candidate
    if incident is not None:
        params["has_incident"] = str(incident).lower()

    def show(data: dict[str, Any]) -> None:
        rows = [
            [
                i["instance_id"],
                i["status"] + (" (incident)" if i["has_incident"] else ""),
                str(i["version"] or "-"),
                ", ".join(i["open_tasks"]) or "-",
                i["next_deadline"] or "-",
            ]
            for i in data["instances"]
        ]
        _table(rows, ["instance", "status", "version", "open tasks", "next deadline"])
        if data.get("next_page_token"):
            typer.echo(f"more: --page-token {data['next_page_token']}", err=True)

    call("GET", "/instances", url=url, token=token, as_json=as_json, show=show, params=params)


def print_instance(data: dict[str, Any]) -> None:
    """A case, readable: status, tasks, incidents, what it waits for, variables."""
    typer.echo(f"{data['instance_id']}: {data['title']}")
    typer.echo(f"  process   {data['process_id']} version {data['version']}")
    outcome = f" ({data['outcome']})" if data.get("outcome") else ""
    typer.echo(f"  status    {data['status']}{outcome}")
    typer.echo(f"  key       {data['business_key']}")
    if data["open_tasks"]:
        typer.echo("  open tasks:")
        for task in data["open_tasks"]:
            due = f", due {task['due']}" if task.get("due") else ""
            who = ", ".join(task["candidates"]) or "anyone"
            typer.echo(f"    {task['task_id']}  {task.get('name') or ''}  [{who}]{due}")
    if data["incidents"]:
        typer.echo("  incidents:")
        for incident in data["incidents"]:
            typer.echo(
                f"    {incident['incident_id']} at {incident['element_id']}: {incident['message']}"
            )
    if data.get("pending_jobs"):
        typer.echo("  waiting for job workers:")
        for job in data["pending_jobs"]:
            typer.echo(f"    {job['task_id']}  job {job['type']} on task queue {job['task_queue']}")
    if data["accepts_messages"]:
        typer.echo(f"  accepts   {', '.join(data['accepts_messages'])}")
    if data["variables"]:
        typer.echo("  variables:")
        for name, value in data["variables"].items():
            typer.echo(f"    {name} = {value!r}")


@app.command()
def show(
    instance_id: Annotated[str, typer.Argument(help="<process_id>:<business_key>")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one case."""
    call(
        "GET",
        f"/instances/{path_segment(instance_id)}",
        url=url,
        token=token,
        as_json=as_json,
        show=print_instance,
    )


@app.command()
def cancel(
    instance_id: Annotated[str, typer.Argument(help="<process_id>:<business_key>")],
    reason: Annotated[str, typer.Option(help="Why the case ends (kept in its trail)")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a case (role operator)."""
    call(
        "POST",
        f"/instances/{path_segment(instance_id)}/cancel",
        url=url,
        token=token,
        as_json=as_json,
        show=lambda data: typer.echo(f"cancelled {data['instance_id']}"),
        json={"reason": reason},
    )


def path_segment(value: str) -> str:
    """A path segment: ``/``, ``?``, ``#`` and ``%`` in an id must not change the URL."""
    return quote(value, safe=":@!$&'()*+,;=-._~")


# Migrating and repairing cases: their own module, commands of this group.
from starter.commands import migrations as _migrations  # noqa: E402

app.command("migrate")(_migrations.migrate)
app.command("modify")(_migrations.modify)
