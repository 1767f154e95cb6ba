"""Demo cases of Sweden's NHV process for ``niva dev``, and example payloads of its forms.

`start_se_demo_cases` starts the nine care areas of the first round of sakkunniggrupper
(the reference data's ``nhv_care_areas``) as ``se_nhv_designation`` cases and moves each to
another stage by completing its tasks through the ``complete_task`` update, as the API
would: one waits for prioritisation, one was not prioritised, one is under review by its
expert group, one was found unsuitable, one is out on referral with some answers in, one is
with beredningsgrupp 1, one waits for Socialstyrelsen's decision, one was decided not to be
NHV, and one was decided NHV at two units: its call for applications is open with three
applications in.

`record_demo_follow_ups` writes demo data to the statistics store: the yearly follow-ups of
the three calendar years before the current one, for two or three units in each of those
nine care areas, so that the public follow-up of last year (``niva report follow-up``,
``GET /reports/follow-up/{year}``) is not empty on a fresh stack. They stand for permits of
an earlier round, not for the demo cases above (a case cannot be run through years of time
on a dev server): invented figures, plausible in size, written through the
``record_follow_up`` activity itself under case ids ``se_nhv_permit:demo-<care area>:<region>``.

The example payloads (`nomination`, `expert_group`, …) satisfy the ``se.nhv`` forms; the
scenario tests use them for the parts of a payload they do not look at.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import structlog
from pydantic import JsonValue
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.statistics import RecordFollowUpActivity, RecordFollowUpResult, StatisticsStore
from process_models.deployments import ModelStore
from process_models.reference import load_reference
from service_contract import RECORD_FOLLOW_UP, ServiceCall
from starter.cases import instance_id, start_case
from workflows.candidates import Actor
from workflows.contract import CompleteTaskInput, CompleteTaskResult, OpenTask

__all__ = [
    "REGIONS",
    "annual_follow_up",
    "application",
    "b1_analysis",
    "b2_statement",
    "decision",
    "demo_actor",
    "expert_group",
    "expert_report",
    "follow_up_review",
    "nomination",
    "permit_decision",
    "prioritisation",
    "record_demo_follow_ups",
    "referral_response",
    "start_se_demo_cases",
]

log = structlog.get_logger("niva.demo.se")

DESIGNATION = "se_nhv_designation"
ALLOCATION = "se_nhv_permit_allocation"

REGIONS: tuple[str, ...] = (
    "SE-AB", "SE-C", "SE-D", "SE-E", "SE-F", "SE-G", "SE-H", "SE-I", "SE-K", "SE-M", "SE-N",
    "SE-O", "SE-S", "SE-T", "SE-U", "SE-W", "SE-X", "SE-Y", "SE-Z", "SE-AC", "SE-BD",
)  # fmt: skip
"""The 21 regions, as in ``organisations.yaml``."""

Payload = dict[str, JsonValue]
ActorFor = Callable[[str, str], Actor]
"""``(organisation, role) -> Actor``: who completes a task for that organisation and role."""


def demo_actor(org: str, role: str) -> Actor:
    """A principal of ``org`` holding ``role``, named after both."""
    return Actor(subject=f"demo-{role}@{org}", org=org, roles=[role])


# --- example payloads -------------------------------------------------------------------------


def nomination(name: str, npos: Sequence[str], patients_per_year: int = 100) -> Payload:
    """The start variables of a designation case (form ``se.nhv.Nomination``)."""
    return {
        "care_area": name,
        "description": f"Utredning och behandling inom området {name}.",
        "rationale": "Få patienter per år och behov av samlad kompetens och erfarenhet.",
        "patients_per_year": patients_per_year,
        "nominating_npos": list(npos),
    }


def prioritisation(prioritised: bool = True, round_year: int = 2024) -> Payload:
    """Form ``se.nhv.Prioritisation``."""
    return {
        "prioritised": prioritised,
        "round": round_year,
        "motivation": "Området uppfyller kriterierna för omgången."
        if prioritised
        else "Området prövas i en senare omgång.",
    }


def expert_group() -> Payload:
    """Form ``se.nhv.ExpertGroupAppointment``: eight members, all six sjukvårdsregioner, a
    patient representative."""
    members: list[JsonValue] = [
        {"name": "Anna Berg", "role": "expert", "healthcare_region": "SE-SVR-NORRA", "chair": True},
        {"name": "Björn Ek", "role": "expert", "healthcare_region": "SE-SVR-UO"},
        {"name": "Cecilia Lind", "role": "expert", "healthcare_region": "SE-SVR-SG"},
        {"name": "David Holm", "role": "expert", "healthcare_region": "SE-SVR-VAST"},
        {"name": "Eva Sjö", "role": "expert", "healthcare_region": "SE-SVR-SO"},
        {"name": "Fredrik Ås", "role": "expert", "healthcare_region": "SE-SVR-SYD"},
        {"name": "Gun Nyström", "role": "expert", "healthcare_region": "SE-SVR-SG"},
        {
            "name": "Hanna Ström",
            "role": "patient_representative",
            "healthcare_region": "SE-SVR-VAST",
            "organisation": "Patientföreningen",
        },
    ]
    return {"members": members}


def expert_report(units: int = 3, *, suitable: bool = True) -> Payload:
    """Form ``se.nhv.ExpertReport``."""
    if not suitable:
        return {"suitable": False, "motivation": "Vården kan bedrivas på regional nivå."}
    return {
        "suitable": True,
        "definition": "Kirurgisk och medicinsk behandling som kräver samlad erfarenhet.",
        "proposed_units": units,
        "conditions": ["Multidisciplinärt team dygnet runt", "Deltagande i nationellt register"],
        "impact": "Längre resor för några patienter, bättre resultat för alla.",
        "motivation": "Få fall per år och höga krav på kompetens.",
    }


def referral_response(*, supports: bool = True) -> Payload:
    """Form ``se.nhv.ReferralResponse``."""
    answer: Payload = {"supports_definition": supports, "supports_units": supports}
    if not supports:
        answer["comments"] = "Vi föreslår fler enheter för att korta resvägarna."
    return answer


def b1_analysis() -> Payload:
    """Form ``se.nhv.B1Analysis``."""
    return {
        "emergency_care_impact": "Ingen påverkan på akutsjukvården.",
        "health_system_impact": "Små undanträngningseffekter.",
        "recommendation": "supports",
    }


def decision(units: int | None = 3) -> Payload:
    """Form ``se.nhv.Decision``: NHV at ``units`` units, or not NHV when ``units`` is None."""
    if units is None:
        return {"is_nhv": False, "grounds": "Vården är inte tillräckligt sällsynt eller komplex."}
    return {
        "is_nhv": True,
        "definition": "Kirurgisk och medicinsk behandling som kräver samlad erfarenhet.",
        "units": units,
        "conditions": ["Multidisciplinärt team dygnet runt"],
        "grounds": "Vården är komplex och sällsynt.",
    }


def _document_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def application(region: str, *, attachments: Sequence[str] | None = None) -> Payload:
    """Form ``se.nhv.Application``; without ``attachments`` one demo attachment's id."""
    ids = list(attachments or [_document_id(f"Bilaga till ansökan från {region}".encode())])
    return {
        "unit_name": f"Universitetssjukhuset, {region}",
        "patients_per_year": 40,
        "meets_conditions": True,
        "description": "Enheten har team, lokaler och register enligt villkoren.",
        "attachments": list[JsonValue](ids),
    }


def b2_statement(applicants: Sequence[str]) -> Payload:
    """Form ``se.nhv.B2Statement``: a favourable statement on each applicant."""
    return {
        "statements": [
            {"applicant": a, "assessment": "Ansökan är komplett.", "recommends": True}
            for a in applicants
        ]
    }


def permit_decision(holders: Sequence[str], start: date) -> Payload:
    """Form ``se.nhv.PermitDecision``: a permit from ``start`` for each holder."""
    return {
        "permits": [
            {"holder": h, "start_date": start.isoformat(), "conditions": ["Villkoren i beslutet"]}
            for h in holders
        ],
        "grounds": "De sökande uppfyller villkoren bäst.",
    }


def annual_follow_up(year: int, *, conditions_met: bool = True) -> Payload:
    """Form ``se.nhv.AnnualFollowUp`` for the calendar year ``year``."""
    follow_up: Payload = {
        "year": year,
        "patients": 35,
        "treatments": 40,
        "average_length_of_stay_days": 6.5,
        "complications": 2,
        "conditions_met": conditions_met,
    }
    if not conditions_met:
        follow_up["comments"] = "Teamet har inte kunnat bemannas dygnet runt."
    return follow_up


def follow_up_review(*, conditions_met: bool = True) -> Payload:
    """Form ``se.nhv.FollowUpReview``."""
    review: Payload = {
        "conditions_met": conditions_met,
        "assessment": "Uppföljningen visar goda resultat."
        if conditions_met
        else "Villkoren uppfylls inte.",
    }
    if not conditions_met:
        review["comments"] = "Bemanningen motsvarar inte villkoren."
    return review


# --- driving cases ----------------------------------------------------------------------------


async def _task(handle: WorkflowHandle[Any, Any], task_id: str, *, within: float) -> OpenTask:
    """The open task ``task_id``, once the case has opened it (service tasks run first)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            tasks: list[OpenTask] = await handle.query("open_tasks", result_type=list[OpenTask])
        except RPCError:
            tasks = []  # a case started by another (a call activity) may not exist yet
        for task in tasks:
            if task.task_id == task_id:
                return task
        if loop.time() > deadline:
            open_ids = ", ".join(t.task_id for t in tasks) or "none"
            raise TimeoutError(f"{handle.id}: task {task_id} did not open (open: {open_ids})")
        await asyncio.sleep(0.2)


async def _complete(
    handle: WorkflowHandle[Any, Any],
    task_id: str,
    payload: Payload,
    actor: Actor,
    *,
    within: float,
) -> None:
    await _task(handle, task_id, within=within)
    await handle.execute_update(
        "complete_task",
        CompleteTaskInput(
            task_id=task_id, payload=payload, actor=actor, idempotency_key=f"demo:{task_id}"
        ),
        result_type=CompleteTaskResult,
    )


async def _advance(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    stage: int,
    actor: ActorFor,
    *,
    within: float,
) -> None:
    """Complete the designation's tasks up to ``stage`` (0: just nominated)."""
    officer = actor("SE-SOS", "officer")
    if stage >= 1:
        await _complete(handle, "Prioritise", prioritisation(stage != 1), officer, within=within)
    if stage <= 1:
        return
    await _complete(handle, "AppointExpertGroup", expert_group(), officer, within=within)
    if stage == 2:
        return
    if stage == 3:
        await _complete(
            handle,
            "ExpertReport",
            expert_report(suitable=False),
            actor("SE-SOS", "expert"),
            within=within,
        )
        return
    await _complete(
        handle, "ExpertReport", expert_report(), actor("SE-SOS", "expert"), within=within
    )
    if stage == 4:
        return
    answering = REGIONS[:7] if stage == 5 else REGIONS
    for region in answering:
        await _complete(
            handle,
            f"ReferralResponse:{region}",
            referral_response(supports=region != "SE-M"),
            actor(region, "registrator"),
            within=within,
        )
    if stage <= 6:
        return
    await _complete(
        handle, "B1Analysis", b1_analysis(), actor("SE-NHV-B1", "member"), within=within
    )
    if stage == 7:
        return
    await _complete(handle, "Decide", decision(2 if stage == 9 else None), officer, within=within)
    if stage == 9:
        allocation = client.get_workflow_handle(instance_id(ALLOCATION, _key(handle)))
        for region in ("SE-AB", "SE-O", "SE-M"):
            await _complete(
                allocation,
                f"Apply:{region}",
                application(region),
                actor(region, "registrator"),
                within=within,
            )


def _key(handle: WorkflowHandle[Any, Any]) -> str:
    return handle.id.split(":", 1)[1]


# Stage per care area, in the order of nhv_care_areas.yaml: 0 nominated, 1 not prioritised,
# 2 under review, 3 found unsuitable, 4 out on referral, 5 referral partly answered,
# 6 referral answered (with B1), 7 analysed (decision open), 8 decided not NHV, 9 decided
# NHV at two units (applications coming in).
_STAGES = (0, 1, 2, 3, 5, 6, 7, 8, 9)


async def start_se_demo_cases(
    client: Client,
    store: ModelStore,
    task_queue: str,
    actor: ActorFor | None = None,
    *,
    within: float = 30.0,
    key_prefix: str = "",
    api_url: str | None = None,
) -> list[str]:
    """Start the first-round care areas as designation cases, each at another stage.

    Idempotent: a care area whose case already exists (running or ended) is skipped.

    Args:
        client: the connected client; a worker must serve ``task_queue``.
        store: the model store with ``se_nhv_designation`` deployed.
        task_queue: the workers' task queue.
        actor: who completes each task, by organisation and role (`demo_actor` by default;
            ``niva dev`` passes its demo principals).
        within: seconds to wait for each task to open.
        key_prefix: put before each care area's id to make the business key, so that a
            second set of demo cases can run beside the first on one server.
        api_url: the API whose diagram pages the cases' details link to.

    Returns:
        The workflow ids of the cases started now.

    Raises:
        UnknownModelError: ``se_nhv_designation`` is not deployed.
        TimeoutError: a task did not open within ``within`` seconds (no worker running).
    """
    who = actor or demo_actor
    store.get(DESIGNATION)  # deployed, or UnknownModelError
    areas = load_reference().get("nhv_care_areas")
    if not isinstance(areas, list):
        raise ValueError("the reference data has no list nhv_care_areas (nhv_care_areas.yaml)")
    started: list[str] = []
    for area, stage in zip(areas, _STAGES, strict=False):
        if not isinstance(area, dict):
            continue
        key, name = f"{key_prefix}{area['id']}", str(area["name"])
        listed = area.get("nominating_npos")
        npos = [str(n) for n in listed] if isinstance(listed, list) else []
        patients = area.get("patients_per_year")
        variables = nomination(name, npos, patients if isinstance(patients, int) else 100)
        try:
            handle = await start_case(
                client,
                store,
                process_id=DESIGNATION,
                business_key=key,
                title=name,
                task_queue=task_queue,
                variables=variables,
                actor=who(npos[0], "npo") if npos else None,
                api_url=api_url,
            )
        except WorkflowAlreadyStartedError:
            log.info("demo case exists", business_key=key)
            continue
        await _advance(client, handle, stage, who, within=within)
        started.append(handle.id)
        log.info("demo case started", workflow_id=handle.id, stage=stage)
    return started


# --- demo data for the statistics store -------------------------------------------------------

DEMO_FOLLOW_UP_YEARS = 3
"""How many calendar years before the current one the demo follow-ups cover."""

_POPULATION_THOUSANDS: dict[str, int] = {
    "SE-AB": 2450, "SE-C": 400, "SE-D": 305, "SE-E": 470, "SE-F": 370, "SE-G": 205,
    "SE-H": 247, "SE-I": 61, "SE-K": 158, "SE-M": 1420, "SE-N": 350, "SE-O": 1750,
    "SE-S": 283, "SE-T": 306, "SE-U": 280, "SE-W": 288, "SE-X": 288, "SE-Y": 243,
    "SE-Z": 131, "SE-AC": 275, "SE-BD": 250,
}  # fmt: skip
"""The regions' inhabitants, rounded: where the demo's patients come from."""


def _wobble(*parts: object) -> int:
    """A stable number in 0..65535 for ``parts``: variation without randomness, so a
    restart writes the same figures."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:2], "big")


def _apportion(total: int, weights: dict[str, float]) -> dict[str, int]:
    """``total`` split in proportion to ``weights`` (largest remainders), zeros left out."""
    whole = sum(weights.values())
    shares = {key: total * weight / whole for key, weight in weights.items()}
    counts = {key: int(share) for key, share in shares.items()}
    by_remainder = sorted(shares, key=lambda key: (counts[key] - shares[key], key))
    for key in by_remainder[: total - sum(counts.values())]:
        counts[key] += 1
    return {key: count for key, count in counts.items() if count}


def _home_regions(patients: int, holder: str, parents: dict[str, str]) -> dict[str, int]:
    """Patients by home region: by population, most from the unit's own region and its
    sjukvårdsregion, since care close to home is chosen first."""
    weights = {
        region: float(people)
        * (6.0 if region == holder else 2.0 if parents.get(region) == parents.get(holder) else 1.0)
        for region, people in _POPULATION_THOUSANDS.items()
    }
    return _apportion(patients, weights)


def _demo_follow_up_calls(today: date) -> list[ServiceCall]:
    """The ``record_follow_up`` calls of the demo permits, as their cases would make them."""
    reference = load_reference()
    areas = [a for a in reference.get("nhv_care_areas") or [] if isinstance(a, dict)]
    organisations = [o for o in reference.get("organisations") or [] if isinstance(o, dict)]
    parents = {str(o["id"]): str(o.get("parent", "")) for o in organisations}
    hospitals = [
        (str(o["parent"]), str(o["name"]))
        for o in organisations
        if o.get("kind") == "university_hospital" and str(o.get("parent", "")).startswith("SE-")
    ]
    years = range(today.year - DEMO_FOLLOW_UP_YEARS, today.year)
    calls: list[ServiceCall] = []
    for index, area in enumerate(areas):
        listed = area.get("patients_per_year")
        per_year = listed if isinstance(listed, int) and listed > 0 else 100
        count = 2 + index % 2
        units = [hospitals[(2 * index + k) % len(hospitals)] for k in range(count)]
        stay_base = 2.5 + 1.5 * (index % 5)
        for rank, (holder, unit_name) in enumerate(units):
            business_key = f"demo-{area['id']}:{holder}"
            share = (count - rank) / sum(range(1, count + 1))
            for offset, year in enumerate(years):
                wobble = _wobble(business_key, year)
                # A slowly growing volume as the care moves to the units that hold permits.
                patients = max(3, round(per_year * share * (0.9 + 0.05 * offset)) + wobble % 7 - 3)
                treatments = patients + round(patients * (10 + wobble % 30) / 100)
                stay = round(stay_base + (wobble % 11 - 5) / 10, 1)
                # The smallest of three units fell short of the conditions in the first year.
                met = not (count == 3 and rank == 2 and offset == 0)
                follow_up: dict[str, JsonValue] = {
                    "year": year,
                    "patients": patients,
                    "treatments": treatments,
                    "average_length_of_stay_days": stay,
                    "complications": round(patients * 0.04) + (wobble >> 8) % 2,
                    "conditions_met": met,
                    "patients_by_home_region": dict(_home_regions(patients, holder, parents)),
                }
                calls.append(
                    ServiceCall(
                        type=RECORD_FOLLOW_UP,
                        element_id="RecordFollowUp",
                        task_id=f"RecordFollowUp#demo-{year}",
                        case_id=f"se_nhv_permit:{business_key}",
                        process_id="se_nhv_permit",
                        process_version=1,
                        business_key=business_key,
                        # Reviewed in May after the year, as Socialstyrelsen does.
                        now=datetime(year + 1, 5, 20, 10, 0, tzinfo=UTC),
                        timezone="Europe/Stockholm",
                        inputs={
                            "care_area": str(area["name"]),
                            "holder": holder,
                            "unit_name": unit_name,
                            "follow_up": follow_up,
                            "review_conditions_met": met,
                        },
                    )
                )
    return calls


async def record_demo_follow_ups(
    statistics: StatisticsStore, *, today: date
) -> list[RecordFollowUpResult]:
    """Write the demo follow-ups (demo data: see the module's docstring) to ``statistics``.

    Each goes through the ``record_follow_up`` activity's own code, so it is stored as a
    permit case's follow-up would be. Idempotent: rows are keyed by case id and year and
    written as upserts, so running again (``niva dev`` restarted) adds nothing.

    Args:
        statistics: the statistics store the workers write to.
        today: the current date: the follow-ups cover the three calendar years before it.

    Returns:
        The key of each row written.
    """
    activity = RecordFollowUpActivity(statistics)
    return [await activity.record_follow_up(call) for call in _demo_follow_up_calls(today)]
