"""``niva decisions eval``: evaluate a DMN decision of a file as a business rule task would.

Modelers try a decision before they deploy it. The decision is evaluated with the decisions
it requires, by the same evaluator cases use (`process_models.dmn.DecisionEvaluator`), and
its result prints as JSON in Camunda 8's shapes (a value, a context, or a list of them, by
hit policy). Exit codes: 0 evaluated; 1 the file is not a valid DMN file (one line per
problem, ``file:line: element: message``) or the decision fails (a hit policy violated, an
expression error); 2 bad usage (variables that are not a JSON object, a decision the file
does not have, an unknown zone or clock).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from process_models.dmn import DecisionError, DecisionEvaluator, read_dmn
from process_models.errors import ModelInvalidError
from starter.commands.expressions import NowOpt, TimezoneOpt, VariablesOpt, evaluation_scope

__all__ = ["app"]

app = typer.Typer(help="Evaluate DMN decisions as business rule tasks do.")


@app.command("eval")
def evaluate(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    decision_id: Annotated[str, typer.Argument(metavar="DECISION_ID", help="The decision's id.")],
    variables: VariablesOpt = "{}",
    now: NowOpt = None,
    timezone: TimezoneOpt = "Europe/Stockholm",
) -> None:
    """Evaluate DECISION_ID of FILE (with its required decisions) and print the result as
    JSON."""
    bound, clock, zone = evaluation_scope(variables, now, timezone)
    try:
        definitions = read_dmn(file.read_bytes(), name=str(file))
    except ModelInvalidError as exc:
        for problem in exc.problems:
            typer.echo(problem.format(), err=True)
        raise typer.Exit(1) from None
    if decision_id not in definitions.decisions:
        known = ", ".join(definitions.decisions) or "none"
        typer.echo(f"error: {file} has no decision {decision_id!r} (decisions: {known})", err=True)
        raise typer.Exit(2)
    try:
        result = DecisionEvaluator(definitions).evaluate(decision_id, bound, now=clock, tz=zone)
    except DecisionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result, ensure_ascii=False))
