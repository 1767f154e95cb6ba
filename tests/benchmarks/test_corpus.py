"""``python -m benchmarks.corpus``: extract a repository's BPMN files and classify them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from benchmarks.corpus import check_file, main

DEFINITIONS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="urn:t">
{body}
</bpmn:definitions>
"""
PROCESS = """<bpmn:process id="p" isExecutable="true">
  <bpmn:startEvent id="Start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Review"/>
  <bpmn:userTask id="Review" {attributes}/>
</bpmn:process>"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_each_file_is_read_round_tripped_validated_and_classified(tmp_path: Path):
    valid = write(tmp_path / "a.bpmn", DEFINITIONS.format(body=PROCESS.format(attributes="")))
    outcome = check_file(valid, "o/r")
    assert (outcome.camunda8, outcome.read, outcome.round_trip, outcome.valid) == (
        True,
        True,
        True,
        True,
    )
    assigned = DEFINITIONS.replace('\n    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"', "")
    refused = write(
        tmp_path / "b.bpmn", assigned.format(body=PROCESS.format(attributes='camunda:assignee="x"'))
    )
    outcome = check_file(refused, "o/r")
    assert (outcome.camunda8, outcome.valid, outcome.first_blocker) == (
        False,
        False,
        "foreign setting",
    )
    broken = write(tmp_path / "c.bpmn", "<definitions")
    outcome = check_file(broken, "o/r")
    assert (outcome.read, outcome.first_blocker) == (False, "not readable")


def test_extract_then_check_prints_the_tables(tmp_path: Path, capsys):
    source = tmp_path / "source"
    write(source / "models" / "a.bpmn", DEFINITIONS.format(body=PROCESS.format(attributes="")))
    write(source / "other" / "b.bpmn", "<definitions")
    write(source / "README.md", "not a model")
    git = ["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "models"], check=True)
    corpus = tmp_path / "corpus"
    assert main(["extract", str(source / ".git"), "o/r", str(corpus), "--under", "models/"]) == 0
    assert sorted(p.name for p in corpus.rglob("*.bpmn")) == ["a.bpmn"]
    assert (corpus / "SOURCES.tsv").read_text().startswith("o/r\t")
    capsys.readouterr()
    assert main(["check", str(corpus), "--json", str(tmp_path / "out.json")]) == 0
    printed = capsys.readouterr().out
    assert "| o/r | 1 | 1 | 1 | 1 | 1 | 0 |" in printed
    assert "| **refused** | 0 | 0 | |" in printed
