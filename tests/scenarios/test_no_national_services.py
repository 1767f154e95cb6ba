"""Norway's national services as shipped: the application in its two model versions, and the
decades-long yearly follow-up of an approved service, run with the real activities (the file
outbox for notifications, the filesystem document store) on real Temporal servers.

The follow-up runs on the time-skipping server: each scenario moves the clock to the instant
the model should act (1 January, 1 March, 1 June in Oslo), checks what the case shows and
what it sent, and answers as the RHF or Helsedirektoratet would.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities import ActivitySettings, build_activities
from activities.document_store import FilesystemDocumentStore
from process_models.bpmn import read_bpmn
from process_models.deployments import ModelFile
from process_models.forms.no_national_services import FORMS
from process_models.shipped import SHIPPED_DIRS
from process_models.validation import validate
from tests.support import working_days
from tests.support.bpmn_render import bpmn_js_bundle, find_chromium, render_bpmn
from tests.workflows.harness import Cases, running_cases
from workflows.candidates import Actor
from workflows.contract import CancelInput, InstanceResult, InstanceView, OpenTask

OSLO = ZoneInfo("Europe/Oslo")
NO_DIR = next(d for d in SHIPPED_DIRS if d.name == "no")
APPLICATION = "no_national_service_application"
LIFECYCLE = "no_national_service_lifecycle"

HSO = Actor(subject="saksbehandler@helse-sorost", org="NO-HSO", roles=["officer"])
HV = Actor(subject="saksbehandler@helse-vest", org="NO-HV", roles=["officer"])
OUS = Actor(subject="saksbehandler@ous", org="NO-HSO-OUS", roles=["officer"])
HDIR = Actor(subject="saksbehandler@helsedirektoratet", org="NO-HDIR", roles=["officer"])
HOD = Actor(subject="saksbehandler@hod", org="NO-HOD", roles=["officer"])

REFERENCE_GROUP = [
    {"name": "Kari Nordmann", "organisation": "Helse Vest RHF"},
    {"name": "Ola Nordmann", "organisation": "FFO", "role": "user_representative"},
]


def shipped_files(*names: str) -> list[ModelFile]:
    """Shipped Norwegian models by file name, in the order given."""
    return [ModelFile(name=f"no/{n}", content=(NO_DIR / n).read_bytes()) for n in names]


ALL_NO_FILES = [
    # The 2024 version first: the deployment orders versions by tag, not by argument order.
    "no_national_service_application.v2.bpmn",
    "no_national_service_application.v1.bpmn",
    "no_national_service_lifecycle.bpmn",
]


def oslo(year: int, month: int, day: int) -> datetime:
    """Midnight at the start of a day in Oslo."""
    return datetime(year, month, day, tzinfo=OSLO)


def closes(year: int, month: int, day: int) -> datetime:
    """When a deadline whose last day is that day closes: the models declare the NO
    calendar, so the end of that day or of the next working day (domstolloven § 149)."""
    return working_days.closes("NO", OSLO, date(year, month, day))


def reminded(moment: datetime) -> datetime:
    """When a reminder due at ``moment`` is sent: then, or on the working day before."""
    return working_days.reminded("NO", OSLO, moment)


# --- running cases ---------------------------------------------------------------------------


@pytest.fixture
async def cases_real_time(client: Client, task_queue: str, tmp_path: Path) -> AsyncIterator[Cases]:
    """A worker with the real activities on the dev server; nothing deployed yet."""
    async with running_cases(
        client,
        task_queue,
        tmp_path,
        activities=build_activities(ActivitySettings.in_data_dir(tmp_path)),
    ) as cases:
        yield cases


@pytest.fixture
async def cases_skipping(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Cases]:
    """The same on the time-skipping server."""
    async with running_cases(
        time_skipping_env.client,
        task_queue,
        tmp_path,
        activities=build_activities(ActivitySettings.in_data_dir(tmp_path)),
    ) as cases:
        cases.store.deploy(shipped_files(*ALL_NO_FILES))
        yield cases


async def open_task(
    handle: WorkflowHandle[Any, Any], element_id: str, within: float = 20.0
) -> OpenTask:
    """The open task of ``element_id``, waiting (in real time) until the case opens it."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        tasks = await handle.query("open_tasks", result_type=list[OpenTask])
        found = [t for t in tasks if t.element_id == element_id]
        if found:
            return found[0]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"{handle.id}: no open task {element_id}; open: {[t.task_id for t in tasks]}"
            )
        await asyncio.sleep(0.05)


async def until(
    handle: WorkflowHandle[Any, Any], check: Callable[[InstanceView], bool], within: float = 20.0
) -> InstanceView:
    """The case's view once ``check`` holds, polling in real time."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        view = await Cases.view(handle)
        if check(view):
            return view
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{handle.id}: condition not reached; tokens {view.tokens}")
        await asyncio.sleep(0.05)


async def advance_to(env: WorkflowEnvironment, moment: datetime) -> None:
    """Move the time-skipping server's clock to ``moment`` (plus a minute, so timers due then
    have fired)."""
    now = await env.get_current_time()
    target = moment + timedelta(minutes=1)
    if target > now:
        await env.sleep(target - now)


class SentMessage:
    """One message of the file outbox."""

    def __init__(self, path: Path) -> None:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        self.task_id = str(message["X-Niva-Task"])
        self.case_id = str(message["X-Niva-Case"])
        self.to = str(message["To"])
        self.subject = str(message["Subject"])
        self.date = parsedate_to_datetime(str(message["Date"]))
        body = message.get_body(preferencelist=("plain",))
        self.text = body.get_content() if body is not None else ""


def outbox(data_dir: Path, case_id: str | None = None) -> list[SentMessage]:
    """Every message in the outbox (of one case), oldest first."""
    messages = [SentMessage(p) for p in sorted((data_dir / "outbox").glob("*.eml"))]
    if case_id is not None:
        messages = [m for m in messages if m.case_id == case_id]
    return sorted(messages, key=lambda m: (m.date, m.task_id, m.to))


async def sent_by(
    data_dir: Path, case_id: str, task_id: str, count: int = 1, within: float = 20.0
) -> list[SentMessage]:
    """The messages of one notify task, waiting (in real time) until ``count`` are out."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = [m for m in outbox(data_dir, case_id) if m.task_id == task_id]
        if len(found) >= count:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{case_id}: {task_id} sent {len(found)} of {count} messages")
        await asyncio.sleep(0.05)


def documents_text(data_dir: Path, case_id: str) -> str:
    """The HTML of every document filed under a case, concatenated."""
    store = FilesystemDocumentStore(data_dir / "documents")
    parts = []
    for doc_id in store.list_case(case_id):
        data = store.get(doc_id)
        if not data.startswith(b"%PDF"):
            parts.append(data.decode("utf-8"))
    return "\n".join(parts)


async def run_lengths(client: Client, handle: WorkflowHandle[Any, Any]) -> list[int]:
    """The number of events of every run in the case's continue-as-new chain."""
    lengths = []
    chain = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    while True:
        history = await chain.fetch_history()
        lengths.append(len(history.events))
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return lengths
        attributes = last.workflow_execution_continued_as_new_event_attributes
        chain = client.get_workflow_handle(handle.id, run_id=attributes.new_execution_run_id)


def application(**overrides: Any) -> dict[str, Any]:
    """A valid application for a national treatment service at Oslo universitetssykehus."""
    payload: dict[str, Any] = {
        "service_name": "Nasjonal behandlingstjeneste for avansert trakealkirurgi",
        "kind": "behandling",
        "health_trusts": ["NO-HSO-OUS"],
        "description": "Sjeldne, komplekse inngrep som krever et samlet fagmiljø.",
        "reference_group": REFERENCE_GROUP,
    }
    payload.update(overrides)
    return payload


def annual_report(year: int) -> dict[str, Any]:
    return {
        "year": year,
        "report_url": f"https://helse-sorost.example/nasjonale-tjenester/{year}",
        "patients": 40,
        "conditions_met": True,
    }


CONTINUE = {"outcome": "continue", "assessment": "Tjenesten fungerer etter formålet."}


def at(moment: datetime) -> Callable[[SentMessage], bool]:
    """Whether a message was sent at ``moment`` (the case's clock; seconds in the header)."""
    return lambda m: abs(m.date - moment) < timedelta(minutes=1)


async def start_lifecycle(
    cases: Cases, env: WorkflowEnvironment, **variables: Any
) -> tuple[WorkflowHandle[Any, Any], int]:
    """Start a service's follow-up approved from 1 January of next year; returns the case
    and that year."""
    first_year = (await env.get_current_time()).astimezone(OSLO).year + 1
    handle = await cases.start(
        LIFECYCLE,
        {
            "service_name": "Nasjonal behandlingstjeneste for avansert trakealkirurgi",
            "kind": "behandling",
            "competence_aim": None,
            "health_trusts": ["NO-HSO-OUS"],
            "rhf": "NO-HSO",
            "approved_from": f"{first_year}-01-01",
            "conditions": [],
            **variables,
        },
        business_key=f"ns-{uuid.uuid4().hex[:8]}",
        title="Avansert trakealkirurgi",
        # The time-skipping server ends runs older than ten years: continue well before.
        continue_after_events=100,
    )
    return handle, first_year


async def report_year(
    cases: Cases,
    env: WorkflowEnvironment,
    handle: WorkflowHandle[Any, Any],
    n: int,
    year: int,
) -> OpenTask:
    """Move to 1 January of ``year``: the n-th annual report opens, due when 1 March ends."""
    await advance_to(env, oslo(year, 1, 1))
    report = await open_task(handle, "AnnualReport")
    assert report.task_id == ("AnnualReport" if n == 1 else f"AnnualReport#{n}")
    assert report.due == closes(year, 3, 1), f"report {n} due {report.due.astimezone(OSLO)}"
    assert report.candidates == ["org:NO-HSO/group:officer"]
    return report


async def test_thirty_years_of_reports_and_evaluations(
    cases_skipping: Cases, time_skipping_env: WorkflowEnvironment, tmp_path: Path, record_history
):
    env, cases = time_skipping_env, cases_skipping
    handle, first = await start_lifecycle(cases, env)
    for n in range(1, 31):
        year = first + n  # the report for year - 1 falls due in this year
        report = await report_year(cases, env, handle, n, year)
        if n == 3:
            # A late report: reminded on 16 February, escalated when 1 March ends.
            await advance_to(env, closes(year, 3, 1))
            late = await open_task(handle, "LateReport")
            [reminder] = await sent_by(tmp_path, handle.id, "ReportReminded")
            assert at(reminded(oslo(year, 2, 16)))(reminder)
            assert "Påminnelse" in reminder.subject
            assert "1. mars" in reminder.subject
            escalation = await sent_by(tmp_path, handle.id, "EscalateReport", 2)
            assert sorted(m.to for m in escalation) == [
                "Helse Sør-Øst RHF <nasjonaletjenester@helse-sorost.example>",
                "Helsedirektoratet <nasjonaletjenester@helsedirektoratet.example>",
            ]
            assert all(at(closes(year, 3, 1))(m) for m in escalation)
            assert (await cases.view(handle)).variables["report_due"] == f"{year}-03-01"
            await cases.complete(handle, late.task_id, annual_report(year - 1), actor=HSO)
        elif n == 4:
            # No report at all: two months after the deadline the evaluation goes ahead.
            await advance_to(env, closes(year, 3, 1))
            late = await open_task(handle, "LateReport")
            # Two months after the end of 1 March: the end of 1 May, a public holiday.
            assert late.due == closes(year, 5, 1)
            await advance_to(env, closes(year, 5, 1))
        else:
            await cases.complete(handle, report.task_id, annual_report(year - 1), actor=HSO)
        evaluation = await open_task(handle, "Evaluation")
        variables = (await cases.view(handle)).variables
        assert variables["report_missing"] is (n == 4)
        assert variables["report_year"] == year - 1
        assert evaluation.due == closes(year, 6, 1), f"evaluation {n} due {evaluation.due}"
        assert evaluation.candidates == ["org:NO-HDIR/group:officer"]
        decision: dict[str, Any] = CONTINUE
        if n == 10:
            decision = {
                "outcome": "change",
                "assessment": "Pasientgrunnlaget er endret.",
                "change_description": "Tjenesten utvides til barn",
            }
        if n == 30:
            decision = {
                "outcome": "terminate",
                "assessment": "Vilkårene er ikke lenger oppfylt.",
                "termination_grounds": ["conditions_not_met"],
            }
        if n == 5:
            # Reminded on 19 May, answered before the deadline.
            await advance_to(env, oslo(year, 5, 20))
            [reminder] = await sent_by(tmp_path, handle.id, "EvaluationReminded")
            assert at(reminded(oslo(year, 5, 19)))(reminder)
        if n == 7:
            # An overdue evaluation: HOD and Helsedirektoratet hear of it when 1 June ends.
            await advance_to(env, closes(year, 6, 1))
            evaluation = await open_task(handle, "LateEvaluation")
            escalation = await sent_by(tmp_path, handle.id, "EscalateEvaluation", 2)
            assert sorted(m.to for m in escalation) == [
                "Helse- og omsorgsdepartementet <postmottak@hod.example>",
                "Helsedirektoratet <postmottak@helsedirektoratet.example>",
            ]
            assert all(at(closes(year, 6, 1))(m) for m in escalation)
        await cases.complete(handle, evaluation.task_id, decision, actor=HDIR)
        if n == 10:
            # The RHF and the HF hear that the change needs a new application.
            changes = await sent_by(tmp_path, handle.id, "NotifyChange", 2)
            assert all("Tjenesten utvides til barn" in m.text for m in changes)
            assert all("krever ny søknad" in m.text for m in changes)
    result = await handle.result()
    assert result.outcome == "Avviklet"
    assert result.variables["termination_grounds"] == ["conditions_not_met"]
    assert result.variables["report_year"] == first + 29
    text = documents_text(tmp_path, handle.id)
    assert "Ett eller flere vilkår for godkjenningen er ikke lenger oppfylt." in text
    assert f"årsrapporten for {first + 29}" in text
    # A receipt for every report that came in: all years but the fourth.
    assert text.count("<title>Kvittering for årsrapport") == 29
    assert f"<title>Kvittering for årsrapport {first + 3}:" not in text
    lengths = await run_lengths(env.client, handle)
    assert len(lengths) > 10, lengths
    assert max(lengths) < 2000, lengths
    await record_history(handle, "no_ns_lifecycle_thirty_years")


async def follow_up_year(
    cases: Cases, env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], n: int, year: int
) -> OpenTask:
    """The n-th year on time: the report in January, then the open evaluation (returned)."""
    report = await report_year(cases, env, handle, n, year)
    await cases.complete(handle, report.task_id, annual_report(year - 1), actor=HSO)
    evaluation = await open_task(handle, "Evaluation")
    assert evaluation.due == closes(year, 6, 1)
    return evaluation


COMPETENCE = {
    "service_name": "Nasjonal kompetansetjeneste for sjeldne diagnoser",
    "kind": "kompetanse",
    "health_trusts": ["NO-HSO-OUS"],
}


async def test_competence_service_renewed_then_terminated_in_year_twelve(
    cases_skipping: Cases, time_skipping_env: WorkflowEnvironment, tmp_path: Path, record_history
):
    env, cases = time_skipping_env, cases_skipping
    handle, first = await start_lifecycle(
        cases, env, **COMPETENCE, competence_aim="competence_building"
    )
    view = await until(handle, lambda v: "expires_at" in v.variables)
    # Ten years of competence building, ending when 31 December of the tenth year ends.
    assert datetime.fromisoformat(str(view.variables["expires_at"])) == oslo(first + 10, 1, 1)
    for n in range(1, 13):
        year = first + n
        evaluation = await follow_up_year(cases, env, handle, n, year)
        if n < 12:
            await cases.complete(handle, evaluation.task_id, CONTINUE, actor=HDIR)
        if n == 9:
            # The period ends before the next evaluation: its renewal is decided now, by the
            # end of the period at the latest.
            renewal = await open_task(handle, "RenewalDecision")
            assert renewal.due == oslo(first + 10, 1, 1)
            assert renewal.candidates == [
                "org:NO-HDIR/group:officer",
                "org:NO-HOD/group:officer",
            ]
            await cases.complete(
                handle,
                renewal.task_id,
                {"renewed": True, "grounds": "Behovet for kompetansebygging består."},
                actor=HOD,
            )
            view = await until(handle, lambda v: v.variables.get("renewed") is True)
            assert datetime.fromisoformat(str(view.variables["expires_at"])) == oslo(
                first + 20, 1, 1
            )
    # The twelfth evaluation terminates the service: it is no longer needed, and the
    # competence lives on in a kvalitets- og kompetansenettverk.
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await cases.complete(
            handle,
            evaluation.task_id,
            {"outcome": "terminate", "assessment": "Ikke lenger behov.", "move_to_network": True},
            actor=HDIR,
        )
    assert "termination_grounds" in str(caught.value.cause.details)
    await cases.complete(
        handle,
        evaluation.task_id,
        {
            "outcome": "terminate",
            "assessment": "Kompetansen er nå spredt til alle helseregioner.",
            "termination_grounds": ["no_longer_needed"],
            "move_to_network": True,
        },
        actor=HDIR,
    )
    result = await handle.result()
    assert result.outcome == "Avviklet, videreført som kvalitets- og kompetansenettverk"
    assert result.variables["termination_grounds"] == ["no_longer_needed"]
    assert "Tjenesten er ikke lenger nødvendig." in documents_text(tmp_path, handle.id)
    [to_rhf, to_hf] = await sent_by(tmp_path, handle.id, "NotifyTermination", 2)
    assert "kvalitets- og kompetansenettverk" in to_rhf.text
    assert {m.date.astimezone(OSLO).year for m in (to_rhf, to_hf)} == {first + 12}
    assert max(await run_lengths(env.client, handle)) < 2000
    await record_history(handle, "no_ns_lifecycle_competence_renewed")


async def test_training_service_expires_after_five_years(
    cases_skipping: Cases, time_skipping_env: WorkflowEnvironment, tmp_path: Path, record_history
):
    env, cases = time_skipping_env, cases_skipping
    handle, first = await start_lifecycle(cases, env, **COMPETENCE, competence_aim="training")
    for n in range(1, 5):
        evaluation = await follow_up_year(cases, env, handle, n, first + n)
        await cases.complete(handle, evaluation.task_id, CONTINUE, actor=HDIR)
    renewal = await open_task(handle, "RenewalDecision")
    assert renewal.due == oslo(first + 5, 1, 1)
    # Nobody renews it: the five years run out and the service ends, with no termination.
    await advance_to(env, oslo(first + 5, 1, 1))
    result = await handle.result()
    assert result.outcome == "Tjenesteperioden er utløpt"
    assert result.variables["evaluation_outcome"] == "continue"
    assert "revocation_document" not in result.variables
    ended = await sent_by(tmp_path, handle.id, "NotifyExpiry", 3)
    assert all(at(oslo(first + 5, 1, 1))(m) for m in ended)
    assert {m.to.split("<")[1].rstrip(">") for m in ended} == {
        "nasjonaletjenester@helse-sorost.example",
        "nasjonaletjenester@helsedirektoratet.example",
        "nasjonaletjenester@oslo-universitetssykehus.example",
    }
    await record_history(handle, "no_ns_lifecycle_training_expired")


# --- the application, version 1 (2019) and version 2 (2024) -----------------------------------


async def rejected(update: Any) -> str:
    """The message (with field details) of a completion the case refused as Invalid."""
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await update
    cause = caught.value.cause
    assert cause.type == "Invalid", cause
    return f"{cause.message} {cause.details}"


async def stop_lifecycle(client: Client, business_key: str) -> InstanceView:
    """The detached follow-up an approval started, seen running and then cancelled (so no
    worker-less case is left behind on the shared server)."""
    child = client.get_workflow_handle(f"{LIFECYCLE}:{business_key}", result_type=InstanceResult)
    view = await until(child, lambda v: v.status == "running" and bool(v.tokens))
    await child.execute_update(
        "cancel", CancelInput(reason="test over", actor=HDIR), result_type=InstanceView
    )
    # Wait for it to close while this test's worker still runs: an open case left without a
    # worker would hold the time-skipping server's clock for every later test.
    assert (await child.result()).outcome == "cancelled"
    return view


async def test_versions_deploy_in_tag_order_and_a_case_keeps_its_version(
    cases_real_time: Cases, client: Client, tmp_path: Path, record_history
):
    cases = cases_real_time
    results = cases.store.deploy(shipped_files(*ALL_NO_FILES))
    deployed = {(r.model.process_id, r.model.version): r.model.version_tag for r in results}
    assert deployed == {(APPLICATION, 1): "2019", (APPLICATION, 2): "2024", (LIFECYCLE, 1): "2024"}
    assert all(r.model.timezone == "Europe/Oslo" for r in results)
    old = await cases.start(APPLICATION, {"rhf": "NO-HSO"}, version=1, business_key="ns-v1")
    new = await cases.start(APPLICATION, {"rhf": "NO-HSO"}, business_key="ns-v2")
    assert (await cases.view(old)).version == 1
    new_view = await cases.view(new)
    assert new_view.version == 2
    assert new_view.variables["application_due"].endswith("-08-31")  # the 2024 round
    await new.execute_update(
        "cancel", CancelInput(reason="test over", actor=HSO), result_type=InstanceView
    )
    assert (await new.result()).outcome == "cancelled"
    # Deploying the same files again changes nothing: the running case stays on version 1.
    again = cases.store.deploy(shipped_files(*ALL_NO_FILES))
    assert not any(r.created for r in again)

    apply = await open_task(old, "Apply")
    assert apply.candidates == ["org:NO-HSO/group:officer"]
    # Two HF in one health region do not make a multiregional service.
    message = await rejected(
        cases.complete(
            old,
            apply.task_id,
            application(kind="flerregional", health_trusts=["NO-HSO-OUS", "NO-HSO-AHUS"]),
            actor=HSO,
        )
    )
    assert "two different health regions" in message
    # An RHF applies for its own HF.
    message = await rejected(
        cases.complete(old, apply.task_id, application(health_trusts=["NO-HV-BERGEN"]), actor=HSO)
    )
    assert "applying RHF applies for a service at its own HF" in message
    await cases.complete(
        old,
        apply.task_id,
        application(kind="flerregional", health_trusts=["NO-HSO-OUS", "NO-HV-BERGEN"]),
        actor=HSO,
    )
    assess = await open_task(old, "Assess")  # version 1: Helsedirektoratet assesses ...
    assert assess.candidates == ["org:NO-HDIR/group:officer"]
    await cases.complete(
        old,
        assess.task_id,
        {"conditions_met": True, "recommendation": "approve", "assessment": "Oppfyller vilkårene."},
        actor=HDIR,
    )
    decide = await open_task(old, "Decide")  # ... and decides
    assert decide.name == "Vedtak om godkjenning"
    assert decide.candidates == ["org:NO-HDIR/group:officer"]
    message = await rejected(
        cases.complete(old, decide.task_id, {"decision": "approved", "grounds": "Ja."}, actor=HDIR)
    )
    assert "approved_from" in message
    await cases.complete(
        old,
        decide.task_id,
        {
            "decision": "approved",
            "grounds": "Tjenesten oppfyller vilkårene.",
            "approved_from": "2027-01-01",
            "conditions": ["Årlig rapportering"],
        },
        actor=HDIR,
    )
    result = await old.result()
    assert result.outcome == "Godkjent"
    assert (await cases.view(old)).version == 1
    text = documents_text(tmp_path, old.id)
    assert "Søknaden om nasjonal tjeneste er godkjent." in text
    assert "Oslo universitetssykehus HF og Helse Bergen HF" in text
    decision_mail = await sent_by(tmp_path, old.id, "NotifyDecision", 3)
    assert {m.to.split("<")[1].rstrip(">") for m in decision_mail} == {
        "nasjonaletjenester@helse-sorost.example",
        "nasjonaletjenester@oslo-universitetssykehus.example",
        "nasjonaletjenester@helse-bergen.example",
    }
    child = await stop_lifecycle(client, "ns-v1")
    assert child.version == 1
    assert child.variables["kind"] == "flerregional"
    assert child.variables["approved_from"] == "2027-01-01"
    assert child.variables["health_trusts"] == ["NO-HSO-OUS", "NO-HV-BERGEN"]
    await record_history(old, "no_ns_application_v1_approved")


REQUEST = {
    "requester": "Norsk Forening for Sjeldne Diagnoser",
    "requester_kind": "user_organisation",
    "rhf": "NO-HSO",
    "service_name": "Nasjonal tjeneste for sjeldne bindevevssykdommer",
    "rationale": "Få pasienter, spredt kompetanse.",
}


async def test_v1_request_declined_by_the_rhf(
    cases_real_time: Cases, tmp_path: Path, record_history
):
    cases = cases_real_time
    cases.store.deploy(shipped_files(*ALL_NO_FILES))
    handle = await cases.start(
        APPLICATION, REQUEST, version=1, start_event="RequestReceived", actor=HSO
    )
    consider = await open_task(handle, "ConsiderRequest")
    assert consider.candidates == ["org:NO-HSO/group:officer"]
    [notice] = await sent_by(tmp_path, handle.id, "NotifyRequest")
    assert "Vurder anmodning om søknad" in notice.subject
    message = await rejected(
        cases.complete(handle, consider.task_id, {"will_apply": False}, actor=HSO)
    )
    assert "declines a request to apply gives its grounds" in message
    await cases.complete(
        handle,
        consider.task_id,
        {"will_apply": False, "grounds": "Tjenesten dekkes regionalt."},
        actor=HSO,
    )
    result = await handle.result()
    assert result.outcome == "RHF søker ikke"
    await record_history(handle, "no_ns_application_v1_request_declined")


async def test_v1_request_applied_for_and_rejected(cases_real_time: Cases, client: Client):
    cases = cases_real_time
    cases.store.deploy(shipped_files(*ALL_NO_FILES))
    handle = await cases.start(
        APPLICATION, REQUEST, version=1, start_event="RequestReceived", business_key="ns-rej"
    )
    consider = await open_task(handle, "ConsiderRequest")
    await cases.complete(handle, consider.task_id, {"will_apply": True}, actor=HSO)
    apply = await open_task(handle, "Apply")
    message = await rejected(
        cases.complete(handle, apply.task_id, application(new_method=True), actor=HSO)
    )
    assert "positive decision of Beslutningsforum" in message
    await cases.complete(
        handle,
        apply.task_id,
        application(new_method=True, beslutningsforum_decision="ID2023_045"),
        actor=HSO,
    )
    assess = await open_task(handle, "Assess")
    message = await rejected(
        cases.complete(
            handle,
            assess.task_id,
            {"conditions_met": False, "recommendation": "approve", "assessment": "Uklart."},
            actor=HDIR,
        )
    )
    assert "approved only when it meets the conditions" in message
    await cases.complete(
        handle,
        assess.task_id,
        {"conditions_met": False, "recommendation": "reject", "assessment": "For lite volum."},
        actor=HDIR,
    )
    decide = await open_task(handle, "Decide")
    await cases.complete(
        handle, decide.task_id, {"decision": "rejected", "grounds": "For lite volum."}, actor=HDIR
    )
    result = await handle.result()
    assert result.outcome == "Avslått"
    assert result.variables["application"]["beslutningsforum_decision"] == "ID2023_045"
    # A rejection starts no follow-up.
    with pytest.raises(Exception, match="not found"):
        await client.get_workflow_handle(f"{LIFECYCLE}:ns-rej").describe()


def ranking_for(service_name: str) -> list[dict[str, Any]]:
    return [
        {"service_name": "Nasjonal tjeneste for hørselsimplantat", "rhf": "NO-HV", "priority": 1},
        {"service_name": service_name, "rhf": "NO-HSO", "priority": 2},
    ]


async def run_round(cases: Cases, handle: WorkflowHandle[Any, Any], meeting_date: str) -> None:
    """The RHFs' part of a 2024 round, from the prioritisation to the joint application,
    with a rejected attempt at each step."""
    prioritise = await open_task(handle, "Prioritise")
    assert prioritise.candidates == [
        f"org:{rhf}/group:officer" for rhf in ("NO-HSO", "NO-HV", "NO-HMN", "NO-HN")
    ]
    ranking = ranking_for(application()["service_name"])
    message = await rejected(
        cases.complete(
            handle,
            prioritise.task_id,
            {"meeting_date": "2025-11-20", "ranking": ranking, "prioritised": True, "priority": 2},
            actor=HV,
        )
    )
    assert "interregionally in December" in message
    message = await rejected(
        cases.complete(
            handle,
            prioritise.task_id,
            {"meeting_date": meeting_date, "ranking": ranking, "prioritised": True, "priority": 1},
            actor=HV,
        )
    )
    assert "on the ranking at its priority under its own service name" in message
    await cases.complete(
        handle,
        prioritise.task_id,
        {"meeting_date": meeting_date, "ranking": ranking, "prioritised": True, "priority": 2},
        actor=HV,
    )
    joint = await open_task(handle, "JointApply")
    entries = [{**entry, "kind": "behandling"} for entry in ranking]
    message = await rejected(
        cases.complete(
            handle,
            joint.task_id,
            {"applications": entries, "sent_by": ["NO-HSO", "NO-HV", "NO-HMN"]},
            actor=HSO,
        )
    )
    assert "one joint application together" in message
    assert "missing NO-HN" in message
    await cases.complete(
        handle,
        joint.task_id,
        {"applications": entries, "sent_by": ["NO-HSO", "NO-HV", "NO-HMN", "NO-HN"]},
        actor=HSO,
    )
    recommend = await open_task(handle, "Recommend")
    assert recommend.candidates == ["org:NO-HDIR/group:officer"]
    await cases.complete(
        handle,
        recommend.task_id,
        {"conditions_met": True, "recommendation": "approve", "assessment": "Anbefales."},
        actor=HDIR,
    )


async def test_v2_round_keeps_the_2024_calendar_and_hod_decides(
    cases_skipping: Cases, time_skipping_env: WorkflowEnvironment, tmp_path: Path, record_history
):
    env, cases = time_skipping_env, cases_skipping
    handle = await cases.start(APPLICATION, {"rhf": "NO-HSO"}, continue_after_events=100)
    view = await until(handle, lambda v: bool(v.open_tasks))
    assert view.version == 2
    round_year = int(view.variables["round_year"])
    apply = await open_task(handle, "Apply")
    assert apply.name == "Søknad til RHF"
    assert apply.due == closes(round_year, 8, 31)
    assert "org:NO-HSO-OUS/group:officer" in apply.candidates  # an HF applies to its RHF
    await cases.complete(handle, apply.task_id, application(), actor=OUS)
    # Nothing happens until December, when the RHFs prioritise together.
    await advance_to(env, oslo(round_year, 11, 30))
    assert [t.element_id for t in (await cases.view(handle)).open_tasks] == []
    await advance_to(env, oslo(round_year, 12, 1))
    assert (await open_task(handle, "Prioritise")).due == closes(round_year, 12, 31)
    await run_round(cases, handle, f"{round_year}-12-10")
    [ministry] = await sent_by(tmp_path, handle.id, "NotifyMinistry")
    assert ministry.to == "Helse- og omsorgsdepartementet <postmottak@hod.example>"
    decide = await open_task(handle, "Decide")
    assert decide.name == "Vedtak i HOD"
    assert decide.candidates == ["org:NO-HOD/group:officer"]
    rejection = {"decision": "rejected", "grounds": "Tjenesten kan gis regionalt."}
    with pytest.raises(WorkflowUpdateFailedError) as caught:  # HOD decides, not the directorate
        await cases.complete(handle, decide.task_id, rejection, actor=HDIR)
    assert caught.value.cause.type == "Forbidden"
    await cases.complete(handle, decide.task_id, rejection, actor=HOD)
    result = await handle.result()
    # (An approval starts a detached follow-up; the time-skipping server cannot stand a
    # child that outlives its parent, so the approval runs on the dev server below.)
    assert result.outcome == "Avslått"
    assert "Vedtaket er fattet av Helse- og omsorgsdepartementet" in documents_text(
        tmp_path, handle.id
    )
    await record_history(handle, "no_ns_application_v2_rejected")


async def test_v2_approval_by_hod_starts_the_follow_up(
    cases_real_time: Cases, client: Client, tmp_path: Path, record_history
):
    cases = cases_real_time
    cases.store.deploy(shipped_files(*ALL_NO_FILES))
    key = f"ns-hod-{uuid.uuid4().hex[:8]}"  # the Camunda 8 version runs on this server too
    today = datetime.now(OSLO).date()
    soon = datetime.now(OSLO) + timedelta(seconds=2)
    # The round's dates as start variables: the prioritisation opens in two seconds.
    handle = await cases.start(
        APPLICATION,
        {
            "rhf": "NO-HSO",
            "application_due": (today + timedelta(days=30)).isoformat(),
            "prioritisation_opens": soon.isoformat(),
            "prioritisation_due": (today + timedelta(days=60)).isoformat(),
            "joint_application_due": (today + timedelta(days=90)).isoformat(),
        },
        business_key=key,
    )
    apply = await open_task(handle, "Apply")
    assert apply.due == closes(*(today + timedelta(days=30)).timetuple()[:3])
    await cases.complete(handle, apply.task_id, application(), actor=OUS)
    await run_round(cases, handle, f"{today.year}-12-10")
    decide = await open_task(handle, "Decide")
    await cases.complete(
        handle,
        decide.task_id,
        {
            "decision": "approved",
            "grounds": "Departementet godkjenner tjenesten.",
            "approved_from": f"{today.year + 1}-07-01",
            "conditions": ["Tjenesten rapporterer årlig"],
        },
        actor=HOD,
    )
    result = await handle.result()
    assert result.outcome == "Godkjent"
    assert (await cases.view(handle)).version == 2
    text = documents_text(tmp_path, handle.id)
    assert "Vedtaket er fattet av Helse- og omsorgsdepartementet" in text
    assert "Tjenesten rapporterer årlig" in text
    decision_mail = await sent_by(tmp_path, handle.id, "NotifyDecision", 6)
    assert len({m.to for m in decision_mail}) == 6  # four RHFs, the HF, Helsedirektoratet
    child = await stop_lifecycle(client, key)
    assert child.variables["approved_from"] == f"{today.year + 1}-07-01"
    assert child.variables["kind"] == "behandling"
    await record_history(handle, "no_ns_application_v2_approved")


async def test_v2_application_missing_the_august_deadline_leaves_the_round(
    cases_skipping: Cases, time_skipping_env: WorkflowEnvironment, tmp_path: Path
):
    env, cases = time_skipping_env, cases_skipping
    handle = await cases.start(APPLICATION, {"rhf": "NO-HMN"}, continue_after_events=100)
    view = await until(handle, lambda v: bool(v.open_tasks))
    round_year = int(view.variables["round_year"])
    await advance_to(env, closes(round_year, 8, 31))
    result = await handle.result()
    assert result.outcome == "Ikke med i årets søknadsrunde"
    assert result.variables["missed_deadline"]["task_name"] == "Søknad til RHF"
    [reminder] = await sent_by(tmp_path, handle.id, "ApplyReminded")
    assert at(reminded(oslo(round_year, 8, 18)))(reminder)
    [late] = await sent_by(tmp_path, handle.id, "DeadlineMissed")
    assert at(closes(round_year, 8, 31))(late)
    assert late.to == "Helse Midt-Norge RHF <nasjonaletjenester@helse-midt.example>"
    assert "31. august" in late.text


# --- forms -------------------------------------------------------------------------------------

FORM_RULES = [
    pytest.param(
        "no.ns.ServiceApplication",
        application(health_trusts=["NO-HSO-OUS", "NO-HV-BERGEN"]),
        "exactly one HF",
        id="treatment-service-one-hf",
    ),
    pytest.param(
        "no.ns.ServiceApplication",
        application(kind="flerregional"),
        "exactly two HF",
        id="multiregional-two-hf",
    ),
    pytest.param(
        "no.ns.ServiceApplication",
        application(kind="flerregional", health_trusts=["NO-HV-BERGEN", "NO-HV-STAVANGER"]),
        "two different health regions",
        id="multiregional-two-regions",
    ),
    pytest.param(
        "no.ns.ServiceApplication",
        application(health_trusts=["NO-HSO"]),
        "not an HF of the reference data",
        id="hf-is-an-hf",
    ),
    pytest.param(
        "no.ns.ServiceApplication",
        application(kind="kompetanse"),
        "states its aim",
        id="competence-aim-required",
    ),
    pytest.param(
        "no.ns.ServiceApplication",
        application(competence_aim="training"),
        "only a national competence service has a competence_aim",
        id="competence-aim-only-for-competence",
    ),
    pytest.param(
        "no.ns.ServiceApplication",
        application(reference_group=[]),
        "reference group (referansegruppe)",
        id="reference-group",
    ),
    pytest.param(
        "no.ns.ServiceApplication",
        application(new_method=True),
        "positive decision of Beslutningsforum",
        id="new-method-beslutningsforum",
    ),
    pytest.param(
        "no.ns.ServiceApplication",
        application(healthtrusts=["NO-HSO-OUS"]),
        "Extra inputs are not permitted",
        id="no-unknown-fields",
    ),
    pytest.param(
        "no.ns.ApplicationRequest",
        {**REQUEST, "rhf": "NO-HSO-OUS"},
        "is not a regional health authority",
        id="request-goes-to-an-rhf",
    ),
    pytest.param(
        "no.ns.RequestResponse", {"will_apply": False}, "gives its grounds", id="decline-grounds"
    ),
    pytest.param(
        "no.ns.Assessment",
        {"conditions_met": False, "recommendation": "approve", "assessment": "x"},
        "approved only when it meets the conditions",
        id="assessment-conditions",
    ),
    pytest.param(
        "no.ns.Recommendation",
        {"conditions_met": False, "recommendation": "approve", "assessment": "x"},
        "approved only when it meets the conditions",
        id="recommendation-conditions",
    ),
    pytest.param(
        "no.ns.Decision",
        {"decision": "approved", "grounds": "x"},
        "states the day the service is approved from",
        id="approval-start",
    ),
    pytest.param(
        "no.ns.Decision",
        {"decision": "rejected", "grounds": "x", "approved_from": "2027-01-01"},
        "a rejection approves nothing",
        id="rejection-no-start",
    ),
    pytest.param(
        "no.ns.PrioritisationList",
        {
            "meeting_date": "2026-12-10",
            "ranking": [
                {"service_name": "A", "rhf": "NO-HSO", "priority": 1},
                {"service_name": "B", "rhf": "NO-HN", "priority": 3},
            ],
            "prioritised": False,
        },
        "priorities run 1, 2, 3",
        id="ranking-without-gaps",
    ),
    pytest.param(
        "no.ns.PrioritisationList",
        {
            "meeting_date": "2026-12-10",
            "ranking": [{"service_name": "A", "rhf": "NO-HSO", "priority": 1}],
            "prioritised": True,
        },
        "has its place: set priority",
        id="prioritised-has-a-place",
    ),
    pytest.param(
        "no.ns.JointApplication",
        {
            "applications": [
                {"service_name": "A", "kind": "behandling", "rhf": "NO-HSO", "priority": 1},
                {"service_name": "B", "kind": "kompetanse", "rhf": "NO-HV", "priority": 1},
            ],
            "sent_by": ["NO-HSO", "NO-HV", "NO-HMN", "NO-HN"],
        },
        "without gaps or ties",
        id="joint-priorities",
    ),
    pytest.param(
        "no.ns.AnnualReport",
        {**annual_report(2027), "report_url": "i arkivet"},
        "available digitally",
        id="report-available-digitally",
    ),
    pytest.param(
        "no.ns.AnnualReport",
        {**annual_report(2027), "conditions_met": False},
        "describes the deviations",
        id="report-deviations",
    ),
    pytest.param(
        "no.ns.Evaluation",
        {"outcome": "terminate", "assessment": "x"},
        "no longer met or it is no longer needed",
        id="termination-grounds",
    ),
    pytest.param(
        "no.ns.Evaluation",
        {"outcome": "continue", "assessment": "x", "termination_grounds": ["no_longer_needed"]},
        "belong to a termination",
        id="grounds-only-for-termination",
    ),
    pytest.param(
        "no.ns.Evaluation",
        {"outcome": "continue", "assessment": "x", "move_to_network": True},
        "only a terminated service moves to a kvalitets- og kompetansenettverk",
        id="network-only-on-termination",
    ),
    pytest.param(
        "no.ns.Evaluation",
        {"outcome": "change", "assessment": "x"},
        "needs a new application and approval",
        id="change-described",
    ),
    pytest.param(
        "no.ns.Evaluation",
        {"outcome": "terminate", "assessment": "x", "termination_grounds": ["obsolete"]},
        "conditions_not_met",
        id="known-grounds",
    ),
    pytest.param("no.ns.RenewalDecision", {"renewed": True}, "grounds", id="renewal-grounds"),
]


@pytest.mark.parametrize(("key", "payload", "rule"), FORM_RULES)
def test_form_rejects_a_broken_rule_and_names_it(key: str, payload: dict[str, Any], rule: str):
    with pytest.raises(ValidationError) as caught:
        FORMS[key].model_validate(payload)
    assert rule in str(caught.value)


FORM_EXAMPLES = [
    ("no.ns.ServiceApplication", application()),
    (
        "no.ns.ServiceApplication",
        application(kind="flerregional", health_trusts=["NO-HN-UNN", "NO-HMN-STOLAV"]),
    ),
    ("no.ns.ServiceApplication", application(kind="kompetanse", competence_aim="training")),
    ("no.ns.ApplicationRequest", REQUEST),
    ("no.ns.RequestResponse", {"will_apply": True}),
    ("no.ns.Assessment", {"conditions_met": True, "recommendation": "approve", "assessment": "x"}),
    ("no.ns.Decision", {"decision": "rejected", "grounds": "x"}),
    ("no.ns.AnnualReport", annual_report(2027)),
    (
        "no.ns.Evaluation",
        {
            "outcome": "terminate",
            "assessment": "x",
            "termination_grounds": ["conditions_not_met", "no_longer_needed"],
            "move_to_network": True,
        },
    ),
    ("no.ns.RenewalDecision", {"renewed": False, "grounds": "x"}),
]


@pytest.mark.parametrize(("key", "payload"), FORM_EXAMPLES, ids=[k for k, _ in FORM_EXAMPLES])
def test_form_accepts_a_payload_that_keeps_the_rules(key: str, payload: dict[str, Any]):
    FORMS[key].model_validate(payload)


# --- the shipped files -------------------------------------------------------------------------

NO_FILES = sorted(NO_DIR.glob("*.bpmn"))
TEMPLATES = Path(__file__).resolve().parents[2] / "activities" / "templates"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def test_every_norwegian_model_is_shipped():
    assert [p.name for p in NO_FILES] == sorted(ALL_NO_FILES)


@pytest.mark.parametrize("path", NO_FILES, ids=[p.name for p in NO_FILES])
def test_shipped_model_is_valid_and_complete(path: Path):
    defs = read_bpmn(path.read_bytes())
    assert validate(defs, known_processes={APPLICATION, LIFECYCLE}) == []
    [process] = defs.processes
    assert process.timezone == "Europe/Oslo"
    assert defs.diagrams, "the shipped file carries its diagram"
    assert process.documentation, "the process is documented"
    drawn = {s.bpmn_element for d in defs.diagrams for s in d.shapes}
    for node in process.nodes:
        assert node.id in drawn, f"{node.id} has no shape"
        if node.kind == "userTask":
            assert node.name, node.id
            assert node.documentation, node.id
            assert node.niva.form is not None, node.id
            assert node.niva.form.key in FORMS, node.id
            assert node.niva.assignment is not None, node.id
        if node.niva.task_definition is not None:
            kind = node.niva.task_definition.type
            template = next(m.source for m in node.niva.inputs if m.target == "template")
            folder = "notifications/nb" if kind == "notify" else "documents/nb"
            suffix = ".txt.j2" if kind == "notify" else ".html.j2"
            assert (TEMPLATES / folder / f"{template}{suffix}").is_file(), (node.id, template)
            assert node.name, node.id
            assert node.documentation, node.id


def _browser_missing() -> str | None:
    if find_chromium() is None:
        return "chromium is not installed (apt-get install -y chromium)"
    if bpmn_js_bundle() is None:
        return "bpmn-js is not installed (run `npm ci` at the repository root)"
    return None


@pytest.mark.browser
@pytest.mark.skipif(_browser_missing() is not None, reason=_browser_missing() or "")
@pytest.mark.parametrize("path", NO_FILES, ids=[p.name for p in NO_FILES])
def test_shipped_model_renders_one_shape_per_flow_node(path: Path):
    defs = read_bpmn(path.read_bytes())
    screenshot = ARTIFACTS / "no" / f"{path.stem}.png"
    result = render_bpmn(path.read_bytes(), screenshot=screenshot)
    assert result.error is None
    assert result.warnings == []
    [process] = defs.processes
    assert result.shapes == {n.id: 1 for n in process.all_nodes()}
    assert result.connections == {f.id: 1 for f in process.all_flows()}
    # Left to right: the diagram is several times wider than tall.
    assert result.viewbox is not None
    assert result.viewbox.width > 4 * result.viewbox.height
    assert screenshot.stat().st_size > 0
