"""The screen condition language (CONTRACT.md "Screens"): text to a syntax tree of our own
(parse_condition, parse_expression), and its evaluation over a universe of bars at once
(Evaluation). Pure Python on lark, numpy and TA-Lib, no Django; the screens' runner, API
and editor call it."""

from screeners.language.evaluate import Bars, Evaluation
from screeners.language.parser import parse_condition, parse_expression
from screeners.language.syntax import (
    FIELDS,
    FUNCTIONS,
    Condition,
    Expression,
    Node,
    ScreenSyntaxError,
    lookback,
    to_text,
)

__all__ = [
    "FIELDS",
    "FUNCTIONS",
    "Bars",
    "Condition",
    "Evaluation",
    "Expression",
    "Node",
    "ScreenSyntaxError",
    "lookback",
    "parse_condition",
    "parse_expression",
    "to_text",
]
