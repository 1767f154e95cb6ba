"""Who may start a case: the process's ``niva:starters``; without one, the agencies; an
operator always; an auditor never."""

from __future__ import annotations

from typing import Any

import httpx

from process_models.shipped import shipped_model_files
from starter.demo_se import nomination
from tests.support.api import ONE_TASK, Api
from tests.workflows.harness import bpmn


async def start(
    api: Api, process_id: str, business_key: str, subject: str, variables: dict[str, Any]
) -> httpx.Response:
    """POST /instances as ``subject``."""
    return await api.http.post(
        "/instances",
        json={
            "process_id": process_id,
            "business_key": business_key,
            "title": business_key,
            "variables": variables,
        },
        headers=api.auth(subject),
    )


async def test_start_without_declaration_only_by_agencies_and_operators(api: Api):
    await api.deploy(ONE_TASK)
    allowed = {"sos-officer", "modeler", "operator", "hdir-officer"}  # SE-SOS, NO-HDIR
    for subject in sorted(api.tokens):
        response = await start(api, "api_one", f"undeclared-{subject}", subject, {})
        if subject in allowed:
            assert response.status_code == 201, (subject, response.text)
        else:
            assert response.status_code == 403, (subject, response.text)
            assert response.json()["error"] == "forbidden"
    refused = await start(api, "api_one", "undeclared-x", "registrator-ab", {})
    assert "may not start api_one: it is started by the agencies" in refused.json()["detail"]


DECLARED = bpmn("""
<bpmn:process id="api_declared" isExecutable="true">
  <bpmn:extensionElements>
    <niva:starters candidateGroups="registrator" candidateOrgs="SE-AB,SE-C"/>
  </bpmn:extensionElements>
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Work"/>
  <bpmn:userTask id="Work"/>
  <bpmn:sequenceFlow id="f2" sourceRef="Work" targetRef="End"/>
  <bpmn:endEvent id="End"/>
</bpmn:process>
""")


async def test_start_with_declaration_by_its_candidates_and_operators(api: Api):
    await api.deploy(DECLARED)
    allowed = {"registrator-ab", "registrator-c", "operator"}
    for subject in sorted(api.tokens):
        response = await start(api, "api_declared", f"declared-{subject}", subject, {})
        expected = 201 if subject in allowed else 403
        assert response.status_code == expected, (subject, response.text)
    refused = await start(api, "api_declared", "declared-x", "sos-officer", {})
    assert "role registrator in organisation SE-AB or SE-C" in refused.json()["detail"]


async def test_shipped_models_are_started_by_whom_they_declare(api: Api):
    api.store.deploy(shipped_model_files())
    # Swedish designations: the NPOs, not the agency or a region.
    variables = nomination("Testvård", ["SE-NPO-SALLSYNTA"])
    for subject in ("sos-officer", "registrator-ab", "rhf-hso"):
        refused = await start(api, "se_nhv_designation", f"d-{subject}", subject, variables)
        assert refused.status_code == 403, (subject, refused.text)
    started = await start(api, "se_nhv_designation", "d-npo", "npo-sallsynta", variables)
    assert started.status_code == 201, started.text
    # Permits, allocations and lifecycles: their parent cases, or an operator.
    for process_id in (
        "se_nhv_permit",
        "se_nhv_permit_allocation",
        "no_national_service_lifecycle",
    ):
        for subject in ("sos-officer", "hdir-officer", "npo-sallsynta", "rhf-hso"):
            refused = await start(api, process_id, f"{process_id}-{subject}", subject, {})
            assert refused.status_code == 403, (process_id, subject, refused.text)
    # Norwegian applications (version 2): the RHFs and their health trusts.
    for subject in ("sos-officer", "npo-sallsynta", "registrator-ab"):
        refused = await start(api, "no_national_service_application", f"a-{subject}", subject, {})
        assert refused.status_code == 403, (subject, refused.text)
    for subject in ("rhf-hso", "rhf-hn"):
        response = await start(api, "no_national_service_application", f"a-{subject}", subject, {})
        assert response.status_code == 201, (subject, response.text)
