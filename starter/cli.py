"""The ``niva`` command.

Local commands run the stack (``dev``, ``worker``, ``api``) and work on model files
(``models …``). Exit codes: 0 done, 1 rejected (invalid model, refused request), 2 bad usage
or configuration.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from starter.commands import (
    audit,
    decisions,
    expressions,
    instances,
    messages,
    models,
    report,
    signals,
    tasks,
)
from starter.logs import configure_logging
from starter.settings import ApiSettings, DataSettings, DevSettings, LogSettings, WorkerSettings

__all__ = ["app", "main"]

_S = TypeVar("_S", bound=BaseSettings)

app = typer.Typer(
    name="niva",
    help="BPMN process instances on Temporal: the embedded stack, workers, models.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(models.app, name="models")
app.add_typer(instances.app, name="instances")
app.add_typer(tasks.app, name="tasks")
app.add_typer(messages.app, name="messages")
app.add_typer(signals.app, name="signals")
app.add_typer(audit.app, name="audit")
app.add_typer(report.app, name="report")
app.add_typer(expressions.app, name="expressions")
app.add_typer(decisions.app, name="decisions")


def _settings_error(exc: ValidationError) -> typer.Exit:
    """Print every invalid setting with its name, then exit 2."""
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        typer.echo(f"niva: invalid setting {where}: {error['msg']}", err=True)
    return typer.Exit(2)


def _load(factory: type[_S], **overrides: Any) -> _S:
    try:
        return factory(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise _settings_error(exc) from exc


@app.command()
def dev(
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory [NIVA_DATA_DIR, default ./.niva]")
    ] = None,
    temporal_port: Annotated[
        int | None, typer.Option(help="Temporal gRPC port [NIVA_DEV_TEMPORAL_PORT, 7233]")
    ] = None,
    ui_port: Annotated[
        int | None, typer.Option(help="Temporal Web UI port [NIVA_DEV_UI_PORT, 8233]")
    ] = None,
    api_port: Annotated[
        int | None, typer.Option(help="niva API port [NIVA_DEV_API_PORT, 8000]")
    ] = None,
) -> None:
    """Run the embedded stack: Temporal dev server, a worker and the API."""
    from starter.dev import DevError, run_dev

    configure_logging(_load(LogSettings))
    settings = _load(DevSettings, temporal_port=temporal_port, ui_port=ui_port, api_port=api_port)
    data = _load(DataSettings, dir=data_dir)
    try:
        code = asyncio.run(run_dev(settings, data))
    except DevError as exc:
        typer.echo(f"niva dev: {exc}", err=True)
        raise typer.Exit(2) from exc
    raise typer.Exit(code)


@app.command()
def worker() -> None:
    """Run a worker against the Temporal server named by TEMPORAL_ADDRESS."""
    import worker as niva_worker

    configure_logging(_load(LogSettings))
    asyncio.run(niva_worker.run_worker(_load(WorkerSettings)))


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Interface [NIVA_API_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [NIVA_API_PORT, 8000]")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    configure_logging(_load(LogSettings))
    settings = _load(ApiSettings, host=host, port=port)
    uvicorn.run("starter.api.app:app", host=settings.host, port=settings.port, log_config=None)


def main() -> None:
    """Entry point of the ``niva`` console script."""
    app()


if __name__ == "__main__":
    main()
