"""organisations.yaml: complete, consistent, and resolved to role addresses."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.organisations import OrganisationDirectory, load_organisations
from service_contract import BPMN_ERROR_TYPE

SWEDISH_REGION_CODES = {
    "SE-AB", "SE-C", "SE-D", "SE-E", "SE-F", "SE-G", "SE-H", "SE-I", "SE-K", "SE-M", "SE-N",
    "SE-O", "SE-S", "SE-T", "SE-U", "SE-W", "SE-X", "SE-Y", "SE-Z", "SE-AC", "SE-BD",
}  # fmt: skip


def test_organisations_shipped_file_has_every_kind(organisations: OrganisationDirectory):
    kinds = Counter(org.kind for org in organisations.organisations)
    assert kinds["region"] == 21
    assert kinds["healthcare_region"] == 6
    assert kinds["university_hospital"] == 7
    assert kinds["rhf"] == 4
    assert kinds["hf"] >= 12
    for kind in ("agency", "board", "directorate", "ministry"):
        assert kinds[kind] == 1, kind
    assert kinds["preparation_group"] == 2
    assert kinds["npo"] >= 3


def test_organisations_swedish_regions_use_county_codes(organisations: OrganisationDirectory):
    regions = {org.id for org in organisations.organisations if org.kind == "region"}
    assert regions == SWEDISH_REGION_CODES
    assert organisations.get("SE-AB").name == "Region Stockholm"
    assert organisations.get("SE-Z").name == "Region Jämtland Härjedalen"


def test_organisations_tree_matches_domain(organisations: OrganisationDirectory):
    for org in organisations.organisations:
        if org.kind == "region":
            assert organisations.get(org.parent or "").kind == "healthcare_region", org.id
        if org.kind == "university_hospital":
            assert organisations.get(org.parent or "").kind == "region", org.id
        if org.kind == "hf":
            assert organisations.get(org.parent or "").kind == "rhf", org.id
    stockholm_gotland = {org.id for org in organisations.children("SE-SVR-SG")}
    assert stockholm_gotland == {"SE-AB", "SE-I"}
    norra = {org.id for org in organisations.children("SE-SVR-NORRA")}
    assert norra == {"SE-BD", "SE-AC", "SE-Y", "SE-Z"}
    assert organisations.get("NO-HSO-OUS").parent == "NO-HSO"
    assert organisations.get("NO-HMN-STOLAV").name == "St. Olavs hospital HF"
    assert organisations.get("NO-HN-UNN").parent == "NO-HN"
    assert organisations.get("NO-HDIR").parent == "NO-HOD"
    assert organisations.get("SE-NHV-NAMND").parent == "SE-SOS"
    for rhf in ("NO-HSO", "NO-HV", "NO-HMN", "NO-HN"):
        assert organisations.children(rhf), f"{rhf} owns no HF"


def test_organisations_language_and_jurisdiction(organisations: OrganisationDirectory):
    for org in organisations.organisations:
        assert (org.jurisdiction, org.language) in {("SE", "sv"), ("NO", "nb")}, org.id
        assert org.id.startswith(f"{org.jurisdiction}-"), org.id


def test_organisations_addresses_are_placeholders(organisations: OrganisationDirectory):
    for org in organisations.organisations:
        assert org.contacts, f"{org.id} has no contact"
        for contact in org.contacts:
            assert contact.email.endswith(".example"), (org.id, contact.email)


def test_recipients_resolve_role_address(organisations: OrganisationDirectory):
    [recipient] = organisations.recipients("SE-AB", "registry")
    assert recipient.email == "registrator@region-stockholm.example"
    assert recipient.organisation == "SE-AB"
    assert recipient.name == "Region Stockholm"
    assert recipient.language == "sv"
    [norwegian] = organisations.recipients("NO-HV", "national_services")
    assert norwegian.language == "nb"


def test_recipients_unknown_organisation_is_bpmn_error(organisations: OrganisationDirectory):
    with pytest.raises(ApplicationError) as caught:
        organisations.recipients("SE-XX", "registry")
    error = caught.value
    assert error.type == BPMN_ERROR_TYPE
    assert error.non_retryable
    assert error.details[0]["code"] == "UnknownRecipient"
    assert "SE-XX" in error.message


def test_recipients_unknown_role_names_role_and_known_roles(
    organisations: OrganisationDirectory,
):
    with pytest.raises(ApplicationError) as caught:
        organisations.recipients("NO-HOD", "nhv")
    error = caught.value
    assert error.type == BPMN_ERROR_TYPE
    assert error.details[0]["code"] == "UnknownRecipient"
    assert "'nhv'" in error.message
    assert "NO-HOD" in error.message
    assert "registry" in error.message


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "organisations.yaml"
    path.write_text(text, encoding="utf-8")
    return path


ENTRY = """
- id: {id}
  name: Test
  kind: region
  parent: {parent}
  jurisdiction: {jurisdiction}
  language: sv
  contacts: [{{role: registry, email: r@test.example}}]
"""


def test_load_organisations_duplicate_id_names_it(tmp_path: Path):
    text = ENTRY.format(id="SE-AB", parent="null", jurisdiction='"SE"') * 2
    with pytest.raises(ValueError, match="SE-AB is listed twice"):
        load_organisations(_write(tmp_path, text))


def test_load_organisations_unknown_parent_names_it(tmp_path: Path):
    text = ENTRY.format(id="SE-AB", parent="SE-SVR-NOPE", jurisdiction='"SE"')
    with pytest.raises(ValueError, match="SE-SVR-NOPE"):
        load_organisations(_write(tmp_path, text))


def test_load_organisations_unquoted_norway_names_entry(tmp_path: Path):
    # YAML 1.1 reads a bare NO as false: the error must point at the entry.
    text = ENTRY.format(id="NO-HSO", parent="null", jurisdiction="NO")
    with pytest.raises(ValueError, match=r"entry NO-HSO\.jurisdiction"):
        load_organisations(_write(tmp_path, text))


def test_load_organisations_missing_file_names_path(tmp_path: Path):
    with pytest.raises(ValueError, match=r"nowhere\.yaml"):
        load_organisations(tmp_path / "nowhere.yaml")
