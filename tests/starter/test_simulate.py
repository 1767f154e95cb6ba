"""``niva models simulate``: the shipped models run as their shipped scenarios on a
time-skipping server of their own, the calendars checked against the dates the rules give
(DOMAIN: the Norwegian annual report due 1 March and evaluation 1 June, the Swedish
follow-up due 31 March and reviewed by 31 May, the application round's 31 August, December
and 15 January), moved to working days as the models' calendars say; and the exits for a
case that parks in an incident (1) and for bad scenarios (2).

The shipped scenarios are written for years that pass: a test moves one on by whole years
while its start lies behind (`Scenario.shift_years`), and counts every expected date from
the start the case actually had, since weekends and holidays differ from year to year.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from process_models.deployments import ModelFile
from process_models.shipped import SHIPPED_DIRS
from process_models.timers import IsoDuration
from starter.cli import app
from starter.simulation import (
    CalendarEvent,
    Scenario,
    ScenarioError,
    SimulationResult,
    load_scenario,
    parse_scenario,
    simulate,
)
from tests.support import working_days

runner = CliRunner()

OSLO = ZoneInfo("Europe/Oslo")
STOCKHOLM = ZoneInfo("Europe/Stockholm")
SE_DIR, NO_DIR = (next(d for d in SHIPPED_DIRS if d.name == n) for n in ("se", "no"))


def shipped_scenario(directory: Path, name: str, *, later: int = 0) -> Scenario:
    """A shipped scenario, moved on by whole years while its start has passed (a day of
    margin: the simulation's clock starts when the test server does), and ``later`` more."""
    scenario = load_scenario(directory / "scenarios" / name)
    years = scenario.years_until_after(datetime.now(UTC) + timedelta(days=1))
    return scenario.shift_years(years + later)


async def run_shipped(
    directory: Path, model: str, scenario: str | Scenario, *, later: int = 0
) -> SimulationResult:
    path = directory / model
    if isinstance(scenario, str):
        scenario = shipped_scenario(directory, scenario, later=later)
    lines: list[str] = []
    result = await simulate(
        ModelFile(name=path.name, content=path.read_bytes()), scenario, progress=lines.append
    )
    assert lines, "no progress was reported"
    return result


def of(result: SimulationResult, kind: str, element_id: str | None = None) -> list[CalendarEvent]:
    return [
        e
        for e in result.events
        if e.kind == kind and (element_id is None or e.element_id == element_id)
    ]


def due(event: CalendarEvent) -> datetime:
    """The due date a ``task_opened`` event shows."""
    assert event.detail is not None
    return datetime.fromisoformat(event.detail.split()[1] + "T" + event.detail.split()[2])


def near(at: datetime, expected: datetime) -> bool:
    """Whether an event happened at ``expected``: the test server's clock also runs in real
    time while the case works, so a calendar entry may be a moment late."""
    return expected <= at < expected + timedelta(minutes=1)


def no_closes(year: int, month: int, day: int) -> datetime:
    return working_days.closes("NO", OSLO, date(year, month, day))


def se_closes(year: int, month: int, day: int) -> datetime:
    return working_days.closes("SE", STOCKHOLM, date(year, month, day))


# --- the shipped models over their natural horizons ------------------------------------------


async def test_simulate_no_lifecycle_ten_years_of_reports_and_evaluations():
    result = await run_shipped(
        NO_DIR, "no_national_service_lifecycle.bpmn", "lifecycle_ten_years.yaml"
    )
    assert (result.outcome, result.outcome_detail, result.stranded) == ("ended", "Avviklet", False)
    assert result.exit_code == 0
    assert result.horizon_end - result.start > timedelta(days=3650)  # beyond one run's limit
    assert (result.start.month, result.start.day) == (12, 15)
    reports = of(result, "task_opened", "AnnualReport")
    evaluations = of(result, "task_opened", "Evaluation")
    years = range(result.start.year + 1, result.start.year + 11)
    assert len(reports) == len(evaluations) == len(years)
    for year, report, evaluation in zip(years, reports, evaluations, strict=True):
        # The report for the year before opens on 1 January and is due when 1 March ends
        # (or the next working day, domstolloven § 149); the evaluation when 1 June ends.
        assert near(report.at, datetime(year, 1, 1, tzinfo=OSLO))
        assert due(report).replace(tzinfo=OSLO) == no_closes(year, 3, 1)
        assert due(evaluation).replace(tzinfo=OSLO) == no_closes(year, 6, 1)
    # Over ten years 1 March falls on a weekend at least once: that report falls due when
    # the Monday after ends.
    assert any(due(r).date() > date(r.at.year, 3, 2) for r in reports)
    assert len(of(result, "document", "Receipt")) == 10
    assert len(of(result, "timer", "YearEnd")) == 10
    [ended] = of(result, "ended")
    assert near(ended.at, of(result, "task_completed", "Evaluation")[-1].at)
    assert ended.at < result.horizon_end  # ten reports within nine and a half years
    assert of(result, "notification", "NotifyTermination")


def check_permit_years(result: SimulationResult, years: range) -> None:
    """The permit's yearly follow-ups over ``years``, and its region's request in the last
    of them to revoke it, decided at the nämnd's next meeting not to."""
    assert (result.outcome, result.stranded, result.exit_code) == ("waiting", False, 0)
    start = result.start
    assert (start.month, start.day, start.hour) == (11, 3, 10)
    [starts] = of(result, "timer", "PermitStarts")
    assert near(starts.at, datetime(start.year + 1, 1, 1, tzinfo=STOCKHOLM))
    follow_ups = of(result, "task_opened", "AnnualFollowUp")
    reviews = of(result, "task_opened", "ReviewFollowUp")
    assert len(follow_ups) == len(reviews) == len(years)
    for year, follow_up, review in zip(years, follow_ups, reviews, strict=True):
        # Opens 1 March, due 31 March, reviewed by 31 May (lag 1930:173 moves a deadline
        # on a Saturday, Sunday or holiday to the next working day).
        assert near(follow_up.at, datetime(year, 3, 1, tzinfo=STOCKHOLM))
        assert due(follow_up).replace(tzinfo=STOCKHOLM) == se_closes(year, 3, 31)
        assert due(review).replace(tzinfo=STOCKHOLM) == se_closes(year, 5, 31)
    recorded = [e.detail for e in of(result, "service", "RecordFollowUp")]
    assert recorded == [f"record_follow_up SE-AB {year - 1}" for year in years]
    # The region's request (20 August of the tenth year) is weighed at the nämnd's next
    # meeting (by the rule of nhv_calendar.yaml: 17 September).
    [request] = of(result, "message")
    assert request.detail == "request_revocation to RevocationRequested"
    assert near(request.at, datetime(start.year + 10, 8, 20, 10, tzinfo=STOCKHOLM))
    [meeting] = of(result, "task_opened", "DecideRevocation")
    assert near(meeting.at, datetime(start.year + 10, 9, 17, tzinfo=STOCKHOLM))
    assert of(result, "notification", "NotifyNotRevoked")
    assert not of(result, "ended")


async def test_simulate_se_permit_ten_years_of_follow_ups():
    result = await run_shipped(SE_DIR, "se_nhv_permit.bpmn", "permit_ten_years.yaml")
    # Valid tills vidare: at the horizon the permit waits for next year's follow-up.
    start = result.start
    assert near(result.horizon_end, datetime(start.year + 10, 11, 3, 10, tzinfo=STOCKHOLM))
    check_permit_years(result, range(start.year + 2, start.year + 11))


async def test_simulate_se_permit_twenty_years_on_one_case():
    # Twice the test server's limit for one run, a year later than the shipped scenario
    # would start: the case continues as new every few years, the clock keeps moving.
    scenario = shipped_scenario(SE_DIR, "permit_ten_years.yaml", later=1)
    scenario = scenario.model_copy(update={"horizon": IsoDuration.parse("P20Y")})
    result = await run_shipped(SE_DIR, "se_nhv_permit.bpmn", scenario)
    assert result.outcome_detail == "waits on FollowUpOpens"
    start = result.start
    assert near(result.horizon_end, datetime(start.year + 20, 11, 3, 10, tzinfo=STOCKHOLM))
    check_permit_years(result, range(start.year + 2, start.year + 21))


async def test_simulate_se_permit_v2_checks_each_follow_up_in_working_days():
    result = await run_shipped(SE_DIR, "se_nhv_permit.v2.bpmn", "permit_v2_ten_years.yaml")
    assert (result.outcome, result.stranded, result.exit_code) == ("waiting", False, 0)
    checks = of(result, "task_opened", "CheckFollowUp")
    received = of(result, "task_completed", "AnnualFollowUp")
    years = range(result.start.year + 2, result.start.year + 11)
    assert len(checks) == len(received) == len(of(result, "task_opened", "ReviewFollowUp")) == 9
    for check, follow_up in zip(checks, received, strict=True):
        # Ten working days from the day the follow-up came in (15 March; Easter's Good
        # Friday and Easter Monday fall between in some years).
        tenth = working_days.calendar_for("SE", follow_up.at.year).add_working_days(
            follow_up.at.date(), 10
        )
        assert due(check).replace(tzinfo=STOCKHOLM) == se_closes(*tenth.timetuple()[:3])
    recorded = [e.detail for e in of(result, "service", "RecordFollowUp")]
    assert recorded == [f"record_follow_up SE-AB {year - 1}" for year in years]


async def test_simulate_se_designation_from_nomination_to_decision():
    result = await run_shipped(SE_DIR, "se_nhv_designation.bpmn", "designation_two_years.yaml")
    assert result.outcome == "ended"
    assert result.outcome_detail == "Beslutat som nationell högspecialiserad vård"
    [appoint] = of(result, "task_completed", "AppointExpertGroup")
    [review] = of(result, "task_opened", "ExpertReport")
    year = result.start.year
    # The review: six months (default) from the appointment on 3 February, so until
    # 3 August ends, or the working day after (2031: a Sunday, so Monday 4 August).
    assert near(appoint.at, datetime(year, 2, 3, 9, tzinfo=STOCKHOLM))
    assert due(review).replace(tzinfo=STOCKHOLM) == se_closes(year, 8, 3)
    referral = of(result, "task_opened", "ReferralResponse")
    assert len(referral) == 21
    opened = referral[0].at
    # Ten weeks (default) of referral, closing at the end of a working day.
    assert {due(r) for r in referral} == {
        se_closes(*(opened.date() + timedelta(weeks=10)).timetuple()[:3]).replace(tzinfo=None)
    }
    assert len(of(result, "task_completed", "ReferralResponse")) == 21
    assert [e.element_id for e in of(result, "document")] == [
        "RenderReferralPackage",
        "RenderDecision",
    ]
    [child] = of(result, "child_started")
    assert child.detail == "se_nhv_permit_allocation:svar-leversvikt"


async def test_simulate_se_allocation_without_applicants_is_closed():
    result = await run_shipped(
        SE_DIR, "se_nhv_permit_allocation.bpmn", "allocation_no_applicants.yaml"
    )
    assert (result.outcome, result.outcome_detail) == ("ended", "Utlysningen stängd utan sökande")
    # Two calls of 21 applications each, every one closed by the deadline unanswered.
    assert len(of(result, "task_opened", "Apply")) == 42
    assert len(of(result, "task_closed", "Apply")) == 42
    deadlines = of(result, "timer", "ApplicationDeadline")
    calls = of(result, "notification", "SendCall")
    assert len(deadlines) == len(calls) == 2
    for call, deadline in zip(calls, deadlines, strict=True):
        # Eight weeks (default) from the call, to the end of a working day.
        last_day = (call.at + timedelta(weeks=8)).date()
        assert near(deadline.at, se_closes(*last_day.timetuple()[:3]))
    assert [e.detail for e in of(result, "task_completed", "DecideReadvertise")] == [
        "by SE-SOS",
        "by SE-SOS",
    ]


async def test_simulate_no_application_v2_round_decided_by_the_ministry():
    result = await run_shipped(
        NO_DIR, "no_national_service_application.v2.bpmn", "application_v2_round.yaml"
    )
    assert (result.version, result.outcome, result.outcome_detail) == (2, "ended", "Avslått")
    year = result.start.year
    [apply] = of(result, "task_opened", "Apply")
    # 31 August, or the working day after (2031: a Sunday, so 1 September).
    assert due(apply).replace(tzinfo=OSLO) == no_closes(year, 8, 31)
    [prioritise] = of(result, "task_opened", "Prioritise")
    assert near(prioritise.at, datetime(year, 12, 1, tzinfo=OSLO))
    assert due(prioritise).replace(tzinfo=OSLO) == no_closes(year, 12, 31)
    [joint] = of(result, "task_opened", "JointApply")
    assert due(joint).replace(tzinfo=OSLO) == no_closes(year + 1, 1, 15)
    [decided] = of(result, "task_completed", "Decide")
    assert decided.detail == "by NO-HOD"


async def test_simulate_no_application_v2_missing_31_august_leaves_the_round():
    result = await run_shipped(
        NO_DIR, "no_national_service_application.v2.bpmn", "application_v2_missed_deadline.yaml"
    )
    assert (result.outcome, result.outcome_detail) == ("ended", "Ikke med i årets søknadsrunde")
    year = result.start.year
    # Reminded 14 days before 31 August ends, on a working day (the working day before,
    # as reminders move).
    [reminder] = of(result, "notification", "ApplyReminded")
    assert near(reminder.at, working_days.reminded("NO", OSLO, datetime(year, 8, 18, tzinfo=OSLO)))
    closes = no_closes(year, 8, 31)
    [missed] = of(result, "notification", "DeadlineMissed")
    assert near(missed.at, closes)


async def test_simulate_no_application_v1_approval_starts_the_follow_up():
    result = await run_shipped(
        NO_DIR, "no_national_service_application.v1.bpmn", "application_v1_approved.yaml"
    )
    assert (result.version, result.outcome, result.outcome_detail) == (1, "ended", "Godkjent")
    assert [e.detail for e in of(result, "child_started")] == [
        "no_national_service_lifecycle:ns-v1"
    ]
    assert [e.element_id for e in of(result, "document")] == ["DecisionLetter", "ApprovalLetter"]


# --- the command: exits and output -------------------------------------------------------------

BROKEN_NOTIFY = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:niva="urn:niva:bpmn:1" id="defs" targetNamespace="urn:niva:test">
  <bpmn:process id="sim_broken" isExecutable="true">
    <bpmn:extensionElements><niva:timezone value="Europe/Stockholm"/></bpmn:extensionElements>
    <bpmn:startEvent id="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Check" name="Check">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sendTask id="Tell" name="Tell">
      <bpmn:extensionElements>
        <niva:taskDefinition type="notify"/>
        <niva:input target="template" source="reminder"/>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:sendTask>
    <bpmn:endEvent id="End"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Check"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="Tell"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Tell" targetRef="End"/>
  </bpmn:process>
</bpmn:definitions>
"""


def scenario_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


# A June a year or two ahead (summer time in Stockholm, whichever year it is).
YEAR = datetime.now(UTC).year + 2
FUTURE = f"{YEAR}-06-02T09:00:00+02:00"


def test_simulate_command_parks_in_an_incident_exit_1(tmp_path: Path):
    model = tmp_path / "broken.bpmn"
    model.write_text(BROKEN_NOTIFY)
    scenario = scenario_file(
        tmp_path,
        f"start: {FUTURE}\nhorizon: P1M\nactions:\n  - task: Check\n    after: P2D\n",
    )
    result = runner.invoke(
        app, ["models", "simulate", str(model), "--scenario", str(scenario), "--json"]
    )
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert (data["outcome"], data["stranded"]) == ("incident", False)
    assert data["outcome_detail"].startswith("Tell: ")
    assert "organisations" in data["outcome_detail"]  # the notify inputs name no recipient
    kinds = [(e["kind"], e["element_id"]) for e in data["events"]]
    assert kinds[:4] == [
        ("started", None),
        ("task_opened", "Check"),
        ("task_completed", "Check"),
        ("incident", "Tell"),
    ]
    assert data["events"][2]["at"].startswith(f"{YEAR}-06-04T09:00:00")
    assert data["events"][2]["at"].endswith("+02:00")


SIGNAL_END = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:niva="urn:niva:bpmn:1" id="defs" targetNamespace="urn:niva:test">
  <bpmn:signal id="Sig" name="sim-closed"/>
  <bpmn:process id="sim_signal" isExecutable="true">
    <bpmn:extensionElements><niva:timezone value="Europe/Stockholm"/></bpmn:extensionElements>
    <bpmn:startEvent id="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Check" name="Check">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="Closed">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:signalEventDefinition signalRef="Sig"/>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Check"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="Closed"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_simulate_command_records_a_signal_the_case_throws(tmp_path: Path):
    model = tmp_path / "signal.bpmn"
    model.write_text(SIGNAL_END)
    scenario = scenario_file(
        tmp_path,
        f"start: {FUTURE}\nhorizon: P1M\nactions:\n  - task: Check\n    after: P1D\n",
    )
    result = runner.invoke(
        app, ["models", "simulate", str(model), "--scenario", str(scenario), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["outcome"] == "ended"
    signals = [e for e in data["events"] if e["kind"] == "signal"]
    assert [(e["element_id"], e["detail"]) for e in signals] == [("Closed", "broadcast sim-closed")]


def test_simulate_command_prints_the_calendar_table(tmp_path: Path):
    model = tmp_path / "broken.bpmn"
    model.write_text(BROKEN_NOTIFY)
    scenario = scenario_file(tmp_path, f"start: {FUTURE}\nhorizon: P1M\n")
    result = runner.invoke(app, ["models", "simulate", str(model), "--scenario", str(scenario)])
    # Nobody checks: the case waits on its open task at the horizon.
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["date", "kind", "element", "task", "detail"]
    assert lines[1].split()[:3] == [f"{YEAR}-06-02", "09:00", "started"]
    assert lines[-1] == f"outcome: waiting (waits on Check) at {YEAR}-07-02 09:00"
    assert f"simulated to {YEAR}-07-02" in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            f"start: {FUTURE}\nhorizon: P1M\nactions:\n  - task: Check\n    after: soon\n",
            "scenario.yaml:5: actions.0.after: Value error",
            id="bad-duration",
        ),
        pytest.param(
            "start: 2031-06-02T09:00:00\nhorizon: P1M\n",
            "scenario.yaml:1: start: Input should have timezone info",
            id="no-zone",
        ),
        pytest.param(
            f"start: {FUTURE}\nhorizon: P1M\nactions:\n  - message: m\n    payload: {{}}\n",
            "scenario.yaml:4: actions.0: Value error, give exactly one of 'at'",
            id="message-without-moment",
        ),
        pytest.param(
            f"start: {FUTURE}\nhorizon: P1M\nactions:\n  - wait: P1D\n",
            "scenario.yaml:4: actions.0: an action names either a 'task' or a 'message'",
            id="unknown-action",
        ),
        pytest.param(
            f"start: {FUTURE}\nhorizont: P1M\n",
            "scenario.yaml:2: horizont: Extra inputs are not permitted",
            id="misspelt-field",
        ),
    ],
)
def test_simulate_command_refuses_a_bad_scenario_exit_2(tmp_path: Path, text: str, expected: str):
    model = tmp_path / "broken.bpmn"
    model.write_text(BROKEN_NOTIFY)
    scenario = scenario_file(tmp_path, text)
    result = runner.invoke(app, ["models", "simulate", str(model), "--scenario", str(scenario)])
    assert result.exit_code == 2, result.output
    assert expected in result.stderr.replace(str(tmp_path) + "/", "")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            f"start: {FUTURE}\nhorizon: P1M\nactions:\n  - task: Chek\n    after: P1D\n",
            "actions.0.task: 'Chek' is no user task of sim_broken; its user tasks: Check",
            id="unknown-task",
        ),
        pytest.param(
            "start: 2020-01-01T09:00:00+01:00\nhorizon: P1M\n",
            "start: 2020-01-01T09:00:00+01:00 is in the past; the simulation's clock starts "
            "at the present and only moves forward: start later, or move the scenario's dates",
            id="start-in-the-past",
        ),
        pytest.param(
            f"start: {FUTURE}\nhorizon: P1M\nactions:\n  - task: Check\n    after: P1D\n"
            "    payload: {nothing: '=missing + 1'}\n",
            "actions.0.payload.nothing:",
            id="payload-expression-fails",
        ),
    ],
)
def test_simulate_command_refuses_what_the_model_cannot_take_exit_2(
    tmp_path: Path, text: str, expected: str
):
    model = tmp_path / "broken.bpmn"
    model.write_text(BROKEN_NOTIFY)
    scenario = scenario_file(tmp_path, text)
    result = runner.invoke(app, ["models", "simulate", str(model), "--scenario", str(scenario)])
    assert result.exit_code == 2, result.output
    assert expected in result.stderr


def test_simulate_command_refuses_an_invalid_model_exit_2(tmp_path: Path):
    model = tmp_path / "invalid.bpmn"
    model.write_text(BROKEN_NOTIFY.replace('targetRef="End"', 'targetRef="Nowhere"'))
    scenario = scenario_file(tmp_path, f"start: {FUTURE}\nhorizon: P1M\n")
    result = runner.invoke(app, ["models", "simulate", str(model), "--scenario", str(scenario)])
    assert result.exit_code == 2, result.output
    assert "Nowhere" in result.stderr


def test_parse_scenario_names_every_problem_with_its_line():
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(
            "start: 2031-06-02T09:00:00+02:00\n"
            "horizon: P0D\n"
            "actions:\n"
            "  - task: A\n"
            "    after: P1D\n"
            "  - task: B\n"
            "    after: P1D\n"
            "    key: [1]\n",
            name="s.yaml",
        )
    assert caught.value.problems == [
        "s.yaml:2: horizon: Value error, the simulation needs a horizon longer than nothing",
        "s.yaml:8: actions.1.key: Input should be a valid string",
    ]


def test_simulate_command_interrupted_stops_its_test_server(tmp_path: Path):
    # Long enough to be interrupted while it runs: the first progress line says it does.
    scenario = tmp_path / "long.yaml"
    shipped = SE_DIR / "scenarios" / "permit_ten_years.yaml"
    scenario.write_text(shipped.read_text().replace("horizon: P10Y\n", "horizon: P60Y\n"))
    years = load_scenario(scenario).years_until_after(datetime.now(UTC) + timedelta(days=1))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "starter.cli",
            "models",
            "simulate",
            str(SE_DIR / "se_nhv_permit.bpmn"),
            "--scenario",
            str(scenario),
            "--shift-years",
            str(years),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "simulated to" in line:
                break
        servers = _children(process.pid)
        assert servers, "no test server runs under the simulation"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "interrupted; the test server is stopped" in err
    assert all(not Path(f"/proc/{pid}").exists() for pid in servers)


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def test_simulate_command_shift_years_runs_a_scenario_whose_start_has_passed(tmp_path: Path):
    model = tmp_path / "broken.bpmn"
    model.write_text(BROKEN_NOTIFY)
    scenario = scenario_file(tmp_path, "start: 2020-06-02T09:00:00+02:00\nhorizon: P1M\n")
    command = ["models", "simulate", str(model), "--scenario", str(scenario)]
    refused = runner.invoke(app, command)
    assert refused.exit_code == 2, refused.output
    advice = re.search(r"--shift-years (\d+) starts it on (\d{4})-06-02\)", refused.stderr)
    assert advice is not None, refused.stderr
    years, year = int(advice[1]), int(advice[2])
    assert year == 2020 + years
    assert datetime(year, 6, 2, 7, tzinfo=UTC) > datetime.now(UTC)
    assert datetime(year - 1, 6, 2, 7, tzinfo=UTC) < datetime.now(UTC)  # the fewest years
    result = runner.invoke(app, [*command, "--shift-years", str(years)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split()[:3] == [f"{year}-06-02", "09:00", "started"]
    assert lines[-1] == f"outcome: waiting (waits on Check) at {year}-07-02 09:00"


def test_simulate_command_a_run_quiet_for_ten_years_times_out_exit_1(tmp_path: Path):
    # The test server ends a run 3650 days after it starts: a case waiting that long on a
    # task nobody completes never continues as new, and the outcome says why it failed.
    model = tmp_path / "broken.bpmn"
    model.write_text(BROKEN_NOTIFY)
    scenario = scenario_file(tmp_path, f"start: {FUTURE}\nhorizon: P11Y\n")
    result = runner.invoke(
        app, ["models", "simulate", str(model), "--scenario", str(scenario), "--json"]
    )
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["outcome"] == "failed"
    assert "ends a run 3650 days after it starts" in data["outcome_detail"]


def test_scenario_shift_years_moves_every_date_and_nothing_else():
    scenario = parse_scenario(
        "start: 2030-11-03T10:00:00+01:00\n"
        "horizon: P10Y\n"
        "variables:\n"
        "  start_date: '2031-01-01'\n"
        "  decided: '2030-11-03T10:00:00+01:00'\n"
        "  leap: '2028-02-29'\n"
        "  dates: ['2031-03-01', {at: '2031-03-01T00:00:00Z'}]\n"
        "  year: 2031\n"
        "  text: 2031-01-01 was a Wednesday\n"
        "  not_a_date: '2031-02-30'\n"
        "actions:\n"
        "  - task: A\n"
        "    after: P1D\n"
        "    payload: {due: '2032-05-31', year: '=year(date(start_date)) + 1'}\n"
        "  - message: m\n"
        "    at: 2040-08-20T10:00:00+02:00\n"
        "  - message: n\n"
        "    after_start: P1M\n"
    )
    moved = scenario.shift_years(3)
    assert moved.start == datetime.fromisoformat("2033-11-03T10:00:00+01:00")
    assert moved.variables == {
        "start_date": "2034-01-01",
        "decided": "2033-11-03T10:00:00+01:00",
        "leap": "2031-02-28",
        "dates": ["2034-03-01", {"at": "2034-03-01T00:00:00Z"}],
        "year": 2031,
        "text": "2031-01-01 was a Wednesday",
        "not_a_date": "2031-02-30",
    }
    task, at, after = moved.actions
    assert task.payload == {"due": "2035-05-31", "year": "=year(date(start_date)) + 1"}
    assert at.at == datetime.fromisoformat("2043-08-20T10:00:00+02:00")
    assert after.after_start == scenario.actions[2].after_start
    assert (moved.horizon, moved.actions[0].after) == (scenario.horizon, scenario.actions[0].after)
    assert scenario.shift_years(0) is scenario
    # The fewest years that put the start after a moment.
    assert scenario.years_until_after(datetime.fromisoformat("2030-11-03T08:59:00Z")) == 0
    assert scenario.years_until_after(datetime.fromisoformat("2030-11-03T09:00:00Z")) == 1
    assert scenario.years_until_after(datetime.fromisoformat("2036-12-24T00:00:00Z")) == 7
