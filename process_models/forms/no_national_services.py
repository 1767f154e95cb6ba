"""Forms of Norway's national services in specialist health care (nasjonale tjenester).

The user tasks of ``no_national_service_application`` (both versions) and
``no_national_service_lifecycle`` complete with these payloads. Each validator carries a rule
of forskrift 17 December 2010 nr. 1706 or of the 2024 application round, and its message
names the rule, so a caseworker reading the API's 422 knows what to change.

The health trusts (HF) and regional health authorities (RHF) come from the reference data
(``organisations.yaml`` and ``no_national_services.yaml``), read once when this module is
imported: a form never reads files while a case validates a payload.

Codes in payloads are English (``continue``, ``no_longer_needed``) except the kind of
service, which keeps the regulation's own words (``behandling``, ``flerregional``,
``kompetanse``); every field's description gives the Norwegian term.
"""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from process_models.reference import REFERENCE_DIR

__all__ = [
    "FORMS",
    "AnnualReport",
    "ApplicationRequest",
    "Assessment",
    "Decision",
    "Evaluation",
    "JointApplication",
    "NorwegianOrganisations",
    "PrioritisationList",
    "Recommendation",
    "RenewalDecision",
    "RequestResponse",
    "ServiceApplication",
    "norwegian_organisations",
]

ServiceKind = Literal["behandling", "flerregional", "kompetanse"]
"""nasjonal behandlingstjeneste, flerregional behandlingstjeneste, nasjonal kompetansetjeneste."""
CompetenceAim = Literal["training", "competence_building"]
"""opplæring (approved for 5 years) or kompetansebygging (10 years)."""
TerminationGround = Literal["conditions_not_met", "no_longer_needed"]
"""One or more conditions of the approval are no longer met; the service is no longer needed."""

_REGULATION = "forskrift 17 December 2010 nr. 1706"


class NorwegianOrganisations(BaseModel):
    """The Norwegian organisations the forms check payloads against."""

    model_config = ConfigDict(frozen=True)

    rhfs: tuple[str, ...] = Field(description="The regional health authorities (RHF).")
    health_trusts: dict[str, str] = Field(description="Each health trust (HF) by id: its RHF.")


@functools.cache
def norwegian_organisations(directory: Path = REFERENCE_DIR) -> NorwegianOrganisations:
    """The RHFs and HFs of ``organisations.yaml`` (and the RHF list of
    ``no_national_services.yaml``), read once.

    Raises:
        ValueError: a file is missing or does not have the expected shape.
    """
    try:
        organisations: Any = yaml.safe_load((directory / "organisations.yaml").read_text("utf-8"))
        services: Any = yaml.safe_load((directory / "no_national_services.yaml").read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(
            f"the Norwegian reference data in {directory} cannot be read: {exc}"
        ) from exc
    if not isinstance(organisations, list) or not isinstance(services, dict):
        raise ValueError(
            f"{directory}/organisations.yaml must be a list and no_national_services.yaml a map"
        )
    health_trusts = {
        str(org["id"]): str(org["parent"])
        for org in organisations
        if isinstance(org, dict) and org.get("kind") == "hf" and org.get("parent")
    }
    return NorwegianOrganisations(
        rhfs=tuple(services.get("rhfs") or ()), health_trusts=health_trusts
    )


# Read at import, outside any workflow sandbox, so validation never touches the disk.
_ORGANISATIONS = norwegian_organisations()


def _problems(problems: list[str]) -> None:
    """Raise every broken rule of a form at once."""
    if problems:
        raise ValueError("; ".join(problems))


class _Form(BaseModel):
    # A misspelt field is a mistake worth reporting, not something to drop silently.
    model_config = ConfigDict(extra="forbid")


def _check_rhf(value: str) -> str:
    if value not in _ORGANISATIONS.rhfs:
        raise ValueError(
            f"{value!r} is not a regional health authority: an RHF is one of "
            f"{', '.join(_ORGANISATIONS.rhfs)}"
        )
    return value


# --- version 1: request and application -------------------------------------------------


class ApplicationRequest(_Form):
    """A request that an RHF apply for a national service (anmodning om søknad).

    User organisations, professional communities and Helsedirektoratet may ask an RHF to
    apply; the request starts a case at the message start event ``request_application``.
    """

    requester: str = Field(min_length=1, description="Who asks (brukerorganisasjon, fagmiljø).")
    requester_kind: Literal["user_organisation", "professional_community", "directorate"] = Field(
        description="brukerorganisasjon, fagmiljø or Helsedirektoratet."
    )
    rhf: str = Field(description="The RHF asked to apply (NO-HSO, NO-HV, NO-HMN, NO-HN).")
    service_name: str = Field(min_length=1, description="The proposed service (tjeneste).")
    rationale: str = Field(min_length=1, description="Why the service should be national.")

    _rhf = field_validator("rhf")(_check_rhf)


class RequestResponse(_Form):
    """The RHF's answer to a request: whether it applies (svar på anmodning)."""

    will_apply: bool = Field(description="Whether the RHF applies for the service.")
    grounds: str | None = Field(default=None, description="Why not (begrunnelse).")

    @model_validator(mode="after")
    def _declining_gives_grounds(self) -> Self:
        if not self.will_apply and not (self.grounds and self.grounds.strip()):
            raise ValueError(
                "an RHF that declines a request to apply gives its grounds: fill in 'grounds'"
            )
        return self


class ReferenceGroupMember(_Form):
    """A member of the service's reference group (referansegruppe)."""

    name: str = Field(min_length=1)
    organisation: str = Field(min_length=1, description="Health region, HF or user organisation.")
    role: Literal["professional", "user_representative"] = Field(
        default="professional", description="fagperson or brukerrepresentant."
    )


class ServiceApplication(_Form):
    """An application for a national service (søknad om nasjonal tjeneste).

    Rules: a national treatment service is given at exactly one HF; a multiregional one at
    two HF in two different health regions (their RHFs differ); a competence service states
    its aim (training: 5 years, competence building: 10 years) and no other kind does; the
    service has a reference group; a new method needs Beslutningsforum's positive decision.
    """

    service_name: str = Field(min_length=1, description="The service's name (tjenestens navn).")
    kind: ServiceKind = Field(
        description="behandling (nasjonal behandlingstjeneste), flerregional (flerregional "
        "behandlingstjeneste) or kompetanse (nasjonal kompetansetjeneste)."
    )
    competence_aim: CompetenceAim | None = Field(
        default=None,
        description="For kompetanse only: training (opplæring, 5 years) or competence_building "
        "(kompetansebygging, 10 years).",
    )
    health_trusts: list[str] = Field(description="The HF(s) that will run the service.")
    description: str = Field(min_length=1, description="Content and rationale (innhold).")
    reference_group: list[ReferenceGroupMember] = Field(
        default_factory=list, description="The reference group (referansegruppe)."
    )
    new_method: bool = Field(
        default=False, description="Whether the service is a new method (ny metode)."
    )
    beslutningsforum_decision: str | None = Field(
        default=None,
        description="For a new method: the reference of Beslutningsforum's positive decision.",
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        problems: list[str] = []
        trusts = self.health_trusts
        unknown = [hf for hf in trusts if hf not in _ORGANISATIONS.health_trusts]
        if unknown:
            problems.append(
                f"a national service is run by health trusts (HF): {', '.join(unknown)} "
                "is not an HF of the reference data (NO-HSO-OUS, NO-HV-BERGEN, …)"
            )
        if len(set(trusts)) != len(trusts):
            problems.append("health_trusts names an HF twice: name each HF once")
        if self.kind == "behandling" and len(trusts) != 1:
            problems.append(
                "a national treatment service (nasjonal behandlingstjeneste) is given at "
                f"exactly one HF, but health_trusts names {len(trusts)}"
            )
        if self.kind == "flerregional":
            regions = {_ORGANISATIONS.health_trusts.get(hf) for hf in trusts}
            if len(trusts) != 2:
                problems.append(
                    "a multiregional treatment service (flerregional behandlingstjeneste) is "
                    f"given at exactly two HF, but health_trusts names {len(trusts)}"
                )
            elif not unknown and len(regions) != 2:
                problems.append(
                    "a multiregional treatment service (flerregional behandlingstjeneste) is "
                    "given at two HF in two different health regions, but both belong to "
                    f"{regions.pop()}"
                )
        if self.kind == "kompetanse" and not trusts:
            problems.append("a national competence service names the HF that will run it")
        if self.kind == "kompetanse" and self.competence_aim is None:
            problems.append(
                "a national competence service (nasjonal kompetansetjeneste) states its aim: "
                "competence_aim training (5 years) or competence_building (10 years)"
            )
        if self.kind != "kompetanse" and self.competence_aim is not None:
            problems.append(
                "only a national competence service has a competence_aim (and a time limit): "
                f"leave it out for kind {self.kind}"
            )
        if not self.reference_group:
            problems.append(
                "every national service has a reference group (referansegruppe): name at "
                "least one member in reference_group"
            )
        if self.new_method and not (
            self.beslutningsforum_decision and self.beslutningsforum_decision.strip()
        ):
            problems.append(
                "a new method (ny metode) needs the positive decision of Beslutningsforum: "
                "give its reference in beslutningsforum_decision"
            )
        _problems(problems)
        return self


class Assessment(_Form):
    """Helsedirektoratet's assessment of an application (vurdering)."""

    conditions_met: bool = Field(
        description="Whether the service meets the conditions for national services "
        f"({_REGULATION})."
    )
    recommendation: Literal["approve", "reject"] = Field(description="godkjenne or avslå.")
    assessment: str = Field(min_length=1, description="The assessment (faglig vurdering).")
    conditions: list[str] = Field(
        default_factory=list, description="Conditions proposed for an approval (vilkår)."
    )

    @model_validator(mode="after")
    def _approval_needs_the_conditions(self) -> Self:
        if self.recommendation == "approve" and not self.conditions_met:
            raise ValueError(
                "a service is approved only when it meets the conditions for national "
                f"services ({_REGULATION}): recommend 'reject' or set conditions_met"
            )
        return self


class Recommendation(Assessment):
    """Helsedirektoratet's recommendation to HOD on a joint application (2024 rules)."""


class Decision(_Form):
    """The decision on an application (vedtak): Helsedirektoratet's until 2024, HOD's after."""

    decision: Literal["approved", "rejected"] = Field(description="godkjent or avslått.")
    grounds: str = Field(min_length=1, description="The grounds (begrunnelse).")
    approved_from: date | None = Field(
        default=None, description="For an approval: the day the service is approved from."
    )
    conditions: list[str] = Field(default_factory=list, description="Conditions (vilkår).")

    @model_validator(mode="after")
    def _approval_has_a_start(self) -> Self:
        if self.decision == "approved" and self.approved_from is None:
            raise ValueError(
                "an approval states the day the service is approved from: set approved_from"
            )
        if self.decision == "rejected" and self.approved_from is not None:
            raise ValueError("a rejection approves nothing: leave approved_from out")
        return self


# --- version 2: the 2024 round ----------------------------------------------------------


class PrioritisedApplication(_Form):
    """One application on the interregional priority list."""

    service_name: str = Field(min_length=1)
    rhf: str = Field(description="The RHF that received the application.")
    priority: int = Field(ge=1, description="1 is the highest priority.")

    _rhf = field_validator("rhf")(_check_rhf)


def _consecutive(priorities: list[int], what: str) -> str | None:
    if sorted(priorities) != list(range(1, len(priorities) + 1)):
        return (
            f"{what} is one prioritised list: priorities run 1, 2, 3, … without gaps or "
            f"ties, but they are {sorted(priorities)}"
        )
    return None


class PrioritisationList(_Form):
    """The RHFs' interregional prioritisation of the year's applications (December)."""

    meeting_date: date = Field(description="The interregional meeting (in December).")
    ranking: list[PrioritisedApplication] = Field(
        min_length=1, description="Every application of the round, in priority order."
    )
    prioritised: bool = Field(description="Whether this case's application goes forward.")
    priority: int | None = Field(default=None, ge=1, description="This application's place.")

    @model_validator(mode="after")
    def _rules(self) -> Self:
        problems: list[str] = []
        if self.meeting_date.month != 12:
            problems.append(
                "the RHFs prioritise the applications interregionally in December: "
                f"meeting_date {self.meeting_date.isoformat()} is not in December"
            )
        gaps = _consecutive([entry.priority for entry in self.ranking], "the ranking")
        if gaps:
            problems.append(gaps)
        if self.prioritised and self.priority is None:
            problems.append("a prioritised application has its place: set priority")
        places = {entry.priority for entry in self.ranking}
        if self.prioritised and self.priority is not None and self.priority not in places:
            problems.append(
                f"priority {self.priority} is not a place on the ranking: give this "
                "application's place on the list"
            )
        if not self.prioritised and self.priority is not None:
            problems.append(
                "an application that is not prioritised has no place: leave out priority"
            )
        _problems(problems)
        return self


class JointApplicationEntry(_Form):
    """One service of the joint prioritised application."""

    service_name: str = Field(min_length=1)
    kind: ServiceKind
    rhf: str = Field(description="The RHF whose application it was.")
    priority: int = Field(ge=1)

    _rhf = field_validator("rhf")(_check_rhf)


class JointApplication(_Form):
    """The four RHFs' one joint prioritised application to Helsedirektoratet (by 15 January)."""

    applications: list[JointApplicationEntry] = Field(min_length=1)
    sent_by: list[str] = Field(description="The RHFs sending it: all four.")

    @model_validator(mode="after")
    def _rules(self) -> Self:
        problems: list[str] = []
        missing = [rhf for rhf in _ORGANISATIONS.rhfs if rhf not in self.sent_by]
        unknown = [rhf for rhf in self.sent_by if rhf not in _ORGANISATIONS.rhfs]
        if missing or unknown:
            problems.append(
                "the RHFs send one joint application together: sent_by names all four RHFs "
                f"({', '.join(_ORGANISATIONS.rhfs)})"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; not an RHF: {', '.join(unknown)}" if unknown else "")
            )
        gaps = _consecutive(
            [entry.priority for entry in self.applications], "the joint application"
        )
        if gaps:
            problems.append(gaps)
        _problems(problems)
        return self


# --- the lifecycle ------------------------------------------------------------------------


class AnnualReport(_Form):
    """The RHF's annual report on the service (årsrapport), due 1 March of the next year."""

    year: int = Field(ge=2000, le=2200, description="The year reported on.")
    report_url: str = Field(description="Where the report is available digitally.")
    patients: int = Field(ge=0, description="Patients treated or served in the year.")
    conditions_met: bool = Field(description="Whether the approval's conditions were met.")
    deviations: str | None = Field(default=None, description="Deviations from the conditions.")
    summary: str | None = None

    @field_validator("report_url")
    @classmethod
    def _available_digitally(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or len(value) < 12:
            raise ValueError(
                "the RHF makes the annual report available digitally: give its web address "
                f"(https://…), not {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _deviations_explained(self) -> Self:
        if not self.conditions_met and not (self.deviations and self.deviations.strip()):
            raise ValueError(
                "a report saying the conditions were not met describes the deviations: "
                "fill in 'deviations'"
            )
        return self


class Evaluation(_Form):
    """Helsedirektoratet's yearly evaluation (evaluering), due 1 June.

    Rules: a change describes what changes (it needs a new application and approval); a
    termination (avvikling) gives its grounds, one or both of: a condition of the approval
    is no longer met, the service is no longer needed; only a termination may move the
    service to a kvalitets- og kompetansenettverk.
    """

    outcome: Literal["continue", "change", "terminate"] = Field(
        description="videreføres, endres or avvikles."
    )
    assessment: str = Field(min_length=1, description="The evaluation (vurdering).")
    change_description: str | None = Field(
        default=None, description="For a change: what changes (needs a new application)."
    )
    termination_grounds: list[TerminationGround] = Field(
        default_factory=list,
        description="For a termination: conditions_not_met (vilkår ikke lenger oppfylt) "
        "and/or no_longer_needed (tjenesten er ikke lenger nødvendig).",
    )
    move_to_network: bool = Field(
        default=False,
        description="For a terminated competence service: it continues as a kvalitets- og "
        "kompetansenettverk.",
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        problems: list[str] = []
        if self.outcome == "terminate" and not self.termination_grounds:
            problems.append(
                "a service is terminated (avvikling) only when one or more conditions of its "
                "approval are no longer met or it is no longer needed: give "
                "termination_grounds (conditions_not_met, no_longer_needed)"
            )
        if len(set(self.termination_grounds)) != len(self.termination_grounds):
            problems.append("termination_grounds names a ground twice")
        if self.outcome != "terminate" and self.termination_grounds:
            problems.append(
                f"termination_grounds belong to a termination, not to outcome {self.outcome!r}"
            )
        if self.outcome != "terminate" and self.move_to_network:
            problems.append(
                "only a terminated service moves to a kvalitets- og kompetansenettverk: set "
                "outcome 'terminate' or leave move_to_network out"
            )
        if self.outcome == "change" and not (
            self.change_description and self.change_description.strip()
        ):
            problems.append(
                "a change of the service needs a new application and approval: describe it "
                "in change_description"
            )
        _problems(problems)
        return self


class RenewalDecision(_Form):
    """Whether a competence service's approval is renewed before it runs out (fornyelse)."""

    renewed: bool = Field(description="Whether the approval is renewed for another period.")
    grounds: str = Field(min_length=1, description="The grounds (begrunnelse).")


FORMS: dict[str, type[BaseModel]] = {
    "no.ns.ApplicationRequest": ApplicationRequest,
    "no.ns.RequestResponse": RequestResponse,
    "no.ns.ServiceApplication": ServiceApplication,
    "no.ns.Assessment": Assessment,
    "no.ns.Recommendation": Recommendation,
    "no.ns.Decision": Decision,
    "no.ns.PrioritisationList": PrioritisationList,
    "no.ns.JointApplication": JointApplication,
    "no.ns.AnnualReport": AnnualReport,
    "no.ns.Evaluation": Evaluation,
    "no.ns.RenewalDecision": RenewalDecision,
}
"""Every form of Norway's national services by key."""
