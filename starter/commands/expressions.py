"""``niva expressions eval``: evaluate a FEEL or CEL expression as a model would.

Modelers test an expression before they put it in a model. The result prints as JSON;
dates, times and durations as FEEL writes them (``"2021-01-01"``, ``"P1D"``). Exit codes:
0 evaluated, 1 the expression is wrong (syntax, a limit, a failed ``assert``), 2 bad usage.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from pydantic import JsonValue

from process_models.errors import ExpressionError
from process_models.expressions import compile_expression
from process_models.feel import compile_feel

__all__ = ["NowOpt", "TimezoneOpt", "VariablesOpt", "app", "evaluation_scope"]

app = typer.Typer(help="Evaluate expressions as process models use them.")


def _usage(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


VariablesOpt = Annotated[
    str, typer.Option(help="The variables as a JSON object, e.g. '{\"amount\": 1200}'.")
]
NowOpt = Annotated[
    str | None,
    typer.Option(help="The case clock, ISO 8601 with an offset; the current time if omitted."),
]
TimezoneOpt = Annotated[str, typer.Option(help="The process's zone, e.g. Europe/Stockholm.")]


def evaluation_scope(
    variables: str, now: str | None, timezone: str
) -> tuple[dict[str, JsonValue], datetime, ZoneInfo]:
    """The variables, clock and zone of the options, or exit 2 saying which is wrong."""
    try:
        bound = json.loads(variables)
    except json.JSONDecodeError as exc:
        raise _usage(f"--variables is not JSON: {exc}") from None
    if not isinstance(bound, dict):
        raise _usage("--variables must be a JSON object")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _usage(f"unknown time zone {timezone!r}") from None
    try:
        # A command line tool, not workflow code: the wall clock is the natural default.
        clock = datetime.fromisoformat(now) if now else datetime.now(UTC)
    except ValueError:
        raise _usage(f"--now is not an ISO 8601 date-time: {now!r}") from None
    if clock.tzinfo is None:
        raise _usage("--now needs an offset, e.g. 2026-03-01T10:00:00+01:00")
    return bound, clock, zone


@app.command("eval")
def evaluate(
    expression: Annotated[str, typer.Argument(help="The expression; a leading '=' is optional.")],
    language: Annotated[
        Literal["feel", "cel"], typer.Option(help="feel (Camunda 8 models) or cel (niva's).")
    ] = "feel",
    variables: VariablesOpt = "{}",
    now: NowOpt = None,
    timezone: TimezoneOpt = "Europe/Stockholm",
) -> None:
    """Evaluate EXPRESSION and print its result as JSON."""
    bound, clock, zone = evaluation_scope(variables, now, timezone)
    text = expression if expression.lstrip().startswith("=") else "=" + expression
    try:
        if language == "feel":
            result = compile_feel(text).evaluate(bound, now=clock, tz=zone)
        else:
            result = compile_expression(text).evaluate(bound, now=clock, tz=zone)
    except ExpressionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result, ensure_ascii=False))
