"""Task and start forms as the API uses them: checked before a request reaches the case,
and published as JSON Schema with each task."""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import BaseModel, JsonValue, ValidationError

from process_models.registry import Registry, RegistryError
from starter.api.errors import ApiError
from starter.api.schemas import FieldError

__all__ = ["check_form", "form_schema"]

log = structlog.get_logger("niva.api")


def check_form(
    registry: Registry, form_key: str | None, payload: dict[str, JsonValue], where: str
) -> None:
    """422 with the field errors when ``payload`` does not satisfy form ``form_key``.

    The case checks again (with the model's constraints); checking here first keeps a
    refused submission from spending the case's update budget.
    """
    if not form_key:
        return
    try:
        form: type[BaseModel] = registry.form(form_key)
    except RegistryError as exc:
        raise ApiError(422, "invalid", f"{where}: {exc}") from exc
    try:
        form.model_validate(payload)
    except ValidationError as exc:
        fields = [
            FieldError(loc=[str(p) for p in e["loc"]], msg=e["msg"])
            for e in exc.errors(include_url=False)
        ]
        raise ApiError(
            422, "invalid", f"{where}: the values do not satisfy form {form_key}", fields=fields
        ) from exc


def form_schema(registry: Registry, form_key: str | None) -> dict[str, Any] | None:
    """The JSON Schema of form ``form_key``; None for a task without a form."""
    if not form_key:
        return None
    try:
        return registry.form(form_key).model_json_schema()
    except RegistryError:
        # Deployed models only name registered forms; a worker with other forms than
        # this API is a deployment mistake worth a log line, not a failed request.
        log.warning("form not registered in the API", form_key=form_key)
        return None
