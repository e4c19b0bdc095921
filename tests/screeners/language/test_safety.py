"""Text from a user never runs as Python and never crashes the parser or the evaluator: random
text, random valid conditions over random bars, and a list of injection attempts each end in
a node or a ScreenSyntaxError, while sentinels on eval, exec, imports, files and processes
prove nothing was executed."""

from __future__ import annotations

import builtins
import contextlib
import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from screeners.language import (
    Bars,
    Evaluation,
    ScreenSyntaxError,
    parse_condition,
    parse_expression,
)
from screeners.language.syntax import CONDITION_TYPES
from tests.screeners.language.strategies import CONDITIONS, histories, random_history, universe

SENTINEL_FILE = "screen-language-sentinel"
INJECTIONS = [
    "__import__('os').system('id')",
    "__import__('os').system('touch {sentinel}')",
    '__import__("os").system("touch {sentinel}") > 1',
    "close.__class__",
    "close.__class__.__bases__[0].__subclasses__()",
    "close > 1 and close.__dict__",
    'eval("1")',
    "exec('import os')",
    "compile('1', 'x', 'eval')",
    'open("/etc/passwd")',
    "open('{sentinel}', 'w').write('x')",
    "open(",
    "lambda: 1",
    "(lambda: close)() > 1",
    "close; import os",
    "close > 1\nimport os",
    "f'{{close}}'",
    "f\"{{__import__('os').system('touch {sentinel}')}}\"",
    "{{ 7*7 }}",
    "{{ config.items() }}",
    "${{7*7}}",
    "1; DROP TABLE screeners_screen; --",
    "close > 1' OR '1'='1",
    "close[close]",
    "close[1+1] > 1",
    "close[-1] > 1",
    "close[::-1] > 1",
    "close[__import__('os')]",
    "sma(close, __import__('os').getpid())",
    "close > 1e309",
    "close > -1e309",
    "close > 1" + "0" * 400,
    "close > nan",
    "close > NaN",
    "close > inf",
    "close > -Infinity",
    "close > float('nan')",
    "\u0441lose > 1",  # a Cyrillic es for the "c"
    "close \uff1e 1",  # a full-width ">"
    "cl\u200bose > 1",  # a zero-width space
    "close\x00 > 1",
    "\x00",
    "close > 1 # comment",
    "close > 1 \\",
    "`id`",
    "$(id)",
    "close > 1 and __builtins__",
    "globals()",
    "getattr(close, 'x')",
    "(" * 10_000 + "close" + ")" * 10_000,
    "(" * 997 + "close" + ")" * 997,
    "not " * 497 + "close > 1",
    "-" * 1990 + "close > 1",
    "abs(" * 399 + "close" + ")" * 399,
]


@contextlib.contextmanager
def sentinels() -> Iterator[list[str]]:
    """Replace every way text could become Python or a process with a recorder that also
    refuses; yield the calls recorded. Nothing of ours imports at parse or evaluation time
    (lark's grammar is loaded and numpy warmed before this), so any import is a finding."""
    parse_condition("close > sma(close, 2)")
    Evaluation(universe([random_history(np.random.default_rng(0), 3, tick=1.0)])).matches(
        parse_condition("close > sma(close, 2) and rsi(close, 2) > 1")
    )
    calls: list[str] = []

    def refuse(name: str):
        def called(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise AssertionError(f"{name} was called")

        return called

    real_import = builtins.__import__

    def recorded_import(name: str, *args: object, **kwargs: object) -> object:
        calls.append(f"import {name}")
        return real_import(name, *args, **kwargs)

    targets = [(builtins, name) for name in ("eval", "exec", "compile", "open", "breakpoint")]
    targets += [(os, "system"), (os, "popen"), (os, "execv"), (subprocess, "Popen")]
    saved = [(owner, name, getattr(owner, name)) for owner, name in targets]
    saved.append((builtins, "__import__", real_import))
    try:
        for owner, name in targets:
            setattr(owner, name, refuse(f"{owner.__name__}.{name}"))
        builtins.__import__ = recorded_import
        yield calls
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def parse_and_evaluate(text: str) -> str:
    """Parse `text` both ways and evaluate what parses over a few instruments: 'error' or
    'parsed'. Any exception but ScreenSyntaxError (or a numpy warning) fails the test."""
    bars = universe([random_history(np.random.default_rng(n), n, tick=0.05) for n in (1, 30)])
    outcome = "error"
    for parse in (parse_condition, parse_expression):
        try:
            node = parse(text)
        except ScreenSyntaxError as error:
            assert 0 <= error.position <= len(text)
            assert isinstance(error.message, str) and error.message
            continue
        outcome = "parsed"
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            evaluation = Evaluation(bars)
            if isinstance(node, CONDITION_TYPES):
                assert evaluation.matches(node).dtype == bool
            else:
                assert evaluation.values(node).shape == (2,)
    return outcome


@pytest.mark.parametrize("template", INJECTIONS)
def test_injection_attempts_are_refused_and_run_nothing(template, tmp_path):
    sentinel = tmp_path / SENTINEL_FILE
    text = template.replace("{sentinel}", str(sentinel))
    with sentinels() as calls:
        outcome = parse_and_evaluate(text)

    assert outcome == "error"
    assert calls == []
    assert not sentinel.exists()


def test_a_field_used_as_a_function_is_an_error_not_a_call():
    with pytest.raises(ScreenSyntaxError, match="'open' is a field, not a function"):
        parse_condition("open(close) > 1")


# Tokens of the language (and a few strangers) for random sentences that reach past the lexer.
TOKENS = (
    "( ) [ ] , + - * / < > = <= >= != 0 1 14 2.5 .5 1e3 close open high low volume sma ema rsi"
    " atr max min change_pct abs and or not crosses above below foo __import__ eval"
)
LANGUAGE = st.sampled_from(TOKENS.split(" "))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=120),
        st.text(alphabet="()[],+-*/<>=!. 0123456789closeandrsimaxt_", max_size=80),
        st.lists(LANGUAGE, max_size=25).map(" ".join),
    )
)
def test_random_text_gives_a_node_or_a_syntax_error_and_runs_nothing(text):
    with sentinels() as calls:
        parse_and_evaluate(text)

    assert calls == []


@settings(max_examples=80, deadline=None)
@given(CONDITIONS, histories(max_instruments=3, max_length=80))
def test_random_conditions_evaluate_over_random_bars_without_error(text, bars_by_row):
    try:
        node = parse_condition(text)
    except ScreenSyntaxError as error:
        assert "history" in error.message or "nested" in error.message
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        matched = Evaluation(universe(bars_by_row, extra_columns=2)).matches(node)

    assert matched.dtype == bool and matched.shape == (len(bars_by_row),)


def test_the_sentinels_would_catch_an_evaluation_of_the_text(tmp_path):
    sentinel: Path = tmp_path / SENTINEL_FILE
    with sentinels() as calls, pytest.raises(AssertionError):
        eval(f"__import__('os').system('touch {sentinel}')")  # noqa: S307  # the sentinel's own test

    assert calls[:1] == ["builtins.eval"] and not sentinel.exists()


@pytest.mark.parametrize("shape", [(0, 300), (3, 0), (1, 1), (0, 0)])
def test_degenerate_universes_evaluate_to_no_matches_and_nan(shape):
    ones = np.ones(shape)
    evaluation = Evaluation(Bars(ones, ones, ones, ones, ones))

    matched = evaluation.matches(parse_condition("close crosses above sma(close, 2) or 1 > 0"))
    values = evaluation.values(parse_expression("rsi(close, 14)"))

    assert matched.shape == values.shape == (shape[0],)
    assert not matched.any() and np.isnan(values).all()  # no term has its bars


@pytest.mark.parametrize("text", [None, 42, b"close > 1", ["close > 1"]])
def test_text_that_is_not_a_string_is_a_syntax_error(text):
    with pytest.raises(ScreenSyntaxError, match="expected text"):
        parse_condition(text)
