"""Text to our syntax tree: `parse_condition` and `parse_expression`, called by the screens'
runner, API (the live syntax check) and editor. lark's LALR parser reads grammar.lark; a
non-recursive pass builds our nodes through validate.py's rules. Nothing is ever evaluated as
Python: the text only ever meets lark's lexer and these callbacks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError
from lark.tree import Meta

from screeners.language import validate
from screeners.language.syntax import (
    Arithmetic,
    Binary,
    Compare,
    Comparison,
    Condition,
    Expression,
    Logical,
    Negative,
    Not,
    Number,
    Offset,
    ScreenSyntaxError,
)
from screeners.language.validate import Part

GRAMMAR = Path(__file__).with_name("grammar.lark")
# What a parse error says the text could have had instead: lark's expected terminals, in
# the order a trader reads them (a value's start, then what may follow a value).
EXPECTED_WORDS = (
    ({"NAME", "NUMBER", "_LPAR"}, "a number, a field or a function"),
    ({"INTEGER"}, "a whole number"),
    ({"PLUS", "STAR", "SLASH"}, "an operator (+ - * /)"),
    ({"COMPARE", "_CROSSES"}, "a comparison (< <= > >= = != crosses above/below)"),
    ({"_ABOVE", "_BELOW"}, "'above' or 'below'"),
    ({"_AND", "_OR"}, "'and' / 'or'"),
    ({"_RPAR"}, "')'"),
    ({"_RSQB"}, "']'"),
    ({"_COMMA"}, "','"),
    ({"$END"}, "the end"),
)


@cache
def _lark() -> Lark:
    """The parser, built on first use (some 15 ms) and kept for the process; lark's LALR
    parser keeps each parse's state apart, so threads may share it."""
    return Lark(GRAMMAR.read_text(), start="condition", parser="lalr", propagate_positions=True)


def parse_condition(text: str) -> Condition:
    """Parse and validate a screen's condition; raise ScreenSyntaxError with its position."""
    return validate.condition(_parse(text))


def parse_expression(text: str) -> Expression:
    """Parse and validate a column or rank_by expression (a number per instrument)."""
    return validate.expression(_parse(text))


def _parse(text: str) -> Part:
    """The text's checks, lark's parse, then our tree built and validated from lark's."""
    validate.check_text(text)
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as error:
        raise _syntax_error(error, text) from None
    try:
        return _Builder().transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, ScreenSyntaxError):
            raise error.orig_exc from None
        raise


def _syntax_error(error: UnexpectedInput, text: str) -> ScreenSyntaxError:
    """lark's error in a trader's words: what could come where, and what was found there."""
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        position, found = error.token.start_pos or 0, f"'{error.token}'"
        expected = _plausible(error.accepts, text[:position])
    elif isinstance(error, UnexpectedCharacters):
        position, found = error.pos_in_stream, f"'{error.char}'"
        expected = _plausible(error.allowed, text[:position])
    else:
        position, found = len(text), "the end of the text"
        expected = error.accepts if isinstance(error, UnexpectedToken) else set()
    words = [phrase for names, phrase in EXPECTED_WORDS if names & expected]
    if not words:
        return ScreenSyntaxError(f"unexpected {found} at position {position}", position)
    wanted = " or ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)
    return ScreenSyntaxError(f"expected {wanted} at position {position}, found {found}", position)


def _plausible(allowed: set[str], before: str) -> set[str]:
    """The lexer's allowed terminals (a superset: LALR states are shared) less closing
    brackets and commas that nothing open before the position would take, and a name's
    "(" or "[" beside the operators that may follow any value."""
    unlikely = {"_LPAR", "_LSQB"} if "PLUS" in allowed else set()
    if before.count("(") <= before.count(")"):
        unlikely |= {"_RPAR", "_COMMA"}
    if before.count("[") <= before.count("]"):
        unlikely.add("_RSQB")
    return set(allowed) - unlikely


@dataclass(frozen=True, slots=True)
class _Arguments:
    parts: list[Part]


@v_args(meta=True)
class _Builder(Transformer_NonRecursive):
    """lark's tree (whose rules name these methods) to our nodes, bottom up, without
    recursion (the limits are checked on the way, so a deep text fails early). lark hands
    each method its rule's tokens and already built parts, in text order."""

    def number(self, meta: Meta, children: list[Token]) -> Part:
        node = validate.number(str(children[0]), meta.start_pos)
        return validate.build(node, start=meta.start_pos, end=meta.end_pos)

    def minus(self, meta: Meta, children: list[Any]) -> Part:
        part = children[1]
        node = validate.expression(part)
        if isinstance(node, Number):  # a negative literal is a number, not an operation
            return validate.build(Number(-node.value), start=meta.start_pos, end=meta.end_pos)
        return validate.build(Negative(node), start=meta.start_pos, end=meta.end_pos, parts=(part,))

    def arguments(self, meta: Meta, children: list[Part | None]) -> _Arguments:
        return _Arguments([child for child in children if child is not None])

    def offset(self, meta: Meta, children: list[Token]) -> int:
        return validate.offset_bars(str(children[0]), children[0].start_pos or 0)

    def series(self, meta: Meta, children: list[Any]) -> Part:
        name: Token = children[0]
        start = meta.start_pos
        calls = [child for child in children if isinstance(child, _Arguments)]
        node: Expression
        if calls:
            node = validate.call(str(name), start, calls[0].parts)
            args = tuple(calls[0].parts)
            part = validate.build(node, start=start, end=meta.end_pos, parts=args)
        else:
            node = validate.field(str(name), start)
            part = validate.build(node, start=start, end=start + len(name))
        bars = sum(child for child in children if type(child) is int)
        if bars == 0:
            return part
        offset = Offset(validate.expression(part), bars)
        return validate.build(offset, start=start, end=meta.end_pos, parts=(part,))

    def sum(self, meta: Meta, children: list[Any]) -> Part:
        return self._arithmetic(children)

    def product(self, meta: Meta, children: list[Any]) -> Part:
        return self._arithmetic(children)

    def _arithmetic(self, children: list[Any]) -> Part:
        """`a op b op c ...`, left to right."""
        left: Part = children[0]
        for operator, right in zip(children[1::2], children[2::2], strict=True):
            node = Binary(
                cast(Arithmetic, str(operator)),
                validate.expression(left),
                validate.expression(right),
            )
            left = validate.build(node, start=left.start, end=right.end, parts=(left, right))
        return left

    def compare(self, meta: Meta, children: list[Any]) -> Part:
        return self._compare(str(children[1]), children[0], children[2])

    def crosses_above(self, meta: Meta, children: list[Part]) -> Part:
        return self._compare("crosses above", children[0], children[1])

    def crosses_below(self, meta: Meta, children: list[Part]) -> Part:
        return self._compare("crosses below", children[0], children[1])

    def _compare(self, operator: str, left: Part, right: Part) -> Part:
        node = Compare(
            cast(Comparison, operator), validate.expression(left), validate.expression(right)
        )
        return validate.build(node, start=left.start, end=right.end, parts=(left, right))

    def negate(self, meta: Meta, children: list[Part]) -> Part:
        node = Not(validate.condition(children[0]))
        return validate.build(node, start=meta.start_pos, end=meta.end_pos, parts=(children[0],))

    def disjunct(self, meta: Meta, children: list[Part]) -> Part:
        return self._logical("and", children)

    def condition(self, meta: Meta, children: list[Part]) -> Part:
        return self._logical("or", children)

    def _logical(self, operator: Literal["and", "or"], children: list[Part]) -> Part:
        node = Logical(operator, tuple(validate.condition(child) for child in children))
        start, end = children[0].start, children[-1].end
        return validate.build(node, start=start, end=end, parts=tuple(children))
