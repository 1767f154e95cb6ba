"""``niva instances migrate`` and ``niva instances modify``: models that change under
running cases, through the HTTP API (``/migrations``, ``/instances/{id}/modify``).

A plan file (YAML or JSON) holds ``source: {process_id, version}``, ``target: {…}``,
``mappings`` and optionally ``variables``; the cases are named with ``--instance`` (one
or more) or selected with ``--query``. The batch runs on the server; the command follows
it with a progress bar and prints the report as a table (or ``--json``); a dry run lists,
under each case, its work in flight and what migrating would do to it (wait, rearm, arm,
cancel). Exit 0 when every case was migrated (or, dry, would be), 1 when any was refused.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from starter.commands.api_client import (
    DEFAULT_URL,
    EXIT_REJECTED,
    EXIT_USAGE,
    JsonOpt,
    TokenOpt,
    UrlOpt,
    call,
    echo_json,
    read_payload,
)

__all__ = ["migrate", "modify"]

_POLL_SECONDS = 0.5


def _quiet(_data: Any) -> None:
    """Print nothing (the command prints once the batch is done)."""


def migrate(
    plan: Annotated[str, typer.Option("--plan", help="The migration plan: a YAML or JSON file")],
    instance: Annotated[
        list[str] | None, typer.Option("--instance", help="A case to migrate (repeatable)")
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(help="A visibility query selecting running cases of the source version"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would change; change nothing")
    ] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Migrate running cases to another version (role operator)."""
    body = read_payload(plan)
    if not instance and query is None:
        typer.echo("niva: name the cases: --instance ID (repeatable) or --query Q", err=True)
        raise typer.Exit(EXIT_USAGE)
    body["instances"] = list(instance or [])
    if query is not None:
        body["query"] = query
    body["dry_run"] = dry_run
    accepted = call(
        "POST", "/migrations", url=url, token=token, as_json=False, show=_quiet, json=body
    )
    migration_id = accepted["migration_id"]
    report = _follow(migration_id, url=url, token=token, show_progress=not as_json)
    if as_json:
        echo_json(report)
    else:
        _print_report(report)
    if report["refused"]:
        raise typer.Exit(EXIT_REJECTED)


def _follow(migration_id: str, *, url: str, token: str | None, show_progress: bool) -> Any:
    """Poll the batch until it completes, with a progress bar on stderr."""
    path = f"/migrations/{migration_id}"
    report = call("GET", path, url=url, token=token, as_json=False, show=_quiet)
    with typer.progressbar(
        length=max(report["total"], 1),
        label=f"migration {migration_id}",
        file=sys.stderr if show_progress else None,
        hidden=not show_progress,
    ) as bar:
        shown = 0
        while True:
            done = len(report["migrated"]) + len(report["refused"])
            bar.update(done - shown)
            shown = done
            if report["status"] == "completed":
                return report
            time.sleep(_POLL_SECONDS)
            report = call("GET", path, url=url, token=token, as_json=False, show=_quiet)


def _print_report(report: dict[str, Any]) -> None:
    verb = "would migrate" if report["dry_run"] else "migrated"
    in_flight: dict[str, list[dict[str, Any]]] = report.get("in_flight", {})

    def with_work(row: list[str]) -> list[list[str]]:
        # Under each case, one row per piece of work in flight: what migrating does to it.
        work = in_flight.get(row[0], [])
        return [row, *(["", f"  {w['effect']}", w["detail"]] for w in work)]

    rows = [
        line
        for i in report["migrated"]
        for line in with_work([i, verb, "; ".join(report["changes"].get(i, []))])
    ]
    rows += [
        line
        for r in report["refused"]
        for line in with_work([r["instance_id"], "refused", r["reason"]])
    ]
    headers = ["INSTANCE", "RESULT", "DETAIL"]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(2)]
    for row in [headers, *rows]:
        typer.echo(f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}".rstrip())
    typer.echo(
        f"{len(report['migrated'])} of {report['total']} {verb}, {len(report['refused'])} refused"
        + (" (dry run: nothing changed)" if report["dry_run"] else "")
    )


def modify(
    instance_id: Annotated[str, typer.Argument(help="<process_id>:<business_key>")],
    reason: Annotated[str, typer.Option(help="Why (kept in the case's trail)")],
    cancel: Annotated[
        list[str] | None,
        typer.Option("--cancel", help="A task id, or an element id to cancel (repeatable)"),
    ] = None,
    start_before: Annotated[
        list[str] | None,
        typer.Option("--start-before", help="An element to start a token before (repeatable)"),
    ] = None,
    variables: Annotated[
        str | None,
        typer.Option("--variables", help="Variables to set: a JSON or YAML file, - for stdin"),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Repair a case in one step: cancel, start before, set variables (role operator)."""
    from starter.commands.instances import path_segment

    def show(data: dict[str, Any]) -> None:
        for change in data["changes"]:
            typer.echo(change)

    call(
        "POST",
        f"/instances/{path_segment(instance_id)}/modify",
        url=url,
        token=token,
        as_json=as_json,
        show=show,
        json={
            "cancel": list(cancel or []),
            "start_before": list(start_before or []),
            "variables": read_payload(variables),
            "reason": reason,
        },
    )
