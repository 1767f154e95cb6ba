"""A workflow that evaluates FEEL expressions, to run FEEL inside Temporal's sandbox."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from tests.support.zones import zone

# Not passed through: FEEL is imported and run under the sandbox's restrictions.
from process_models.feel import compile_feel


class FeelRunInput(BaseModel):
    """Expressions to evaluate, with the variables they see, in the zone given."""

    expressions: list[str]
    variables: dict[str, Any] = {}
    zone: str = "Europe/Stockholm"


class FeelRunResult(BaseModel):
    """Each expression's JSON result, and the workflow clock they were evaluated at."""

    results: list[Any]
    now: str


@workflow.defn
class FeelEvaluation:
    """Evaluates each expression at the workflow's clock."""

    @workflow.run
    async def run(self, request: FeelRunInput) -> FeelRunResult:
        now = workflow.now()
        tz = zone(request.zone)
        results = [
            compile_feel(text).evaluate(request.variables, now=now, tz=tz)
            for text in request.expressions
        ]
        return FeelRunResult(results=results, now=now.isoformat())
