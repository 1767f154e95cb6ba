"""What operators see of a running case on the dev server: the current details read like
the process, and every visibility query of the operators' README finds the case."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle

from tests.starter.operator_case import (
    ANSWERED,
    PATIENT_LIKE,
    PROCESS_ID,
    REGIONS,
    readme_queries,
    region,
    start_referral,
)
from tests.workflows import activities_for_tests
from tests.workflows.harness import Cases, running_cases


@pytest.fixture
async def cases(client: Client, task_queue: str, tmp_path: Path):
    async with running_cases(
        client, task_queue, tmp_path, activities=activities_for_tests.ALL
    ) as running:
        yield running


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def listed(client: Client, query: str, within: float = 10.0) -> list[str]:
    """The ids the query lists once visibility has caught up (it is eventually consistent)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        ids = [w.id async for w in client.list_workflows(query)]
        if ids or asyncio.get_running_loop().time() > deadline:
            return ids
        await asyncio.sleep(0.2)


async def test_details_show_multi_instance_progress_deadline_and_open_task(cases: Cases):
    handle = await start_referral(cases, f"details-{uuid.uuid4().hex[:8]}")

    details = await current_details(handle)

    assert f"**Remiss**: {ANSWERED} of {len(REGIONS)} answered, closes 2027-05-18" in details
    waiting = REGIONS[ANSWERED:]
    assert "waiting for " + ", ".join(f"`{org}`" for org in waiting) in details
    # The answered regions' tasks are not listed one by one.
    assert "Answer:SE-AB" not in details
    assert "**Open tasks (1)**" in details
    assert "- `Prepare` Bereda beslut — role officer in organisation SE-SOS" in details
    assert "**Next timer:** Remisstiden löper ut at 2027-05-18" in details
    assert "_Times in Europe/Stockholm._" in details
    # Variables never reach the details: they may hold personal data.
    assert PATIENT_LIKE not in details
    assert "Anna" not in details


async def test_details_count_up_when_a_region_answers(cases: Cases):
    handle = await start_referral(cases, f"count-{uuid.uuid4().hex[:8]}")
    await cases.complete(
        handle,
        f"Answer:{REGIONS[ANSWERED]}",
        {"supports": False},
        actor=region(REGIONS[ANSWERED]),
    )

    details = await current_details(handle)

    assert f"**Remiss**: {ANSWERED + 1} of {len(REGIONS)} answered" in details
    assert f"`{REGIONS[ANSWERED]}`" not in details


async def test_readme_queries_find_the_case(cases: Cases, client: Client):
    business_key = f"queries-{uuid.uuid4().hex[:8]}"
    handle = await start_referral(cases, business_key)

    for purpose, query in readme_queries(business_key).items():
        assert await listed(client, query) == [handle.id], f"{purpose}: {query}"


async def test_readme_queries_exclude_cases_that_do_not_match(cases: Cases, client: Client):
    business_key = f"negative-{uuid.uuid4().hex[:8]}"
    handle = await start_referral(cases, business_key)
    await listed(client, readme_queries(business_key)["by open task"])  # visible by now
    me = f'NivaBusinessKey = "{business_key}"'

    for query in (
        f'NivaCandidates IN ("org:SE-AB") AND {me}',  # SE-AB has answered already
        f"NivaIncident = true AND {me}",
        f'NivaNextDeadline < "2027-05-01T00:00:00Z" AND {me}',
        f'NivaProcessId = "{PROCESS_ID}x" AND {me}',
        f'NivaParticipants = "NO-HSO" AND {me}',
    ):
        assert [w.id async for w in client.list_workflows(query)] == [], query
    assert handle.id.startswith(f"{PROCESS_ID}:")


async def test_details_link_to_the_diagram_page_on_the_configured_api(
    cases: Cases, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("NIVA_API_PUBLIC_URL", "https://niva.example.org")
    handle = await start_referral(cases, f"link-{uuid.uuid4().hex[:8]}")

    details = await current_details(handle)

    assert details.endswith(
        f"[Diagram of the case](https://niva.example.org/instances/{handle.id}/diagram)"
    )
