"""The language's functions over a universe's 2-D series (instruments x bars, right-aligned,
NaN before each instrument's history): TA-Lib row by row for the indicators, so values equal
TA-Lib's on the same bars, and vectorised numpy for the rest. Called by evaluate.py."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import talib

Array = np.ndarray
RowFunction = Callable[..., Array]


def trailing_starts(*series: Array) -> Array:
    """Per row, the column where its trailing run of finite values (in every one of `series`)
    begins: an indicator reads that run, the bars an instrument has, and nothing before a
    gap (a division by zero upstream, say)."""
    rows, length = series[0].shape
    finite = np.isfinite(series[0])
    for other in series[1:]:
        finite &= np.isfinite(other)
    if length == 0:
        return np.zeros(rows, dtype=np.intp)
    reversed_gaps = ~finite[:, ::-1]
    last_gap = length - 1 - reversed_gaps.argmax(axis=1)
    return np.where(reversed_gaps.any(axis=1), last_gap + 1, 0)


def per_row(function: RowFunction, inputs: tuple[Array, ...], *, needed_bars: int) -> Array:
    """`function` (1-D, TA-Lib's shape) over each row's trailing finite run; rows whose run is
    shorter than `needed_bars` (the function's lookback + 1) are skipped, not computed: they
    stay NaN, as TA-Lib would leave them."""
    out = np.full(inputs[0].shape, np.nan)
    starts = trailing_starts(*inputs)
    rows = np.flatnonzero(inputs[0].shape[1] - starts >= needed_bars).tolist()
    if len(inputs) == 1:  # the common case, without a tuple per row
        (x,) = inputs
        for row, start in zip(rows, starts[rows].tolist(), strict=True):
            out[row, start:] = function(x[row, start:])
        return out
    for row, start in zip(rows, starts[rows].tolist(), strict=True):
        out[row, start:] = function(*(x[row, start:] for x in inputs))
    return out


def _c(function: RowFunction) -> RowFunction:
    """TA-Lib's compiled function itself: when pandas or polars is installed (pandas is, in
    development), talib wraps each in a check for their Series that costs more than the
    computation on a 300-bar row; we only ever pass numpy arrays. Looked up per call, not
    at import, so a test may replace talib's function."""
    return getattr(function, "__wrapped__", function)


def _rsi_one_bar(x: Array) -> Array:
    """rsi(x, 1), which TA-Lib refuses (its periods start at 2): Wilder's formula with a
    period of one is 100 after a rise, 0 after a fall, and 0 when flat (TA-Lib's rule for a
    zero range)."""
    return np.concatenate(([np.nan], np.where(np.diff(x) > 0, 100.0, 0.0)))


def sma(x: Array, period: int) -> Array:
    """sma(x, n): TA-Lib's SMA per row (the evaluator's `Call`, as every kernel here)."""
    return per_row(partial(_c(talib.SMA), timeperiod=period), (x,), needed_bars=period)


def ema(x: Array, period: int) -> Array:
    """ema(x, n): TA-Lib's EMA, seeded with the SMA of its first n bars."""
    return per_row(partial(_c(talib.EMA), timeperiod=period), (x,), needed_bars=period)


def rsi(x: Array, period: int) -> Array:
    """rsi(x, n): TA-Lib's RSI (Wilder's smoothing); it reads n + 1 bars."""
    if period == 1:
        return per_row(_rsi_one_bar, (x,), needed_bars=2)
    return per_row(partial(_c(talib.RSI), timeperiod=period), (x,), needed_bars=period + 1)


def atr(high: Array, low: Array, close: Array, period: int) -> Array:
    """atr(n): TA-Lib's ATR (Wilder's smoothing of the true range); it reads n + 1 bars."""
    function = partial(_c(talib.ATR), timeperiod=period)
    return per_row(function, (high, low, close), needed_bars=period + 1)


def rolling_max(x: Array, period: int) -> Array:
    """max(x, n): the highest of the last n bars, the latest included (TA-Lib's MAX)."""
    if period == 1:  # TA-Lib's MAX starts at 2; the max of one bar is the bar
        return per_row(np.array, (x,), needed_bars=1)
    return per_row(partial(_c(talib.MAX), timeperiod=period), (x,), needed_bars=period)


def rolling_min(x: Array, period: int) -> Array:
    """min(x, n): the lowest of the last n bars, the latest included (TA-Lib's MIN)."""
    if period == 1:
        return per_row(np.array, (x,), needed_bars=1)
    return per_row(partial(_c(talib.MIN), timeperiod=period), (x,), needed_bars=period)


def shift(x: Array, bars: int) -> Array:
    """x `bars` bars back: each row moved right, NaN where no earlier bar exists."""
    out = np.full(x.shape, np.nan)
    if bars < x.shape[1]:
        out[:, bars:] = x[:, : x.shape[1] - bars]
    return out


def divide(numerator: Array, denominator: Array) -> Array:
    """numerator / denominator, NaN where the denominator is zero (never inf, never a
    warning)."""
    shape = np.broadcast_shapes(np.shape(numerator), np.shape(denominator))
    out = np.full(shape, np.nan)
    with np.errstate(all="ignore"):
        np.divide(numerator, denominator, out=out, where=np.asarray(denominator) != 0)
    return out


def change_pct(x: Array, earlier: Array) -> Array:
    """(x / x[n] - 1) * 100, given x[n] as `earlier`."""
    with np.errstate(all="ignore"):
        return (divide(x, earlier) - 1.0) * 100.0
