"""The organisations of ``organisations.yaml`` and the addresses their roles are reached at.

The file is data, not code: a deployment replaces it with its own addresses. It is read by
path (``activities`` never imports ``process_models``); the default is the shipped file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from activities.service_call import bpmn_error
from activities.settings import DEFAULT_ORGANISATIONS_FILE

__all__ = [
    "UNKNOWN_RECIPIENT",
    "Contact",
    "Organisation",
    "OrganisationDirectory",
    "OrganisationKind",
    "Recipient",
    "load_organisations",
]

OrganisationKind = Literal[
    "region",
    "healthcare_region",
    "university_hospital",
    "agency",
    "board",
    "preparation_group",
    "npo",
    "rhf",
    "hf",
    "directorate",
    "ministry",
]

_EMAIL = r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$"
UNKNOWN_RECIPIENT = "UnknownRecipient"
"""The BPMN error code of a recipient that cannot be resolved."""


class Contact(BaseModel):
    """One role address of an organisation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: str = Field(min_length=1, description="registry, nhv, national_services, …")
    email: str = Field(pattern=_EMAIL)


class Organisation(BaseModel):
    """One organisation taking part in the processes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^(SE|NO)-[A-Z0-9]+(-[A-Z0-9]+)*$")
    name: str = Field(min_length=1)
    kind: OrganisationKind
    parent: str | None
    jurisdiction: Literal["SE", "NO"]
    language: Literal["sv", "nb"]
    contacts: list[Contact] = Field(default_factory=list)

    def roles(self) -> list[str]:
        """The roles it can be reached in, in file order, each once."""
        return list(dict.fromkeys(contact.role for contact in self.contacts))


class Recipient(BaseModel):
    """One address a message goes to, and whom it reaches there."""

    model_config = ConfigDict(frozen=True)

    email: str = Field(pattern=_EMAIL)
    name: str | None = Field(default=None, description="The organisation's name, if any.")
    organisation: str | None = Field(default=None, description="The organisation's id.")
    role: str | None = None
    language: Literal["sv", "nb"] | None = Field(
        default=None, description="The organisation's language; None for a direct address."
    )


class OrganisationDirectory(BaseModel):
    """Every organisation by id, checked to form a tree with unique ids."""

    model_config = ConfigDict(frozen=True)

    organisations: list[Organisation]

    @model_validator(mode="after")
    def _consistent(self) -> OrganisationDirectory:
        seen: set[str] = set()
        for org in self.organisations:
            if org.id in seen:
                raise ValueError(f"organisation {org.id} is listed twice: keep one entry")
            seen.add(org.id)
        for org in self.organisations:
            if org.parent is not None and org.parent not in seen:
                raise ValueError(
                    f"organisation {org.id} names parent {org.parent}, which is not listed: "
                    "add it or fix the id"
                )
            expected = "sv" if org.jurisdiction == "SE" else "nb"
            if org.language != expected:
                raise ValueError(
                    f"organisation {org.id} ({org.jurisdiction}) has language {org.language}: "
                    f"use {expected}"
                )
        return self

    def get(self, org_id: str) -> Organisation:
        """The organisation ``org_id``, or a ``BpmnError`` ``UnknownRecipient`` naming it."""
        for org in self.organisations:
            if org.id == org_id:
                return org
        raise bpmn_error(
            UNKNOWN_RECIPIENT,
            f"organisation {org_id!r} is not in the organisation directory: use one of its "
            "ids (SE-AB, NO-HSO, …) or add the organisation to organisations.yaml",
            organisation=org_id,
        )

    def children(self, org_id: str) -> list[Organisation]:
        """The organisations whose parent is ``org_id``, in file order."""
        return [org for org in self.organisations if org.parent == org_id]

    def recipients(self, org_id: str, role: str) -> list[Recipient]:
        """Every address of ``role`` at ``org_id``.

        Raises:
            ApplicationError: type ``BpmnError``, code ``UnknownRecipient``, when the
                organisation is not listed or has no address for that role; the model may
                catch it with an error boundary.
        """
        org = self.get(org_id)
        found = [
            Recipient(
                email=contact.email,
                name=org.name,
                organisation=org.id,
                role=contact.role,
                language=org.language,
            )
            for contact in org.contacts
            if contact.role == role
        ]
        if not found:
            raise bpmn_error(
                UNKNOWN_RECIPIENT,
                f"organisation {org_id} ({org.name}) has no address for role {role!r}; it has "
                f"{', '.join(org.roles()) or 'no addresses'}: use one of those or add a "
                "contact to organisations.yaml",
                organisation=org_id,
                role=role,
            )
        return found


def load_organisations(path: Path = DEFAULT_ORGANISATIONS_FILE) -> OrganisationDirectory:
    """Read and check the organisations file.

    Args:
        path: a YAML list of organisations; default: the shipped
            ``process_models/reference/organisations.yaml``.

    Raises:
        ValueError: the file is missing, not YAML, or an entry is wrong; the message names
            the file and the entry.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"organisations file {path} cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"organisations file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, list):
        raise ValueError(
            f"organisations file {path} must be a YAML list of organisations, "
            f"not {type(data).__name__}"
        )
    try:
        return OrganisationDirectory(organisations=data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = list(error["loc"])
            # loc starts ("organisations", index, field…): name the entry by its id.
            if len(loc) >= 2 and loc[0] == "organisations" and isinstance(loc[1], int):
                entry = data[loc[1]]
                label = entry.get("id", f"#{loc[1]}") if isinstance(entry, dict) else loc[1]
                loc = [f"entry {label}", *loc[2:]]
            problems.append(f"{'.'.join(str(p) for p in loc) or 'file'}: {error['msg']}")
        raise ValueError(f"organisations file {path} has errors: {'; '.join(problems)}") from exc
