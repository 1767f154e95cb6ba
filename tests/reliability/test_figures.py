"""The reliability figures: a test run writes only untracked files; publishing merges."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.reliability.figures import (
    PUBLISHED,
    REPO_ROOT,
    RUN_REPORT,
    publish,
    read_sections,
    record_figures,
)


def test_run_report_is_untracked_and_ignored() -> None:
    assert RUN_REPORT != PUBLISHED
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(RUN_REPORT)], cwd=REPO_ROOT, check=False
    )
    assert ignored.returncode == 0, f"{RUN_REPORT} is not ignored by git"


def test_record_figures_writes_the_given_report_only(tmp_path: Path) -> None:
    report = tmp_path / "run.md"
    published_before = PUBLISHED.read_bytes()
    record_figures("bounded", "a scenario", faults=1, requests=2, cases=3, losses=0, report=report)
    record_figures("bounded", "a scenario", faults=4, requests=5, cases=6, losses=0, report=report)
    assert read_sections(report)["bounded"] == {
        "a scenario": ["a scenario", "4", "5", "6", "0", ""]
    }
    assert PUBLISHED.read_bytes() == published_before


def test_publish_merges_run_rows_over_published_rows(tmp_path: Path) -> None:
    run, published = tmp_path / "run.md", tmp_path / "published.md"
    record_figures("soak", "kept", faults=1, requests=1, cases=1, losses=0, report=published)
    record_figures("soak", "replaced", faults=1, requests=1, cases=1, losses=0, report=published)
    record_figures("soak", "replaced", faults=9, requests=9, cases=9, losses=0, report=run)
    record_figures("bounded", "new", faults=2, requests=2, cases=2, losses=0, report=run)

    assert publish(run, published) == 2

    sections = read_sections(published)
    assert sections["soak"]["kept"][1] == "1"
    assert sections["soak"]["replaced"][1] == "9"
    assert sections["bounded"]["new"][1] == "2"
