"""DMN decisions: decision tables and literal expressions, deployed with process models
and evaluated in the workflow by business rule tasks.

The modules: schema.py (what a decision is), reader.py (DMN XML to the schema, with every
problem located), evaluator.py (hit policies, required decisions, Camunda 8's result
shapes), errors.py.

Usage::

    definitions = read_dmn(content, name="dish.dmn")
    DecisionEvaluator(definitions).evaluate("dish", {"season": "Winter"}, now=clock, tz=zone)
"""

from __future__ import annotations

from process_models.dmn.errors import DecisionError
from process_models.dmn.evaluator import DecisionEvaluator
from process_models.dmn.reader import DMN_NAMESPACES, read_dmn
from process_models.dmn.schema import Decision, DecisionTable, DmnDefinitions

__all__ = [
    "DMN_NAMESPACES",
    "Decision",
    "DecisionError",
    "DecisionEvaluator",
    "DecisionTable",
    "DmnDefinitions",
    "read_dmn",
]
