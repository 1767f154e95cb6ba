"""FEEL's grammar as Camunda's engine reads it, in lark's LALR(1) form.

parser.py adds the FNAME and TYPE_NAME terminals, built from the multi-word built-in names
and the type names, and turns the tree into the tuples evaluator.py runs. FNAME is lexed
as one token only right before "(", so "date and time(...)" is a call while "a and b" is
not. Intervals open with "[" or "("
and close with "]" or ")": the reversed-bracket forms (]1..5[) would make "[[]]" ambiguous
for an LALR parser, so they are not read.

The grammar lives in Python rather than in a data file so that importing the parser reads
no file: it may be imported inside the workflow sandbox.
"""

from __future__ import annotations

__all__ = ["GRAMMAR"]

GRAMMAR = r"""
?start: expr
unary_start: unary_test ("," unary_test)*
unary_test: expr -> positive_test
          | COMPARATOR sum -> op_test

?expr: for_expr | if_expr | quantified | function_def | disjunction

for_expr: "for" iteration ("," iteration)* "return" expr
if_expr: "if" expr "then" expr "else" expr
quantified: "some" iteration ("," iteration)* "satisfies" expr -> some
          | "every" iteration ("," iteration)* "satisfies" expr -> every
iteration: name "in" disjunction
         | name "in" disjunction ".." disjunction -> iteration_range
function_def: "function" "(" [name ("," name)*] ")" expr

?disjunction: conjunction
            | disjunction "or" conjunction -> or_
?conjunction: comparison
            | conjunction "and" comparison -> and_
?comparison: sum
           | sum COMPARATOR sum -> compare
           | sum "between" sum "and" sum -> between
           | sum "in" positive_test -> in_
           | sum "in" "(" positive_test ("," positive_test)+ ")" -> in_any
           | sum "instance" "of" TYPE_NAME -> instance_of

positive_test: sum
             | COMPARATOR sum -> op_test

?sum: product
    | sum "+" product -> add
    | sum "-" product -> sub
?product: power
        | product "*" power -> mul
        | product "/" power -> div
?power: unary
      | power "**" unary -> pow
?unary: postfix
      | "-" unary -> neg
?postfix: primary
        | postfix "[" expr "]" -> filter
        | postfix "." name -> path
        | postfix "(" [argument ("," argument)*] ")" -> call

argument: expr
        | name ":" expr -> named_argument

?primary: NUMBER -> number
        | STRING -> string
        | "true" -> true
        | "false" -> false
        | "null" -> null
        | "@" STRING -> at_literal
        | "?" -> input_value
        | name -> variable
        | FNAME -> builtin_name
        | "not" -> not_name
        | "(" expr ")"
        | "[" [expr ("," expr)*] "]" -> list
        | "{" [entry ("," entry)*] "}" -> context
        | interval

entry: name ":" expr
     | STRING ":" expr -> string_entry

interval: "[" sum ".." sum "]" -> closed_closed
        | "[" sum ".." sum ")" -> closed_open
        | "(" sum ".." sum "]" -> open_closed
        | "(" sum ".." sum ")" -> open_open

name: NAME | BACKTICK_NAME

COMPARATOR: "=" | "!=" | "<=" | ">=" | "<" | ">"
NUMBER: /\d+(\.\d+)?|\.\d+/
STRING: /"(\\.|[^"\\])*"/
NAME: /[A-Za-z_$][A-Za-z0-9_$]*/
BACKTICK_NAME: /`[^`]+`/

%import common.WS
%ignore WS
%ignore /\/\/[^\n]*/
%ignore /\/\*(.|\n)*?\*\//
"""
