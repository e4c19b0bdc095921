"""The parser and validator: every shipped text parses, the grammar's precedence and its two
kinds of parenthesis, equal text gives equal nodes, and each error carries the position of
what is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from screeners.language import (
    ScreenSyntaxError,
    lookback,
    parse_condition,
    parse_expression,
    to_text,
)
from screeners.language.syntax import Binary, Call, Compare, Field, Logical, Not, Number, Offset
from screeners.shipped import PRESETS, SHARED
from tests.screeners.language.strategies import CONDITIONS, EXPRESSIONS

SHIPPED = [screen["condition"] for screen in [*SHARED, *PRESETS.values()]]
SHIPPED_EXPRESSIONS = [
    *(text for screen in [*SHARED, *PRESETS.values()] for text in screen["columns"].values()),
    *(screen["rank_by"] for screen in [*SHARED, *PRESETS.values()]),
]


@pytest.mark.parametrize("text", SHIPPED)
def test_every_shipped_condition_parses(text):
    assert to_text(parse_condition(text))


@pytest.mark.parametrize("text", SHIPPED_EXPRESSIONS)
def test_every_shipped_column_and_rank_parses(text):
    assert to_text(parse_expression(text))


def test_the_shipped_screens_need_the_history_their_terms_say():
    swing, longterm = SHARED

    assert lookback(parse_condition(swing["condition"])) == 49  # sma(close, 50)
    assert lookback(parse_condition(longterm["condition"])) == 251  # min(low, 252)
    assert lookback(parse_condition(PRESETS["52w-breakout"]["condition"])) == 252
    assert lookback(parse_condition(PRESETS["golden-cross"]["condition"])) == 200


def test_a_parenthesis_holds_a_condition_or_a_sum():
    both = parse_condition("(close > 5) and (rsi(close,14) < 30)")
    average = parse_condition("(close + open) / 2 > 10")

    assert both == Logical(
        "and",
        (
            Compare(">", Field("close"), Number(5)),
            Compare("<", Call("rsi", Field("close"), 14), Number(30)),
        ),
    )
    assert average == Compare(
        ">", Binary("/", Binary("+", Field("close"), Field("open")), Number(2)), Number(10)
    )


def test_precedence_and_associativity():
    assert parse_expression("1 + 2 * 3") == Binary(
        "+", Number(1), Binary("*", Number(2), Number(3))
    )
    assert parse_expression("close - open - 1") == Binary(
        "-", Binary("-", Field("close"), Field("open")), Number(1)
    )
    assert parse_expression("-2 * close") == Binary("*", Number(-2), Field("close"))
    a, b, c = (Compare(">", Field(f), Number(1)) for f in ("open", "high", "low"))
    assert parse_condition("open > 1 or high > 1 and low > 1") == Logical(
        "or", (a, Logical("and", (b, c)))
    )
    assert parse_condition("not open > 1 and high > 1") == Logical("and", (Not(a), b))


def test_keywords_and_names_are_case_insensitive_and_whitespace_free():
    one = parse_condition("SMA(Close,20)[3] CROSSES Above max(HIGH,10)AND NOT volume>0")
    other = parse_condition("sma( close , 20 )[ 3 ] crosses above max(high, 10) and not volume > 0")

    assert one == other and hash(one) == hash(other)
    assert one.operands[0].left == Offset(Call("sma", Field("close"), 20), 3)


def test_function_arguments_take_any_sum():
    assert parse_expression("sma(volume / close, 20)") == Call(
        "sma", Binary("/", Field("volume"), Field("close")), 20
    )
    assert parse_expression("close[0]") == Field("close")  # x[0] is x


@settings(max_examples=150, deadline=None)
@given(CONDITIONS)
def test_canonical_text_parses_back_to_an_equal_node(text):
    try:
        node = parse_condition(text)
    except ScreenSyntaxError:
        return  # a random text may need over 500 bars; test_safety covers errors
    assert parse_condition(to_text(node)) == node


@settings(max_examples=150, deadline=None)
@given(EXPRESSIONS)
def test_canonical_expression_text_parses_back_to_an_equal_node(text):
    try:
        node = parse_expression(text)
    except ScreenSyntaxError:
        return
    assert parse_expression(to_text(node)) == node


# (text, position, words the message must hold); parse_condition unless the text says
# "expression:".
ERRORS = [
    ("foo(close, 3) > 1", 0, "unknown function 'foo': use sma, ema, rsi, atr, max, min"),
    ("close > Foo", 8, "unknown field 'Foo'"),
    ("sma(close, 0) > 1", 11, "period must be an integer from 1 to 500"),
    ("sma(close, 501) > 1", 11, "period must be an integer from 1 to 500"),
    ("rsi(close, 2.5) > 1", 11, "period must be an integer from 1 to 500"),
    ("ema(close, close) > 1", 11, "period must be an integer from 1 to 500"),
    ("close[501] > 1", 6, "offset must be an integer from 0 to 500"),
    ("sma(close, 500)[1] > 1", 0, None),  # 500 bars of look-back: allowed
    ("sma(close, 500)[2] > 1", 0, "needs 501 bars of history"),
    ("sma(close, 20 > 1", 17, "expected ')' or ','"),
    ("(close > 1", 10, "expected ')'"),
    ("close > 1 )", 10, "unexpected ')'"),
    ("close > 1 close", 10, "found 'close'"),
    ("close > 1 and", 13, "expected a number, a field or a function at position 13"),
    ("", 0, "empty"),
    ("   ", 0, "empty"),
    ("close", 5, "expected a comparison"),
    ("  sma(close, 20)  ", 16, "expected a comparison"),
    ("close > 1 and volume", 20, "expected a comparison"),
    ("(close > 1) + 2 > 3", 1, "not a condition"),
    ("expression:close > 1", 0, "not a condition"),
    ("atr(close, 14) > 1", 0, "atr takes 1 argument, e.g. atr(14)"),
    ("sma(close) > 1", 0, "sma takes 2 arguments"),
    ("abs(close, 2) > 1", 0, "abs takes 1 argument"),
    ("open(1) > 1", 0, "'open' is a field, not a function"),
    ("close > sma", 8, "'sma' is a function"),
    ("close > 1e309", 8, "number too large"),
    ("close[1.5] > 1", 7, "expected ']'"),
    ("close > 1" + " " * 1992, 2000, "too long: at most 2,000 characters"),
    ("(" * 33 + "close" + ")" * 33 + " > 1", 32, "too deeply nested"),
    ("abs(" * 31 + "close" + ")" * 31 + " > 1", 0, "too deeply nested: at most 32 levels"),
    (" and ".join(["close > 1"] * 67), 0, "too long: at most 200 terms"),
    ("+".join(["close"] * 32) + " > 1", 0, "too deeply nested"),  # a sum of 32 is 33 deep
    ("close > 1 ; x", 10, "unexpected character ';'"),
]


@pytest.mark.parametrize(("text", "position", "words"), ERRORS)
def test_errors_carry_the_position_of_the_problem(text, position, words):
    parse = parse_condition
    if text.startswith("expression:"):
        parse, text = parse_expression, text.removeprefix("expression:")
    if words is None:
        parse(text)
        return
    with pytest.raises(ScreenSyntaxError) as caught:
        parse(text)

    assert words in caught.value.message
    assert str(caught.value) == caught.value.message
    if position is not None:
        assert caught.value.position == position
    assert 0 <= caught.value.position <= len(text)


def test_the_limits_are_bounds_not_less():
    assert parse_condition("abs(" * 30 + "close" + ")" * 30 + " > 1")  # 32 levels: >, 30 abs, close
    assert parse_condition("(" * 32 + "close" + ")" * 32 + " > 1")  # 32 brackets open at once
    assert parse_condition(" and ".join(["close > 1"] * 66))  # 199 terms
    assert parse_condition("+".join(["close"] * 31) + " > 1")
    assert parse_condition("close[500] > 1")
    assert parse_expression("close" + " " * 1995)  # 2,000 characters


def test_a_syntax_error_is_a_value_error():
    with pytest.raises(ValueError, match="unknown function"):
        parse_expression("macd(close, 12)")
