"""``niva models simulate`` holds messages to the payload models registered for them
(`process_models.message_payloads`), as the API does: a scenario's payload the model refuses
is a bad scenario, refused before anything runs, and the recording ``send_message`` refuses
one as the real activity does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from process_models.shipped import SHIPPED_DIRS
from service_contract import SEND_MESSAGE, ServiceCall
from starter.cli import app
from starter.simulation.recorders import Recorder

runner = CliRunner()

SE_DIR = next(d for d in SHIPPED_DIRS if d.name == "se")
YEAR = datetime.now(UTC).year + 2


def test_simulate_refuses_a_message_payload_its_model_refuses_exit_2(tmp_path: Path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        f"start: {YEAR}-06-02T09:00:00+02:00\n"
        "horizon: P1Y\n"
        "actions:\n"
        "  - task: DecideRevocation\n"
        "    after: PT2H\n"
        "  - message: request_revocation\n"
        f"    at: {YEAR}-08-20T10:00:00+02:00\n"
        "    payload: {grounds: Verksamheten flyttas.}\n"
    )
    model = SE_DIR / "se_nhv_permit.bpmn"
    result = runner.invoke(app, ["models", "simulate", str(model), "--scenario", str(scenario)])
    assert result.exit_code == 2, result.output
    assert "actions.1.payload.grounds: Extra inputs are not permitted" in result.stderr
    assert "request_revocation" in result.stderr
    assert result.stdout == ""


def send(payload: dict[str, object]) -> ServiceCall:
    return ServiceCall(
        type=SEND_MESSAGE,
        element_id="AskRevocation",
        task_id="AskRevocation#1",
        case_id="holder:simulation",
        process_id="holder",
        process_version=1,
        business_key="simulation",
        now=datetime(YEAR, 8, 20, 10, tzinfo=UTC),
        timezone="Europe/Stockholm",
        inputs={
            "instance_id": "se_nhv_permit:SE-AB",
            "message": "request_revocation",
            "payload": payload,
        },
    )


async def test_the_recorded_send_message_refuses_a_payload_its_model_refuses():
    recorder = Recorder("holder:simulation")
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(recorder.send_message, send({"grounds": "x"}))
    assert caught.value.non_retryable
    assert caught.value.type == "InvalidInput"
    assert "request_revocation" in str(caught.value)
    assert "grounds: Extra inputs are not permitted" in str(caught.value)
    assert recorder.events == []
    await ActivityEnvironment().run(recorder.send_message, send({"reason": "Flyttar."}))
    [event] = recorder.events
    assert event.detail == "request_revocation to se_nhv_permit:SE-AB"
