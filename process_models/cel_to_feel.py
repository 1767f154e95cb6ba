"""CEL expressions of the niva dialect rewritten as FEEL for the Camunda 8 dialect.

`translate` covers the CEL the shipped models write: field access, comparisons, boolean
operators, the ternary, list and map literals, ``in``, indexes, the macros ``filter``,
``map``, ``exists`` and ``all``, ``has()``, ``size()``, ``string()``, and niva's date
functions (``date``, ``timestamp``, ``duration``, ``start_of_day``, ``end_of_day``,
``add_months``, ``add_duration``, ``next_date``, ``year``, ``sorted_keys`` and the working-day
functions). Anything else raises `TranslationError` naming what could not be translated:
the converter never guesses.

The meaning is kept, not only the syntax:

- niva's date functions work in the process's zone, so the translation spells the zone
  out: ``date("2027-03-01")`` becomes
  ``date and time(date("2027-03-01"), time("00:00:00@Europe/Stockholm"))``, a FEEL
  date-time with a zone, which becomes the same UTC instant as CEL's timestamp.
- CEL lists are indexed from 0, FEEL's from 1; an index that is a variable reads a map
  (``m[k]`` → ``get value(m, k)``) or, for a list, ``m[k + 1]``, decided when it runs.
- ``a + b`` joins lists with ``concatenate`` when either side is a list; when neither side
  can be told, translation fails rather than guess.
- In an output mapping (``payload=False``) ``payload.x`` and ``result.x`` read the finished
  element's variables by name, as Zeebe's outputs do (``x``); ``has(payload.x)`` is
  ``is defined(x)``, or ``(x != null)`` for a field the element shadows by a null input
  mapping (``nulled``, see `process_models.convert`).
- ``maps`` names variables that are maps in the niva dialect but lists of ``{key, value}``
  in the Camunda 8 version (a multi-instance output): they are read through ``context()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["TranslationError", "feel_string", "translate"]


class TranslationError(ValueError):
    """A CEL expression (or part of one) that has no faithful FEEL translation here."""


# --- tokens ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>\d+\.\d+|\d+)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/%<>!?:.,()\[\]{}])
    )""",
    re.VERBOSE,
)


@dataclass
class _Tok:
    kind: str
    text: str
    pos: int


def _tokens(source: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        match = _TOKEN.match(source, pos)
        if match is None or match.end() == pos:
            raise TranslationError(f"cannot read the CEL at column {pos + 1}: {source[pos:]!r}")
        kind = match.lastgroup or ""
        tokens.append(_Tok(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    tokens.append(_Tok("end", "", len(source)))
    return tokens


# --- syntax tree ----------------------------------------------------------------------------


@dataclass
class Node:
    """One CEL syntax node: ``op`` and its operands (``args``) or literal ``value``."""

    op: str
    args: list[Node] = field(default_factory=list)
    value: object = None


_BINARY = {
    "||": 1,
    "&&": 2,
    "==": 3,
    "!=": 3,
    "<": 3,
    "<=": 3,
    ">": 3,
    ">=": 3,
    "in": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
}


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.i = 0

    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self, text: str | None = None) -> _Tok:
        tok = self.tokens[self.i]
        if text is not None and tok.text != text:
            raise TranslationError(f"expected {text!r} at column {tok.pos + 1}, got {tok.text!r}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.ternary()
        if self.peek().kind != "end":
            raise TranslationError(
                f"unexpected {self.peek().text!r} at column {self.peek().pos + 1}"
            )
        return node

    def ternary(self) -> Node:
        cond = self.binary(1)
        if self.peek().text == "?":
            self.take("?")
            then = self.ternary()
            self.take(":")
            other = self.ternary()
            return Node("?:", [cond, then, other])
        return cond

    def binary(self, level: int) -> Node:
        left = self.unary()
        while True:
            tok = self.peek()
            op = tok.text if tok.kind in ("op", "name") else ""
            prec = _BINARY.get(op)
            if prec is None or prec < level:
                return left
            self.take()
            right = self.binary(prec + 1)
            left = Node(op, [left, right])

    def unary(self) -> Node:
        tok = self.peek()
        if tok.text == "!":
            self.take()
            return Node("!", [self.unary()])
        if tok.text == "-":
            self.take()
            return Node("neg", [self.unary()])
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            tok = self.peek()
            if tok.text == ".":
                self.take()
                name = self.take().text
                if self.peek().text == "(":
                    node = Node("method", [node, *self.arguments()], name)
                else:
                    node = Node(".", [node], name)
            elif tok.text == "[":
                self.take()
                index = self.ternary()
                self.take("]")
                node = Node("[]", [node, index])
            else:
                return node

    def arguments(self) -> list[Node]:
        self.take("(")
        args: list[Node] = []
        while self.peek().text != ")":
            args.append(self.ternary())
            if self.peek().text == ",":
                self.take()
        self.take(")")
        return args

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return Node("num", value=tok.text)
        if tok.kind == "str":
            return Node("str", value=_unquote(tok.text))
        if tok.kind == "name":
            if tok.text in ("true", "false", "null"):
                return Node("lit", value=tok.text)
            if self.peek().text == "(":
                return Node("call", self.arguments(), tok.text)
            return Node("name", value=tok.text)
        if tok.text == "(":
            inner = self.ternary()
            self.take(")")
            return inner
        if tok.text == "[":
            items: list[Node] = []
            while self.peek().text != "]":
                items.append(self.ternary())
                if self.peek().text == ",":
                    self.take()
            self.take("]")
            return Node("list", items)
        if tok.text == "{":
            entries: list[Node] = []
            while self.peek().text != "}":
                key = self.ternary()
                self.take(":")
                entries.extend([key, self.ternary()])
                if self.peek().text == ",":
                    self.take()
            self.take("}")
            return Node("map", entries)
        raise TranslationError(f"unexpected {tok.text!r} at column {tok.pos + 1}")


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def parse_cel(source: str) -> Node:
    """The syntax tree of a CEL expression (without its leading ``=``)."""
    return _Parser(source).parse()


_IMPLICIT = frozenset({"now", "reference", "payload", "result", "vars", "true", "false", "null"})


def read_names(source: str) -> frozenset[str]:
    """The variables a niva-dialect value reads (``vars.x`` reads ``x``; a macro's own
    variable, ``now``, ``reference``, ``payload`` and ``result`` are not variables)."""
    text = source.strip()
    if not text.startswith("="):
        return frozenset()
    names: set[str] = set()

    def walk(node: Node, bound: frozenset[str]) -> None:
        if node.op == "name" and node.value not in bound and node.value not in _IMPLICIT:
            names.add(str(node.value))
        if node.op == "." and node.args[0].op == "name" and node.args[0].value == "vars":
            names.add(str(node.value))
        if node.op == "method" and node.value in ("filter", "map", "exists", "all"):
            walk(node.args[0], bound)
            if len(node.args) == 3 and node.args[1].op == "name":
                walk(node.args[2], bound | {str(node.args[1].value)})
            return
        for arg in node.args:
            walk(arg, bound)

    walk(parse_cel(text[1:]), frozenset())
    return frozenset(names)


# --- FEEL -----------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WEEKS = re.compile(r"P(\d+)W")
_GO_DURATION = re.compile(r"(\d+)([hms])")
_FEEL_WORDS = frozenset(
    [
        "if",
        "then",
        "else",
        "for",
        "in",
        "return",
        "some",
        "every",
        "satisfies",
        "and",
        "or",
        "not",
        "null",
        "true",
        "false",
        "instance",
        "of",
        "function",
        "between",
    ]
)


def feel_string(text: str) -> str:
    """``text`` as a FEEL string literal: quotes, backslashes and line breaks escaped, so
    the literal evaluates to ``text`` exactly."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


_string = feel_string


@dataclass
class _Context:
    zone: str
    payload: bool
    maps: frozenset[str]
    shadowed: frozenset[str] = frozenset()
    nulled: frozenset[str] = frozenset()
    bound: frozenset[str] = frozenset()

    def binding(self, name: str) -> _Context:
        return _Context(
            self.zone, self.payload, self.maps, self.shadowed, self.nulled, self.bound | {name}
        )


_LIST = "list"
_STRING = "string"
_NUMBER = "number"
_TIME = "time"  # a date-time in the process's zone
_INSTANT = "instant"  # a date-time read from a stored instant: its own offset, often UTC
_MAP = "map"


class _Emitter:
    """Writes FEEL for a CEL tree; `kind` guesses nothing: None means "not known"."""

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx

    # The static kind of a node's value, where the syntax tells it.
    def kind(self, node: Node) -> str | None:
        op = node.op
        if op == "list" or (op == "method" and node.value in ("filter", "map")):
            return _LIST
        if op == "call" and node.value == "sorted_keys":
            return _LIST
        if op == "str" or (op == "call" and node.value == "string"):
            return _STRING
        if op == "num" or (op == "call" and node.value in ("size", "year")):
            return _NUMBER
        if op == "map":
            return _MAP
        if op == "name" and node.value == "now":
            return _TIME
        if op == "call" and node.value == "timestamp":
            return _INSTANT
        if op == "call" and node.value in _TIME_FUNCTIONS:
            return _TIME
        if op in ("+", "-"):
            kinds = {self.kind(a) for a in node.args} - {None}
            for kind in (_INSTANT, _TIME):
                if kind in kinds:
                    return kind
            if len(kinds) == 1:
                return kinds.pop()
        if op in ("*", "/", "%", "neg"):
            return _NUMBER
        return None

    def emit(self, node: Node, expect: str | None = None) -> str:
        result: str = getattr(self, "_" + _OPS.get(node.op, "unknown"))(node, expect)
        return result

    def wrap(self, node: Node, expect: str | None = None) -> str:
        """``emit``, parenthesised unless the result is atomic."""
        text = self.emit(node, expect)
        if node.op in ("name", "num", "str", "lit", ".", "call", "list", "map", "[]"):
            return text
        if node.op == "method" and node.value not in ("filter", "map", "exists", "all"):
            return text
        return f"({text})"

    def _unknown(self, node: Node, expect: str | None) -> str:
        raise TranslationError(f"no FEEL translation for {node.op!r}")

    def _lit(self, node: Node, expect: str | None) -> str:
        return str(node.value)

    def _num(self, node: Node, expect: str | None) -> str:
        return str(node.value)

    def _str(self, node: Node, expect: str | None) -> str:
        text = str(node.value)
        weeks = _WEEKS.fullmatch(text)
        if weeks:
            # FEEL durations have no weeks: niva's 'P10W' is 70 days.
            text = f"P{int(weeks.group(1)) * 7}D"
        return _string(text)

    def _name(self, node: Node, expect: str | None) -> str:
        name = str(node.value)
        if name in self.ctx.bound:
            return name
        if name == "now":
            return "now()"
        if name == "vars":
            raise TranslationError("'vars' as a whole has no FEEL counterpart")
        if name in ("payload", "result") and not self.ctx.payload:
            raise TranslationError(
                f"'{name}' as a whole: Zeebe's output mappings read the element's variables "
                "one by one"
            )
        if name in _FEEL_WORDS or " " in name:
            return f"`{name}`"
        if name in self.ctx.maps:
            return f"context({name}[item != null])"
        return name

    def _root(self, node: Node) -> tuple[str, bool] | None:
        """``vars.x``/``payload.x``/``result.x`` as the name ``x`` (and whether it is one)."""
        inner = node.args[0]
        if (
            inner.op == "name"
            and inner.value not in self.ctx.bound
            and (
                inner.value == "vars"
                or (inner.value in ("payload", "result") and not self.ctx.payload)
            )
        ):
            return str(node.value), True
        return None

    def _dot(self, node: Node, expect: str | None) -> str:
        root = self._root(node)
        if root is not None:
            return self._name(Node("name", value=root[0]), expect)
        name = str(node.value)
        key = name if _NAME.fullmatch(name) and name not in _FEEL_WORDS else f"`{name}`"
        return f"{self.wrap(node.args[0])}.{key}"

    def _index(self, node: Node, expect: str | None) -> str:
        target, index = node.args
        if index.op == "num":
            return f"{self.wrap(target)}[{int(str(index.value)) + 1}]"
        if index.op == "str":
            return f"get value({self.emit(target)}, {self.emit(index)})"
        if self.kind(target) == _MAP:
            return f"get value({self.emit(target)}, {self.emit(index)})"
        t, k = self.emit(target), self.emit(index)
        return f"(if {t} instance of list then {t}[{k} + 1] else get value({t}, {k}))"

    def _list(self, node: Node, expect: str | None) -> str:
        return "[" + ", ".join(self.emit(a) for a in node.args) + "]"

    def _map(self, node: Node, expect: str | None) -> str:
        entries = []
        for key, value in zip(node.args[::2], node.args[1::2], strict=True):
            if key.op != "str":
                raise TranslationError("a map literal's keys must be string literals")
            entries.append(f"{_string(str(key.value))}: {self.emit(value)}")
        return "{" + ", ".join(entries) + "}"

    def _ternary(self, node: Node, expect: str | None) -> str:
        cond, then, other = node.args
        return (
            f"if {self.emit(cond)} then {self.emit(then, expect)} else {self.emit(other, expect)}"
        )

    def _not(self, node: Node, expect: str | None) -> str:
        return f"not({self.emit(node.args[0])})"

    def _neg(self, node: Node, expect: str | None) -> str:
        return f"-{self.wrap(node.args[0])}"

    def _binary(self, node: Node, expect: str | None) -> str:
        left, right = node.args
        op = {"&&": "and", "||": "or", "==": "="}.get(node.op, node.op)
        if node.op == "+":
            kinds = {self.kind(left), self.kind(right), expect}
            if _LIST in kinds:
                return f"concatenate({self.emit(left, _LIST)}, {self.emit(right, _LIST)})"
            if not kinds - {None}:
                raise TranslationError(
                    "cannot tell whether '+' joins lists, strings or numbers here; write a "
                    "list literal on one side or convert with string()"
                )
            return f"{self.wrap(left, expect)} + {self.wrap(right, expect)}"
        return f"{self.wrap(left)} {op} {self.wrap(right)}"

    def _in(self, node: Node, expect: str | None) -> str:
        item, collection = node.args
        if (
            item.op == "str"
            and _NAME.fullmatch(str(item.value))
            and collection.op in ("name", ".")
            and self.kind(collection) is None
        ):
            # 'key' in m: the map has that entry.
            return f"is defined({self.emit(collection)}.{item.value})"
        c = self.emit(collection)
        if self.kind(collection) == _LIST:
            return f"list contains({c}, {self.emit(item)})"
        keys = f"(if {c} instance of context then get entries({c}).key else {c})"
        return f"list contains({keys}, {self.emit(item)})"

    # --- macros and functions ---

    def _method(self, node: Node, expect: str | None) -> str:
        target, *args = node.args
        name = str(node.value)
        if name in ("filter", "map", "exists", "all"):
            if len(args) != 2 or args[0].op != "name":
                raise TranslationError(f"the macro {name}() needs a variable and an expression")
            var = str(args[0].value)
            inner = _Emitter(self.ctx.binding(var))
            collection = self.wrap(target)
            body = inner.emit(args[1])
            if name == "map":
                return f"for {var} in {collection} return {body}"
            if name == "filter":
                return f"flatten(for {var} in {collection} return if {body} then [{var}] else [])"
            quantifier = "some" if name == "exists" else "every"
            return f"{quantifier} {var} in {collection} satisfies {body}"
        raise TranslationError(f"no FEEL translation for the method {name}()")

    def _call(self, node: Node, expect: str | None) -> str:
        name = str(node.value)
        args = node.args
        handler = getattr(self, "_fn_" + name, None)
        if handler is None:
            raise TranslationError(f"no FEEL translation for the function {name}()")
        if len(args) != _ARITY.get(name, len(args)):
            raise TranslationError(f"{name}() takes {_ARITY[name]} arguments")
        result: str = handler(*args)
        return result

    def _fn_has(self, arg: Node) -> str:
        if arg.op != ".":
            raise TranslationError("has() needs a field selection such as has(a.b)")
        root = self._root(arg)
        if root is not None and root[0] in self.ctx.nulled and arg.args[0].value != "vars":
            # The task's input mapping sets it to null; only a submission that carries it
            # (never as null) replaces that.
            return f"({self._name(Node('name', value=root[0]), None)} != null)"
        if root is not None and root[0] in self.ctx.shadowed and arg.args[0].value != "vars":
            raise TranslationError(
                f"has({arg.args[0].value}.{root[0]}): Zeebe's outputs read {root[0]!r} by "
                f"name, and the case's own {root[0]!r} would stand in for it when the "
                "element leaves it out"
            )
        return f"is defined({self.emit(arg)})"

    def _fn_size(self, arg: Node) -> str:
        kind = self.kind(arg)
        value = self.emit(arg)
        if kind == _LIST:
            return f"count({value})"
        if kind == _STRING:
            return f"string length({value})"
        if kind == _MAP:
            return f"count(get entries({value}))"
        return (
            f"(if {value} instance of string then string length({value}) "
            f"else if {value} instance of context then count(get entries({value})) "
            f"else count({value}))"
        )

    def _fn_string(self, arg: Node) -> str:
        return f"string({self.emit(arg)})"

    def _fn_sorted_keys(self, arg: Node) -> str:
        return f"sort(get entries({self.emit(arg)}).key)"

    def _midnight(self, day: str) -> str:
        return f'date and time({day}, time("00:00:00@{self.ctx.zone}"))'

    def _zoned(self, arg: Node) -> str:
        """A CEL timestamp argument as a FEEL date-time in the process's zone, which niva's
        date functions count in: a value the translation made zoned as it is, a stored
        instant (``timestamp(t)``) moved into the zone with ``date and time(t, zone)``."""
        kind = self.kind(arg)
        if kind == _INSTANT:
            return f'date and time({self.emit(arg)}, "{self.ctx.zone}")'
        if kind != _TIME:
            raise TranslationError(
                "niva's date functions count in the process's zone: give them now, "
                "timestamp(...), date(...) or another date function's result"
            )
        return self.emit(arg)

    def _fn_date(self, arg: Node) -> str:
        return self._midnight(f"date({self.emit(arg)})")

    def _fn_timestamp(self, arg: Node) -> str:
        return f"date and time({self.emit(arg)})"

    def _fn_duration(self, arg: Node) -> str:
        if arg.op == "str":
            go = _GO_DURATION.fullmatch(str(arg.value))
            if go is None:
                raise TranslationError(f"duration({arg.value!r}): not a duration FEEL reads")
            return f'duration("PT{go.group(1)}{go.group(2).upper()}")'
        if arg.op == "+" and arg.args[1].op == "str":
            unit = str(arg.args[1].value)
            if unit in ("h", "m", "s") and self.kind(arg.args[0]) == _STRING:
                return f'duration("PT" + {self.emit(arg.args[0])} + "{unit.upper()}")'
        raise TranslationError("duration() of a computed text other than string(n) + 'h'")

    def _fn_start_of_day(self, arg: Node) -> str:
        return self._midnight(f"date({self._zoned(arg)})")

    def _fn_end_of_day(self, arg: Node) -> str:
        return self._midnight(f'date({self._zoned(arg)}) + duration("P1D")')

    def _fn_add_months(self, t: Node, n: Node) -> str:
        return f'{self._zoned(t)} + duration("P1M") * {self.wrap(n)}'

    def _fn_add_duration(self, t: Node, d: Node) -> str:
        base = self._zoned(t)
        if d.op == "str":
            return f"{base} + duration({self.emit(d)})"
        # A duration held in a variable may be written in weeks, which FEEL lacks.
        text = self.emit(d)
        return (
            f'{base} + duration(if matches({text}, "^P\\d+W$") then '
            f'"P" + string(number(substring({text}, 2, string length({text}) - 2)) * 7) + "D" '
            f"else {text})"
        )

    def _fn_year(self, t: Node) -> str:
        self._zoned(t)
        return f"{self.wrap(t)}.year"

    def _fn_next_date(self, t: Node, month: Node, day: Node) -> str:
        after = self._zoned(t)
        m, d = self.emit(month), self.emit(day)
        this = self._midnight(f"date({after}.year, {m}, {d})")
        following = self._midnight(f"date({after}.year + 1, {m}, {d})")
        return f"(if {this} > {after} then {this} else {following})"

    def _fn_is_working_day(self, t: Node) -> str:
        return f"is working day({self.emit(t)})"

    def _fn_next_working_day(self, t: Node) -> str:
        return f"next working day({self.emit(t)})"

    def _fn_previous_working_day(self, t: Node) -> str:
        return f"previous working day({self.emit(t)})"

    def _fn_add_working_days(self, t: Node, n: Node) -> str:
        return f"add working days({self.emit(t)}, {self.emit(n)})"


_TIME_FUNCTIONS = frozenset(
    {
        "date",
        "start_of_day",
        "end_of_day",
        "add_months",
        "add_duration",
        "next_date",
        "next_working_day",
        "previous_working_day",
        "add_working_days",
    }
)
_ARITY = {
    "has": 1,
    "size": 1,
    "string": 1,
    "sorted_keys": 1,
    "date": 1,
    "timestamp": 1,
    "duration": 1,
    "start_of_day": 1,
    "end_of_day": 1,
    "add_months": 2,
    "add_duration": 2,
    "year": 1,
    "next_date": 3,
    "is_working_day": 1,
    "next_working_day": 1,
    "previous_working_day": 1,
    "add_working_days": 2,
}
_OPS = {
    "lit": "lit",
    "num": "num",
    "str": "str",
    "name": "name",
    ".": "dot",
    "[]": "index",
    "list": "list",
    "map": "map",
    "?:": "ternary",
    "!": "not",
    "neg": "neg",
    "in": "in",
    "method": "method",
    "call": "call",
    **{op: "binary" for op in _BINARY if op != "in"},
}


def translate(
    source: str,
    *,
    zone: str,
    outputs: bool = False,
    maps: frozenset[str] = frozenset(),
    shadowed: frozenset[str] = frozenset(),
    nulled: frozenset[str] = frozenset(),
) -> str:
    """The FEEL for a niva-dialect value: ``=`` and CEL in, ``=`` and FEEL out (a value
    without ``=`` is returned as it is).

    ``zone`` is the process's zone (niva's date functions count in it); ``outputs`` says the
    value is an output mapping's source (``payload.x``/``result.x`` read ``x``); ``maps``
    names the variables read through ``context()`` (see the module docstring); ``shadowed``
    the variables the model writes, which an output's ``has(payload.x)`` cannot tell from
    the element's own ``x``; ``nulled`` those of them the element sets to null by an input
    mapping of its own, where ``has(payload.x)`` is ``x != null`` (the submission never
    carries them as null).

    Raises:
        TranslationError: part of the expression has no faithful FEEL translation.
    """
    text = source.strip()
    if not text.startswith("="):
        return source
    tree = parse_cel(text[1:])
    ctx = _Context(zone=zone, payload=not outputs, maps=maps, shadowed=shadowed, nulled=nulled)
    return "=" + _Emitter(ctx).emit(tree)


def translate_condition(source: str, *, zone: str, maps: frozenset[str] = frozenset()) -> str:
    """A condition (``conditionExpression``, ``completionCondition``): CEL with or without
    ``=`` in the niva dialect, always ``=`` FEEL in Zeebe's."""
    text = source.strip()
    return translate(text if text.startswith("=") else "=" + text, zone=zone, maps=maps)
