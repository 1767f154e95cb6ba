"""The reliability figures: each test run writes its rows into an untracked report under
``build/reliability/``; publishing copies them into the tracked ``docs/RELIABILITY.md``.

A test run never changes a tracked file, so ``git status`` stays clean after ``make test``.
``make soak`` publishes after its run; ``python -m tests.reliability.figures`` publishes
the figures of the last run by hand (rows of the run replace the published rows of the
same scenario, other published rows are kept)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_REPORT = REPO_ROOT / "build" / "reliability" / "RELIABILITY.md"
PUBLISHED = REPO_ROOT / "docs" / "RELIABILITY.md"

COLUMNS = ("scenario", "faults injected", "requests sent", "cases driven", "losses", "notes")
_SECTIONS = {
    "bounded": "Bounded run (`make test`)",
    "soak": "Soak run (`make soak`)",
}
_ROW = re.compile(r"^\| (?!scenario |---)(.+) \|$")

Sections = dict[str, dict[str, list[str]]]


def read_sections(report: Path) -> Sections:
    """The rows of ``report`` by section and scenario (empty sections if it is missing)."""
    sections: Sections = {name: {} for name in _SECTIONS}
    if not report.exists():
        return sections
    current: str | None = None
    titles = {title: name for name, title in _SECTIONS.items()}
    for line in report.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = titles.get(line[3:].strip())
        elif current and (match := _ROW.match(line)):
            cells = [c.strip() for c in match.group(1).split(" | ")]
            if len(cells) == len(COLUMNS):
                sections[current][cells[0]] = cells
    return sections


def write_sections(report: Path, sections: Sections) -> None:
    """Write ``sections`` as the figures document (one row per scenario, sorted)."""
    lines = [
        "# Reliability figures",
        "",
        "Written by `tests/reliability/`: each run writes its figures to "
        "`build/reliability/RELIABILITY.md` (untracked); `make soak` publishes them here, "
        "as does `python -m tests.reliability.figures` after a bounded run. Faults are "
        "SIGKILLs of workers, restarts of the Temporal server and hostile requests; losses "
        "(cases not completed, task completions not recorded exactly once, notifications "
        "missing, documents stored twice) must be 0.",
    ]
    for name, title in _SECTIONS.items():
        lines += ["", f"## {title}", ""]
        if not sections[name]:
            lines.append("Not run yet.")
            continue
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|" + "---|" * len(COLUMNS))
        for key in sorted(sections[name]):
            lines.append("| " + " | ".join(sections[name][key]) + " |")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")


def record_figures(
    section: str,
    scenario: str,
    *,
    faults: int,
    requests: int,
    cases: int,
    losses: int,
    notes: str = "",
    report: Path = RUN_REPORT,
) -> None:
    """Write one scenario's row into its section of the run's report (replacing the row of
    an earlier run of the same scenario)."""
    sections = read_sections(report)
    sections[section][scenario] = [
        scenario,
        str(faults),
        str(requests),
        str(cases),
        str(losses),
        notes.replace("|", "/"),
    ]
    write_sections(report, sections)


def publish(run_report: Path = RUN_REPORT, published: Path = PUBLISHED) -> int:
    """Merge the run's rows into the published figures; returns how many rows were merged."""
    run = read_sections(run_report)
    merged = read_sections(published)
    for name, rows in run.items():
        merged[name].update(rows)
    write_sections(published, merged)
    return sum(len(rows) for rows in run.values())


def main() -> int:
    if not RUN_REPORT.exists():
        print(f"no figures to publish: {RUN_REPORT.relative_to(REPO_ROOT)} does not exist")
        return 1
    count = publish()
    print(f"published {count} rows into {PUBLISHED.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
