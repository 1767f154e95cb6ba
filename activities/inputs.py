"""Validating a service call's inputs into an activity's own input model."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from activities.errors import INVALID_INPUT, model_error
from service_contract import ServiceCall

__all__ = ["parse_inputs"]

InputModel = TypeVar("InputModel", bound=BaseModel)


def parse_inputs(call: ServiceCall, model: type[InputModel]) -> InputModel:
    """``call.inputs`` as ``model``, or a non-retryable ``InvalidInput`` error.

    Inputs that do not fit are a bug in the model's ``niva:input`` mappings: retrying
    cannot help, so the task becomes an incident at once, naming every field that is wrong.
    """
    try:
        return model.model_validate(call.inputs)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or '(inputs)'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
        raise model_error(
            INVALID_INPUT,
            f"service task {call.element_id} ({call.type}) got inputs that do not fit "
            f"{model.__name__}: {'; '.join(problems)}; fix the task's niva:input mappings",
            element_id=call.element_id,
            task_type=call.type,
            problems=problems,
        ) from exc
