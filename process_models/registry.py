"""What a model may name: registered task types and form keys.

Validation consults a `Registry` without a Temporal server: a user task whose
``niva:form key`` is not registered is reported when the model is validated, not when a
case reaches it. A service task type that is not registered is a *job*: it runs as an
activity of that name on the job workers' queue (``NIVA_WORKER_JOBS_TASK_QUEUE``), and
validation warns about it (in the niva dialect, one that looks like a misspelling of a
registered type is a problem). A case started now routes by the registered names
(`starter.settings.WorkerSettings.job_routing`).

The task types are names and descriptions only (the names of niva's own are in
`service_contract`): the activities that implement them live in ``activities/`` and are
wired by ``worker.py``, whose default wiring refuses to start when a type registered here
has no activity (`worker.check_task_types`). Forms are pydantic models; their JSON Schema
is what the API shows for a task. A message whose payload a model keeps as a whole may have
a payload model too, by message name: the API refuses a payload it does not admit, and the
converter (`process_models.convert`) names its fields. Packages that add forms, message
payloads or task types register them on `default_registry` at import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

from service_contract import NOTIFY, RECORD_FOLLOW_UP, RENDER_DOCUMENT, SEND_MESSAGE

__all__ = [
    "BUILTIN_TASK_TYPES",
    "Registry",
    "RegistryError",
    "TaskType",
    "default_registry",
]


class RegistryError(ValueError):
    """A name is registered twice with different meanings, or is not registered."""


class TaskType(BaseModel):
    """A service-task type: the activity a ``niva:taskDefinition type`` names."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str


BUILTIN_TASK_TYPES: tuple[TaskType, ...] = (
    TaskType(name=NOTIFY, description="Render a message from a template and deliver it."),
    TaskType(
        name=RENDER_DOCUMENT,
        description="Render a document from a template and store it write-once; "
        "returns its id and SHA-256.",
    ),
    TaskType(
        name=SEND_MESSAGE,
        description="Deliver a message to another case (target instance, message, payload).",
    ),
    TaskType(
        name=RECORD_FOLLOW_UP,
        description="Write a permit's yearly follow-up (care_area, holder, unit_name, "
        "follow_up, review_conditions_met) to the statistics store, once per permit and year.",
    ),
)


class Registry:
    """Task types, forms and message payload models by name; registering the same thing
    twice is harmless."""

    def __init__(self, *, loader: Callable[[Registry], None] | None = None) -> None:
        self._task_types: dict[str, TaskType] = {}
        self._forms: dict[str, type[BaseModel]] = {}
        self._messages: dict[str, type[BaseModel]] = {}
        self._loader = loader

    def load(self) -> None:
        """Register the shipped forms now rather than on first use.

        The worker calls it while importing the workflow, outside the sandbox: loading
        reads the reference data from disk, which workflow code may not do.
        """
        self._load()

    def _load(self) -> None:
        # The shipped forms register themselves on first use, so that importing the
        # registry never imports every jurisdiction's forms (and never in a cycle).
        loader, self._loader = self._loader, None
        if loader is not None:
            loader(self)

    @property
    def task_types(self) -> Mapping[str, TaskType]:
        """Every registered task type by name (read-only)."""
        self._load()
        return MappingProxyType(self._task_types)

    @property
    def forms(self) -> Mapping[str, type[BaseModel]]:
        """Every registered form by key (read-only)."""
        self._load()
        return MappingProxyType(self._forms)

    @property
    def messages(self) -> Mapping[str, type[BaseModel]]:
        """Every registered message payload model by message name (read-only)."""
        self._load()
        return MappingProxyType(self._messages)

    def register_task_type(self, task_type: TaskType) -> None:
        """Add a task type; a different one under the same name is an error."""
        existing = self._task_types.get(task_type.name)
        if existing is not None and existing != task_type:
            raise RegistryError(f"task type {task_type.name!r} is already registered")
        self._task_types[task_type.name] = task_type

    def register_form(self, key: str, form: type[BaseModel]) -> None:
        """Add a form under ``key`` (e.g. ``se.nhv.ExpertReport``)."""
        existing = self._forms.get(key)
        if existing is not None and existing is not form:
            raise RegistryError(f"form key {key!r} is already registered to {existing.__name__}")
        self._forms[key] = form

    def register_message(self, name: str, payload: type[BaseModel]) -> None:
        """Add the payload model of message ``name`` (e.g. ``request_revocation``)."""
        existing = self._messages.get(name)
        if existing is not None and existing is not payload:
            raise RegistryError(
                f"message {name!r} already has the payload model {existing.__name__}"
            )
        self._messages[name] = payload

    def message(self, name: str) -> type[BaseModel] | None:
        """The payload model of message ``name``, or None: a message without one takes
        any payload."""
        self._load()
        return self._messages.get(name)

    def form(self, key: str) -> type[BaseModel]:
        """The form registered under ``key``; `RegistryError` names the known keys."""
        self._load()
        try:
            return self._forms[key]
        except KeyError:
            known = ", ".join(sorted(self._forms)) or "none"
            raise RegistryError(f"unknown form key {key!r} (registered: {known})") from None

    def copy(self) -> Registry:
        """An independent registry with the same entries (tests extend copies)."""
        self._load()
        clone = Registry()
        clone._task_types = dict(self._task_types)
        clone._forms = dict(self._forms)
        clone._messages = dict(self._messages)
        return clone


def _load_shipped_forms(registry: Registry) -> None:
    from process_models.forms import SHIPPED_FORMS, SHIPPED_MESSAGES

    for key, form in SHIPPED_FORMS.items():
        registry.register_form(key, form)
    for name, payload in SHIPPED_MESSAGES.items():
        registry.register_message(name, payload)


default_registry = Registry(loader=_load_shipped_forms)
"""The registry shipped models are validated against (with every shipped form and message
payload model)."""

for _task_type in BUILTIN_TASK_TYPES:
    default_registry.register_task_type(_task_type)
