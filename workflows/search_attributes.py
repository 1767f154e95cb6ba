"""The typed search attributes every process instance keeps up to date.

Operators filter the Temporal Web UI by these (``NivaProcessId = "se_nhv_designation"``,
``NivaIncident = true``, ``NivaNextDeadline < "2027-06-01T00:00:00Z"``). They hold ids and
dates only, never personal data. The embedded server registers them at start-up and the
test fixtures do the same, from this one list.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey

__all__ = [
    "ALL",
    "BUSINESS_KEY",
    "CANDIDATES",
    "INCIDENT",
    "JURISDICTION",
    "NEXT_DEADLINE",
    "OPEN_TASKS",
    "OUTCOME",
    "PARTICIPANTS",
    "PROCESS_ID",
    "PROCESS_VERSION",
    "cli_type_name",
    "registration",
]

PROCESS_ID = SearchAttributeKey.for_keyword("NivaProcessId")
PROCESS_VERSION = SearchAttributeKey.for_keyword("NivaProcessVersion")
BUSINESS_KEY = SearchAttributeKey.for_keyword("NivaBusinessKey")
JURISDICTION = SearchAttributeKey.for_keyword("NivaJurisdiction")
OPEN_TASKS = SearchAttributeKey.for_keyword_list("NivaOpenTasks")
CANDIDATES = SearchAttributeKey.for_keyword_list("NivaCandidates")
PARTICIPANTS = SearchAttributeKey.for_keyword_list("NivaParticipants")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NivaNextDeadline")
INCIDENT = SearchAttributeKey.for_bool("NivaIncident")
OUTCOME = SearchAttributeKey.for_keyword("NivaOutcome")

ALL: tuple[SearchAttributeKey, ...] = (  # type: ignore[type-arg]
    PROCESS_ID,
    PROCESS_VERSION,
    BUSINESS_KEY,
    JURISDICTION,
    OPEN_TASKS,
    CANDIDATES,
    PARTICIPANTS,
    NEXT_DEADLINE,
    INCIDENT,
    OUTCOME,
)

_CLI_TYPES = {
    "KEYWORD": "Keyword",
    "KEYWORD_LIST": "KeywordList",
    "DATETIME": "Datetime",
    "BOOL": "Bool",
    "TEXT": "Text",
    "INT": "Int",
    "FLOAT": "Double",
}


def cli_type_name(key: SearchAttributeKey) -> str:  # type: ignore[type-arg]
    """The type name the ``temporal`` CLI expects for ``--search-attribute NAME=TYPE``."""
    return _CLI_TYPES[key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")]


def registration() -> dict[str, IndexedValueType.ValueType]:
    """Every attribute by name with its type, as the operator service registers them."""
    return {key.name: IndexedValueType.ValueType(key.indexed_value_type.value) for key in ALL}
