"""``niva decisions eval``: a DMN decision of a file evaluated from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from starter.cli import app
from tests.support.dmn import FEES

runner = CliRunner()
NOW = "2026-03-01T10:30:00Z"

_UNIQUE = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d"
    namespace="urn:niva:test">
  <decision id="band" name="Band">
    <decisionTable id="t" hitPolicy="UNIQUE">
      <input id="i"><inputExpression id="ie" typeRef="number"><text>x</text></inputExpression></input>
      <output id="o" name="band" typeRef="string"/>
      <rule id="low"><inputEntry id="l1"><text>&lt; 10</text></inputEntry>
        <outputEntry id="l2"><text>"low"</text></outputEntry></rule>
      <rule id="any"><inputEntry id="a1"><text>-</text></inputEntry>
        <outputEntry id="a2"><text>"any"</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"""


@pytest.fixture
def fees(tmp_path: Path) -> Path:
    path = tmp_path / "fees.dmn"
    path.write_bytes(FEES)
    return path


def _eval(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["decisions", "eval", "--now", NOW, *args])
    return result.exit_code, result.stdout, result.stderr


def test_eval_decisions_with_required_decisions_prints_json(fees: Path) -> None:
    variables = json.dumps({"employees": 5, "activities": ["food", "alcohol"]})
    code, out, err = _eval(str(fees), "permit_fee", "--variables", variables)
    assert (code, err) == (0, "")
    assert json.loads(out) == 4500.5
    code, out, _ = _eval(str(fees), "fee_text", "--variables", variables)
    assert (code, json.loads(out)) == (0, "Avgift: 4500.5 kr")
    code, out, _ = _eval(str(fees), "applicant_category", "--variables", '{"employees": 40}')
    assert (code, json.loads(out)) == (0, "large")


def test_eval_decisions_bad_input_exits_2(fees: Path) -> None:
    code, _, err = _eval(str(fees), "permit_fee", "--variables", "[1]")
    assert code == 2
    assert "--variables must be a JSON object" in err
    code, _, err = _eval(str(fees), "permit_fee", "--variables", "{employees: 5}")
    assert code == 2
    assert "--variables is not JSON" in err
    code, _, err = _eval(str(fees), "fee")
    assert code == 2
    assert (
        f"{fees} has no decision 'fee' (decisions: applicant_category, permit_fee, fee_text)" in err
    )


def test_eval_decisions_failing_decision_or_invalid_file_exits_1(tmp_path: Path) -> None:
    table = tmp_path / "band.dmn"
    table.write_bytes(_UNIQUE)
    code, out, err = _eval(str(table), "band", "--variables", '{"x": 3}')
    assert (code, out) == (1, "")
    assert "decision 'band'" in err
    assert "low" in err
    assert "any" in err
    broken = tmp_path / "broken.dmn"
    broken.write_bytes(_UNIQUE.replace(b'hitPolicy="UNIQUE"', b'hitPolicy="SOMETIMES"'))
    code, _, err = _eval(str(broken), "band")
    assert code == 1
    assert err.startswith(f"{broken}:5: ")
