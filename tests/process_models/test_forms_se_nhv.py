"""The NHV forms: valid payloads pass, and each rule rejects a payload that breaks it with
a message that names the rule. The rules that compare a payload with the case are the
models' ``niva:constraint`` expressions; they are checked here against the shipped files."""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ValidationError

from process_models.bpmn import read_bpmn
from process_models.expressions import compile_expression
from process_models.forms import SHIPPED_FORMS
from process_models.forms.se_nhv import (
    FORMS,
    RULES,
    AnnualFollowUp,
    Application,
    B1Analysis,
    B2Statement,
    Decision,
    ExpertGroupAppointment,
    ExpertReport,
    FollowUpCheck,
    FollowUpReview,
    Nomination,
    PermitDecision,
    Prioritisation,
    ReadvertiseDecision,
    ReferralResponse,
    RevocationDecision,
)

SE = Path(__file__).resolve().parents[2] / "process_models" / "se"
DOC = "a" * 64

MEMBERS = [
    {"name": "A", "role": "expert", "healthcare_region": "SE-SVR-NORRA"},
    {"name": "B", "role": "expert", "healthcare_region": "SE-SVR-UO"},
    {"name": "C", "role": "expert", "healthcare_region": "SE-SVR-SG"},
    {"name": "D", "role": "expert", "healthcare_region": "SE-SVR-VAST"},
    {"name": "E", "role": "expert", "healthcare_region": "SE-SVR-SO"},
    {"name": "F", "role": "expert", "healthcare_region": "SE-SVR-SYD"},
    {"name": "G", "role": "relative_representative", "healthcare_region": "SE-SVR-SG"},
]

VALID: dict[type[BaseModel], dict[str, Any]] = {
    Nomination: {
        "care_area": "Svår leversvikt",
        "description": "Akut leversvikt.",
        "rationale": "Sällsynt och komplex.",
        "patients_per_year": 100,
        "nominating_npos": ["SE-NPO-MAGTARM"],
        "time_limits": {"referral_period": "P2W", "reminder_days": 3, "follow_up_due": "02-29"},
    },
    Prioritisation: {"prioritised": True, "round": 2024, "motivation": "Uppfyller kriterierna."},
    ExpertGroupAppointment: {"members": MEMBERS},
    ExpertReport: {
        "suitable": True,
        "definition": "Definition.",
        "proposed_units": 5,
        "impact": "Konsekvenser.",
        "motivation": "Skäl.",
    },
    ReferralResponse: {"supports_definition": True, "supports_units": True},
    B1Analysis: {
        "emergency_care_impact": "Ingen.",
        "health_system_impact": "Liten.",
        "recommendation": "supports",
        "recommended_units": 1,
    },
    Decision: {"is_nhv": True, "definition": "D.", "units": 3, "grounds": "Skäl."},
    Application: {
        "unit_name": "Enheten",
        "patients_per_year": 10,
        "meets_conditions": True,
        "description": "Så uppfylls villkoren.",
        "attachments": [DOC],
    },
    B2Statement: {"statements": [{"applicant": "SE-AB", "assessment": "Bra.", "recommends": True}]},
    PermitDecision: {
        "permits": [{"holder": "SE-AB", "start_date": "2026-01-01", "conditions": ["Villkor"]}],
        "grounds": "Skäl.",
    },
    ReadvertiseDecision: {"readvertise": False, "motivation": "Inget intresse."},
    AnnualFollowUp: {
        "year": 2025,
        "patients": 1,
        "treatments": 1,
        "average_length_of_stay_days": 2.5,
        "complications": 0,
        "conditions_met": True,
    },
    FollowUpCheck: {"complete": True},
    FollowUpReview: {"conditions_met": True, "assessment": "Bra."},
    RevocationDecision: {
        "revoke": True,
        "ground": "region_request",
        "effective_date": "2026-06-30",
        "motivation": "Regionen begär det.",
    },
}


def changed(form: type[BaseModel], **changes: Any) -> dict[str, Any]:
    payload = deepcopy(VALID[form])
    for key, value in changes.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def test_forms_are_registered_under_se_nhv_keys():
    assert set(FORMS) == {f"se.nhv.{form.__name__}" for form in VALID}
    for key, form in FORMS.items():
        assert SHIPPED_FORMS[key] is form


@pytest.mark.parametrize("form", list(VALID), ids=lambda f: f.__name__)
def test_valid_payload_passes(form: type[BaseModel]):
    form.model_validate(VALID[form])


def test_forms_reject_unknown_fields():
    with pytest.raises(ValidationError) as caught:
        Decision.model_validate(changed(Decision, unit=3))
    assert caught.value.errors()[0]["type"] == "extra_forbidden"


BROKEN: list[tuple[str, type[BaseModel], dict[str, Any]]] = [
    ("nominating_npos", Nomination, changed(Nomination, nominating_npos=[])),
    (
        "nominating_npos",
        Nomination,
        changed(Nomination, nominating_npos=["SE-NPO-MAGTARM", "SE-NPO-MAGTARM"]),
    ),
    # Matches the id pattern, but no such NPO is in the reference data.
    (
        "nominating_npos",
        Nomination,
        changed(Nomination, nominating_npos=["SE-NPO-MAGTARM", "SE-NPO-FINNSINTE"]),
    ),
    ("time_limit_duration", Nomination, changed(Nomination, time_limits={"review_period": "6M"})),
    (
        "time_limit_duration",
        Nomination,
        changed(Nomination, time_limits={"review_period": "-P6M"}),
    ),
    ("time_limit_day", Nomination, changed(Nomination, time_limits={"follow_up_due": "02-30"})),
    ("expert_group_size", ExpertGroupAppointment, {"members": MEMBERS[:6]}),
    (
        "expert_group_size",
        ExpertGroupAppointment,
        {"members": MEMBERS + [{**MEMBERS[0], "name": n} for n in "XYZ"]},
    ),
    (
        "expert_group_regions",
        ExpertGroupAppointment,
        {
            "members": [
                *MEMBERS[:5],
                {**MEMBERS[5], "healthcare_region": "SE-SVR-NORRA"},
                MEMBERS[6],
            ]
        },
    ),
    (
        "expert_group_representative",
        ExpertGroupAppointment,
        {"members": [*MEMBERS[:6], {**MEMBERS[6], "role": "expert"}]},
    ),
    ("expert_group_unique", ExpertGroupAppointment, {"members": [*MEMBERS, MEMBERS[0]]}),
    ("units_range", ExpertReport, changed(ExpertReport, proposed_units=6)),
    ("units_range", Decision, changed(Decision, units=0)),
    ("units_range", B1Analysis, changed(B1Analysis, recommended_units=9)),
    ("expert_report_complete", ExpertReport, changed(ExpertReport, impact=None)),
    (
        "referral_response_reasons",
        ReferralResponse,
        changed(ReferralResponse, supports_units=False),
    ),
    ("decision_complete", Decision, changed(Decision, definition=None)),
    (
        "decision_not_nhv",
        Decision,
        {"is_nhv": False, "units": 2, "grounds": "Skäl."},
    ),
    ("application_attachments", Application, changed(Application, attachments=[])),
    ("application_attachments", Application, changed(Application, attachments=["bilaga.pdf"])),
    (
        "b2_unique",
        B2Statement,
        {"statements": VALID[B2Statement]["statements"] * 2},
    ),
    (
        "permit_unique",
        PermitDecision,
        changed(PermitDecision, permits=VALID[PermitDecision]["permits"] * 2),
    ),
    (
        "permit_conditions",
        PermitDecision,
        changed(
            PermitDecision,
            permits=[{"holder": "SE-AB", "start_date": "2026-01-01", "conditions": []}],
        ),
    ),
    ("follow_up_explained", AnnualFollowUp, changed(AnnualFollowUp, conditions_met=False)),
    (
        "follow_up_home_regions",
        AnnualFollowUp,
        changed(AnnualFollowUp, patients_by_home_region={"SE-ZZ": 1}),
    ),
    (
        "follow_up_home_regions",
        AnnualFollowUp,
        changed(AnnualFollowUp, patients_by_home_region={"SE-AB": 1, "SE-M": 1}),
    ),
    ("follow_up_check_explained", FollowUpCheck, changed(FollowUpCheck, complete=False)),
    (
        "follow_up_review_explained",
        FollowUpReview,
        changed(FollowUpReview, conditions_met=False),
    ),
    ("revocation_complete", RevocationDecision, changed(RevocationDecision, ground=None)),
    (
        "revocation_not_revoked",
        RevocationDecision,
        {"revoke": False, "ground": "region_request", "motivation": "Nej."},
    ),
    (
        "revocation_not_revoked",
        RevocationDecision,
        {"revoke": False, "readvertise": True, "motivation": "Nej."},
    ),
]


@pytest.mark.parametrize(
    ("rule_name", "form", "payload"),
    BROKEN,
    ids=[f"{name}-{form.__name__}-{i}" for i, (name, form, _) in enumerate(BROKEN)],
)
def test_rule_rejects_with_its_name(rule_name: str, form: type[BaseModel], payload: dict[str, Any]):
    with pytest.raises(ValidationError) as caught:
        form.model_validate(payload)
    messages = [error["msg"] for error in caught.value.errors()]
    assert any(f"rule {rule_name}: {RULES[rule_name]}" in m for m in messages), messages


def test_a_permit_needs_a_start_date():
    with pytest.raises(ValidationError) as caught:
        PermitDecision.model_validate(
            changed(PermitDecision, permits=[{"holder": "SE-AB", "conditions": ["Villkor"]}])
        )
    assert caught.value.errors()[0]["loc"] == ("permits", 0, "start_date")


# --- the rules the models check with niva:constraint ---------------------------------------


def constraints() -> dict[str, tuple[str, str, str]]:
    """Each constraint of the shipped NHV models by rule name: (file, element, expression)."""
    found: dict[str, tuple[str, str, str]] = {}
    for path in sorted(SE.glob("*.bpmn")):
        for process in read_bpmn(path.read_bytes()).processes:
            for node in process.all_nodes():
                for constraint in node.niva.constraints:
                    message = constraint.message or ""
                    assert message.startswith("rule "), f"{node.id}: {message!r} names no rule"
                    name = message.removeprefix("rule ").split(":", 1)[0]
                    assert message == f"rule {name}: {RULES[name]}"
                    found[name] = (path.name, node.id, constraint.expression or "")
    return found


CONSTRAINT_CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    # rule: (variables, a payload it accepts, a payload it rejects)
    "b2_applicants_only": (
        {"applications": {"SE-AB": {}}},
        {"statements": [{"applicant": "SE-AB"}]},
        {"statements": [{"applicant": "SE-AB"}, {"applicant": "SE-C"}]},
    ),
    "b2_every_application": (
        {"applications": {"SE-AB": {}, "SE-C": {}}},
        {"statements": [{"applicant": "SE-C"}, {"applicant": "SE-AB"}]},
        {"statements": [{"applicant": "SE-AB"}]},
    ),
    "permit_count": (
        {"vacancies": 1, "applications": {"SE-AB": {}, "SE-C": {}}},
        {"permits": [{"holder": "SE-AB", "start_date": "2026-02-01"}]},
        {
            "permits": [
                {"holder": "SE-AB", "start_date": "2026-02-01"},
                {"holder": "SE-C", "start_date": "2026-02-01"},
            ]
        },
    ),
    "permit_applicants_only": (
        {"vacancies": 2, "applications": {"SE-AB": {}}},
        {"permits": [{"holder": "SE-AB", "start_date": "2026-02-01"}]},
        {"permits": [{"holder": "SE-K", "start_date": "2026-02-01"}]},
    ),
    "permit_start_date": (
        {"vacancies": 2, "applications": {"SE-AB": {}}},
        {"permits": [{"holder": "SE-AB", "start_date": "2026-01-15"}]},
        {"permits": [{"holder": "SE-AB", "start_date": "2026-01-14"}]},
    ),
    "follow_up_year": (
        {"follow_up_year": 2027},
        {"year": 2026},
        {"year": 2027},
    ),
    "revocation_region_request": (
        {"proposed_ground": "circumstances_changed"},
        {"revoke": True, "ground": "circumstances_changed"},
        {"revoke": True, "ground": "region_request"},
    ),
}

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def test_every_constraint_is_a_named_rule_and_tested():
    assert set(constraints()) == set(CONSTRAINT_CASES)
    checked_by_forms = {name for name, _, _ in BROKEN}
    assert checked_by_forms | set(CONSTRAINT_CASES) == set(RULES)


@pytest.mark.parametrize("rule_name", sorted(CONSTRAINT_CASES))
def test_constraint_accepts_and_rejects(rule_name: str):
    file, element_id, source = constraints()[rule_name]
    expression = compile_expression(source, element_id=element_id)
    variables, good, bad = CONSTRAINT_CASES[rule_name]
    zone = ZoneInfo("Europe/Stockholm")
    assert expression.evaluate_bool({**variables, "payload": good}, now=NOW, tz=zone), file
    assert not expression.evaluate_bool({**variables, "payload": bad}, now=NOW, tz=zone), file


def test_nomination_names_the_unknown_npo_and_the_known_ones():
    with pytest.raises(ValidationError) as caught:
        Nomination.model_validate(changed(Nomination, nominating_npos=["SE-NPO-FINNSINTE"]))
    message = str(caught.value)
    assert "SE-NPO-FINNSINTE" in message
    assert "SE-NPO-MAGTARM" in message  # among the NPOs it could have named


def test_follow_up_counts_patients_by_home_region_of_the_reference_data():
    regions = {"SE-AB": 1, "SE-BD": 0}
    follow_up = AnnualFollowUp.model_validate(
        changed(AnnualFollowUp, patients_by_home_region=regions)
    )
    assert follow_up.patients_by_home_region == regions
    # A follow-up recorded before the field existed stays valid.
    assert AnnualFollowUp.model_validate(VALID[AnnualFollowUp]).patients_by_home_region is None
