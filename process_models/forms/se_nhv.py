"""The forms of Sweden's NHV processes (``se_nhv_designation``, ``se_nhv_permit_allocation``,
``se_nhv_permit``): one pydantic model per user task, keyed ``se.nhv.<Name>``.

A form checks what the payload alone can tell (a sakkunniggrupp of 7–9 members, units 1–5,
a permit with a start date and conditions). Rules that compare the payload with the case
(no more permits than vacant places, permits only to applicants, the follow-up year) are
``niva:constraint`` expressions on the user tasks in the BPMN files. Every message starts
with ``rule <name>:`` so a rejected submission says which rule it broke; `RULES` lists them
all, those of the models included.
"""

from __future__ import annotations

import functools
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Literal, Self, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from process_models.errors import TimerSpecError
from process_models.reference import REFERENCE_DIR, load_reference
from process_models.timers import IsoDuration

__all__ = [
    "FORMS",
    "MESSAGES",
    "RULES",
    "AnnualFollowUp",
    "ApplicantStatement",
    "Application",
    "B1Analysis",
    "B2Statement",
    "Decision",
    "ExpertGroupAppointment",
    "ExpertMember",
    "ExpertReport",
    "FollowUpCheck",
    "FollowUpReview",
    "GrantedPermit",
    "Nomination",
    "PermitDecision",
    "Prioritisation",
    "ReadvertiseDecision",
    "ReferralResponse",
    "RevocationDecision",
    "RevocationInitiation",
    "RevocationRequest",
    "TimeLimits",
    "swedish_npos",
    "swedish_regions",
]

RULES: dict[str, str] = {
    # Checked by the forms below.
    "nominating_npos": "a nomination names at least one NPO of the reference data "
    "(organisations.yaml, ids SE-NPO-…), each once",
    "time_limit_duration": "a time limit is an ISO 8601 duration such as P10W",
    "time_limit_day": "a yearly day is written MM-DD, e.g. 03-31",
    "expert_group_size": "a sakkunniggrupp has 7 to 9 members",
    "expert_group_regions": "the members together cover all six sjukvårdsregioner",
    "expert_group_representative": "at least one member represents patients or relatives",
    "expert_group_unique": "each member is appointed once",
    "units_range": "NHV is given at 1 to 5 units",
    "expert_report_complete": "a suitable area has a definition, proposed units and an "
    "impact analysis",
    "referral_response_reasons": "an answer that does not support the proposal says why",
    "decision_complete": "an NHV decision has a definition and a number of units",
    "decision_not_nhv": "a decision that the care is not NHV decides no units",
    "application_attachments": "an application has at least one attachment, each a stored "
    "document id (SHA-256)",
    "b2_unique": "B2 gives one statement per applicant",
    "permit_unique": "a region gets at most one permit per decision",
    "permit_conditions": "each permit has at least one condition",
    "follow_up_explained": "a follow-up that reports unmet conditions explains why",
    "follow_up_home_regions": "patients per home region name regions of the reference data "
    "(organisations.yaml, ids SE-…) and add up to at most the patients",
    "follow_up_review_explained": "a review that finds conditions unmet says why",
    "follow_up_check_explained": "a follow-up found incomplete says what is missing",
    "revocation_complete": "a revocation has a ground and an effective date",
    "revocation_not_revoked": "a decision not to revoke has no ground and re-advertises nothing",
    # Checked by niva:constraint expressions on the user tasks (they need case variables).
    "b2_applicants_only": "B2 comments only on applications that were made",
    "b2_every_application": "B2 comments on every application",
    "permit_count": "no more permits than vacant places",
    "permit_applicants_only": "permits go only to regions that applied",
    "permit_start_date": "a permit does not start before the decision day",
    "follow_up_year": "the follow-up reports the calendar year before the follow-up year",
    "revocation_region_request": "the ground region_request needs the region's request",
}
"""Every rule of the NHV forms and task constraints, by name."""


def rule(name: str, detail: str) -> str:
    """The message of a broken rule: ``rule <name>: <what it says> (<detail>)``."""
    return f"rule {name}: {RULES[name]} ({detail})"


HealthcareRegion = Literal[
    "SE-SVR-NORRA", "SE-SVR-UO", "SE-SVR-SG", "SE-SVR-VAST", "SE-SVR-SO", "SE-SVR-SYD"
]
"""The six sjukvårdsregioner, by their ids in ``organisations.yaml``."""

HEALTHCARE_REGIONS: tuple[str, ...] = get_args(HealthcareRegion)

RegionId = Annotated[
    str,
    Field(pattern=r"^SE-[A-Z]{1,2}$", description="A region's id: SE- and its county letters."),
]
NpoId = Annotated[str, Field(pattern=r"^SE-NPO-[A-Z]+$", description="An NPO's id.")]
Text = Annotated[str, Field(min_length=1, max_length=20_000)]
ShortText = Annotated[str, Field(min_length=1, max_length=500)]
DocumentId = Annotated[str, Field(description="A stored document's SHA-256 (64 hex digits).")]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")


def _units(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 5:
        raise ValueError(rule("units_range", f"got {value}"))
    return value


Units = Annotated[
    int,
    AfterValidator(_units),
    Field(json_schema_extra={"minimum": 1, "maximum": 5}, description="1 to 5 units."),
]


@functools.cache
def swedish_npos(directory: Path = REFERENCE_DIR) -> tuple[str, ...]:
    """The ids of the NPOs (``kind: npo``) in the reference data's ``organisations.yaml``,
    read once.

    Raises:
        ValueError: the reference data cannot be read.
    """
    organisations = load_reference(directory).get("organisations") or []
    return tuple(
        str(org["id"])
        for org in organisations
        if isinstance(org, dict) and org.get("kind") == "npo" and org.get("id")
    )


@functools.cache
def swedish_regions(directory: Path = REFERENCE_DIR) -> tuple[str, ...]:
    """The ids of the 21 regions (``kind: region``, ``SE-…``) in the reference data's
    ``organisations.yaml``, read once.

    Raises:
        ValueError: the reference data cannot be read.
    """
    organisations = load_reference(directory).get("organisations") or []
    return tuple(
        str(org["id"])
        for org in organisations
        if isinstance(org, dict)
        and org.get("kind") == "region"
        and str(org.get("id", "")).startswith("SE-")
    )


# Read at import, outside any workflow sandbox, so validation never touches the disk.
_NPOS = swedish_npos()
_REGIONS = swedish_regions()


class _Form(BaseModel):
    """Forms reject fields they do not know: a misspelt field is an error, not lost data."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- se_nhv_designation ----------------------------------------------------------------------


def _duration(value: str | None) -> str | None:
    if value is not None:
        try:
            IsoDuration.parse(value)
        except TimerSpecError as exc:
            raise ValueError(rule("time_limit_duration", f"got {value!r}")) from exc
        if value.startswith(("-", "+")):
            raise ValueError(rule("time_limit_duration", f"got the signed {value!r}"))
    return value


def _day(value: str | None) -> str | None:
    if value is not None:
        try:
            # A leap year, so that 02-29 is a day that exists.
            date.fromisoformat(f"2024-{value}")
        except ValueError as exc:
            raise ValueError(rule("time_limit_day", f"got {value!r}")) from exc
        if not _DAY.match(value):
            raise ValueError(rule("time_limit_day", f"got {value!r}"))
    return value


Duration = Annotated[str, AfterValidator(_duration)]
YearlyDay = Annotated[str, AfterValidator(_day)]


class TimeLimits(_Form):
    """Overrides of the models' default time limits; every field is optional.

    The models read these keys from the case variable ``time_limits`` and pass it on to the
    cases they start. Defaults are in the models' "Fastställ tidsfrister" steps.
    """

    handling_period: Duration | None = Field(
        default=None, description="Socialstyrelsen's handling time per step (default P2M)."
    )
    review_period: Duration | None = Field(
        default=None, description="The expert group's review (default P6M)."
    )
    review_grace: Duration | None = Field(
        default=None, description="Added after a missed review deadline (default P1M)."
    )
    referral_period: Duration | None = Field(
        default=None, description="The referral's answer period (default P10W)."
    )
    analysis_period: Duration | None = Field(
        default=None, description="B1's analysis (default P6W)."
    )
    application_period: Duration | None = Field(
        default=None, description="The call for applications (default P8W)."
    )
    statement_period: Duration | None = Field(
        default=None, description="B2's statements (default P6W)."
    )
    meeting_period: Duration | None = Field(
        default=None,
        description="How long after a meeting day the nämnd's decision may be recorded "
        "before the matter is tabled to the next meeting (default P14D).",
    )
    follow_up_grace: Duration | None = Field(
        default=None, description="Added after a missed follow-up deadline (default P14D)."
    )
    reminder_days: int | None = Field(
        default=None, ge=1, le=90, description="Reminders go this many days before (14)."
    )
    follow_up_opens: YearlyDay | None = Field(
        default=None, description="The day the yearly follow-up opens (default 03-01)."
    )
    follow_up_due: YearlyDay | None = Field(
        default=None, description="The day the yearly follow-up is due (default 03-31)."
    )
    follow_up_review_due: YearlyDay | None = Field(
        default=None, description="The day Socialstyrelsen's review is due (default 05-31)."
    )
    follow_up_check_days: int | None = Field(
        default=None,
        ge=1,
        le=60,
        description="Working days for Socialstyrelsen's completeness check and for a "
        "completion (se_nhv_permit from version 2; default 10).",
    )


class Nomination(_Form):
    """An NPO nominates a care area (the start of ``se_nhv_designation``)."""

    care_area: ShortText = Field(description="The care area's name, e.g. Svår leversvikt.")
    description: Text = Field(description="What the care is.")
    rationale: Text = Field(description="Why it should be nationell högspecialiserad vård.")
    patients_per_year: int = Field(ge=1, description="Estimated patients per year.")
    nominating_npos: list[NpoId] = Field(description="The nominating NPOs.")
    time_limits: TimeLimits | None = Field(
        default=None, description="Overrides of the models' default time limits."
    )

    @model_validator(mode="after")
    def _npos(self) -> Self:
        if not self.nominating_npos:
            raise ValueError(rule("nominating_npos", "none named"))
        if len(set(self.nominating_npos)) != len(self.nominating_npos):
            raise ValueError(rule("nominating_npos", "an NPO is named twice"))
        unknown = [npo for npo in self.nominating_npos if npo not in _NPOS]
        if unknown:
            raise ValueError(
                rule(
                    "nominating_npos",
                    f"not an NPO of the reference data: {', '.join(unknown)}; "
                    f"the NPOs are {', '.join(_NPOS)}",
                )
            )
        return self


class Prioritisation(_Form):
    """Socialstyrelsen decides whether the area enters the current round."""

    prioritised: bool = Field(description="The area enters the current round.")
    round: int = Field(
        ge=2018, le=2100, description="The round (year) it enters or was weighed in."
    )
    motivation: Text = Field(description="Why, in a few sentences.")


class ExpertMember(_Form):
    """One member of a sakkunniggrupp."""

    name: ShortText
    role: Literal["expert", "patient_representative", "relative_representative"]
    healthcare_region: HealthcareRegion = Field(
        description="The sjukvårdsregion the member comes from."
    )
    organisation: ShortText | None = Field(
        default=None, description="The member's employer or association."
    )
    chair: bool = False


class ExpertGroupAppointment(_Form):
    """Socialstyrelsen appoints the sakkunniggrupp that reviews the area."""

    members: list[ExpertMember]

    @model_validator(mode="after")
    def _composition(self) -> Self:
        count = len(self.members)
        if not 7 <= count <= 9:
            raise ValueError(rule("expert_group_size", f"got {count}"))
        names = [m.name.casefold() for m in self.members]
        if len(set(names)) != len(names):
            raise ValueError(rule("expert_group_unique", "a name appears twice"))
        missing = [
            r for r in HEALTHCARE_REGIONS if r not in {m.healthcare_region for m in self.members}
        ]
        if missing:
            raise ValueError(rule("expert_group_regions", f"missing {', '.join(missing)}"))
        if not any(m.role != "expert" for m in self.members):
            raise ValueError(rule("expert_group_representative", "every member is an expert"))
        return self


class ExpertReport(_Form):
    """The sakkunniggrupp's review (genomlysning) of the area."""

    suitable: bool = Field(description="The area is suitable as NHV.")
    definition: Text | None = Field(default=None, description="Proposed definition of the care.")
    proposed_units: Units | None = Field(default=None, description="Proposed number of units.")
    conditions: list[ShortText] = Field(
        default_factory=list, description="Proposed special permit conditions."
    )
    impact: Text | None = Field(default=None, description="Impact analysis.")
    motivation: Text = Field(description="The group's reasoning.")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.suitable:
            missing = [
                name
                for name in ("definition", "proposed_units", "impact")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(rule("expert_report_complete", f"missing {', '.join(missing)}"))
        return self


class ReferralResponse(_Form):
    """A remissinstans's answer to the referral."""

    supports_definition: bool
    supports_units: bool
    comments_conditions: Text | None = Field(default=None, description="On the conditions.")
    comments_impact: Text | None = Field(default=None, description="On the impact analysis.")
    comments: Text | None = Field(default=None, description="Anything else, and reasons.")

    @model_validator(mode="after")
    def _reasons(self) -> Self:
        if not (self.supports_definition and self.supports_units) and not self.comments:
            raise ValueError(rule("referral_response_reasons", "comments are empty"))
        return self


class B1Analysis(_Form):
    """Beredningsgrupp 1 assesses the effects on the health system."""

    emergency_care_impact: Text = Field(description="Effects on emergency care.")
    health_system_impact: Text = Field(description="Other effects on the health system.")
    recommendation: Literal["supports", "supports_with_changes", "does_not_support"]
    recommended_units: Units | None = None


class Decision(_Form):
    """Socialstyrelsen's decision: NHV or not; if NHV, the definition and units."""

    is_nhv: bool = Field(description="The care is nationell högspecialiserad vård.")
    definition: Text | None = None
    units: Units | None = None
    conditions: list[ShortText] = Field(default_factory=list, description="Permit conditions.")
    grounds: Text = Field(description="The grounds of the decision.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.is_nhv and (self.definition is None or self.units is None):
            raise ValueError(rule("decision_complete", "definition or units missing"))
        if not self.is_nhv and self.units is not None:
            raise ValueError(rule("decision_not_nhv", f"units {self.units} given"))
        return self


# --- se_nhv_permit_allocation ----------------------------------------------------------------


def _attachments(value: list[str]) -> list[str]:
    if not value:
        raise ValueError(rule("application_attachments", "none attached"))
    bad = [v for v in value if not _SHA256.match(v)]
    if bad:
        raise ValueError(rule("application_attachments", f"not a document id: {bad[0]!r}"))
    return value


class Application(_Form):
    """A region's application for a permit, with its attachments."""

    unit_name: ShortText = Field(
        description="The unit (clinic, hospital) that would give the care."
    )
    hospital: ShortText | None = Field(default=None, description="Its hospital's id or name.")
    patients_per_year: int = Field(ge=0, description="Patients the unit expects per year.")
    meets_conditions: bool = Field(description="The unit meets the permit conditions.")
    description: Text = Field(description="How the unit meets the conditions.")
    attachments: Annotated[list[DocumentId], AfterValidator(_attachments)] = Field(
        description="Ids of documents uploaded to the document store."
    )


class ApplicantStatement(_Form):
    """B2's statement on one application."""

    applicant: RegionId
    assessment: Text
    recommends: bool = Field(description="B2 recommends granting the permit.")


class B2Statement(_Form):
    """Beredningsgrupp 2's statements on the applications."""

    statements: list[ApplicantStatement]

    @model_validator(mode="after")
    def _unique(self) -> Self:
        applicants = [s.applicant for s in self.statements]
        if len(set(applicants)) != len(applicants):
            raise ValueError(rule("b2_unique", "an applicant appears twice"))
        return self


def _conditions(value: list[str]) -> list[str]:
    if not value:
        raise ValueError(rule("permit_conditions", "no condition given"))
    return value


class GrantedPermit(_Form):
    """One permit the nämnd grants."""

    holder: RegionId = Field(description="The region granted the permit.")
    unit_name: ShortText | None = None
    start_date: date = Field(description="The day the permit starts.")
    conditions: Annotated[list[ShortText], AfterValidator(_conditions)]


class PermitDecision(_Form):
    """The nämnd's decision on the applications (it may grant fewer than the vacancies)."""

    permits: list[GrantedPermit]
    grounds: Text

    @model_validator(mode="after")
    def _unique(self) -> Self:
        holders = [p.holder for p in self.permits]
        if len(set(holders)) != len(holders):
            raise ValueError(rule("permit_unique", "a region appears twice"))
        return self


class ReadvertiseDecision(_Form):
    """Socialstyrelsen decides whether a call that drew no applications is re-advertised."""

    readvertise: bool
    motivation: Text


# --- se_nhv_permit -------------------------------------------------------------------------------


class AnnualFollowUp(_Form):
    """The permit holder's yearly follow-up (reported in March)."""

    year: int = Field(ge=2018, le=2100, description="The calendar year reported.")
    patients: int = Field(ge=0)
    treatments: int = Field(ge=0)
    average_length_of_stay_days: float = Field(ge=0)
    complications: int = Field(ge=0)
    conditions_met: bool = Field(description="The unit meets the permit's conditions.")
    comments: Text | None = None
    # Optional, so that follow-ups recorded before it existed still validate; the yearly
    # public report shows accessibility from it where it is given.
    patients_by_home_region: dict[RegionId, Annotated[int, Field(ge=0)]] | None = Field(
        default=None,
        description="Accessibility: the patients of the year by their home region (region "
        'id → patients), e.g. {"SE-AB": 12, "SE-M": 3}. Regions not named had none.',
    )

    @model_validator(mode="after")
    def _explained(self) -> Self:
        if not self.conditions_met and not self.comments:
            raise ValueError(rule("follow_up_explained", "comments are empty"))
        return self

    @model_validator(mode="after")
    def _home_regions(self) -> Self:
        by_region = self.patients_by_home_region or {}
        unknown = [region for region in by_region if region not in _REGIONS]
        if unknown:
            raise ValueError(
                rule(
                    "follow_up_home_regions",
                    f"not a region of the reference data: {', '.join(unknown)}",
                )
            )
        counted = sum(by_region.values())
        if counted > self.patients:
            raise ValueError(
                rule(
                    "follow_up_home_regions",
                    f"{counted} patients by home region, {self.patients} patients in all",
                )
            )
        return self


class FollowUpReview(_Form):
    """Socialstyrelsen's review of a follow-up, published April–May."""

    conditions_met: bool
    assessment: Text
    comments: Text | None = None

    @model_validator(mode="after")
    def _explained(self) -> Self:
        if not self.conditions_met and not self.comments:
            raise ValueError(rule("follow_up_review_explained", "comments are empty"))
        return self


class FollowUpCheck(_Form):
    """Socialstyrelsen's check that a follow-up is complete, before it is reviewed
    (se_nhv_permit from version 2)."""

    complete: bool
    missing: Text | None = Field(
        default=None, description="What the holder must add (when it is not complete)."
    )

    @model_validator(mode="after")
    def _explained(self) -> Self:
        if not self.complete and not self.missing:
            raise ValueError(rule("follow_up_check_explained", "missing is empty"))
        return self


RevocationGround = Literal["conditions_not_met", "circumstances_changed", "region_request"]


class RevocationDecision(_Form):
    """The nämnd's decision on revoking a permit."""

    revoke: bool
    ground: RevocationGround | None = None
    effective_date: date | None = None
    motivation: Text
    readvertise: bool = Field(default=False, description="Advertise the place again.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.revoke and (self.ground is None or self.effective_date is None):
            raise ValueError(rule("revocation_complete", "ground or effective date missing"))
        if not self.revoke and (self.ground is not None or self.readvertise):
            raise ValueError(rule("revocation_not_revoked", "ground or readvertise given"))
        return self


# --- messages a model reads as a whole ---------------------------------------------------------


class RevocationRequest(_Form):
    """The payload of ``request_revocation``: the holder asks for its permit to be revoked."""

    reason: Text | None = Field(default=None, description="Why the holder asks.")


class RevocationInitiation(_Form):
    """The payload of ``initiate_revocation``: Socialstyrelsen brings the permit before the
    nämnd. Left out, the ground is circumstances_changed (the model's default)."""

    ground: Literal["circumstances_changed", "conditions_not_met"] = Field(
        default="circumstances_changed",
        description="circumstances_changed (förutsättningarna har ändrats) or "
        "conditions_not_met (villkoren uppfylls inte).",
    )
    reason: Text | None = Field(default=None, description="Why Socialstyrelsen initiates.")


FORMS: dict[str, type[BaseModel]] = {
    f"se.nhv.{form.__name__}": form
    for form in (
        Nomination,
        Prioritisation,
        ExpertGroupAppointment,
        ExpertReport,
        ReferralResponse,
        B1Analysis,
        Decision,
        Application,
        B2Statement,
        PermitDecision,
        ReadvertiseDecision,
        AnnualFollowUp,
        FollowUpCheck,
        FollowUpReview,
        RevocationDecision,
    )
}
"""The NHV forms by key (``se.nhv.ExpertReport``)."""

MESSAGES: dict[str, type[BaseModel]] = {
    "request_revocation": RevocationRequest,
    "initiate_revocation": RevocationInitiation,
}
"""The payload models of the NHV messages whose payload a model keeps as a whole, by
message name: the API refuses a payload they do not admit (422), and the Camunda 8 version
of the model names their fields (`process_models.convert`)."""
