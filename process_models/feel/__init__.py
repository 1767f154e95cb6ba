"""FEEL, the expression language of Camunda 8 models and DMN, evaluated deterministically.

Camunda's FEEL engine and its documentation are the reference. Numbers are decimals,
``now()``/``today()`` are the case clock in the process's zone, and every evaluation is
bounded (`FeelLimits`). The modules: parser.py (text to tree, with lark, cached),
evaluator.py (the tree's semantics), ops.py (operators), builtins.py, temporal.py,
values.py (FEEL values in Python), errors.py, expression.py (the public entry points).

Usage::

    expr = compile_feel("=if amount > 1000 then \\"review\\" else \\"auto\\"")
    expr.evaluate({"amount": 1200}, now=clock, tz=ZoneInfo("Europe/Stockholm"))
"""

from __future__ import annotations

from process_models.feel.errors import FeelError, FeelLimitError, FeelSyntaxError
from process_models.feel.expression import (
    FeelExpression,
    FeelUnaryTests,
    compile_feel,
    compile_unary_tests,
    to_json,
)
from process_models.feel.runtime import DEFAULT_FEEL_LIMITS, FeelLimits
from process_models.feel.values import render

__all__ = [
    "DEFAULT_FEEL_LIMITS",
    "FeelError",
    "FeelExpression",
    "FeelLimitError",
    "FeelLimits",
    "FeelSyntaxError",
    "FeelUnaryTests",
    "compile_feel",
    "compile_unary_tests",
    "render",
    "to_json",
]
