"""Reading DMN 1.3, 1.4 and 1.5 files as Camunda Modeler writes them (1.1 and 1.2 too).

`read_dmn` parses with the hardened XML parser of BPMN files, reads the decisions into
`process_models.dmn.schema`, and checks everything that can be known before a decision runs:
every expression compiles as FEEL (input expressions and output entries as expressions,
input entries as unary tests), every rule has one entry per column, the hit policy and
aggregation go together, required decisions exist and form no cycle. Every problem names
the file, the line, the decision, and for a table's cell the rule (by position and id) and
the column (by position and label).

Decision logic niva does not evaluate (business knowledge models, boxed contexts,
relations, invocations, imports) is a problem naming the decision, not a silent gap.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from lxml import etree

from process_models.bpmn.xml import parse_document
from process_models.dmn.schema import (
    Aggregation,
    Decision,
    DecisionTable,
    DmnDefinitions,
    HitPolicy,
    InputClause,
    LiteralExpression,
    OutputClause,
    Rule,
)
from process_models.errors import BpmnReadError, ExpressionError, ModelInvalidError, Problem
from process_models.feel import compile_feel, compile_unary_tests

__all__ = ["DMN_NAMESPACES", "output_values_expression", "read_dmn"]

_Element = etree._Element

#: The model namespaces of DMN 1.1 to 1.5; a file's root must be ``definitions`` in one.
DMN_NAMESPACES: frozenset[str] = frozenset(
    {
        "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
        "http://www.omg.org/spec/DMN/20180521/MODEL/",
        "https://www.omg.org/spec/DMN/20191111/MODEL/",
        "https://www.omg.org/spec/DMN/20211108/MODEL/",
        "https://www.omg.org/spec/DMN/20230324/MODEL/",
    }
)

_HIT_POLICIES: frozenset[str] = frozenset(get_args(HitPolicy))
_AGGREGATIONS: frozenset[str] = frozenset(get_args(Aggregation))
_UNSUPPORTED_LOGIC = {
    "context": "a boxed context",
    "relation": "a relation",
    "invocation": "an invocation",
    "list": "a boxed list",
    "functionDefinition": "a function definition",
    "conditional": "a boxed conditional",
    "filter": "a boxed filter",
    "iterator": "a boxed iterator",
}


def output_values_expression(text: str) -> str:
    """The FEEL list expression of an output's ``outputValues`` (``"a","b"``)."""
    return f"[{text}]"


def read_dmn(content: bytes, *, name: str) -> DmnDefinitions:
    """Read and check a DMN file.

    Args:
        content: The file's bytes.
        name: The file's name, for problems.

    Raises:
        ModelInvalidError: the file is not DMN XML, or breaks a rule; every problem names
            the file and the line (and the decision, rule and column where one is at fault).
    """
    try:
        root = parse_document(content)
    except BpmnReadError as exc:
        message = exc.problem.message.replace("BPMN 2.0", "DMN")
        raise ModelInvalidError(
            [exc.problem.model_copy(update={"message": message, "file": name})]
        ) from exc
    namespace = etree.QName(root).namespace
    if namespace not in DMN_NAMESPACES or etree.QName(root).localname != "definitions":
        raise ModelInvalidError(
            [
                Problem(
                    message=f"the root element is {root.tag}, expected DMN definitions (DMN "
                    "1.1 to 1.5, as Camunda Modeler writes them)",
                    file=name,
                    line=_line(root),
                )
            ]
        )
    reader = _Reader(namespace or "", name)
    definitions = reader.definitions(root)
    if reader.problems:
        raise ModelInvalidError(reader.problems)
    return definitions


def _line(element: _Element) -> int | None:
    line = element.sourceline
    return line if isinstance(line, int) else None


def _feel_language(language: str | None) -> bool:
    return language is None or not language.strip() or "feel" in language.lower()


class _Reader:
    def __init__(self, namespace: str, file: str) -> None:
        self.ns = "{" + namespace + "}"
        self.file = file
        self.problems: list[Problem] = []

    def report(self, message: str, element_id: str | None, line: int | None) -> None:
        self.problems.append(
            Problem(message=message, element_id=element_id, line=line, file=self.file)
        )

    def children(self, element: _Element, local: str) -> Iterator[_Element]:
        tag = self.ns + local
        return (child for child in element if child.tag == tag)

    def child(self, element: _Element, local: str) -> _Element | None:
        return next(self.children(element, local), None)

    def text(self, element: _Element | None) -> str:
        """The ``text`` child's content (empty when there is none)."""
        if element is None:
            return ""
        text = self.child(element, "text")
        return (text.text or "").strip() if text is not None else ""

    # --- the file -------------------------------------------------------------------------

    def definitions(self, root: _Element) -> DmnDefinitions:
        self.language = root.get("expressionLanguage")
        self.check_language(self.language, root.get("id"), _line(root))
        for imported in self.children(root, "import"):
            self.report(
                "imports are not supported: put the decisions in one file",
                root.get("id"),
                _line(imported),
            )
        decisions: dict[str, Decision] = {}
        for element in self.children(root, "decision"):
            decision = self.decision(element)
            if decision is None:
                continue
            if decision.id in decisions:
                self.report(
                    f"duplicate decision id {decision.id!r}: ids must be unique in the file",
                    decision.id,
                    decision.line,
                )
                continue
            decisions[decision.id] = decision
        for element in self.children(root, "businessKnowledgeModel"):
            self.report(
                "business knowledge models are not supported: write the logic as a decision "
                "table or a literal expression",
                element.get("id"),
                _line(element),
            )
        if not decisions and not self.problems:
            self.report("the file has no decision", root.get("id"), _line(root))
        self.requirements(decisions)
        return DmnDefinitions(
            id=root.get("id"),
            line=_line(root),
            name=root.get("name"),
            namespace=root.get("namespace"),
            decisions=decisions,
        )

    def check_language(
        self, language: str | None, element_id: str | None, line: int | None
    ) -> bool:
        """Whether ``language`` is FEEL (or none); reported when it is not."""
        if _feel_language(language):
            return True
        self.report(
            f"the expression language {language!r} is not FEEL, the only one niva "
            "evaluates in decisions",
            element_id,
            line,
        )
        return False

    def requirements(self, decisions: dict[str, Decision]) -> None:
        for decision in decisions.values():
            for required in decision.required:
                if required not in decisions:
                    known = ", ".join(decisions) or "none"
                    self.report(
                        f"the required decision {required!r} is not in the file (decisions: "
                        f"{known})",
                        decision.id,
                        decision.line,
                    )
        # A cycle would make a decision wait for itself: Kahn's algorithm leaves it waiting.
        waiting = {d.id: {r for r in d.required if r in decisions} for d in decisions.values()}
        requirers: dict[str, list[str]] = {}
        for decision_id, needs in waiting.items():
            for need in needs:
                requirers.setdefault(need, []).append(decision_id)
        ready = [d for d, needs in waiting.items() if not needs]
        while ready:
            done = ready.pop()
            for other in requirers.get(done, []):
                waiting[other].discard(done)
                if not waiting[other]:
                    ready.append(other)
        for decision_id, needs in waiting.items():
            if needs:
                self.report(
                    "the decision requires itself through "
                    f"{', '.join(sorted(needs))}: required decisions must not form a cycle",
                    decision_id,
                    decisions[decision_id].line,
                )

    # --- one decision -------------------------------------------------------------------

    def decision(self, element: _Element) -> Decision | None:
        decision_id = (element.get("id") or "").strip()
        line = _line(element)
        if not decision_id:
            self.report("a decision without id: a business rule task names it by id", None, line)
            return None
        required: list[str] = []
        for requirement in self.children(element, "informationRequirement"):
            ref = self.child(requirement, "requiredDecision")
            if ref is None:
                continue  # required input data are the variables
            href = ref.get("href") or ""
            if not href.startswith("#"):
                self.report(
                    f"the required decision {href!r} is in another file: put it in this one",
                    decision_id,
                    _line(ref),
                )
                continue
            required.append(href[1:])
        if any(True for _ in self.children(element, "knowledgeRequirement")):
            self.report(
                "business knowledge models are not supported: write the logic as a decision "
                "table or a literal expression",
                decision_id,
                line,
            )
        variable = self.child(element, "variable")
        table_element = self.child(element, "decisionTable")
        literal_element = self.child(element, "literalExpression")
        table = literal = None
        if table_element is not None:
            table = self.table(decision_id, table_element)
        elif literal_element is not None:
            literal = self.literal(decision_id, literal_element)
        else:
            found = [
                what
                for local, what in _UNSUPPORTED_LOGIC.items()
                if self.child(element, local) is not None
            ]
            self.report(
                f"the decision's logic is {found[0]}, which niva does not evaluate: use a "
                "decision table or a literal expression"
                if found
                else "the decision has no decision table or literal expression",
                decision_id,
                line,
            )
        return Decision(
            id=decision_id,
            line=line,
            name=element.get("name"),
            variable=variable.get("name") if variable is not None else None,
            required=required,
            table=table,
            literal=literal,
        )

    def literal(self, decision_id: str, element: _Element) -> LiteralExpression:
        text = self.text(element)
        line = _line(element)
        if not self.check_language(element.get("expressionLanguage"), decision_id, line):
            pass  # not FEEL: compiling it would only repeat the problem
        elif not text:
            self.report("the literal expression is empty", decision_id, line)
        else:
            self.compile(text, decision_id, line, "the literal expression")
        return LiteralExpression(id=element.get("id"), line=line, text=text)

    def compile(self, text: str, element_id: str, line: int | None, what: str) -> None:
        try:
            compile_feel(text, element_id=element_id, line=line)
        except ExpressionError as exc:
            self.report(f"{what} is not FEEL: {exc.reason}", element_id, line)

    def compile_tests(self, text: str, element_id: str, line: int | None, what: str) -> None:
        try:
            compile_unary_tests(text or "-", element_id=element_id)
        except ExpressionError as exc:
            self.report(f"{what} is not FEEL unary tests: {exc.reason}", element_id, line)

    # --- a decision table ---------------------------------------------------------------

    def table(self, decision_id: str, element: _Element) -> DecisionTable:
        line = _line(element)
        self.check_language(element.get("expressionLanguage"), decision_id, line)
        hit_policy, aggregation = self.hit_policy(decision_id, element)
        inputs = [
            self.input_clause(decision_id, i, e)
            for i, e in enumerate(self.children(element, "input"), 1)
        ]
        outputs = [
            self.output_clause(decision_id, i, e)
            for i, e in enumerate(self.children(element, "output"), 1)
        ]
        if not outputs:
            self.report("the decision table has no output column", decision_id, line)
        if len(outputs) > 1:
            for index, output in enumerate(outputs, 1):
                if not output.name:
                    self.report(
                        f"output column {index} has no name: a table with several outputs "
                        "gives a context, whose entries the names are",
                        decision_id,
                        output.line,
                    )
        if aggregation is not None and len(outputs) > 1:
            self.report(
                f"COLLECT {aggregation} needs exactly one output column (the table has "
                f"{len(outputs)})",
                decision_id,
                line,
            )
        if hit_policy in ("PRIORITY", "OUTPUT ORDER") and not any(o.output_values for o in outputs):
            self.report(
                f"hit policy {hit_policy} orders rules by the output values of the output "
                "columns: give at least one output its list of values",
                decision_id,
                line,
            )
        rules = [
            self.rule(decision_id, index, rule, inputs, outputs)
            for index, rule in enumerate(self.children(element, "rule"), 1)
        ]
        return DecisionTable(
            id=element.get("id"),
            line=line,
            hit_policy=hit_policy,
            aggregation=aggregation,
            inputs=inputs,
            outputs=outputs,
            rules=rules,
        )

    def hit_policy(
        self, decision_id: str, element: _Element
    ) -> tuple[HitPolicy, Aggregation | None]:
        line = _line(element)
        raw = " ".join((element.get("hitPolicy") or "UNIQUE").replace("_", " ").upper().split())
        policy: HitPolicy = "UNIQUE"
        if raw in _HIT_POLICIES:
            policy = raw  # type: ignore[assignment]
        else:
            self.report(
                f"unknown hit policy {raw!r} (known: {', '.join(sorted(_HIT_POLICIES))})",
                decision_id,
                line,
            )
        raw_aggregation = element.get("aggregation")
        if raw_aggregation is None:
            return policy, None
        aggregation = raw_aggregation.strip().upper()
        if aggregation not in _AGGREGATIONS:
            self.report(
                f"unknown aggregation {raw_aggregation!r} (known: SUM, MIN, MAX, COUNT)",
                decision_id,
                line,
            )
            return policy, None
        if policy != "COLLECT":
            self.report(
                f"an aggregation ({aggregation}) needs hit policy COLLECT, not {policy}",
                decision_id,
                line,
            )
            return policy, None
        return policy, aggregation  # type: ignore[return-value]

    def input_clause(self, decision_id: str, index: int, element: _Element) -> InputClause:
        expression = self.child(element, "inputExpression")
        text = self.text(expression)
        label = element.get("label")
        column = _column("input", index, label)
        expression_line = _line(expression) if expression is not None else _line(element)
        if expression is not None:
            self.check_language(expression.get("expressionLanguage"), decision_id, expression_line)
        if not text:
            self.report(f"{column} has no input expression", decision_id, expression_line)
        else:
            self.compile(text, decision_id, expression_line, f"the expression of {column}")
        return InputClause(
            id=element.get("id"),
            line=_line(element),
            label=label,
            expression=text,
            expression_line=expression_line,
        )

    def output_clause(self, decision_id: str, index: int, element: _Element) -> OutputClause:
        values = self.child(element, "outputValues")
        label = element.get("label") or element.get("name")
        values_text = self.text(values) or None
        if values_text is not None:
            self.compile(
                output_values_expression(values_text),
                decision_id,
                _line(values) if values is not None else None,
                f"the output values of {_column('output', index, label)}",
            )
        return OutputClause(
            id=element.get("id"),
            line=_line(element),
            name=(element.get("name") or "").strip() or None,
            label=element.get("label"),
            type_ref=element.get("typeRef"),
            output_values=values_text,
        )

    def rule(
        self,
        decision_id: str,
        index: int,
        element: _Element,
        inputs: list[InputClause],
        outputs: list[OutputClause],
    ) -> Rule:
        rule_id = element.get("id")
        where = f"rule {index}" + (f" ({rule_id})" if rule_id else "")
        line = _line(element)
        input_entries = list(self.children(element, "inputEntry"))
        output_entries = list(self.children(element, "outputEntry"))
        for kind, found, wanted in (
            ("input", len(input_entries), len(inputs)),
            ("output", len(output_entries), len(outputs)),
        ):
            if found != wanted:
                self.report(
                    f"{where} has {found} {kind} entries, but the table has {wanted} {kind} "
                    "columns",
                    decision_id,
                    line,
                )
        for column, entry in enumerate(input_entries, 1):
            label = inputs[column - 1].label if column <= len(inputs) else None
            self.check_language(entry.get("expressionLanguage"), decision_id, _line(entry))
            self.compile_tests(
                self.text(entry),
                decision_id,
                _line(entry),
                f"{where}, {_column('input', column, label)}",
            )
        for column, entry in enumerate(output_entries, 1):
            text = self.text(entry)
            output = outputs[column - 1] if column <= len(outputs) else None
            label = (output.label or output.name) if output is not None else None
            self.check_language(entry.get("expressionLanguage"), decision_id, _line(entry))
            if text:
                self.compile(
                    text, decision_id, _line(entry), f"{where}, {_column('output', column, label)}"
                )
        return Rule(
            id=rule_id,
            line=line,
            input_entries=[self.text(e) for e in input_entries],
            input_lines=[_line(e) for e in input_entries],
            output_entries=[self.text(e) for e in output_entries],
            output_lines=[_line(e) for e in output_entries],
        )


def _column(kind: str, index: int, label: str | None) -> str:
    return f"{kind} column {index}" + (f" ({label!r})" if label else "")
