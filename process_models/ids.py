"""The ids people choose: process ids (in models) and business keys (at start).

A case's workflow id is built from both (``<process_id>:<business_key>``; a child, a repeat
and a multi-instance element add ``:`` and ``#`` parts), and both appear in URL paths. So an
id must not contain those separators, and two ids that look alike must be the same id.

The rules, one place for the API and for deployments:

- the id is compared and stored in Unicode NFC: a business key is normalised to it; a process
  id in a model must already be in it (a file's id is not rewritten behind the modeller);
- 1 to `MAX_ID_LENGTH` characters, no whitespace at either end;
- no ``:``, ``#``, ``/`` or ``\\`` (workflow id and path separators);
- no control characters, no invisible ones (zero-width spaces and joiners, bidi controls,
  byte order marks: Unicode "format" characters), no line or paragraph separators, no
  unassigned, private-use or surrogate code points, and no space other than U+0020
  (a no-break space looks like a space but would make another key).

Everything else is allowed: letters and digits of any script, marks, punctuation such as
``-``, ``_`` and ``.``, and single spaces inside (``SE-NPO 2026/41`` is refused for its
``/``; ``SOS-2026-0042`` and ``Överklagande 12`` are keys).
"""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_ID_LENGTH", "id_problem", "normalised_id"]

MAX_ID_LENGTH = 200
"""The longest process id or business key, in characters."""

_SEPARATORS = frozenset(":#/\\")
# Cc control, Cf format (zero-width, bidi, BOM), Zl/Zp separators, Cn unassigned,
# Co private use, Cs surrogates.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cn", "Co", "Cs"})


def id_problem(value: str, *, what: str = "id") -> str | None:
    """Why ``value`` is not a valid id as it stands, or None when it is.

    Args:
        value: the id exactly as given (not normalised here).
        what: how messages name it, e.g. ``"business key"``.
    """
    if not value:
        return f"the {what} is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"the {what} is {len(value)} characters long, more than {MAX_ID_LENGTH}"
    if value != value.strip():
        return f"the {what} {value!r} begins or ends with whitespace"
    for position, char in enumerate(value):
        if char in _SEPARATORS:
            return (
                f"the {what} {value!r} contains {char!r} (position {position + 1}); "
                "':', '#', '/' and '\\' are reserved as separators"
            )
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES or (category == "Zs" and char != " "):
            name = unicodedata.name(char, f"U+{ord(char):04X}")
            return (
                f"the {what} {value!r} contains the invisible or control character "
                f"U+{ord(char):04X} ({name}) at position {position + 1}"
            )
    if unicodedata.normalize("NFC", value) != value:
        return f"the {what} {value!r} is not in Unicode NFC (composed) form"
    return None


def normalised_id(value: str, *, what: str = "id") -> str:
    """``value`` in NFC, checked by `id_problem`.

    Raises:
        ValueError: with the reason, when the normalised value is not a valid id.
    """
    normalised = unicodedata.normalize("NFC", value)
    problem = id_problem(normalised, what=what)
    if problem is not None:
        raise ValueError(problem)
    return normalised
