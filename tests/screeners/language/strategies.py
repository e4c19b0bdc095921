"""Hypothesis strategies for the screen language's tests: random bar histories (several
instruments of different lengths, prices on a tick so that ties happen) and random texts that
the grammar accepts."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from screeners.language import FIELDS, Bars

History = dict[str, np.ndarray]
TICKS = (0.05, 1.0, 25.0)  # a coarse tick makes flat stretches and equal values common


def random_history(rng: np.random.Generator, length: int, *, tick: float) -> History:
    """`length` daily bars: a random walk of closes, opens near them, high >= max(open,
    close) and low <= min(open, close), all positive and on the tick; volumes, some zero."""
    close = np.maximum(np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.03, length))) / tick), 1)
    open_ = np.maximum(close + np.round(rng.normal(0, 1.5, length)), 1)
    high = np.maximum(open_, close) + np.round(np.abs(rng.normal(0, 1.5, length)))
    low = np.maximum(np.minimum(open_, close) - np.round(np.abs(rng.normal(0, 1.5, length))), 1)
    volume = rng.integers(0, 5_000, length) * (rng.random(length) > 0.05)
    history = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    return {
        name: (values * (tick if name != "volume" else 1)).astype(float)
        for name, values in history.items()
    }


@st.composite
def histories(draw: st.DrawFn, *, max_instruments: int = 4, max_length: int = 400) -> list[History]:
    """Several instruments' histories of independent lengths from 1 to `max_length`."""
    count = draw(st.integers(1, max_instruments))
    tick = draw(st.sampled_from(TICKS))
    return [
        random_history(
            np.random.default_rng(draw(st.integers(0, 2**32 - 1))),
            draw(st.integers(1, max_length)),
            tick=tick,
        )
        for _ in range(count)
    ]


def universe(histories: list[History], *, extra_columns: int = 0) -> Bars:
    """Right-aligned bars as the runner builds them, `extra_columns` more than the longest
    history (so every row is NaN-padded)."""
    length = max(len(h["close"]) for h in histories) + extra_columns
    return Bars.from_histories(histories, length=length)


# Random texts the grammar accepts (the validator may still refuse some: a look-back over
# 500 bars, say), built bottom up.
PERIODS = st.integers(1, 30).map(str)
NUMBERS = st.one_of(
    st.integers(0, 1000).map(str),
    st.floats(0, 1e6, allow_nan=False).map(lambda x: f"{x:.3f}"),
)
SERIES = st.one_of(
    st.sampled_from(FIELDS),
    PERIODS.map(lambda n: f"atr({n})"),
)


def _grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    one = st.sampled_from(["sma", "ema", "rsi", "max", "min", "change_pct"])
    return st.one_of(
        st.tuples(one, inner, PERIODS).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        inner.map(lambda x: f"abs({x})"),
        st.tuples(inner, st.sampled_from("+-*/"), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda x: f"-{x}"),
        st.tuples(st.sampled_from(FIELDS), st.integers(0, 5)).map(lambda t: f"{t[0]}[{t[1]}]"),
    )


EXPRESSIONS = st.recursive(st.one_of(SERIES, NUMBERS), _grow, max_leaves=6)
COMPARISONS = st.tuples(
    EXPRESSIONS,
    st.sampled_from(["<", "<=", ">", ">=", "=", "!=", "crosses above", "CROSSES below"]),
    EXPRESSIONS,
).map(" ".join)
CONDITIONS = st.recursive(
    COMPARISONS,
    lambda inner: st.one_of(
        inner.map(lambda c: f"not {c}"),
        st.tuples(inner, st.sampled_from(["and", "or", "AND"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
    ),
    max_leaves=4,
)
