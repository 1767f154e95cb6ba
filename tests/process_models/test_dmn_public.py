"""Decision tables of Camunda 8's DMN engine (camunda/dmn-scala, Apache 2.0; see
tests/data/dmn/dmn-scala/README.md) evaluate to the results its tests document, one
hit policy or aggregation each."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from process_models.dmn import DecisionEvaluator, read_dmn

DATA = Path(__file__).parent.parent / "data" / "dmn" / "dmn-scala"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def evaluate(file: str, decision_id: str, variables: dict[str, Any]) -> Any:
    definitions = read_dmn((DATA / file).read_bytes(), name=file)
    return DecisionEvaluator(definitions).evaluate(
        decision_id, variables, now=NOW, tz=ZoneInfo("UTC")
    )


ROUTING = [
    {"routing": "DECLINE", "reviewLevel": "NONE", "reason": "Applicant too young"},
    {"routing": "REFER", "reviewLevel": "LEVEL 2", "reason": "Applicant under dept review"},
    {"routing": "REFER", "reviewLevel": "LEVEL 1", "reason": "High risk application"},
    {"routing": "ACCEPT", "reviewLevel": "NONE", "reason": "Acceptable"},
]

CASES: list[tuple[str, str, dict[str, Any], Any]] = [
    # UNIQUE
    ("discount.dmn", "discount", {"customer": "Business", "orderSize": 7}, 0.1),
    ("discount.dmn", "discount", {"customer": "Business", "orderSize": 15}, 0.15),
    ("discount.dmn", "discount", {"customer": "Private", "orderSize": 9}, 0.05),
    (
        "applicantRiskRating.dmn",
        "applicantRiskRating",
        {"applicantAge": 65, "medicalHistory": "good"},
        "Medium",
    ),
    (
        "applicantRiskRating.dmn",
        "applicantRiskRating",
        {"applicantAge": 40, "medicalHistory": "bad"},
        "Medium",
    ),
    (
        "applicantRiskRating.dmn",
        "applicantRiskRating",
        {"applicantAge": 22, "medicalHistory": "bad"},
        "Medium",
    ),
    (
        "applicantRiskRating.dmn",
        "applicantRiskRating",
        {"applicantAge": 65, "medicalHistory": "bad"},
        "High",
    ),
    (
        "applicantRiskRating.dmn",
        "applicantRiskRating",
        {"applicantAge": 22, "medicalHistory": "good"},
        "Low",
    ),
    # OUTPUT ORDER, several outputs
    (
        "routingRules.dmn",
        "routingRules",
        {"age": 17, "riskCategory": "HIGH", "deptReview": True},
        ROUTING,
    ),
    (
        "routingRules.dmn",
        "routingRules",
        {"age": 25, "riskCategory": "MEDIUM", "deptReview": True},
        [ROUTING[1], ROUTING[3]],
    ),
    (
        "routingRules.dmn",
        "routingRules",
        {"age": 25, "riskCategory": "MEDIUM", "deptReview": False},
        [ROUTING[3]],
    ),
    # ANY
    (
        "personLoanCompliance.dmn",
        "personLoanCompliance",
        {"creditRating": "B", "creditBalance": 10000, "loanBalance": 50000},
        "Not Compliant",
    ),
    (
        "personLoanCompliance.dmn",
        "personLoanCompliance",
        {"creditRating": "A", "creditBalance": 5000, "loanBalance": 10000},
        "Compliant",
    ),
    # PRIORITY
    (
        "applicantRiskRating_priority.dmn",
        "applicantRiskRating",
        {"applicantAge": 65, "medicalHistory": "bad"},
        "High",
    ),
    (
        "applicantRiskRating_priority.dmn",
        "applicantRiskRating",
        {"applicantAge": 55, "medicalHistory": "bad"},
        "Medium",
    ),
    (
        "applicantRiskRating_priority.dmn",
        "applicantRiskRating",
        {"applicantAge": 30, "medicalHistory": "good"},
        "Medium",
    ),
    (
        "applicantRiskRating_priority.dmn",
        "applicantRiskRating",
        {"applicantAge": 20, "medicalHistory": "bad"},
        "Medium",
    ),
    (
        "applicantRiskRating_priority.dmn",
        "applicantRiskRating",
        {"applicantAge": 20, "medicalHistory": "good"},
        "Low",
    ),
    # FIRST
    (
        "specialDiscount.dmn",
        "specialDiscount",
        {"typeOfOrder": "Web", "customerLocation": "Non-US", "typeOfCustomer": "Retailer"},
        0,
    ),
    (
        "specialDiscount.dmn",
        "specialDiscount",
        {"typeOfOrder": "Web", "customerLocation": "US", "typeOfCustomer": "Retailer"},
        5,
    ),
    (
        "specialDiscount.dmn",
        "specialDiscount",
        {"typeOfOrder": "Web", "customerLocation": "US", "typeOfCustomer": "Wholesaler"},
        10,
    ),
    # COLLECT SUM, MAX, MIN
    ("holidays_collect_sum.dmn", "holidays", {"age": 58, "yearsOfService": 31}, 30),
    ("holidays_collect_sum.dmn", "holidays", {"age": 25, "yearsOfService": 2}, 22),
    ("holidays_collect_sum.dmn", "holidays", {"age": 16, "yearsOfService": 1}, 27),
    ("holidays_collect_sum.dmn", "holidays", {"age": 46, "yearsOfService": 19}, 24),
    ("discount_collect_max.dmn", "discount", {"customer": "Business", "orderSize": 8}, 0.1),
    ("discount_collect_max.dmn", "discount", {"customer": "Business", "orderSize": 12}, 0.15),
    ("discount_collect_max.dmn", "discount", {"customer": "Private", "orderSize": 17}, 0.06),
    ("discount_collect_max.dmn", "discount", {"customer": "Private", "orderSize": 13}, 0.05),
    ("insuranceFee.dmn", "insuranceFee", {"years": 1}, 200),
    ("insuranceFee.dmn", "insuranceFee", {"years": 4}, 190),
    ("insuranceFee.dmn", "insuranceFee", {"years": 16}, 100),
    # COLLECT
    ("holidays_collect.dmn", "holidays", {"age": 58, "yearsOfService": 31}, [22, 3, 5]),
    ("holidays_collect.dmn", "holidays", {"age": 25, "yearsOfService": 2}, [22]),
    # OUTPUT ORDER
    ("holidays_output_order.dmn", "holidays", {"age": 58, "yearsOfService": 31}, [22, 5, 3]),
    ("holidays_output_order.dmn", "holidays", {"age": 25, "yearsOfService": 2}, [22]),
    ("holidays_output_order.dmn", "holidays", {"age": 16, "yearsOfService": 1}, [22, 5]),
    ("holidays_output_order.dmn", "holidays", {"age": 46, "yearsOfService": 19}, [22, 2, 2]),
    ("holidays_output_order.dmn", "holidays", {"age": 40, "yearsOfService": 19}, [22, 2]),
    # RULE ORDER
    (
        "studentFinancialPackageEligibility.dmn",
        "eligibility",
        {"gpa": 3.6, "acitvitiesCount": 4, "socialMembership": "Yes"},
        ["20% Scholarship", "30% Loan"],
    ),
    (
        "studentFinancialPackageEligibility.dmn",
        "eligibility",
        {"gpa": 3.6, "acitvitiesCount": 4, "socialMembership": "No"},
        ["20% Work-On-Campus"],
    ),
    (
        "studentFinancialPackageEligibility.dmn",
        "eligibility",
        {"gpa": 3.0, "acitvitiesCount": 4, "socialMembership": "Yes"},
        ["5% Work-On-Campus"],
    ),
]


@pytest.mark.parametrize(("file", "decision_id", "variables", "expected"), CASES)
def test_public_decision_table_gives_its_documented_result(
    file: str, decision_id: str, variables: dict[str, Any], expected: Any
) -> None:
    assert evaluate(file, decision_id, variables) == expected
