"""Checking a message's payload against the payload model registered for its name
(`Registry.message`).

Every way a message reaches a case runs this one check: the API refuses the request (422,
`starter.api.forms.check_message`), the ``send_message`` activity fails the sending task
for good so the sending case parks in an incident (`activities.messages`), and a
simulation refuses the scenario before it runs (`starter.simulation.run`). A field the
model does not name is refused, as the Camunda 8 version of a model that reads the message
as a whole keeps only the fields it names. A message without a registered model takes any
payload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from process_models.registry import Registry

__all__ = ["MessagePayloadError", "PayloadProblem", "check_message_payload"]


class PayloadProblem(BaseModel):
    """One field of a payload the model refuses, and the rule it breaks."""

    model_config = ConfigDict(frozen=True)

    loc: tuple[str, ...]
    msg: str

    def __str__(self) -> str:
        return f"{'.'.join(self.loc) or '(payload)'}: {self.msg}"


class MessagePayloadError(ValueError):
    """The payload of message ``name`` does not satisfy its registered model ``model``."""

    def __init__(self, name: str, model: str, problems: Sequence[PayloadProblem]) -> None:
        self.name = name
        self.model = model
        self.problems = list(problems)
        super().__init__(
            f"the payload of message {name} does not satisfy {model}: "
            + "; ".join(str(p) for p in self.problems)
        )


def check_message_payload(registry: Registry, name: str, payload: Mapping[str, JsonValue]) -> None:
    """Raise `MessagePayloadError`, naming every field and rule, when message ``name`` has
    a registered payload model that ``payload`` does not satisfy."""
    model = registry.message(name)
    if model is None:
        return
    try:
        model.model_validate(payload)
    except ValidationError as exc:
        problems = [
            PayloadProblem(loc=tuple(str(p) for p in e["loc"]), msg=e["msg"])
            for e in exc.errors(include_url=False)
        ]
        raise MessagePayloadError(name, model.__name__, problems) from exc
