"""Follow-ups written to a statistics store by real runs of the ``record_follow_up`` activity.

`SUBMITTED` is a small year of the public follow-up, two care areas (one with three units)
and a unit's previous year, so that reports built from it can be checked against sums
worked out by hand in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.statistics import RecordFollowUpActivity, RecordFollowUpResult, StatisticsStore
from service_contract import RECORD_FOLLOW_UP, ServiceCall

__all__ = ["SUBMITTED", "Submitted", "record", "record_all"]


@dataclass(frozen=True)
class Submitted:
    """One permit's follow-up as its case hands it to the activity."""

    care_area: str
    holder: str
    unit_name: str
    year: int
    patients: int
    treatments: int
    stay: float
    complications: int
    conditions_met: bool = True
    reviewed: bool | None = True
    regions: dict[str, int] = field(default_factory=dict)
    comments: str | None = None

    @property
    def case_id(self) -> str:
        key = self.care_area.lower().replace(" ", "-")
        return f"se_nhv_permit:{key}:{self.holder}"

    def call(self, *, visit: int = 1) -> ServiceCall:
        follow_up: dict[str, Any] = {
            "year": self.year,
            "patients": self.patients,
            "treatments": self.treatments,
            "average_length_of_stay_days": self.stay,
            "complications": self.complications,
            "conditions_met": self.conditions_met,
        }
        if self.regions:
            follow_up["patients_by_home_region"] = self.regions
        if self.comments is not None:
            follow_up["comments"] = self.comments
        return ServiceCall(
            type=RECORD_FOLLOW_UP,
            element_id="RecordFollowUp",
            task_id=f"RecordFollowUp#{visit}",
            case_id=self.case_id,
            process_id="se_nhv_permit",
            process_version=2,
            business_key=self.case_id.split(":", 1)[1],
            now=datetime(self.year + 1, 5, 20, 10, 0, tzinfo=UTC),
            timezone="Europe/Stockholm",
            inputs={
                "care_area": self.care_area,
                "holder": self.holder,
                "unit_name": self.unit_name,
                "follow_up": follow_up,
                "review_conditions_met": self.reviewed,
            },
        )


# fmt: off
SUBMITTED: tuple[Submitted, ...] = (
    Submitted(
        "Svår leversvikt", "SE-AB", "Karolinska Universitetssjukhuset", 2025, 40, 52, 6.0, 3,
        regions={"SE-AB": 25, "SE-C": 10, "SE-BD": 5},
    ),
    Submitted(
        "Svår leversvikt", "SE-O", "Sahlgrenska Universitetssjukhuset", 2025, 30, 31, 8.0, 1,
        regions={"SE-O": 20, "SE-M": 6},
    ),
    Submitted(
        "Svår leversvikt", "SE-M", "Skånes universitetssjukhus", 2025, 10, 12, 5.0, 0,
        conditions_met=False, reviewed=False, regions={"SE-M": 10},
        comments="Överläkaren Anna Andersson har slutat.",
    ),
    Submitted(
        "Svår leversvikt", "SE-AB", "Karolinska Universitetssjukhuset", 2024, 33, 40, 6.5, 2,
        regions={"SE-AB": 30},
    ),
    Submitted("Glomustumörer", "SE-C", "", 2025, 12, 14, 3.5, 1, regions={"SE-C": 4, "SE-AC": 8}),
)
# fmt: on
"""What the tests submit: 2025 in two care areas, and one unit's 2024."""


async def record(
    store: StatisticsStore, follow_up: Submitted, *, visit: int = 1
) -> RecordFollowUpResult:
    """Run the real activity once for ``follow_up``."""
    activity = RecordFollowUpActivity(store)
    result: RecordFollowUpResult = await ActivityEnvironment().run(
        activity.record_follow_up, follow_up.call(visit=visit)
    )
    return result


async def record_all(store: StatisticsStore, follow_ups: tuple[Submitted, ...] = SUBMITTED) -> None:
    """Run the activity for every follow-up, each twice (a retry) to prove it counts once."""
    for follow_up in follow_ups:
        await record(store, follow_up)
        await record(store, follow_up)
