"""DMN decisions: reading (with located problems), hit policies, required decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from process_models.dmn import DecisionError, DecisionEvaluator, read_dmn
from process_models.errors import ModelInvalidError, Problem

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TZ = ZoneInfo("Europe/Stockholm")
DMN_13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"
DATA = Path(__file__).parent.parent / "data" / "dmn"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def table(
    rules: list[tuple[list[str], list[str]]],
    *,
    hit_policy: str | None = None,
    aggregation: str | None = None,
    inputs: tuple[str, ...] = ("season",),
    outputs: tuple[str, ...] = ("dish",),
    output_values: dict[str, str] | None = None,
    decision_id: str = "dish",
    extra: str = "",
    namespace: str = DMN_13,
) -> bytes:
    """A DMN file with one decision table, written as Camunda Modeler writes one."""
    attributes = f' hitPolicy="{hit_policy}"' if hit_policy else ""
    attributes += f' aggregation="{aggregation}"' if aggregation else ""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<definitions xmlns="{namespace}" id="Definitions_1" name="DRD" '
        'namespace="http://camunda.org/schema/1.0/dmn">',
        f'  <decision id="{decision_id}" name="Decision">',
        f'    <decisionTable id="DecisionTable_1"{attributes}>',
    ]
    for index, expression in enumerate(inputs, 1):
        parts += [
            f'      <input id="Input_{index}" label="In {index}">',
            f'        <inputExpression id="InputExpression_{index}" typeRef="string">',
            f"          <text>{_escape(expression)}</text>",
            "        </inputExpression>",
            "      </input>",
        ]
    for index, name in enumerate(outputs, 1):
        values = (output_values or {}).get(name)
        body = f"<outputValues><text>{_escape(values)}</text></outputValues>" if values else ""
        parts.append(
            f'      <output id="Output_{index}" label="Out {index}" name="{name}">{body}</output>'
        )
    for number, (tests, results) in enumerate(rules, 1):
        parts.append(f'      <rule id="Rule_{number}">')
        parts += [
            f'        <inputEntry id="In_{number}_{i}"><text>{_escape(t)}</text></inputEntry>'
            for i, t in enumerate(tests, 1)
        ]
        parts += [
            f'        <outputEntry id="Out_{number}_{i}"><text>{_escape(r)}</text></outputEntry>'
            for i, r in enumerate(results, 1)
        ]
        parts.append("      </rule>")
    parts += ["    </decisionTable>", "  </decision>", extra, "</definitions>"]
    return "\n".join(parts).encode()


def decide(content: bytes, variables: dict[str, Any], decision_id: str = "dish") -> Any:
    return DecisionEvaluator(read_dmn(content, name="t.dmn")).evaluate(
        decision_id, variables, now=NOW, tz=TZ
    )


def problems(content: bytes) -> list[Problem]:
    with pytest.raises(ModelInvalidError) as caught:
        read_dmn(content, name="bad.dmn")
    return caught.value.problems


SEASONS = [
    (['"Winter"'], ['"Roastbeef"']),
    (['"Spring"'], ['"Salad"']),
    (['"Summer", "Autumn"'], ['"Steak"']),
]


# --- single hit -----------------------------------------------------------------------------


def test_unique_gives_the_matching_rules_value() -> None:
    assert decide(table(SEASONS), {"season": "Autumn"}) == "Steak"
    assert decide(table(SEASONS, hit_policy="UNIQUE"), {"season": "Winter"}) == "Roastbeef"


def test_unique_without_a_match_gives_null() -> None:
    assert decide(table(SEASONS), {"season": "Monsoon"}) is None


def test_unique_with_two_matching_rules_is_an_error_naming_them() -> None:
    content = table([*SEASONS, (["-"], ['"Soup"'])])
    with pytest.raises(DecisionError, match=r"UNIQUE.*rule 1 \(Rule_1\), rule 4 \(Rule_4\)"):
        decide(content, {"season": "Winter"})


def test_first_takes_the_first_matching_rule_in_table_order() -> None:
    rules = [(["< 18"], ['"child"']), (["< 65"], ['"adult"']), (["-"], ['"senior"'])]
    content = table(rules, hit_policy="FIRST", inputs=("age",), outputs=("group",))
    assert decide(content, {"age": 10}) == "child"
    assert decide(content, {"age": 40}) == "adult"
    assert decide(content, {"age": 70}) == "senior"


def test_any_accepts_matching_rules_that_agree_and_refuses_those_that_differ() -> None:
    rules = [(["> 10"], ['"yes"']), (["> 5"], ['"yes"']), (["> 100"], ['"no"'])]
    content = table(rules, hit_policy="ANY", inputs=("amount",), outputs=("approve",))
    assert decide(content, {"amount": 50}) == "yes"
    with pytest.raises(DecisionError, match=r"ANY.*different outputs"):
        decide(content, {"amount": 500})


def test_priority_takes_the_rule_whose_output_comes_first_in_the_output_values() -> None:
    rules = [
        (["> 18"], ['"low"']),
        (["> 60"], ['"high"']),
        (["> 40"], ['"medium"']),
    ]
    content = table(
        rules,
        hit_policy="PRIORITY",
        inputs=("age",),
        outputs=("risk",),
        output_values={"risk": '"high","medium","low"'},
    )
    assert decide(content, {"age": 70}) == "high"
    assert decide(content, {"age": 50}) == "medium"
    assert decide(content, {"age": 20}) == "low"


def test_several_outputs_give_a_context_by_output_name() -> None:
    rules = [(['"Winter"'], ['"Roastbeef"', "4"]), (["-"], ['"Salad"', "2"])]
    content = table(rules, hit_policy="FIRST", outputs=("dish", "guests"))
    assert decide(content, {"season": "Winter"}) == {"dish": "Roastbeef", "guests": 4}
    assert decide(table(rules[:1], outputs=("dish", "guests")), {"season": "Summer"}) is None


# --- multiple hits --------------------------------------------------------------------------

HOLIDAYS = [
    (["-", "-"], ["22"]),
    (["< 18, >= 60", "-"], ["5"]),
    (["-", ">= 30"], ["3"]),
    (["[18..60)", "< 30"], ["2"]),
]


def holidays(**kwargs: Any) -> bytes:
    return table(HOLIDAYS, inputs=("age", "years"), outputs=("days",), **kwargs)


def test_collect_gives_every_matching_output_in_rule_order() -> None:
    assert decide(holidays(hit_policy="COLLECT"), {"age": 62, "years": 31}) == [22, 5, 3]
    assert decide(holidays(hit_policy="COLLECT"), {"age": 30, "years": 2}) == [22, 2]


def test_collect_aggregations() -> None:
    variables = {"age": 62, "years": 31}
    assert decide(holidays(hit_policy="COLLECT", aggregation="SUM"), variables) == 30
    assert decide(holidays(hit_policy="COLLECT", aggregation="MIN"), variables) == 3
    assert decide(holidays(hit_policy="COLLECT", aggregation="MAX"), variables) == 22
    assert decide(holidays(hit_policy="COLLECT", aggregation="COUNT"), variables) == 3


def test_collect_without_a_match_gives_an_empty_list_and_aggregations_null_or_zero() -> None:
    rules = [(["> 100"], ["1"])]
    nothing = {"amount": 1}

    def one(**kwargs: Any) -> bytes:
        return table(rules, inputs=("amount",), outputs=("n",), hit_policy="COLLECT", **kwargs)

    assert decide(one(), nothing) == []
    assert decide(one(aggregation="SUM"), nothing) is None
    assert decide(one(aggregation="MAX"), nothing) is None
    assert decide(one(aggregation="COUNT"), nothing) == 0


def test_collect_sum_is_exact_decimal_arithmetic() -> None:
    rules = [(["-"], ["0.1"]), (["-"], ["0.2"])]
    content = table(rules, inputs=("x",), outputs=("n",), hit_policy="COLLECT", aggregation="SUM")
    assert decide(content, {"x": 1}) == 0.3


def test_collect_sum_over_strings_is_an_error() -> None:
    rules = [(["-"], ['"a"']), (["-"], ['"b"'])]
    content = table(rules, inputs=("x",), outputs=("n",), hit_policy="COLLECT", aggregation="SUM")
    with pytest.raises(DecisionError, match="SUM over values that are not all numbers"):
        decide(content, {"x": 1})


def test_rule_order_gives_a_list_in_rule_order_and_contexts_for_several_outputs() -> None:
    rules = [(["-"], ['"a"', "1"]), ([">= 0"], ['"b"', "2"]), (["< 0"], ['"c"', "3"])]
    content = table(rules, hit_policy="RULE ORDER", inputs=("x",), outputs=("name", "rank"))
    assert decide(content, {"x": 5}) == [{"name": "a", "rank": 1}, {"name": "b", "rank": 2}]


def test_output_order_sorts_by_output_values_then_rule_order() -> None:
    rules = [
        (["-"], ['"low"']),
        ([">= 10"], ['"high"']),
        ([">= 5"], ['"medium"']),
        ([">= 10"], ['"high"']),
    ]
    content = table(
        rules,
        hit_policy="OUTPUT ORDER",
        inputs=("x",),
        outputs=("level",),
        output_values={"level": '"high", "medium", "low"'},
    )
    assert decide(content, {"x": 12}) == ["high", "high", "medium", "low"]
    assert decide(content, {"x": 1}) == ["low"]


# --- expressions ----------------------------------------------------------------------------


def test_input_entries_are_unary_tests_and_outputs_read_the_variables() -> None:
    rules = [
        (['not("blocked")', "[1..5]"], ['"ok: " + name']),
        (["-", "-"], ["null"]),
    ]
    content = table(
        rules, hit_policy="FIRST", inputs=("status", "count(items)"), outputs=("message",)
    )
    assert decide(content, {"status": "new", "items": [1, 2], "name": "Ada"}) == "ok: Ada"
    assert decide(content, {"status": "blocked", "items": [1], "name": "Ada"}) is None


def test_empty_output_entry_is_null_and_dates_come_back_as_feel_writes_them() -> None:
    rules = [(["-"], ['date(submitted) + duration("P1M")', ""])]
    content = table(rules, inputs=("submitted",), outputs=("due", "note"))
    assert decide(content, {"submitted": "2024-01-31"}) == {"due": "2024-02-29", "note": None}


def test_a_limit_reached_in_a_rule_is_a_decision_error() -> None:
    rules = [(["-"], ["count(for i in 1..100000000 return i)"])]
    with pytest.raises(DecisionError, match="'dish'"):
        decide(table(rules), {"season": "x"})


# --- literal expressions and required decisions --------------------------------------------


def test_literal_expression_decision_in_dmn_1_5() -> None:
    content = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20230324/MODEL/" id="d" name="d"
    namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="greeting" name="Greeting">
    <variable id="v" name="greetingMessage" typeRef="string"/>
    <literalExpression id="e"><text>"Hello " + name</text></literalExpression>
  </decision>
</definitions>"""
    assert decide(content, {"name": "Ada"}, "greeting") == "Hello Ada"


def test_required_decisions_evaluate_first_and_in_scope_by_id_and_variable_name() -> None:
    evaluator = DecisionEvaluator(read_dmn((DATA / "fees.dmn").read_bytes(), name="fees.dmn"))

    def fee(decision_id: str, employees: int, activities: list[str]) -> Any:
        variables = {"employees": employees, "activities": activities}
        return evaluator.evaluate(decision_id, variables, now=NOW, tz=TZ)

    assert fee("applicant_category", 3, []) == "small"
    assert fee("permit_fee", 3, ["food", "alcohol"]) == 4500.5
    assert fee("permit_fee", 30, []) == 4000
    assert fee("fee_text", 30, ["food"]) == "Avgift: 4800.5 kr"
    assert evaluator.definitions.required_closure("fee_text") == [
        "applicant_category",
        "permit_fee",
        "fee_text",
    ]


def test_a_required_decision_that_fails_names_itself() -> None:
    extra = """  <decision id="total" name="Total">
    <informationRequirement id="r"><requiredDecision href="#dish"/></informationRequirement>
    <literalExpression id="e"><text>dish</text></literalExpression>
  </decision>"""
    content = table([*SEASONS, (["-"], ['"Soup"'])], extra=extra)
    with pytest.raises(DecisionError, match="decision 'dish': hit policy UNIQUE"):
        decide(content, {"season": "Winter"}, "total")


def test_an_unknown_decision_id_is_an_error_listing_the_decisions() -> None:
    with pytest.raises(DecisionError, match=r"no such decision \(decisions: dish\)"):
        decide(table(SEASONS), {}, "nope")


# --- problems, located ----------------------------------------------------------------------


def test_a_cell_that_is_not_feel_names_decision_rule_column_and_line() -> None:
    content = table([(['"Winter"'], ['"ok"']), (["> > 3"], ['"x" +'])])
    found = problems(content)
    assert [p.element_id for p in found] == ["dish", "dish"]
    assert "rule 2 (Rule_2), input column 1 ('In 1')" in found[0].message
    assert "not FEEL unary tests" in found[0].message
    assert "rule 2 (Rule_2), output column 1 ('Out 1')" in found[1].message
    lines = content.decode().splitlines()
    assert [lines[(p.line or 0) - 1].split('"')[1] for p in found] == ["In_2_1", "Out_2_1"]
    assert all(p.file == "bad.dmn" for p in found)


def test_a_rule_with_the_wrong_number_of_entries_is_a_problem() -> None:
    content = table([(['"Winter"', "1"], ['"x"'])])
    (problem,) = problems(content)
    assert (
        "rule 1 (Rule_1) has 2 input entries, but the table has 1 input columns" in problem.message
    )


def test_hit_policy_and_aggregation_problems() -> None:
    assert (
        "needs hit policy COLLECT, not FIRST"
        in problems(table(SEASONS, hit_policy="FIRST", aggregation="SUM"))[0].message
    )
    assert (
        "unknown hit policy 'SOMETIMES'"
        in problems(table(SEASONS, hit_policy="SOMETIMES"))[0].message
    )
    several = table(
        [(["-"], ["1", "2"])], hit_policy="COLLECT", aggregation="SUM", outputs=("a", "b")
    )
    assert "COLLECT SUM needs exactly one output column" in problems(several)[0].message
    assert "output values" in problems(table(SEASONS, hit_policy="PRIORITY"))[0].message


def test_required_decision_cycles_and_missing_ones_are_problems() -> None:
    extra = """  <decision id="a" name="A">
    <informationRequirement><requiredDecision href="#b"/></informationRequirement>
    <literalExpression><text>b</text></literalExpression>
  </decision>
  <decision id="b" name="B">
    <informationRequirement><requiredDecision href="#a"/></informationRequirement>
    <literalExpression><text>a</text></literalExpression>
  </decision>
  <decision id="c" name="C">
    <informationRequirement><requiredDecision href="#missing"/></informationRequirement>
    <literalExpression><text>1</text></literalExpression>
  </decision>"""
    found = problems(table(SEASONS, extra=extra))
    messages = {p.element_id: p.message for p in found}
    assert "must not form a cycle" in messages["a"]
    assert "must not form a cycle" in messages["b"]
    assert "'missing' is not in the file" in messages["c"]


def test_logic_niva_does_not_evaluate_and_other_languages_are_problems() -> None:
    extra = """  <decision id="ctx" name="Ctx"><context><contextEntry><literalExpression>
    <text>1</text></literalExpression></contextEntry></context></decision>
  <decision id="juel" name="Juel">
    <literalExpression expressionLanguage="juel"><text>${x}</text></literalExpression>
  </decision>"""
    messages = {p.element_id: p.message for p in problems(table(SEASONS, extra=extra))}
    assert "a boxed context, which niva does not evaluate" in messages["ctx"]
    assert "'juel' is not FEEL" in messages["juel"]


def test_not_dmn_is_a_problem_of_the_file() -> None:
    (problem,) = problems(b"<definitions xmlns='http://www.omg.org/spec/BPMN/20100524/MODEL'/>")
    assert "expected DMN definitions" in problem.message
    (problem,) = problems(b"<definitions")
    assert problem.file == "bad.dmn"
