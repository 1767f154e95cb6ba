"""The model store and the holiday library as activities.

A call activity starts the latest version of the called process at call time (or a named
one). Reading the store is I/O, so the workflow asks through this local activity and the
answer is recorded in the history. A case that outlives its version's calendar snapshot
asks for the missing years the same way (`calendar_years`): the holiday library is read
once, and replays read the recorded answer. This is the one activity module that reads
`process_models`: the model store and the holiday data are the outside services it
speaks to.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from process_models.calendars import CalendarSnapshot, CalendarYears, snapshot
from process_models.deployments import ModelRef, ModelSource, ModelStore
from process_models.errors import UnknownModelError
from service_contract import CALENDAR_YEARS_ACTIVITY, RESOLVE_MODEL_ACTIVITY

__all__ = ["ModelResolver", "calendar_years"]


class ModelResolver:
    """Resolves process ids to deployed versions from one model store."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store

    @activity.defn(name=RESOLVE_MODEL_ACTIVITY)
    async def resolve_model(self, request: ModelRef) -> ModelSource:
        """The deployed version, with its BPMN and reference snapshot."""
        try:
            return self.store.source(request.process_id, request.version)
        except UnknownModelError as exc:
            raise ApplicationError(str(exc), type="NotFound", non_retryable=True) from exc


@activity.defn(name=CALENDAR_YEARS_ACTIVITY)
async def calendar_years(request: CalendarYears) -> CalendarSnapshot:
    """The non-working days of the years a case asks for, from the holiday library."""
    try:
        return snapshot(request.calendar, request.first_year, request.last_year)
    except ValueError as exc:
        raise ApplicationError(str(exc), type="Invalid", non_retryable=True) from exc
