"""``niva instances|tasks|messages`` against the API served by uvicorn: real output, real
exit codes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from starter.cli import app
from tests.support.api import LIFE, Api
from tests.support.net import free_port

runner = CliRunner()


async def niva(*args: str, url: str, token: str | None, stdin: str | None = None) -> Result:
    """Run ``niva ARGS`` in a thread, so the server and worker keep running meanwhile."""
    env = {"NIVA_URL": url}
    if token is not None:
        env["NIVA_TOKEN"] = token
    return await asyncio.to_thread(runner.invoke, app, list(args), env=env, input=stdin)


async def test_cli_drives_a_case_through_the_api(api: Api, served: str, tmp_path: Path):
    await api.deploy(LIFE)
    officer = api.tokens["sos-officer"]
    variables = tmp_path / "vars.yaml"
    variables.write_text("region: SE-AB\namount: 1\n")
    started = await niva(
        "instances",
        "start",
        "api_life",
        "cli-1",
        "--title",
        "Från kommandoraden",
        "--variables",
        str(variables),
        url=served,
        token=officer,
    )
    assert started.exit_code == 0, started.output
    assert started.output.strip() == "started api_life:cli-1 (api_life version 1)"

    shown = await niva("instances", "show", "api_life:cli-1", url=served, token=officer)
    assert shown.exit_code == 0, shown.output
    assert "api_life:cli-1: Från kommandoraden" in shown.output
    assert "Review  Granska  [org:SE-SOS/group:officer]" in shown.output

    as_json = await niva("instances", "show", "api_life:cli-1", "--json", url=served, token=officer)
    assert json.loads(as_json.stdout)["variables"] == {"region": "SE-AB", "amount": 1}

    task = await niva("tasks", "show", "api_life:cli-1", "Review", url=served, token=officer)
    assert task.exit_code == 0
    assert "you may complete it: yes" in task.output
    assert '"verdict"' in task.output

    # A payload that breaks the form: rejected (1) with the field on stderr.
    bad = tmp_path / "bad.json"
    bad.write_text('{"verdict": "maybe"}')
    rejected = await niva(
        "tasks",
        "complete",
        "api_life:cli-1",
        "Review",
        "--payload",
        str(bad),
        url=served,
        token=officer,
    )
    assert rejected.exit_code == 1
    assert "niva: 422 invalid:" in rejected.stderr
    assert "  verdict: Input should be 'yes' or 'no'" in rejected.stderr

    # Not a candidate (the Norwegian agency reads the case): rejected (1) with the reason.
    forbidden = await niva(
        "tasks",
        "complete",
        "api_life:cli-1",
        "Review",
        "-p",
        "-",
        url=served,
        token=api.tokens["hdir-officer"],
        stdin='{"verdict": "yes"}',
    )
    assert forbidden.exit_code == 1
    assert "niva: 403 forbidden: hdir-officer may not complete Review" in forbidden.stderr

    done = await niva(
        "tasks",
        "complete",
        "api_life:cli-1",
        "Review",
        "-p",
        "-",
        "--idempotency-key",
        "k1",
        url=served,
        token=officer,
        stdin="verdict: yes\n",
    )
    assert done.exit_code == 0, done.output
    assert done.output.startswith("completed Review as sos-officer at ")

    region = api.tokens["registrator-ab"]
    message = ("messages", "send", "api_life:cli-1", "supplement", "--idempotency-key", "m1")
    sent = await niva(*message, url=served, token=region)
    assert sent.exit_code == 0, sent.output
    assert sent.output.strip() == "supplement received by Supplement"
    again = await niva(*message, url=served, token=region)
    assert again.exit_code == 0, again.output
    assert (
        again.output.strip() == "supplement received by Supplement (repeat of an earlier message)"
    )
    # The key is the region's own: the agency, which reads the case, is refused.
    taken = await niva(*message, url=served, token=officer)
    assert taken.exit_code == 1
    assert "niva: 403 forbidden: sos-officer may not use idempotency key 'm1'" in taken.stderr

    async def inbox() -> str:
        listed = await niva("tasks", "list", url=served, token=region)
        assert listed.exit_code == 0
        return listed.output

    for _ in range(50):
        if "api_life:cli-1  Sign  Signera" in await inbox():
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(await inbox())

    for _ in range(50):
        listed = await niva(
            "instances", "list", "--process-id", "api_life", url=served, token=region
        )
        if "api_life:cli-1" in listed.output:
            break
        await asyncio.sleep(0.2)
    assert listed.output.splitlines()[0].split() == [
        "instance",
        "status",
        "version",
        "open",
        "tasks",
        "next",
        "deadline",
    ]
    assert "running" in listed.output

    not_operator = await niva(
        "instances", "cancel", "api_life:cli-1", "--reason", "test", url=served, token=officer
    )
    assert not_operator.exit_code == 1
    cancelled = await niva(
        "instances",
        "cancel",
        "api_life:cli-1",
        "--reason",
        "test",
        "--json",
        url=served,
        token=api.tokens["operator"],
    )
    assert cancelled.exit_code == 0
    assert json.loads(cancelled.stdout)["status"] == "cancelled"


async def test_cli_usage_and_connection_errors(api: Api, served: str, tmp_path: Path):
    no_token = await niva("instances", "list", url=served, token=None)
    assert no_token.exit_code == 2
    assert "no token" in no_token.stderr

    unreadable = await niva(
        "tasks",
        "complete",
        "p:k",
        "T",
        "--payload",
        str(tmp_path / "missing.json"),
        url=served,
        token="t",
    )
    assert unreadable.exit_code == 2
    not_object = tmp_path / "list.json"
    not_object.write_text("[1, 2]")
    wrong_shape = await niva(
        "messages", "send", "p:k", "m", "--payload", str(not_object), url=served, token="t"
    )
    assert wrong_shape.exit_code == 2
    assert "must be a JSON object" in wrong_shape.stderr

    unknown_token = await niva("instances", "show", "p:k", url=served, token="wrong")
    assert unknown_token.exit_code == 1
    assert "niva: 401 unauthorized" in unknown_token.stderr

    missing = await niva(
        "instances", "show", "api_life:nothing", "--json", url=served, token=api.tokens["auditor"]
    )
    assert missing.exit_code == 1
    assert json.loads(missing.stdout)["error"] == "not_found"

    closed = f"http://127.0.0.1:{free_port()}"
    unreachable = await niva("instances", "list", url=closed, token="t")
    assert unreachable.exit_code == 3
    assert "cannot reach the API" in unreachable.stderr

    bad_option = await niva("instances", "list", "--page-size", "0", url=served, token="t")
    assert bad_option.exit_code == 2


async def test_cli_deploys_through_the_api(api: Api, served: str, tmp_path: Path):
    model = tmp_path / "life.bpmn"
    model.write_text(LIFE)
    modeler = api.tokens["modeler"]
    deployed = await niva("models", "deploy", str(model), url=served, token=modeler)
    assert deployed.exit_code == 0, deployed.output
    assert deployed.output.strip() in {
        "api_life version 1 deployed",
        "api_life version 1 unchanged",
    }
    officer = api.tokens["sos-officer"]
    refused = await niva("models", "deploy", str(model), url=served, token=officer)
    assert refused.exit_code == 1
    assert "403" in refused.stderr
