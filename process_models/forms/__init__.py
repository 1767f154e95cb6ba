"""The pydantic forms of the shipped processes' user tasks, per jurisdiction.

Each module of this package (``se_nhv``, ``no_national_services``, …) defines ``FORMS``, a
mapping from form key (``se.nhv.ExpertReport``) to its pydantic model. A form validates a
task's payload before the completion reaches the case; its validators carry the rules of
the process (with a message that names the rule), and its JSON Schema is what the API
shows for the task. A module may also define ``MESSAGES``: the payload models of its
messages, by message name.
"""

from __future__ import annotations

import importlib
import pkgutil

from pydantic import BaseModel

__all__ = ["SHIPPED_FORMS", "SHIPPED_MESSAGES"]


def _collect(attribute: str) -> dict[str, type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for key, model in getattr(module, attribute, {}).items():
            if key in models:
                raise ValueError(f"{attribute} key {key!r} is defined twice ({module.__name__})")
            models[key] = model
    return models


SHIPPED_FORMS: dict[str, type[BaseModel]] = _collect("FORMS")
"""Every shipped form by key."""

SHIPPED_MESSAGES: dict[str, type[BaseModel]] = _collect("MESSAGES")
"""Every shipped message payload model by message name."""
