"""Runs a parsed FEEL tree (see parser.py) against variables, with Camunda's semantics.

Anything FEEL leaves undefined (an unknown variable, a wrong type) is ``null``; only the
limits in `Runtime` and ``assert()`` raise. Scopes are a chain of dicts, innermost first:
variables at the root, then context entries, ``for``/``some``/``every`` names, a filter's
``item`` (and the item's own entries when it is a context), and function parameters.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any

from process_models.feel import ops, temporal
from process_models.feel.builtins import BUILTINS, PARAMETERS
from process_models.feel.parser import Node
from process_models.feel.runtime import Runtime
from process_models.feel.values import Builtin, Function, Range, YearsMonths, feel_type, from_json

__all__ = ["Scope", "evaluate_node"]

_MISSING = object()


class Scope:
    """Names visible at one point: ``names`` first, then the enclosing scope."""

    __slots__ = ("names", "parent")

    def __init__(self, names: Mapping[str, Any], parent: Scope | None = None) -> None:
        self.names = names
        self.parent = parent

    def lookup(self, name: str) -> Any:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.names:
                return scope.names[name]
            scope = scope.parent
        return _MISSING


class Variables(Mapping[str, Any]):
    """The instance variables, converted to FEEL values only when an expression reads them."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw
        self._converted: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._converted:
            self._converted[name] = from_json(self._raw[name])
        return self._converted[name]

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def __iter__(self) -> Any:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


_Eval = Callable[[Node, Scope, Runtime], Any]
_NODES: dict[str, _Eval] = {}


def _node(kind: str) -> Callable[[_Eval], _Eval]:
    def register(fn: _Eval) -> _Eval:
        _NODES[kind] = fn
        return fn

    return register


def evaluate_node(node: Node, scope: Scope, rt: Runtime) -> Any:
    """The value of ``node`` in ``scope``."""
    return _NODES[node[0]](node, scope, rt)


_ev = evaluate_node


@_node("const")
def _const(node: Node, scope: Scope, rt: Runtime) -> Any:
    return node[1]


@_node("at")
def _at(node: Node, scope: Scope, rt: Runtime) -> Any:
    return temporal.parse_temporal(node[1])


@_node("var")
def _var(node: Node, scope: Scope, rt: Runtime) -> Any:
    value = scope.lookup(node[1])
    if value is _MISSING:
        builtin = BUILTINS.get(node[1])
        return None if builtin is None else Builtin(node[1], builtin)
    return value


@_node("list")
def _list(node: Node, scope: Scope, rt: Runtime) -> Any:
    rt.check_size(len(node[1]))
    return [_ev(item, scope, rt) for item in node[1]]


@_node("context")
def _context(node: Node, scope: Scope, rt: Runtime) -> Any:
    built: dict[str, Any] = {}
    inner = Scope(built, scope)  # later entries see earlier ones: {a: 1, b: a + 1}
    for key, value in node[1]:
        built[key] = _ev(value, inner, rt)
    return built


@_node("interval")
def _interval(node: Node, scope: Scope, rt: Runtime) -> Any:
    return Range(_ev(node[1], scope, rt), _ev(node[2], scope, rt), node[3], node[4])


@_node("neg")
def _neg(node: Node, scope: Scope, rt: Runtime) -> Any:
    return ops.negate(_ev(node[1], scope, rt))


@_node("arith")
def _arith(node: Node, scope: Scope, rt: Runtime) -> Any:
    result = ops.arithmetic(node[1], _ev(node[2], scope, rt), _ev(node[3], scope, rt))
    if isinstance(result, str):
        rt.check_string(result)
    return result


@_node("compare")
def _compare(node: Node, scope: Scope, rt: Runtime) -> Any:
    return _comparison(node[1], _ev(node[2], scope, rt), _ev(node[3], scope, rt))


def _comparison(op: str, a: Any, b: Any) -> bool | None:
    if op == "=":
        return ops.equal(a, b)
    if op == "!=":
        same = ops.equal(a, b)
        return None if same is None else not same
    c = ops.compare(a, b)
    if c is None:
        return None
    return {"<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[op]


@_node("between")
def _between(node: Node, scope: Scope, rt: Runtime) -> Any:
    value = _ev(node[1], scope, rt)
    low = _comparison(">=", value, _ev(node[2], scope, rt))
    high = _comparison("<=", value, _ev(node[3], scope, rt))
    return _and(low, high)


def _and(a: Any, b: Any) -> bool | None:
    if a is False or b is False:
        return False
    return True if a is True and b is True else None


@_node("and")
def _and_node(node: Node, scope: Scope, rt: Runtime) -> Any:
    left = _ev(node[1], scope, rt)
    if left is False:
        return False
    return _and(left if isinstance(left, bool) else None, _ev(node[2], scope, rt))


@_node("or")
def _or_node(node: Node, scope: Scope, rt: Runtime) -> Any:
    left = _ev(node[1], scope, rt)
    if left is True:
        return True
    right = _ev(node[2], scope, rt)
    if right is True:
        return True
    return False if left is False and right is False else None


@_node("if")
def _if(node: Node, scope: Scope, rt: Runtime) -> Any:
    # Only true takes the then-branch: false, null and non-booleans take the else-branch.
    return _ev(node[2] if _ev(node[1], scope, rt) is True else node[3], scope, rt)


@_node("instance")
def _instance(node: Node, scope: Scope, rt: Runtime) -> Any:
    value = _ev(node[1], scope, rt)
    wanted = node[2]
    if wanted == "Any":
        return value is not None
    if wanted == "Null":
        return value is None
    return feel_type(value) == wanted


# --- membership and unary tests ----------------------------------------------------------


def test_value(test: Node, value: Any, scope: Scope, rt: Runtime) -> bool | None:
    """Whether ``value`` passes one positive unary test (``< 5``, ``[1..5]``, ``"a"``)."""
    if test[0] == "optest":
        return _comparison(test[1], value, _ev(test[2], scope, rt))
    inner = Scope({"?": value}, scope)
    expected = _ev(test[1], inner, rt)
    if isinstance(expected, Range):
        return ops.in_range(value, expected)
    if isinstance(expected, list) and not isinstance(value, list):
        return any(ops.equal(value, item) is True for item in expected)
    if isinstance(expected, bool) and not isinstance(value, bool):
        # "? > 3": the test computed the answer itself.
        return expected
    return ops.equal(value, expected)


@_node("in")
def _in(node: Node, scope: Scope, rt: Runtime) -> Any:
    value = _ev(node[1], scope, rt)
    results = [test_value(test, value, scope, rt) for test in node[2]]
    if any(r is True for r in results):
        return True
    return False if all(r is False for r in results) else None


# --- iteration ---------------------------------------------------------------------------


def _domain(node: Node, scope: Scope, rt: Runtime) -> list[Any] | None:
    value = _ev(node, scope, rt)
    if isinstance(value, list):
        return value
    if isinstance(value, Range):
        return _range_items(value, rt)
    return None


def _range_items(r: Range, rt: Runtime) -> list[Any] | None:
    start, end = r.start, r.end
    if not (isinstance(start, Decimal) and isinstance(end, Decimal)):
        return None
    if start != start.to_integral_value() or end != end.to_integral_value():
        return None
    a, b = int(start), int(end)
    step = 1 if b >= a else -1
    if not r.start_included:
        a += step
    if not r.end_included:
        b -= step
    size = (b - a) * step + 1
    rt.check_size(max(size, 0))
    return [Decimal(i) for i in range(a, b + step, step)]


class _NotIterable(Exception):
    """An iteration's domain is neither a list nor an integer range: the result is null."""


def _bindings(iterations: tuple[tuple[str, Node], ...], scope: Scope, rt: Runtime) -> Any:
    """Every combination of the iteration names' values, the first name varying slowest."""
    if not iterations:
        yield scope
        return
    (name, domain_node), rest = iterations[0], iterations[1:]
    domain = _domain(domain_node, scope, rt)
    if domain is None:
        raise _NotIterable
    for item in domain:
        rt.tick()
        yield from _bindings(rest, Scope({name: item}, scope), rt)


def _null_unless_iterable(run: _Eval) -> _Eval:
    def guarded(node: Node, scope: Scope, rt: Runtime) -> Any:
        try:
            return run(node, scope, rt)
        except _NotIterable:
            return None

    return guarded


@_node("for")
@_null_unless_iterable
def _for(node: Node, scope: Scope, rt: Runtime) -> Any:
    results: list[Any] = []
    for inner in _bindings(node[1], scope, rt):
        # "partial" is the list built so far, so an entry can refer to earlier ones.
        results.append(_ev(node[2], Scope({"partial": results}, inner), rt))
        rt.check_size(len(results))
    return results


@_node("some")
@_null_unless_iterable
def _some(node: Node, scope: Scope, rt: Runtime) -> Any:
    unknown = False
    for inner in _bindings(node[1], scope, rt):
        result = _ev(node[2], inner, rt)
        if result is True:
            return True
        unknown = unknown or result is not False
    return None if unknown else False


@_node("every")
@_null_unless_iterable
def _every(node: Node, scope: Scope, rt: Runtime) -> Any:
    unknown = False
    for inner in _bindings(node[1], scope, rt):
        result = _ev(node[2], inner, rt)
        if result is False:
            return False
        unknown = unknown or result is not True
    return None if unknown else True


@_node("filter")
def _filter(node: Node, scope: Scope, rt: Runtime) -> Any:
    base = _ev(node[1], scope, rt)
    if base is None:
        return None
    items = base if isinstance(base, list) else [base]
    condition = node[2]
    if _is_index(condition, scope):
        index = _ev(condition, scope, rt)
        if isinstance(index, Decimal):
            return _at_index(items, index)
    kept: list[Any] = []
    for item in items:
        rt.tick()
        names: dict[str, Any] = dict(item) if isinstance(item, dict) else {}
        names["item"] = item
        if _ev(condition, Scope(names, scope), rt) is True:
            kept.append(item)
    return kept


def _is_index(condition: Node, scope: Scope) -> bool:
    """Whether a filter is an index (``xs[2]``, ``xs[-1]``, ``xs[i]``) rather than a test."""
    kind: str = condition[0]
    if kind == "const":
        return isinstance(condition[1], Decimal)
    if kind == "neg":
        return _is_index(condition[1], scope)
    if kind == "var":
        return isinstance(scope.lookup(condition[1]), Decimal)
    return kind == "arith"


def _at_index(items: list[Any], index: Decimal) -> Any:
    if index != index.to_integral_value():
        return None
    i = int(index)
    if i > 0 and i <= len(items):
        return items[i - 1]
    if i < 0 and -i <= len(items):
        return items[i]
    return None


@_node("path")
def _path(node: Node, scope: Scope, rt: Runtime) -> Any:
    return _member(_ev(node[1], scope, rt), node[2], rt)


def _member(base: Any, name: str, rt: Runtime) -> Any:
    if isinstance(base, dict):
        return base.get(name)
    if isinstance(base, list):
        rt.tick(len(base))
        return [_member(item, name, rt) for item in base]
    if isinstance(base, Range):
        return {"start": base.start, "end": base.end}.get(name)
    if isinstance(base, date | time | timedelta | YearsMonths):
        return temporal.temporal_property(base, name)
    return None


# --- functions ---------------------------------------------------------------------------


@_node("function")
def _function(node: Node, scope: Scope, rt: Runtime) -> Any:
    return Function(node[1], node[2], _ScopeRef(scope))


class _ScopeRef(Mapping[str, Any]):
    """A function's defining scope, held as a mapping so `Function` stays a plain record."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def __getitem__(self, name: str) -> Any:
        value = self.scope.lookup(name)
        if value is _MISSING:
            raise KeyError(name)
        return value

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def call_function(function: Any, args: list[Any], rt: Runtime) -> Any:
    """Call a FEEL function value with positional arguments; ``null`` when it cannot be."""
    rt.tick()
    if isinstance(function, Builtin):
        return _call_builtin(function.name, args, rt)
    if not isinstance(function, Function) or len(args) != len(function.params):
        return None
    if rt.depth >= rt.limits.max_call_depth:
        raise rt.limit("max_call_depth", "functions call each other too deeply")
    rt.depth += 1
    try:
        defining = function.scope.scope if isinstance(function.scope, _ScopeRef) else None
        parent = defining if defining is not None else Scope(function.scope)
        return _ev(function.body, Scope(dict(zip(function.params, args, strict=True)), parent), rt)
    finally:
        rt.depth -= 1


def _call_builtin(name: str, args: list[Any], rt: Runtime) -> Any:
    try:
        return BUILTINS[name](rt, *args)
    except (TypeError, ValueError, ArithmeticError, KeyError, IndexError, OverflowError):
        return None
    except decimal.DecimalException:
        return None


@_node("call")
def _call(node: Node, scope: Scope, rt: Runtime) -> Any:
    callee, arg_nodes, named = node[1], node[2], node[3]
    if callee == ("var", "is defined"):
        return len(arg_nodes) == 1 and not named and _defined(arg_nodes[0], scope, rt)
    function = _ev(callee, scope, rt)
    if named:
        given = {n[1]: _ev(n[2], scope, rt) for n in arg_nodes}
        params = _parameters(function)
        if params is None or not set(given) <= set(params):
            return None
        # Trailing parameters not given are left out, so optional ones keep their defaults.
        last = max((params.index(k) for k in given), default=-1)
        args = [given.get(p) for p in params[: last + 1]]
    else:
        args = [_ev(a, scope, rt) for a in arg_nodes]
    return call_function(function, args, rt)


def _parameters(function: Any) -> tuple[str, ...] | None:
    if isinstance(function, Function):
        return function.params
    if isinstance(function, Builtin):
        return PARAMETERS.get(function.name)
    return None


def _defined(node: Node, scope: Scope, rt: Runtime) -> bool:
    """``is defined(x)``: whether a variable or context entry exists (even when null)."""
    if node[0] == "var":
        return scope.lookup(node[1]) is not _MISSING or node[1] in BUILTINS
    if node[0] == "path":
        if not _defined(node[1], scope, rt):
            return False
        base = _ev(node[1], scope, rt)
        return isinstance(base, dict) and node[2] in base
    return True
