"""Task and start forms as the API uses them: checked before a request reaches the case,
and published as JSON Schema with each task (a registered pydantic form, or a Camunda Form of
the case's model version)."""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import BaseModel, JsonValue, ValidationError

from process_models.camunda_forms import CamundaForm, form_ref, read_form
from process_models.deployments import DeployedModel, ModelStore
from process_models.dialect import niva_form_key
from process_models.message_payloads import MessagePayloadError, check_message_payload
from process_models.registry import Registry, RegistryError
from process_models.schema import Definitions, FlowNode
from starter.api.errors import ApiError
from starter.api.schemas import FieldError

__all__ = [
    "camunda_form",
    "check_form",
    "check_message",
    "check_start_form",
    "form_schema",
    "task_form_schema",
]

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


def check_message(registry: Registry, name: str, payload: dict[str, JsonValue], field: str) -> None:
    """422 with the field errors (at ``body.<field>``, the request's name for the payload) when
    ``payload`` does not satisfy message ``name``'s registered payload model
    (`process_models.message_payloads.check_message_payload`, the check the
    ``send_message`` activity and the simulation run too)."""
    try:
        check_message_payload(registry, name, payload)
    except MessagePayloadError as exc:
        fields = [FieldError(loc=["body", field, *p.loc], msg=p.msg) for p in exc.problems]
        raise ApiError(
            422,
            "invalid",
            f"the {field} of message {name} does not satisfy {exc.model}",
            fields=fields,
        ) from exc


def check_start_form(
    store: ModelStore,
    model: DeployedModel,
    definitions: Definitions,
    node: FlowNode,
    payload: dict[str, JsonValue],
) -> None:
    """422 with the field errors when ``payload`` does not satisfy the start event's form:
    a Camunda Form (deployed with the version, or embedded in its process) or a registered
    niva form. A Camunda 8 ``formKey`` that is an external reference is not checked.
    Blocking (reads the store): call it in a thread."""
    where = f"start event {node.id}"
    ref = form_ref(node)
    if ref is not None:
        form = camunda_form(store, model, definitions, node)
        if form is None:
            raise ApiError(422, "invalid", f"{where}: {model.key} has no form {ref.form_id!r}")
        problems = form.check(payload)
        if problems:
            raise ApiError(
                422,
                "invalid",
                f"{where}: the values do not satisfy form {ref.form_id}",
                fields=[FieldError(loc=p.loc, msg=p.msg) for p in problems],
            )
    else:
        key = niva_form_key(node, definitions.dialect, store.registry.forms)
        check_form(store.registry, key, payload, where)


def camunda_form(
    store: ModelStore, model: DeployedModel, definitions: Definitions, node: FlowNode
) -> CamundaForm | None:
    """The Camunda Form ``node`` names in the version (deployed with it, or embedded in its
    process); None when it names none, or one the version lacks."""
    ref = form_ref(node)
    if ref is None:
        return None
    if ref.embedded:
        process = definitions.process(model.process_id)
        text = process.user_task_forms.get(ref.form_id) if process is not None else None
        if text is None:
            return None
        return read_form(text.encode(), name=f"{ref.form_id}.form", embedded_id=ref.form_id)
    binding = model.forms.get(ref.form_id)
    return None if binding is None else store.form(ref.form_id, binding)


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


def task_form_schema(
    store: ModelStore, process_id: str, version: int, element_id: str, form_key: str | None
) -> dict[str, Any] | None:
    """The JSON Schema of a task's form: its registered form, else the Camunda Form its
    element names in the case's model version; None for a task without one.

    Blocking (reads the store): call it in a thread.
    """
    if form_key and form_key in store.registry.forms:
        return form_schema(store.registry, form_key)
    model = store.get(process_id, version)
    definitions = store.definitions(model)
    process = definitions.process(process_id)
    node = next((n for n in process.all_nodes() if n.id == element_id), None) if process else None
    form = camunda_form(store, model, definitions, node) if node is not None else None
    return None if form is None else form.json_schema()
