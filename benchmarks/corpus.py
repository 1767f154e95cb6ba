"""The public corpus: which real BPMN files niva reads, writes back and would deploy, and why not.

``python -m benchmarks.corpus extract GIT_DIR OWNER/NAME OUT`` copies every ``.bpmn`` file
of a repository's HEAD (a git directory, bare or not) to ``OUT/OWNER+NAME/<path>`` and adds
a line to ``OUT/SOURCES.tsv`` (repository, commit, file count); ``--under FOLDER`` takes
only the files under that folder. The corpus stays outside the repository: its files carry
their own licenses (docs/CORPUS.md names them).

``python -m benchmarks.corpus check OUT [--json FILE]`` reads each file, writes it back and
reads it again (a round trip must keep the model and every namespace the file declared, and
be byte-stable on the second write),
then validates it as a deployment of that file alone into an empty store would
(`process_models.validation.check_model`). A file is *valid* when it has no problem. Each
refused file is classified by its first blocker, the first of `CATEGORIES` that one of its
problems falls in; warnings (a job type niva does not implement, foreign settings niva may
ignore, a called process not yet deployed) are counted apart and never refuse a file. It
prints per-repository counts and the reasons table of docs/CORPUS.md; ``--json`` writes
every file's outcome and problems.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, Field

from process_models.bpmn import read_bpmn, write_bpmn
from process_models.errors import BpmnReadError, Problem
from process_models.schema import Definitions, same_model
from process_models.validation import check_model, executable_processes

__all__ = ["CATEGORIES", "FileOutcome", "category", "check_file", "main"]

ZEEBE_NS = b"http://camunda.org/schema/zeebe/1.0"

#: Why a file is refused, most fundamental first: a file's first blocker is the first of
#: these that one of its problems falls in. Each is (name, pattern on the problem message).
CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("not readable", r"^\Z(?!x)x"),  # set from BpmnReadError, never by a message
        ("no executable process", r"no executable process"),
        (
            "element not in the subset",
            r"not in niva's executable subset|is not executable|cannot carry event|"
            r"cannot have a \w+ trigger|needs a message, timer or error definition|"
            r"has \w+=true|always interrupts",
        ),
        ("expression language", r"which niva does not execute"),
        ("foreign setting", r"^foreign setting"),
        ("structure: dead end", r"^dead end"),
        ("structure: unreachable", r"^unreachable"),
        (
            "structure: other",
            r"sequence flow|start event|exclusive gateway|event-based gateway|boundary event|"
            r"subprocess|duplicate id|without id|default flow",
        ),
        ("service task type", r"taskDefinition|unknown task type|job type"),
        ("form", r"form"),
        ("call activity", r"call activity"),
        ("message", r"message"),
        ("timer", r"timer|cycle|duration|ISO 8601|value:"),
        ("expression", r"expression|does not compile|FEEL|CEL"),
        ("process id", r"process id"),
        ("other", r""),
    )
)


def category(problem: Problem) -> str:
    """The reason a problem stands for (a name of `CATEGORIES`)."""
    for name, pattern in CATEGORIES[1:]:
        if pattern.search(problem.message):
            return name
    return "other"  # pragma: no cover - the last pattern matches everything


class FileOutcome(BaseModel):
    """What niva makes of one corpus file."""

    path: str
    repo: str
    camunda8: bool = Field(description="The file declares the zeebe namespace.")
    read: bool
    round_trip: bool = Field(description="Read → write → read keeps the model, byte-stable.")
    valid: bool
    first_blocker: str | None = None
    reasons: list[str] = Field(default_factory=list, description="Every category, sorted.")
    problems: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


def check_file(path: Path, repo: str) -> FileOutcome:
    """Read, round-trip and validate one file as a deployment of it alone would."""
    content = path.read_bytes()
    camunda8 = ZEEBE_NS in content
    try:
        defs = read_bpmn(content)
    except BpmnReadError as exc:
        return FileOutcome(
            path=str(path),
            repo=repo,
            camunda8=camunda8,
            read=False,
            round_trip=False,
            valid=False,
            first_blocker="not readable",
            reasons=["not readable"],
            problems=[exc.problem.format()],
        )
    round_trip = _round_trips(defs)
    known = {p.id for p in executable_processes(defs)}
    result = check_model(defs, known_processes=known)
    reasons = {category(p) for p in result.problems}
    first = next((name for name, _ in CATEGORIES if name in reasons), None)
    return FileOutcome(
        path=str(path),
        repo=repo,
        camunda8=camunda8,
        read=True,
        round_trip=round_trip,
        valid=not result.problems,
        first_blocker=first,
        reasons=sorted(reasons),
        problems=[p.format() for p in result.problems],
        warnings=[p.format() for p in result.warnings],
    )


def _round_trips(defs: Definitions) -> bool:
    """Read → write → read keeps the model and every namespace the file declared (the writer
    may declare more, and bind a prefix anew), and writing it again gives the same bytes."""
    try:
        first = write_bpmn(defs)
        again = read_bpmn(first)
    except Exception:  # a failing round trip is a finding, not a crash of the tool
        return False
    # A prefix may be bound anew (a source's ``di`` bound to BPMN DI): its namespace stays.
    kept = set(defs.namespaces.values()) <= set(again.namespaces.values())
    same = same_model(
        defs.model_copy(update={"namespaces": {}}), again.model_copy(update={"namespaces": {}})
    )
    return kept and same and write_bpmn(again) == first


def corpus_files(root: Path) -> Iterable[tuple[str, Path]]:
    """Every ``.bpmn`` file under ``root``, with its repository (the first directory)."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() == ".bpmn":
            yield path.relative_to(root).parts[0].replace("+", "/", 1), path


def extract(git_dir: Path, repo: str, out: Path, *, under: str = "") -> int:
    """Copy every ``.bpmn`` file of ``git_dir``'s HEAD (under the folder ``under``, if
    given) to ``out/<owner+name>/``."""

    def git(*args: str) -> bytes:
        return subprocess.run(
            ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True
        ).stdout

    commit = git("rev-parse", "HEAD").decode().strip()
    names = [n.decode() for n in git("ls-tree", "-r", "-z", "--name-only", "HEAD").split(b"\0")]
    target = out / repo.replace("/", "+", 1)
    count = 0
    for name in names:
        if not name.lower().endswith(".bpmn") or not name.startswith(under):
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(git("show", f"HEAD:{name}"))
        count += 1
    with (out / "SOURCES.tsv").open("a") as sources:
        sources.write(f"{repo}\t{commit}\t{count}\n")
    return count


def report(outcomes: list[FileOutcome]) -> str:
    """The per-repository counts and the reasons tables, as Markdown."""
    lines = [
        "| repository | files | Camunda 8 | read | round trip | valid | valid with warnings |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    by_repo: dict[str, list[FileOutcome]] = {}
    for outcome in outcomes:
        by_repo.setdefault(outcome.repo, []).append(outcome)
    for repo, group in [*sorted(by_repo.items()), ("**all**", outcomes)]:
        lines.append(
            f"| {repo} | {len(group)} | {sum(o.camunda8 for o in group)} "
            f"| {sum(o.read for o in group)} | {sum(o.round_trip for o in group)} "
            f"| {sum(o.valid for o in group)} "
            f"| {sum(o.valid and bool(o.warnings) for o in group)} |"
        )
    refused = [o for o in outcomes if not o.valid]
    first = Counter(o.first_blocker for o in refused)
    every = Counter(r for o in refused for r in o.reasons)
    first8 = Counter(o.first_blocker for o in refused if o.camunda8)
    lines += [
        "",
        "| reason | first blocker | of them Camunda 8 | files with it |",
        "|---|---:|---:|---:|",
    ]
    for name, _ in CATEGORIES:
        if every[name] or first[name]:
            lines.append(f"| {name} | {first[name]} | {first8[name]} | {every[name]} |")
    lines.append(f"| **refused** | {len(refused)} | {sum(first8.values())} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.corpus")
    commands = parser.add_subparsers(dest="command", required=True)
    extract_cmd = commands.add_parser("extract", help="copy a repository's .bpmn files")
    extract_cmd.add_argument("git_dir", type=Path)
    extract_cmd.add_argument("repo", help="owner/name")
    extract_cmd.add_argument("out", type=Path)
    extract_cmd.add_argument("--under", default="", help="only files under this folder")
    check_cmd = commands.add_parser("check", help="read, round-trip and validate the corpus")
    check_cmd.add_argument("root", type=Path)
    check_cmd.add_argument("--json", type=Path, help="write every file's outcome here")
    args = parser.parse_args(argv)
    if args.command == "extract":
        count = extract(args.git_dir, args.repo, args.out, under=args.under)
        print(f"{args.repo}: {count} files")
        return 0
    outcomes = [check_file(path, repo) for repo, path in corpus_files(args.root)]
    if args.json is not None:
        args.json.write_text(json.dumps([o.model_dump() for o in outcomes], indent=1))
    print(report(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
