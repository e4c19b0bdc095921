"""The evaluator against TA-Lib and plain per-row references: indicators equal TA-Lib's on each
instrument's own bars, crosses match their definition, too little history never matches and
gives NaN, divisions by zero give NaN without a warning, and each term is computed once."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from screeners.language import (
    Bars,
    Evaluation,
    lookback,
    parse_condition,
    parse_expression,
)
from screeners.shipped import SWING
from tests.screeners.language.strategies import History, histories, random_history, universe

HYPOTHESIS = settings(max_examples=40, deadline=None)
TALIB = {
    "sma": talib.SMA,
    "ema": talib.EMA,
    "rsi": talib.RSI,
    "max": talib.MAX,
    "min": talib.MIN,
}


def talib_reference(name: str, history: History, field: str, period: int) -> np.ndarray:
    """TA-Lib's own output on one instrument's own bars (no padding, no other rows)."""
    if name == "atr":
        return talib.ATR(history["high"], history["low"], history["close"], period)
    return TALIB[name](history[field], period)


def at(series: np.ndarray, back: int) -> float:
    """series[-1 - back], NaN before its start."""
    return float(series[-1 - back]) if back < len(series) else np.nan


@HYPOTHESIS
@given(
    histories(),
    st.sampled_from(["sma", "ema", "rsi", "max", "min", "atr"]),
    st.sampled_from(["open", "high", "low", "close", "volume"]),
    st.integers(2, 60),
    st.integers(0, 5),
    st.integers(0, 30),
)
def test_indicators_equal_talib_on_each_instruments_own_bars(
    bars_by_row, name, field, period, back, padding
):
    text = f"atr({period})" if name == "atr" else f"{name}({field}, {period})"
    evaluation = Evaluation(universe(bars_by_row, extra_columns=padding))

    got = evaluation.values(parse_expression(f"{text}[{back}]"))

    references = [talib_reference(name, history, field, period) for history in bars_by_row]
    np.testing.assert_array_equal(got, [at(series, back) for series in references])
    for row, series in enumerate(evaluation.series(parse_expression(text))):
        padding_columns = len(series) - len(references[row])
        np.testing.assert_array_equal(series[padding_columns:], references[row])
        assert np.isnan(series[:padding_columns]).all()


@HYPOTHESIS
@given(histories(max_length=60))
def test_period_one_is_the_bar_itself_and_rsi_of_one_bar_is_up_100_else_0(bars_by_row):
    evaluation = Evaluation(universe(bars_by_row))
    closes = [history["close"] for history in bars_by_row]
    one_bar_rsi = [np.nan if len(c) < 2 else 100.0 if c[-1] > c[-2] else 0.0 for c in closes]

    for text in ("sma(close, 1)", "ema(close, 1)", "max(close, 1)", "min(close, 1)"):
        np.testing.assert_array_equal(evaluation.values(parse_expression(text)), closes_at(closes))
    np.testing.assert_array_equal(evaluation.values(parse_expression("rsi(close, 1)")), one_bar_rsi)


def closes_at(closes: list[np.ndarray]) -> list[float]:
    return [float(c[-1]) for c in closes]


# Terms a crossing compares, each with its per-row reference (TA-Lib on the row's own bars);
# fields on a coarse tick tie often, which is where `<=` against `<` shows.
CROSSING_TERMS = {
    "close": lambda h: h["close"],
    "open": lambda h: h["open"],
    "high[1]": lambda h: np.concatenate(([np.nan], h["high"][:-1])),
    "sma(close, 3)": lambda h: talib.SMA(h["close"], 3),
    "ema(close, 10)": lambda h: talib.EMA(h["close"], 10),
    "rsi(close, 5)": lambda h: talib.RSI(h["close"], 5),
    "50": lambda h: np.full(len(h["close"]), 50.0),
}


def crossed(a: np.ndarray, b: np.ndarray, *, above: bool) -> bool:
    """The contract's definition on one row: a[1] <= b[1] and a > b (or the mirror), and
    False unless all four are defined."""
    now, before = (at(a, 0), at(b, 0)), (at(a, 1), at(b, 1))
    if not np.isfinite([*now, *before]).all():
        return False
    if above:
        return before[0] <= before[1] and now[0] > now[1]
    return before[0] >= before[1] and now[0] < now[1]


@settings(max_examples=150, deadline=None)
@given(
    histories(max_length=40),
    st.sampled_from(sorted(CROSSING_TERMS)),
    st.sampled_from(sorted(CROSSING_TERMS)),
    st.booleans(),
)
def test_crosses_match_their_definition_on_each_row(bars_by_row, left, right, above):
    direction = "above" if above else "below"
    condition = parse_condition(f"{left} crosses {direction} {right}")

    got = Evaluation(universe(bars_by_row, extra_columns=3)).matches(condition)

    expected = [
        crossed(CROSSING_TERMS[left](h), CROSSING_TERMS[right](h), above=above) for h in bars_by_row
    ]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("closes", "condition", "matched"),
    [
        ([10.0, 10.0, 12.0], "close crosses above open", True),  # equal the bar before
        ([10.0, 11.0, 12.0], "close crosses above open", False),  # already above
        ([10.0, 10.0, 10.0], "close crosses above open", False),  # equal now
        ([10.0, 10.0, 8.0], "close crosses below open", True),
        ([10.0, 9.0, 8.0], "close crosses below open", False),
    ],
)
def test_a_cross_counts_from_equal_the_bar_before(closes, condition, matched):
    bars = {"open": [10.0, 10.0, 10.0], "close": closes}
    history = {**bars, "high": [20.0] * 3, "low": [1.0] * 3, "volume": [1.0] * 3}

    got = Evaluation(Bars.from_histories([history], length=3)).matches(parse_condition(condition))

    assert got.tolist() == [matched]


def test_rsi_crossing_a_level_needs_the_bar_before_to_be_at_or_under_it():
    # 15 rising closes after 14 falling ones: RSI goes from 0 to above 30 on the last bar.
    closes = np.concatenate([np.arange(130.0, 116.0, -1), np.arange(117.0, 124.0)])
    history = {"open": closes, "high": closes, "low": closes, "close": closes, "volume": closes}
    rsi = talib.RSI(closes, 14)
    cross = int(np.argmax(rsi > 30))
    upto = {k: v[: cross + 1] for k, v in history.items()}
    evaluation = Evaluation(Bars.from_histories([upto], length=cross + 1))
    before = Evaluation(Bars.from_histories([{k: v[:-1] for k, v in upto.items()}], length=cross))

    assert rsi[cross - 1] <= 30 < rsi[cross]
    assert evaluation.matches(parse_condition("rsi(close, 14) crosses above 30")).tolist() == [True]
    assert before.matches(parse_condition("rsi(close, 14) crosses above 30")).tolist() == [False]


def short_universe() -> Bars:
    """Instruments with 300, 15, 14 and 5 bars, and one with none."""
    rng = np.random.default_rng(7)
    rows = [random_history(rng, n, tick=0.05) for n in (300, 15, 14, 5)]
    empty = {name: [] for name in rows[0]}
    return Bars.from_histories([*rows, empty], length=300)


@pytest.mark.parametrize(
    "text",
    [
        "rsi(close, 14) > 70",
        "not (rsi(close, 14) > 70)",
        "not rsi(close, 14) > 70 or close > 0",
        "close > 0 and rsi(close, 14) >= 0",
    ],
)
def test_instruments_without_enough_bars_for_any_term_do_not_match(text):
    matched = Evaluation(short_universe()).matches(parse_condition(text))

    assert matched[2:].tolist() == [False, False, False]  # 14 bars, 5 bars, none


def test_negation_matches_where_the_term_is_defined_and_false():
    evaluation = Evaluation(short_universe())
    rsi = evaluation.values(parse_expression("rsi(close, 14)"))
    holds = evaluation.matches(parse_condition("rsi(close, 14) > 50"))
    negated = evaluation.matches(parse_condition("not rsi(close, 14) > 50"))

    assert np.isfinite(rsi).tolist() == [True, True, False, False, False]
    assert (holds | negated).tolist() == [True, True, False, False, False]
    assert not (holds & negated).any()


def test_values_are_nan_where_history_is_too_short_and_lookback_says_how_short():
    evaluation = Evaluation(short_universe())
    for text, defined in [
        ("rsi(close, 14)", [True, True, False, False, False]),
        ("sma(close, 14)", [True, True, True, False, False]),
        ("close[4]", [True, True, True, True, False]),
        ("close - close[5]", [True, True, True, False, False]),
        ("atr(14)", [True, True, False, False, False]),
        ("2 + 3", [True, True, True, True, False]),
    ]:
        assert np.isfinite(evaluation.values(parse_expression(text))).tolist() == defined, text


@pytest.mark.parametrize(
    "text",
    [
        "sma(close, 200)[21]",
        "ema(sma(close, 20), 30)",
        "rsi(close, 14)[3]",
        "atr(14)",
        "max(high, 252)[1]",
        "min(change_pct(close, 5), 10)",
        "abs(close - close[30])",
        "sma(5, 10)",
    ],
)
def test_an_instrument_is_defined_from_exactly_lookback_plus_one_bars(text):
    node = parse_expression(text)
    need = lookback(node) + 1
    rng = np.random.default_rng(3)
    rows = [random_history(rng, n, tick=0.05) for n in (need - 1, need, need + 1)]

    values = Evaluation(Bars.from_histories(rows, length=need + 1)).values(node)

    assert np.isfinite(values).tolist() == [False, True, True]


def test_lookback_of_the_contracts_example():
    assert lookback(parse_expression("sma(close, 200)[21]")) == 220


def test_division_by_zero_is_nan_without_a_warning():
    bars = short_universe()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluation = Evaluation(bars)
        ratio = evaluation.values(parse_expression("close / (close - close)"))
        matched = evaluation.matches(parse_condition("volume / 0 > 1 or not volume / 0 > 1"))
        huge = evaluation.values(parse_expression("close * 1e308 * 1e308"))
        inverse = evaluation.values(parse_expression("1 / (close / 0)"))  # not 1 / inf = 0

    assert np.isnan(ratio).all() and not matched.any()
    assert np.isnan(huge).all() and np.isnan(inverse).all()


def test_each_distinct_term_is_computed_once_per_evaluation(monkeypatch):
    calls = []
    real_rsi = talib.RSI
    monkeypatch.setattr(
        talib, "RSI", lambda *args, **kwargs: calls.append(1) or real_rsi(*args, **kwargs)
    )
    bars = short_universe()
    evaluation = Evaluation(bars)

    evaluation.matches(parse_condition(SWING["condition"]))
    evaluation.matches(parse_condition("rsi(close, 14) crosses above 30"))  # reads it 1 bar back
    for text in [*SWING["columns"].values(), SWING["rank_by"]]:
        evaluation.values(parse_expression(text))

    assert len(calls) == 2  # once per instrument with 15 bars or more, however often it is named


def test_bars_from_histories_right_align_and_keep_the_latest_bars():
    bars = Bars.from_histories(
        [
            {f: [1.0, 2.0, 3.0] for f in ("open", "high", "low", "close", "volume")},
            {f: [7.0] for f in ("open", "high", "low", "close", "volume")},
        ],
        length=2,
    )

    np.testing.assert_array_equal(bars.close, [[2.0, 3.0], [np.nan, 7.0]])
