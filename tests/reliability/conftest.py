"""The reliability suite: its bounded form runs with every ``pytest``; ``make soak`` runs
the long form (``-m soak``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.activities.conftest import Mailbox
from tests.reliability.support import smtp_mailbox


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A loopback SMTP server keeping every message."""
    with smtp_mailbox() as box:
        yield box


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory of its own for the workers of one test."""
    path = tmp_path / "data"
    path.mkdir()
    return path
