"""The typed search attributes every process instance keeps up to date.

Operators filter the Temporal Web UI by these (``NivaProcessId = "se_nhv_designation"``,
``NivaIncident = true``, ``NivaNextDeadline < "2027-06-01T00:00:00Z"``). They hold ids and
dates only, never personal data: ``NivaMessageSubscriptions`` lists the subscriptions a
case holds with a correlation key as digests of name and key (`subscription_entry`), since
a key is often a person's or an order's number. It is a Text attribute of digests separated
by spaces, matched word by word (``NivaMessageSubscriptions = '<digest>'``), because
Temporal's SQL visibility stores (the dev server's among them) allow only three keyword
lists, and the three are taken. ``NivaSignalSubscriptions`` lists the signals a case
waits for in the same way (`signal_entry`). The embedded server registers them at start-up
and the test fixtures do the same, from this one list.
"""

from __future__ import annotations

import hashlib

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey

__all__ = [
    "ALL",
    "BUSINESS_KEY",
    "CANDIDATES",
    "INCIDENT",
    "JURISDICTION",
    "MESSAGE_SUBSCRIPTIONS",
    "NEXT_DEADLINE",
    "OPEN_TASKS",
    "OUTCOME",
    "PARTICIPANTS",
    "PROCESS_ID",
    "PROCESS_VERSION",
    "SIGNAL_SUBSCRIPTIONS",
    "SUBSCRIPTIONS_TRUNCATED",
    "cli_type_name",
    "listed_query",
    "registration",
    "signal_entry",
    "subscription_entry",
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
MESSAGE_SUBSCRIPTIONS = SearchAttributeKey.for_text("NivaMessageSubscriptions")
SIGNAL_SUBSCRIPTIONS = SearchAttributeKey.for_text("NivaSignalSubscriptions")
SUBSCRIPTIONS_TRUNCATED = "truncated"
"""The word that ends a ``NivaMessageSubscriptions`` or ``NivaSignalSubscriptions`` cut to fit
2 KB (not a hex digest)."""

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
    MESSAGE_SUBSCRIPTIONS,
    SIGNAL_SUBSCRIPTIONS,
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


def subscription_entry(message_name: str, correlation_key: str) -> str:
    """The ``NivaMessageSubscriptions`` word of a subscription to ``message_name`` with
    ``correlation_key``: 24 hex digits of their SHA-256.

    The case writes it when the subscription opens and the publisher of a message
    (`POST /messages`) looks for it, so both compute it here. A digest keeps the key out
    of visibility and gives every entry the same short length, so many fit in one value;
    two pairs sharing a digest would only make the publisher ask a case that then refuses.
    """
    digest = hashlib.sha256(f"{message_name}\x1f{correlation_key}".encode()).hexdigest()
    return digest[:24]


def signal_entry(signal_name: str) -> str:
    """The ``NivaSignalSubscriptions`` word of a subscription to ``signal_name``: 24 hex
    digits of its SHA-256 (with a prefix no message entry has).

    A name may hold spaces and punctuation, which the text attribute would split into
    words; a digest is one word, as long as every other."""
    return hashlib.sha256(f"signal\x1f{signal_name}".encode()).hexdigest()[:24]


def listed_query(attribute: SearchAttributeKey, word: str) -> str:  # type: ignore[type-arg]
    """The visibility query for the running cases whose text ``attribute`` (a list of
    digests) holds ``word``, or was cut short and may hold it.

    Both words are letters and digits, so nothing in the query needs quoting."""
    name = attribute.name
    return (
        f"({name} = '{word}' OR {name} = '{SUBSCRIPTIONS_TRUNCATED}') "
        "AND ExecutionStatus = 'Running'"
    )
