"""The shipped models in the Camunda 8 dialect run the niva-dialect versions' whole-case
scenarios.

The converted files (`process_models/camunda8/`, written by `niva models convert`) are
deployed here explicitly; `make run` and the other tests still deploy the niva-dialect
files. The scenario functions of `tests.scenarios.test_se_nhv` and
`tests.scenarios.test_no_national_services` run unchanged (imported, not copied), with
fixtures that deploy the Camunda 8 versions:

- Sweden: the niva-dialect models, then the converted ones as new versions of the same
  process ids, so a case started by id, or as a call activity's child, gets the Camunda 8
  version (of the permit, the converted 2027 version, deployed last).
- Norway: the converted 2024 application model and the converted lifecycle in place of the
  niva-dialect ones, so the application's is version 2 as the scenarios expect; the 2019
  version (v1) stays niva's (see `NOT_CONVERTED`).

A Camunda 8 ``formKey`` that names a registered niva form (``se.nhv.ExpertGroup``, …) is
checked as in the niva dialect (`process_models.dialect.niva_form_key`): five scenarios
below reject a payload by its form's rules.

A task's optional form field that the case also holds as a variable (the permit's
``readvertise``, the lifecycle's ``termination_grounds`` and ``move_to_network``) is shadowed
in the converted file by a task-local input mapping to null, so a submission that leaves it
out is told from one that gives it, as Zeebe scopes variables; a revocation message is read
field by field from its registered payload model (`process_models.registry`).

One difference is Zeebe's rule, not a fault: a multi-instance output is a list in input
order (each place ``{key, value}`` as the converter writes it, ``null`` where no instance
completed), where niva's is a map by key. `Camunda8Nhv.view` reads it back as the map so
the scenarios compare the same thing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities import ActivitySettings, build_activities
from process_models.bpmn import read_bpmn
from process_models.convert import ConversionError, convert_to_camunda8
from process_models.deployments import ModelFile
from process_models.shipped import SHIPPED_DIRS
from tests.scenarios import test_no_national_services as no_scenarios
from tests.scenarios import test_se_nhv as se_scenarios
from tests.scenarios.nhv import Nhv, se_model_files
from tests.support.bpmn_render import bpmn_js_bundle, find_chromium, render_bpmn
from tests.workflows.harness import running_cases
from workflows.contract import InstanceView

SHIPPED = SHIPPED_DIRS[0].parent
CAMUNDA8_DIR = SHIPPED / "camunda8"
CONVERTED = sorted(CAMUNDA8_DIR.glob("*/*.bpmn"))
NOT_CONVERTED = {"no/no_national_service_application.v1.bpmn"}
"""Shipped models with no Camunda 8 version: v1 of the application is superseded by v2 and
not needed."""

MULTI_INSTANCE_OUTPUTS = ("applications", "referral_answers")


def camunda8_file(relative: str) -> ModelFile:
    return ModelFile(name=f"camunda8/{relative}", content=(CAMUNDA8_DIR / relative).read_bytes())


# --- the converted files -----------------------------------------------------------------


@pytest.mark.parametrize("path", CONVERTED, ids=[p.name for p in CONVERTED])
def test_converted_file_is_the_shipped_model_converted_now(path: Path):
    """The committed file is what the converter makes of the shipped model today."""
    relative = path.relative_to(CAMUNDA8_DIR)
    source = SHIPPED / relative
    assert convert_to_camunda8(source.read_bytes()) == path.read_bytes(), (
        f"run: niva models convert {source} -o {path}"
    )
    assert read_bpmn(path.read_bytes()).dialect == "camunda8"


def test_every_shipped_model_is_converted_or_said_not_to_be():
    shipped = {f"{p.parent.name}/{p.name}" for d in SHIPPED_DIRS for p in sorted(d.glob("*.bpmn"))}
    converted = {f"{p.parent.name}/{p.name}" for p in CONVERTED}
    assert shipped == converted | NOT_CONVERTED


@pytest.mark.parametrize(
    ("relative", "old", "new", "element"),
    [
        # A message with no registered payload model: its fields have no names.
        (
            "se/se_nhv_permit.bpmn",
            b'"request_revocation"',
            b'"ask_for_revocation"',
            "RevocationRequested",
        ),
        (
            "se/se_nhv_permit.v2.bpmn",
            b'"initiate_revocation"',
            b'"start_revocation"',
            "RevocationInitiated",
        ),
        # An optional field the task itself sets: it cannot be shadowed by a null input.
        (
            "no/no_national_service_lifecycle.bpmn",
            b'<niva:output target="evaluation" source="=payload"/>',
            b'<niva:input target="move_to_network" source="=false"/>'
            b'<niva:output target="evaluation" source="=payload"/>',
            "Evaluation",
        ),
    ],
)
def test_what_cannot_be_converted_is_named(relative: str, old: bytes, new: bytes, element: str):
    source = (SHIPPED / relative).read_bytes()
    assert old in source
    with pytest.raises(ConversionError) as caught:
        convert_to_camunda8(source.replace(old, new))
    assert element in {p.element_id for p in caught.value.problems}


def _browser_missing() -> str | None:
    if find_chromium() is None:
        return "chromium is not installed (apt-get install -y chromium)"
    if bpmn_js_bundle() is None:
        return "bpmn-js is not installed (run `npm ci` at the repository root)"
    return None


@pytest.mark.browser
@pytest.mark.skipif(_browser_missing() is not None, reason=_browser_missing() or "")
@pytest.mark.parametrize("path", CONVERTED, ids=[p.name for p in CONVERTED])
def test_converted_model_renders_in_bpmn_js_without_warnings(path: Path):
    defs = read_bpmn(path.read_bytes())
    result = render_bpmn(path.read_bytes())
    assert result.error is None
    assert result.warnings == []
    [process] = defs.processes
    assert result.shapes == {n.id: 1 for n in process.all_nodes()}
    assert result.connections == {f.id: 1 for f in process.all_flows()}


# --- Sweden ------------------------------------------------------------------------------


class Camunda8Nhv(Nhv):
    """`Nhv` reading Zeebe's multi-instance output lists back as niva's maps."""

    async def view(self, handle: WorkflowHandle[Any, Any]) -> InstanceView:
        view = await super().view(handle)
        for name in MULTI_INSTANCE_OUTPUTS:
            value = view.variables.get(name)
            if isinstance(value, list):
                view.variables[name] = {
                    str(item["key"]): item["value"] for item in value if isinstance(item, dict)
                }
        return view


@pytest.fixture
async def nhv(
    own_time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> AsyncIterator[Nhv]:
    """The NHV models, the converted ones deployed last (the latest versions)."""
    settings = ActivitySettings.in_data_dir(tmp_path / "data")
    async with running_cases(
        own_time_skipping_env.client, task_queue, tmp_path, activities=build_activities(settings)
    ) as cases:
        cases.store.deploy(se_model_files())
        cases.store.deploy(
            [camunda8_file(f"se/{p.name}") for p in sorted((CAMUNDA8_DIR / "se").glob("*.bpmn"))]
        )
        yield Camunda8Nhv(own_time_skipping_env, cases, settings)


async def test_the_swedish_cases_start_the_converted_versions(nhv: Nhv):
    latest = {m.process_id: m for m in nhv.cases.store.latest()}
    assert {pid: m.file_name for pid, m in latest.items()} == {
        "se_nhv_designation": "camunda8/se/se_nhv_designation.bpmn",
        "se_nhv_permit": "camunda8/se/se_nhv_permit.v2.bpmn",
        "se_nhv_permit_allocation": "camunda8/se/se_nhv_permit_allocation.bpmn",
    }
    for model in latest.values():
        assert read_bpmn(nhv.cases.store.bpmn(model)).dialect == "camunda8"


def test_the_norwegian_cases_start_the_converted_versions():
    files = {f.name for f in no_scenarios.shipped_files(*no_scenarios.ALL_NO_FILES)}
    assert files == {
        "camunda8/no/no_national_service_application.v2.bpmn",
        "no/no_national_service_application.v1.bpmn",
        "camunda8/no/no_national_service_lifecycle.bpmn",
    }


@pytest.fixture
def record_history():
    """The recorded histories are the niva-dialect versions'; nothing is recorded here."""

    async def record(handle: object, name: str) -> None:
        return None

    return record


test_care_area_from_nomination_to_three_permits = (
    se_scenarios.test_care_area_from_nomination_to_three_permits
)
test_not_prioritised_ends_and_tells_the_npo = (
    se_scenarios.test_not_prioritised_ends_and_tells_the_npo
)
test_unsuitable_after_an_overdue_review_ends_without_referral = (
    se_scenarios.test_unsuitable_after_an_overdue_review_ends_without_referral
)
test_expert_group_that_breaks_the_rules_is_rejected = (
    se_scenarios.test_expert_group_that_breaks_the_rules_is_rejected
)
test_not_nhv_after_a_referral_everyone_answered = (
    se_scenarios.test_not_nhv_after_a_referral_everyone_answered
)
test_withdrawn_nomination_stops_the_case = se_scenarios.test_withdrawn_nomination_stops_the_case
test_withdrawn_nomination_is_the_outcome = se_scenarios.test_withdrawn_nomination_is_the_outcome
test_no_applicants_readvertised_then_closed = (
    se_scenarios.test_no_applicants_readvertised_then_closed
)
test_permit_decision_not_made_at_the_meeting_is_tabled = (
    se_scenarios.test_permit_decision_not_made_at_the_meeting_is_tabled
)
test_permit_followed_up_for_five_years_then_revoked_at_the_regions_request = (
    se_scenarios.test_permit_followed_up_for_five_years_then_revoked_at_the_regions_request
)
test_permit_kept_after_changed_circumstances_then_revoked_and_readvertised = (
    se_scenarios.test_permit_kept_after_changed_circumstances_then_revoked_and_readvertised
)


# --- Norway ------------------------------------------------------------------------------


def no_files_with_camunda8_v2(*names: str) -> list[ModelFile]:
    """`no_scenarios.shipped_files`, with the converted models (the 2024 application, the
    lifecycle) in place of the niva-dialect ones."""
    return [
        camunda8_file(f"no/{name}")
        if (CAMUNDA8_DIR / "no" / name).exists()
        else ModelFile(name=f"no/{name}", content=(no_scenarios.NO_DIR / name).read_bytes())
        for name in names
    ]


@pytest.fixture(autouse=True)
def _camunda8_no_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(no_scenarios, "shipped_files", no_files_with_camunda8_v2)


@pytest.fixture
def time_skipping_env(own_time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """A server of the test's own: a scenario that fails here leaves no case behind on the
    session's server to hold up the time skipping of the tests after it."""
    return own_time_skipping_env


cases_skipping = no_scenarios.cases_skipping
cases_real_time = no_scenarios.cases_real_time

test_v2_round_keeps_the_2024_calendar_and_hod_decides = (
    no_scenarios.test_v2_round_keeps_the_2024_calendar_and_hod_decides
)
test_v2_approval_by_hod_starts_the_follow_up = (
    no_scenarios.test_v2_approval_by_hod_starts_the_follow_up
)
test_v2_application_missing_the_august_deadline_leaves_the_round = (
    no_scenarios.test_v2_application_missing_the_august_deadline_leaves_the_round
)
test_thirty_years_of_reports_and_evaluations = (
    no_scenarios.test_thirty_years_of_reports_and_evaluations
)
test_competence_service_renewed_then_terminated_in_year_twelve = (
    no_scenarios.test_competence_service_renewed_then_terminated_in_year_twelve
)
test_training_service_expires_after_five_years = (
    no_scenarios.test_training_service_expires_after_five_years
)
