"""``niva expressions eval``: FEEL and CEL evaluated from the command line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from starter.cli import app

runner = CliRunner()
NOW = "2026-03-01T10:30:00Z"


def _eval(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["expressions", "eval", "--now", NOW, *args])
    return result.exit_code, result.stdout, result.stderr


def test_eval_feel_prints_json_as_feel_writes_temporals() -> None:
    code, out, _ = _eval('{d: date("2024-01-31") + duration("P1M"), p: duration("PT36H")}')
    assert code == 0
    assert json.loads(out) == {"d": "2024-02-29", "p": "P1DT12H"}


def test_eval_feel_reads_variables_and_the_clock_in_the_zone() -> None:
    code, out, _ = _eval(
        "--variables",
        '{"amount": 1200}',
        "--timezone",
        "Europe/Oslo",
        'if amount > 1000 then string(now()) else "no"',
    )
    assert code == 0
    assert json.loads(out) == "2026-03-01T11:30:00@Europe/Oslo"


def test_eval_cel_uses_the_cel_evaluator() -> None:
    code, out, _ = _eval("--language", "cel", "--variables", '{"x": 2}', "=x * 21")
    assert (code, json.loads(out)) == (0, 42)


def test_eval_a_bad_expression_exits_1_with_the_column() -> None:
    code, _, err = _eval("x > > 3")
    assert code == 1
    assert "line 1, column 5" in err


def test_eval_bad_usage_exits_2() -> None:
    assert _eval("--variables", "[1]", "1")[0] == 2
    assert _eval("--variables", "{", "1")[0] == 2
    assert _eval("--timezone", "Mars/Olympus", "1")[0] == 2
    code = runner.invoke(app, ["expressions", "eval", "--now", "2026-03-01T10:00", "1"]).exit_code
    assert code == 2
