"""Time zones for test workflows, made outside Temporal's sandbox.

Inside the sandbox ``zoneinfo`` is a restricted proxy whose zones ``datetime`` refuses as a
tzinfo; niva's workflows get theirs from modules passed through (`workflows.model`), and
test workflows get theirs from here, imported the same way.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

__all__ = ["zone"]


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``."""
    return ZoneInfo(name)
