"""No secret in the logs of the whole test run.

Test code registers every credential it creates (`secret`): dev tokens, signed JWTs,
SMTP and webhook passwords, and case data marked as personal. Any value containing
`MARKER` is secret without registering. `install` routes the test process's logging
through niva's own configuration (`starter.logs.configure_logging`) and checks every line
that configuration renders, after redaction, as it is rendered. At the end of the run
`scan_files` checks the log files that subprocesses (workers, APIs, ``niva dev``) wrote
under the run's temporary directories, and `report` says which lines leaked what, with
the secret masked.

The per-line check costs one pass over the line whatever the number of secrets: secrets
are indexed by their first `MIN_LENGTH` characters, and the line's windows of that length
are looked up in the index (in C) before any secret is searched for.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from starter.api.auth import DEV_TOKENS_FILE_NAME
from starter.logs import configure_logging

__all__ = [
    "MARKER",
    "MIN_LENGTH",
    "Leak",
    "LogAudit",
    "audit",
    "install",
    "registered",
    "secret",
    "uninstall",
]

MARKER = "SECRET-MARK"
"""Case data holding this text is personal: no log line may show it."""
MIN_LENGTH = 6
"""The shortest value `secret` accepts: shorter ones occur in ordinary text."""
MAX_LEAKS = 50
"""Leaks kept for the report; the rest are only counted."""

_WINDOWS = re.compile(f"(?=(.{{{MIN_LENGTH}}}))", re.DOTALL)


@dataclass(frozen=True)
class Leak:
    """A log line showing a secret."""

    where: str
    what: str
    line: str

    def masked(self, secrets: Iterable[str]) -> str:
        line = self.line
        for value in secrets:
            line = line.replace(value, f"<{self.what} {value[:3]}…>")
        return f"{self.where}: {line[:2000]}"


class LogAudit:
    """The run's secrets and the leaks found so far."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Replaced, never changed in place: a logging thread may be reading it.
        self._index: dict[str, dict[str, str]] = {}
        self.lines = 0
        self.leak_count = 0
        self.leaks: list[Leak] = []

    def add(self, *values: str, what: str = "secret") -> None:
        """Register ``values`` as secrets; ``what`` names them in the report."""
        for value in values:
            if len(value) < MIN_LENGTH:
                raise ValueError(f"a secret has at least {MIN_LENGTH} characters: {value!r}")
        with self._lock:
            index = {prefix: dict(entries) for prefix, entries in self._index.items()}
            for value in values:
                index.setdefault(value[:MIN_LENGTH], {})[value] = what
            self._index = index

    def secrets(self) -> dict[str, str]:
        """Every registered secret, with what it is."""
        return {value: what for entries in self._index.values() for value, what in entries.items()}

    def check(self, line: str, where: str) -> None:
        """Record ``line`` as a leak if it shows a registered secret or `MARKER`."""
        self.lines += 1
        if MARKER in line:
            self._leak(Leak(where, "marked value", line))
            return
        index = self._index
        if not index:
            return
        windows = _WINDOWS.findall(line)
        if index.keys().isdisjoint(windows):
            return
        for prefix in index.keys() & set(windows):
            for value, what in index[prefix].items():
                if value in line:
                    self._leak(Leak(where, what, line))
                    return

    def _leak(self, leak: Leak) -> None:
        with self._lock:
            self.leak_count += 1
            if len(self.leaks) < MAX_LEAKS:
                self.leaks.append(leak)

    def scan_files(self, roots: Iterable[Path]) -> int:
        """Check the log files under ``roots`` (``*.log`` and whatever is in a ``logs``
        folder), after registering the dev tokens that subprocesses wrote there; returns
        how many files were read."""
        roots = [root for root in roots if root.is_dir()]
        for root in roots:
            for tokens_file in root.rglob(DEV_TOKENS_FILE_NAME):
                self.add(*_tokens_of(tokens_file), what="dev token")
        files = 0
        for path in sorted({p for root in roots for p in _log_files(root)}):
            files += 1
            with path.open(encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    self.check(line.rstrip("\n"), str(path))
        return files

    def report(self) -> list[str]:
        """The leaks, one line each, the secrets masked."""
        values = sorted(self.secrets(), key=len, reverse=True)
        lines = [leak.masked([*values, MARKER]) for leak in self.leaks]
        if self.leak_count > len(self.leaks):
            lines.append(f"… and {self.leak_count - len(self.leaks)} more")
        return lines


def _tokens_of(path: Path) -> list[str]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [token for token in entries if isinstance(token, str) and len(token) >= MIN_LENGTH]


def _log_files(root: Path) -> Iterator[Path]:
    for path in root.rglob("*"):
        if path.is_file() and (path.suffix == ".log" or path.parent.name == "logs"):
            yield path


audit = LogAudit()
"""The run's audit."""


def secret(*values: str, what: str = "secret") -> None:
    """Register ``values`` as secrets of the run: no log line may show them."""
    audit.add(*values, what=what)


def registered(value: str, *, what: str = "secret") -> str:
    """``value``, registered as a secret of the run (for settings built inline)."""
    audit.add(value, what=what)
    return value


_original_format = structlog.stdlib.ProcessorFormatter.format


def _audited_format(self: structlog.stdlib.ProcessorFormatter, record: Any) -> str:
    line = _original_format(self, record)
    audit.check(line, f"test process ({record.name})")
    return line


def install() -> None:
    """Log in the test process as niva's processes do, and check every rendered line.

    The rendered line is the output of structlog's `ProcessorFormatter`, through which
    `configure_logging` sends both structlog's and the standard library's records, after
    its redaction processor.
    """
    configure_logging()
    structlog.stdlib.ProcessorFormatter.format = _audited_format  # type: ignore[method-assign]


def uninstall() -> None:
    """Stop checking lines."""
    structlog.stdlib.ProcessorFormatter.format = _original_format  # type: ignore[method-assign]
