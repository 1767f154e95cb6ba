"""Regular expressions whose running time is linear in their input.

Patterns reach niva from models (a Camunda Form's ``validate.pattern``) and from cases (a
FEEL ``matches(x, p)`` whose ``p`` is a variable), and they run inside workflow code, where
nothing can interrupt them. Python's `re` backtracks: ``(a|a)*c`` on a few dozen ``a``
takes longer than Temporal lets a workflow task run, and that case would wedge. RE2
(`google-re2 <https://pypi.org/project/google-re2/>`_, Google's own binding of the C++
library) never backtracks, so every match costs time linear in the text, and it is
deterministic. What RE2 gives up is what needs backtracking: backreferences (``\\1``) and
lookaround (``(?=…)``, ``(?<=…)``); such a pattern is refused with a `RegexError` that says
so, like any other malformed pattern.

The syntax is Perl's, as Python's, JavaScript's and Java's are for everything models use;
``\\d``, ``\\w`` and ``\\s`` are ASCII, as in JavaScript. Named groups may be written
``(?P<name>…)`` or ``(?<name>…)``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2  # type: ignore[import-untyped]

__all__ = ["Regex", "RegexError", "compile_regex"]

Regex = Any
"""A compiled RE2 pattern; its API is `re.Pattern`'s (``search``, ``sub``, ``split``, …).
The binding ships no type information."""

_NEEDS_BACKTRACKING = (
    "RE2 runs every pattern in time linear in its input and so has no backreferences or "
    "lookaround; rewrite the pattern without them"
)


# A backreference, or the start of a lookahead or lookbehind.
_BACKTRACKING = re.compile(r"\\[1-9]|\(\?<?[=!]")


class RegexError(ValueError):
    """A pattern that is malformed or needs what RE2 does not do."""


@functools.lru_cache(maxsize=512)
def compile_regex(
    pattern: str, *, ignore_case: bool = False, dot_all: bool = False, multiline: bool = False
) -> Regex:
    """``pattern`` compiled by RE2 with the given flags; raises `RegexError`."""
    options = re2.Options()
    options.log_errors = False  # the error is raised to the caller, not logged by RE2
    options.case_sensitive = not ignore_case
    options.dot_nl = dot_all
    # RE2's default is multi-line ^ and $ off, as in Python; (?m) turns it on.
    text = f"(?m){pattern}" if multiline else pattern
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        hint = f" ({_NEEDS_BACKTRACKING})" if _BACKTRACKING.search(pattern) else ""
        raise RegexError(f"{reason}{hint}") from None
