"""``niva models``: validate, lay out, deploy, list and export process models.

``validate``, ``layout`` and ``convert`` (to the Camunda 8 dialect) work offline on files;
``simulate`` runs one scripted case on a time-skipping test server of its own
(`starter.commands.simulate`). ``deploy`` goes through the API (``NIVA_URL``,
``NIVA_TOKEN`` of a modeler); ``deploy --local``, ``list`` and ``export`` use the model
store in the data directory (``NIVA_DATA_DIR``), the one the embedded stack's
workers read. ``deploy --local`` then syncs the Temporal Schedules of timer start events
(``TEMPORAL_*``), and exits 3 when a schedule is wanted but Temporal is not reachable.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from temporalio.envconfig import ClientConfigProfile
from temporalio.service import RPCError

from process_models.bpmn import layout_definitions, read_bpmn, write_bpmn
from process_models.bpmn.layout import unnamed_flows
from process_models.convert import ConversionError, convert_to_camunda8
from process_models.deployments import (
    Companions,
    ModelFile,
    ModelStore,
    embedded_form_problems,
    read_companions,
)
from process_models.errors import (
    BpmnReadError,
    ModelInvalidError,
    ModelTooLargeError,
    Problem,
    UnknownModelError,
)
from process_models.schema import Definitions
from process_models.shipped import shipped_model_files
from process_models.store import FileBlobStore
from process_models.validation import check_model, executable_processes
from starter.commands.api_client import DEFAULT_URL, JsonOpt, TokenOpt, UrlOpt, call
from starter.commands.simulate import simulate_command
from starter.schedules import sync_schedules, timer_start_schedules
from starter.settings import DataSettings, ModelSettings, WorkerSettings

__all__ = ["app", "local_store"]

_CONNECT_TIMEOUT_SECONDS = 10.0

app = typer.Typer(help="Validate, lay out, deploy, list and export BPMN process models.")

FilesArg = Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)]


def local_store(data: DataSettings | None = None) -> ModelStore:
    """The model store in the data directory."""
    return ModelStore(
        FileBlobStore((data or DataSettings()).models_dir),
        limits=ModelSettings().deploy_limits(),
    )


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        typer.echo(problem.format(), err=True)


def _print_warnings(warnings: list[Problem]) -> None:
    # The processes of one file share its warnings: each is printed once.
    for warning in dict.fromkeys(warnings):
        typer.echo(
            warning.model_copy(update={"message": f"warning: {warning.message}"}).format(), err=True
        )


def _model_files(paths: list[Path]) -> list[ModelFile]:
    return [ModelFile(name=str(path), content=path.read_bytes()) for path in paths]


@app.command("validate")
def validate_command(files: FilesArg) -> None:
    """Check files; one line per problem as file:line: element_id: message; exit 1 if any.

    Camunda Forms (``.form``) and DMN files (``.dmn``) are read with the BPMN, as
    ``deploy`` reads them: a ``formId`` or ``decisionId`` names a form or decision of the
    same files. Warnings (settings niva ignores, a called process, form or decision that is
    not among the files) are lines of the same form with ``warning:`` before the message;
    they do not change the exit status.
    """
    read = []
    model_files = _model_files(files)
    companions = read_companions(model_files)
    problems: list[Problem] = list(companions.problems)
    warnings: list[Problem] = []
    _echo_companions(model_files, companions)
    for file in model_files:
        if file.kind != "bpmn":
            continue
        try:
            read.append((file, read_bpmn(file.content)))
        except BpmnReadError as exc:
            problems.append(exc.problem.model_copy(update={"file": file.name}))
    # A call activity may start a process of the same files or a shipped one.
    known = {p.id for _, defs in read for p in executable_processes(defs)}
    for shipped in shipped_model_files():
        known.update(p.id for p in executable_processes(read_bpmn(shipped.content)))
    for file, defs in read:
        checked = check_model(defs, known_processes=known)
        found = checked.problems
        for process in executable_processes(defs):
            found.extend(embedded_form_problems(process))
        problems.extend(p.model_copy(update={"file": file.name}) for p in found)
        warnings.extend(w.model_copy(update={"file": file.name}) for w in checked.warnings)
        warnings.extend(
            w.model_copy(update={"file": file.name}) for w in _unresolved(defs, companions)
        )
        if not found:
            ids = ", ".join(p.id for p in executable_processes(defs))
            typer.echo(f"{file.name}: valid ({ids})")
    _print_warnings(warnings)
    _print_problems(problems)
    if problems:
        raise typer.Exit(1)


def _echo_companions(files: list[ModelFile], companions: Companions) -> None:
    """One line per form or DMN file whose forms or decisions read without a problem."""
    for file in files:
        ids = [key for key, name in companions.file_names.items() if name == file.name]
        if ids:
            typer.echo(f"{file.name}: valid ({', '.join(ids)})")


def _unresolved(defs: Definitions, companions: Companions) -> list[Problem]:
    """Warnings for the forms and decisions a model's tasks name that are not among the
    files: offline, niva cannot tell whether they are deployed already."""
    found: list[Problem] = []
    for process in executable_processes(defs):
        for node in process.all_nodes():
            form = node.niva.form
            if form is not None and form.form_id and form.form_id not in companions.forms:
                found.append(
                    Problem(
                        message=f"the form {form.form_id!r} is not among these files: deploy "
                        "its .form file with the model unless it is deployed already",
                        element_id=node.id,
                        line=form.line or node.line,
                    )
                )
            called = node.niva.called_decision
            if (
                called is not None
                and called.decision_id
                and called.decision_id not in companions.decisions
            ):
                found.append(
                    Problem(
                        message=f"the decision {called.decision_id!r} is not among these files: "
                        "deploy its .dmn file with the model unless it is deployed already",
                        element_id=node.id,
                        line=called.line or node.line,
                    )
                )
    return found


@app.command()
def layout(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Write here, not stdout")] = None,
) -> None:
    """Add a left-to-right diagram to every process that has none; keep existing DI.

    A flow without an id cannot be drawn: it gets one (``Flow_<source>_<target>``), and a
    line on stderr says which.
    """
    try:
        defs = read_bpmn(file.read_bytes())
    except BpmnReadError as exc:
        _print_problems([exc.problem.model_copy(update={"file": str(file)})])
        raise typer.Exit(1) from exc
    laid_out = layout_definitions(defs)
    named = {line: flow for line, flow in _flow_ids_by_line(laid_out).items() if flow}
    for line, source, target in unnamed_flows(defs):
        new_id = named.get(line) if line is not None else None
        what = f"{file}:{line or 1}: flow {source} -> {target} has no id"
        typer.echo(f"{what}; it was given the id {new_id!r}" if new_id else what, err=True)
    xml = write_bpmn(laid_out)
    if out is None:
        sys.stdout.buffer.write(xml)
    else:
        out.write_bytes(xml)


@app.command()
def convert(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    to: Annotated[str, typer.Option("--to", help="The dialect to convert to")] = "camunda8",
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Write here, not stdout")] = None,
) -> None:
    """Convert a niva-dialect model to the Camunda 8 dialect (zeebe extensions, FEEL).

    What has no faithful translation is listed as ``file:line: element: reason`` on
    stderr, and nothing is written (exit 1).
    """
    if to != "camunda8":
        typer.echo(f"--to {to}: only camunda8 is supported", err=True)
        raise typer.Exit(2)
    try:
        xml = convert_to_camunda8(file.read_bytes())
    except ConversionError as exc:
        for problem in exc.problems:
            typer.echo(problem.format(str(file)), err=True)
        raise typer.Exit(1) from exc
    if out is None:
        sys.stdout.buffer.write(xml)
    else:
        out.write_bytes(xml)


def _flow_ids_by_line(defs: Definitions) -> dict[int | None, str | None]:
    flows: dict[int | None, str | None] = {
        f.line: f.id for p in defs.processes for f in p.all_flows()
    }
    flows.update({m.line: m.id for c in defs.collaborations for m in c.message_flows})
    return flows


@app.command()
def deploy(
    files: FilesArg,
    local: Annotated[
        bool, typer.Option("--local", help="Deploy into the data directory's model store")
    ] = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate and deploy BPMN files, Camunda Forms (.form) and DMN decisions (.dmn), all
    or none; identical content keeps its version.

    Through the API (role modeler) as one deployment; with --local into the data
    directory's store.
    """
    if not local:
        if len(files) == 1 and files[0].suffix.lower() not in (".form", ".dmn"):
            request: dict[str, object] = {
                "content": files[0].read_bytes(),
                "headers": {"Content-Type": "application/xml", "X-File-Name": files[0].name},
            }
        else:
            request = {"files": [("files", (p.name, p.read_bytes())) for p in files]}
        call(
            "POST",
            "/process-models",
            url=url,
            token=token,
            as_json=as_json,
            show=_show_deployed,
            **request,
        )
        return
    store = local_store()
    try:
        deployment = store.deploy_files(_model_files(files))
    except ModelInvalidError as exc:
        _print_problems(exc.problems)
        raise typer.Exit(1) from exc
    except ModelTooLargeError as exc:
        typer.echo(f"niva models deploy: {exc}", err=True)
        raise typer.Exit(1) from exc
    for deployed_form in deployment.forms:
        state = "deployed" if deployed_form.created else "unchanged"
        form = deployed_form.form
        typer.echo(f"form {form.form_id} version {form.version} {state} ({form.file_name})")
    for deployed_decision in deployment.decisions:
        state = "deployed" if deployed_decision.created else "unchanged"
        decision = deployed_decision.decision
        typer.echo(
            f"decision {decision.decision_id} version {decision.version} {state} "
            f"({decision.file_name})"
        )
    for result in deployment.processes:
        state = "deployed" if result.created else "unchanged"
        model = result.model
        typer.echo(f"{model.process_id} version {model.version} {state} ({model.file_name})")
    _print_warnings([w for r in deployment.processes for w in r.warnings])
    _sync_schedules(store)


def _sync_schedules(store: ModelStore) -> None:
    """Make the Temporal Schedules of timer start events follow the store, as the API and
    ``niva dev`` do; exit 3 when Temporal is not reachable and a schedule is wanted."""
    import worker  # the connection follows TEMPORAL_* like the worker's

    wanted = timer_start_schedules(store)
    target = temporal_target()

    async def sync() -> list[str]:
        try:
            client = await asyncio.wait_for(worker.connect(), _CONNECT_TIMEOUT_SECONDS)
        except (RuntimeError, TimeoutError, OSError, RPCError) as exc:
            raise _Unreachable(str(exc) or type(exc).__name__) from exc
        return await sync_schedules(client, store, task_queue=WorkerSettings().task_queue)

    try:
        synced = asyncio.run(sync())
    except RPCError as exc:
        typer.echo(
            f"niva models deploy: the models are deployed, but Temporal at {target} refused "
            f"the schedules of their timer start events: {exc}",
            err=True,
        )
        raise typer.Exit(1) from exc
    except _Unreachable as exc:
        reason = str(exc)
        if not wanted:
            typer.echo(
                f"niva models deploy: Temporal at {target} is not reachable ({reason}); "
                "no deployed process has a timer start event, so no schedule was synced",
                err=True,
            )
            return
        typer.echo(
            f"niva models deploy: the models are deployed, but the schedules of their timer "
            f"start events ({', '.join(wanted)}) were not synced: Temporal at {target} is "
            f"not reachable ({reason}). Start Temporal (niva dev syncs them when it starts) "
            "or run this command again when it runs.",
            err=True,
        )
        raise typer.Exit(3) from exc
    typer.echo(
        f"schedules in sync on {target}: {', '.join(synced)}"
        if synced
        else f"schedules in sync on {target}: none (no timer start event)"
    )


class _Unreachable(Exception):
    """No connection to Temporal."""


def temporal_target() -> str:
    """The Temporal address the CLI connects to (``TEMPORAL_*``, envconfig profiles)."""
    config = ClientConfigProfile.load().to_client_connect_config()
    return str(config.get("target_host") or "localhost:7233")


def _show_deployed(deployed: list[dict[str, object]]) -> None:
    warnings: list[Problem] = []
    for item in deployed:
        state = "deployed" if item.get("created") else "unchanged"
        forms = item.get("forms") or {}
        uses = (
            " (forms " + ", ".join(f"{k} v{v}" for k, v in forms.items()) + ")"
            if isinstance(forms, dict) and forms
            else ""
        )
        typer.echo(f"{item['id']} version {item['version']} {state}{uses}")
        found = item.get("warnings")
        if isinstance(found, list):
            warnings.extend(Problem.model_validate(w) for w in found)
    _print_warnings(warnings)


@app.command("list")
def list_command() -> None:
    """The latest version of every deployed process."""
    for model in local_store().latest():
        tag = model.version_tag or "-"
        typer.echo(
            f"{model.process_id}\tversion {model.version}\ttag {tag}\t"
            f"{model.content_hash[:12]}\t{model.deployed_at:%Y-%m-%d %H:%M}Z"
        )


@app.command()
def export(
    process_id: str,
    version: Annotated[int | None, typer.Option(help="Default: the latest")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Write here, not stdout")] = None,
) -> None:
    """The BPMN file of a deployed version, exactly as deployed."""
    store = local_store()
    try:
        content = store.bpmn(store.get(process_id, version))
    except UnknownModelError as exc:
        typer.echo(f"niva models export: {exc}", err=True)
        raise typer.Exit(1) from exc
    if out is None:
        sys.stdout.buffer.write(content)
    else:
        out.write_bytes(content)


app.command("simulate")(simulate_command)
