"""The language's rules beyond its grammar: the characters a text may hold, its length, the
whitelisted functions and their arity, periods, offsets, the size, depth and look-back of a
tree, and which places take a condition or a number. Called by parser.py as it builds the
tree, so each error carries the position of what broke the rule."""

from __future__ import annotations

import math
import string
from dataclasses import dataclass

from screeners.language.syntax import (
    CONDITION_TYPES,
    EXPRESSION_TYPES,
    FIELDS,
    FUNCTIONS,
    Call,
    Condition,
    Expression,
    Field,
    Node,
    Number,
    ScreenSyntaxError,
    own_lookback,
)

MAX_TEXT_CHARACTERS = 2_000
MAX_NODES = 200
MAX_DEPTH = 32  # also the most brackets open at once
MAX_LOOKBACK_BARS = 500
MAX_PERIOD_BARS = 500
MAX_OFFSET_BARS = 500
# Everything else (quotes, dots outside numbers aside, semicolons, braces, non-ASCII
# lookalikes, NUL) is refused before the grammar sees the text.
ALLOWED_CHARACTERS = frozenset(string.ascii_letters + string.digits + " \t\r\n+-*/<>=!()[],._")
OPENERS, CLOSERS = "([", ")]"
FUNCTION_LIST = ", ".join(FUNCTIONS)
FIELD_LIST = ", ".join(FIELDS)
EXAMPLES = {
    "sma": "sma(close, 20)",
    "ema": "ema(close, 20)",
    "rsi": "rsi(close, 14)",
    "atr": "atr(14)",
    "max": "max(high, 252)",
    "min": "min(low, 252)",
    "change_pct": "change_pct(close, 20)",
    "abs": "abs(close - open)",
}


@dataclass(frozen=True, slots=True)
class Part:
    """A node being built with its span in the text and its totals: nodes, depth, and bars
    of look-back (what the limits bound)."""

    node: Node
    start: int
    end: int
    size: int
    depth: int
    lookback: int


def check_text(text: str) -> None:
    """Refuse text too long, empty, with a character outside the language or brackets nested
    too deep, before lark parses it (which keeps the parser's work bounded)."""
    if not isinstance(text, str):  # a JSON body's number or null reaches here through the API
        raise ScreenSyntaxError("expected text", 0)
    if len(text) > MAX_TEXT_CHARACTERS:
        raise ScreenSyntaxError(
            f"too long: at most {MAX_TEXT_CHARACTERS:,} characters", MAX_TEXT_CHARACTERS
        )
    if not text.strip():
        raise ScreenSyntaxError("empty: write a condition such as close > sma(close, 20)", 0)
    open_brackets = 0
    for position, character in enumerate(text):
        if character not in ALLOWED_CHARACTERS:
            raise ScreenSyntaxError(
                f"unexpected character {character!r} at position {position}", position
            )
        open_brackets += (character in OPENERS) - (character in CLOSERS)
        if open_brackets > MAX_DEPTH:
            raise ScreenSyntaxError(f"too deeply nested: at most {MAX_DEPTH} brackets", position)


def build(node: Node, *, start: int, end: int, parts: tuple[Part, ...] = ()) -> Part:
    """`node` over text[start:end] made of `parts`, its totals checked against the limits."""
    size = 1 + sum(part.size for part in parts)
    depth = 1 + max((part.depth for part in parts), default=0)
    bars = own_lookback(node) + max((part.lookback for part in parts), default=0)
    if size > MAX_NODES:
        raise ScreenSyntaxError(f"too long: at most {MAX_NODES} terms", start)
    if depth > MAX_DEPTH:
        raise ScreenSyntaxError(f"too deeply nested: at most {MAX_DEPTH} levels", start)
    if bars > MAX_LOOKBACK_BARS:
        raise ScreenSyntaxError(
            f"needs {bars} bars of history before the latest: at most {MAX_LOOKBACK_BARS}", start
        )
    return Part(node, start, end, size, depth, bars)


def expression(part: Part) -> Expression:
    """A place that takes a number (an operand, a function's x): refuse a condition there."""
    if not isinstance(part.node, EXPRESSION_TYPES):
        raise ScreenSyntaxError(
            "expected a number or a series here, not a condition (a comparison or and/or/not)",
            part.start,
        )
    return part.node


def condition(part: Part) -> Condition:
    """A place that takes a condition (and/or/not, the whole condition): refuse a bare value,
    pointing just after it, where its comparison belongs."""
    if not isinstance(part.node, CONDITION_TYPES):
        raise ScreenSyntaxError(
            "expected a comparison (<, <=, >, >=, =, !=, crosses above, crosses below)"
            f" at position {part.end}: a value alone is not a condition",
            part.end,
        )
    return part.node


def number(text: str, position: int) -> Number:
    """A NUMBER token's value: finite (1e309 is refused, not infinity)."""
    value = float(text)
    if not math.isfinite(value):
        raise ScreenSyntaxError(f"number too large at position {position}", position)
    return Number(value)


def field(name: str, position: int) -> Field:
    """A bare name: one of the five fields."""
    lowered = name.lower()
    if lowered in FUNCTIONS:
        raise ScreenSyntaxError(
            f"'{lowered}' is a function: give its arguments, e.g. {EXAMPLES[lowered]}", position
        )
    if lowered not in FIELDS:
        raise ScreenSyntaxError(f"unknown field '{name}': use {FIELD_LIST}", position)
    return Field(lowered)


def offset_bars(text: str, position: int) -> int:
    """The k of `x[k]`, 0 to 500."""
    bars = int(text) if len(text) <= 4 else MAX_OFFSET_BARS + 1
    if bars > MAX_OFFSET_BARS:
        raise ScreenSyntaxError(f"offset must be an integer from 0 to {MAX_OFFSET_BARS}", position)
    return bars


def call(name: str, position: int, arguments: list[Part]) -> Call:
    """`name(arguments)`: a whitelisted function with its arity; its n an integer 1-500."""
    lowered = name.lower()
    if lowered in FIELDS:
        raise ScreenSyntaxError(f"'{lowered}' is a field, not a function", position)
    signature = FUNCTIONS.get(lowered)
    if signature is None:
        raise ScreenSyntaxError(f"unknown function '{name}': use {FUNCTION_LIST}", position)
    if len(arguments) != signature.arity:
        raise ScreenSyntaxError(
            f"{lowered} takes {signature.arity} argument{'s' * (signature.arity > 1)},"
            f" e.g. {EXAMPLES[lowered]}",
            position,
        )
    operand = expression(arguments[0]) if signature.takes_series else None
    period = _period(arguments[-1]) if signature.takes_period else None
    return Call(lowered, operand, period)


def _period(part: Part) -> int:
    """A function's n: an integer literal from 1 to 500 (not an expression)."""
    value = part.node.value if isinstance(part.node, Number) else math.nan
    if not (value.is_integer() and 1 <= value <= MAX_PERIOD_BARS):
        raise ScreenSyntaxError(
            f"period must be an integer from 1 to {MAX_PERIOD_BARS}", part.start
        )
    return int(value)
