"""FEEL text to a tree of tuples, with lark; each text is parsed once and cached.

A node is a tuple whose first item names it (``("add", left, right)``); evaluator.py
runs them. Syntax errors become `FeelSyntaxError` with the line, the column and a caret.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from typing import Any

from temporalio import workflow

# Workflows may import this module inside Temporal's sandbox. lark (through the regex
# package it prefers) reads the locale when imported, which the sandbox forbids; it holds
# no state that could leak between workflow runs, so it is imported from outside.
with workflow.unsafe.imports_passed_through():
    import lark
    from lark import Lark, Token, Transformer, v_args

from process_models.feel.errors import FeelSyntaxError
from process_models.feel.grammar import GRAMMAR

__all__ = ["MULTI_WORD_FUNCTIONS", "Node", "parse_expression", "parse_unary_tests"]

Node = tuple[Any, ...]

MULTI_WORD_FUNCTIONS: tuple[str, ...] = (
    "date and time",
    "years and months duration",
    "string length",
    "upper case",
    "lower case",
    "substring before",
    "substring after",
    "starts with",
    "ends with",
    "string join",
    "is blank",
    "to base64",
    "list contains",
    "distinct values",
    "duplicate values",
    "index of",
    "insert before",
    "is empty",
    "get value",
    "get entries",
    "context put",
    "context merge",
    "get or else",
    "is defined",
    "round up",
    "round down",
    "round half up",
    "round half down",
    "day of week",
    "day of year",
    "week of year",
    "month of year",
    "last day of month",
    "is working day",
    "next working day",
    "previous working day",
    "add working days",
)
"""Built-in names with spaces: the grammar reads each as one name, but only before "(".

Longest first in the pattern, so "round half up" is not read as "round" + "half up".
"""

TYPE_NAMES: tuple[str, ...] = (
    "date and time",
    "days and time duration",
    "years and months duration",
    "number",
    "string",
    "boolean",
    "date",
    "time",
    "list",
    "context",
    "function",
    "range",
    "Any",
    "Null",
)
"""What ``instance of`` accepts, longest first so "date and time" is not read as "date"."""

_MAX_LENGTH = 10_000


def _grammar() -> str:
    words = sorted(MULTI_WORD_FUNCTIONS, key=len, reverse=True)
    alternatives = "|".join(r"\s+".join(re.escape(w) for w in name.split()) for name in words)
    types = "|".join(r"\s+".join(re.escape(w) for w in name.split()) for name in TYPE_NAMES)
    return (
        GRAMMAR + f"\nFNAME.2: /({alternatives})(?=\\s*\\()/\n" + f"TYPE_NAME.3: /({types})\\b/\n"
    )


@functools.cache
def _parser() -> Lark:
    return Lark(
        _grammar(),
        parser="lalr",
        lexer="contextual",
        start=["start", "unary_start"],
        maybe_placeholders=True,
    )


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}


def _unquote(token: str) -> str:
    body = token[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            if n in _ESCAPES:
                out.append(_ESCAPES[n])
            else:
                # Unknown escapes stay as written, so regular expressions such as "\d+"
                # reach the regex engine intact, as in Camunda's engine.
                out.append(c + n)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


@v_args(inline=True)
class _ToNodes(Transformer[Token, Node]):
    """The lark tree as evaluator tuples."""

    def number(self, token: Token) -> Node:
        return ("const", Decimal(str(token)))

    def string(self, token: Token) -> Node:
        return ("const", _unquote(str(token)))

    def true(self) -> Node:
        return ("const", True)

    def false(self) -> Node:
        return ("const", False)

    def null(self) -> Node:
        return ("const", None)

    def at_literal(self, token: Token) -> Node:
        return ("at", _unquote(str(token)))

    def input_value(self) -> Node:
        return ("var", "?")

    def name(self, token: Token) -> str:
        text = str(token)
        return text[1:-1] if text.startswith("`") else text

    def variable(self, name: str) -> Node:
        return ("var", name)

    def builtin_name(self, token: Token) -> Node:
        return ("var", " ".join(str(token).split()))

    def not_name(self) -> Node:
        return ("var", "not")

    def list(self, *items: Node | None) -> Node:
        return ("list", tuple(i for i in items if i is not None))

    def entry(self, key: str, value: Node) -> tuple[str, Node]:
        return (key, value)

    def string_entry(self, key: Token, value: Node) -> tuple[str, Node]:
        return (_unquote(str(key)), value)

    def context(self, *entries: tuple[str, Node] | None) -> Node:
        return ("context", tuple(e for e in entries if e is not None))

    def _interval(self, start: Node, end: Node, si: bool, ei: bool) -> Node:
        return ("interval", start, end, si, ei)

    def closed_closed(self, a: Node, b: Node) -> Node:
        return self._interval(a, b, True, True)

    def closed_open(self, a: Node, b: Node) -> Node:
        return self._interval(a, b, True, False)

    def open_closed(self, a: Node, b: Node) -> Node:
        return self._interval(a, b, False, True)

    def open_open(self, a: Node, b: Node) -> Node:
        return self._interval(a, b, False, False)

    def filter(self, base: Node, condition: Node) -> Node:
        return ("filter", base, condition)

    def path(self, base: Node, name: str) -> Node:
        return ("path", base, name)

    def argument(self, value: Node) -> Node:
        return value

    def named_argument(self, name: str, value: Node) -> Node:
        return ("named", name, value)

    def call(self, callee: Node, *args: Node | None) -> Node:
        arguments = tuple(a for a in args if a is not None)
        named = [a for a in arguments if a[0] == "named"]
        if named and len(named) != len(arguments):
            raise ValueError("mix of named and positional arguments")
        return ("call", callee, arguments, bool(named))

    def neg(self, operand: Node) -> Node:
        return ("neg", operand)

    def add(self, a: Node, b: Node) -> Node:
        return ("arith", "+", a, b)

    def sub(self, a: Node, b: Node) -> Node:
        return ("arith", "-", a, b)

    def mul(self, a: Node, b: Node) -> Node:
        return ("arith", "*", a, b)

    def div(self, a: Node, b: Node) -> Node:
        return ("arith", "/", a, b)

    def pow(self, a: Node, b: Node) -> Node:
        return ("arith", "**", a, b)

    def compare(self, a: Node, op: Token, b: Node) -> Node:
        return ("compare", str(op), a, b)

    def between(self, value: Node, low: Node, high: Node) -> Node:
        return ("between", value, low, high)

    def positive_test(self, value: Node) -> Node:
        return ("test", value)

    def op_test(self, op: Token, value: Node) -> Node:
        return ("optest", str(op), value)

    def in_(self, value: Node, test: Node) -> Node:
        return ("in", value, (test,))

    def in_any(self, value: Node, *tests: Node) -> Node:
        return ("in", value, tests)

    def unary_start(self, *tests: Node) -> Node:
        return ("tests", tests)

    def instance_of(self, value: Node, type_name: Token) -> Node:
        return ("instance", value, " ".join(str(type_name).split()))

    def or_(self, a: Node, b: Node) -> Node:
        return ("or", a, b)

    def and_(self, a: Node, b: Node) -> Node:
        return ("and", a, b)

    def if_expr(self, condition: Node, then: Node, otherwise: Node) -> Node:
        return ("if", condition, then, otherwise)

    def iteration(self, name: str, domain: Node) -> tuple[str, Node]:
        return (name, domain)

    def iteration_range(self, name: str, start: Node, end: Node) -> tuple[str, Node]:
        return (name, ("interval", start, end, True, True))

    def for_expr(self, *parts: Any) -> Node:
        return ("for", tuple(parts[:-1]), parts[-1])

    def some(self, *parts: Any) -> Node:
        return ("some", tuple(parts[:-1]), parts[-1])

    def every(self, *parts: Any) -> Node:
        return ("every", tuple(parts[:-1]), parts[-1])

    def function_def(self, *parts: Any) -> Node:
        params = tuple(p for p in parts[:-1] if p is not None)
        return ("function", params, parts[-1])


_TO_NODES = _ToNodes()


def _parse(text: str, start: str) -> Node:
    if len(text) > _MAX_LENGTH:
        raise FeelSyntaxError(
            f"the expression is {len(text)} characters long, more than the {_MAX_LENGTH} allowed",
            expression=text,
            line=1,
            column=1,
        )
    if not text.strip():
        raise FeelSyntaxError("the expression is empty", expression=text, line=1, column=1)
    try:
        tree = _parser().parse(text, start=start)
        node: Node = _TO_NODES.transform(tree)
    except lark.exceptions.UnexpectedInput as exc:
        line, column = exc.line, exc.column
        at_end = isinstance(exc, lark.exceptions.UnexpectedEOF) or (
            isinstance(exc, lark.exceptions.UnexpectedToken) and exc.token.type == "$END"
        )
        if at_end or line < 1:
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
        raise FeelSyntaxError(
            _describe(exc, text), expression=text, line=line, column=column
        ) from None
    except RecursionError:
        raise FeelSyntaxError(
            "the expression nests too deeply", expression=text, line=1, column=1
        ) from None
    except lark.exceptions.VisitError as exc:
        raise FeelSyntaxError(
            f"a call mixes named and positional arguments ({exc.orig_exc})",
            expression=text,
            line=1,
            column=1,
        ) from None
    return node


def _describe(exc: lark.exceptions.UnexpectedInput, text: str) -> str:
    if isinstance(exc, lark.exceptions.UnexpectedEOF):
        return "the expression ends too early"
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            return "the expression ends too early"
        return f"unexpected {str(token)!r}"
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        return f"unexpected character {text[position]!r}"
    return str(exc).splitlines()[0]


@functools.lru_cache(maxsize=4096)
def parse_expression(text: str) -> Node:
    """The tree of one FEEL expression.

    Raises:
        FeelSyntaxError: the text is not FEEL.
    """
    return _parse(text, "start")


@functools.lru_cache(maxsize=4096)
def parse_unary_tests(text: str) -> Node:
    """The tree of DMN unary tests (``< 25``, ``[1..5]``, ``"a", "b"``), without ``not()``/``-``.

    Raises:
        FeelSyntaxError: the text is not a list of positive unary tests.
    """
    return _parse(text, "unary_start")
