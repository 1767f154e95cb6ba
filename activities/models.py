"""The model store as an activity: which deployed version a call activity starts.

A call activity starts the latest version of the called process at call time (or a named
one). Reading the store is I/O, so the workflow asks through this local activity and the
answer is recorded in the history. This is the one activity module that reads
`process_models`: the model store is the outside service it speaks to.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from process_models.deployments import ModelRef, ModelSource, ModelStore
from process_models.errors import UnknownModelError
from service_contract import RESOLVE_MODEL_ACTIVITY

__all__ = ["ModelResolver"]


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
