"""The screen language over a whole universe: the shipped `swing` screen (its condition, four
columns and rank) over 2,428 instruments x 300 daily bars, parsed and evaluated at once
(target <= 200 ms), beside a per-instrument pandas loop computing the same figures (checked
equal), and the evaluator's memory for the universe; then the same for `longterm`."""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from screeners.language import (
    FIELDS,
    Bars,
    Evaluation,
    parse_condition,
    parse_expression,
)
from screeners.shipped import LONGTERM, SWING

INSTRUMENTS = 2_428  # the NSE EQ-series stocks in DhanHQ's scrip master
BARS = 300
SEED = 22
TARGET_MS = 200.0
RUNS = 7
PANDAS_RUNS = 3
Screen = dict  # the contract's SCREEN shape (screeners/shipped.py)
Result = tuple[np.ndarray, dict[str, np.ndarray]]  # matches, and values by column ("rank" too)


def random_universe(seed: int = SEED) -> Bars:
    """Random-walk daily bars; one instrument in twenty listed recently (20 to 299 bars,
    NaN-padded at the front), as a real segment has."""
    rng = np.random.default_rng(seed)
    shape = (INSTRUMENTS, BARS)
    close = rng.uniform(20, 3_000, (INSTRUMENTS, 1)) * np.exp(
        np.cumsum(rng.normal(0.0003, 0.02, shape), axis=1)
    )
    open_ = close * np.exp(rng.normal(0, 0.006, shape))
    high = np.maximum(open_, close) * (1 + rng.exponential(0.006, shape))
    low = np.minimum(open_, close) * (1 - rng.exponential(0.006, shape))
    volume = np.round(rng.lognormal(11, 1, (INSTRUMENTS, 1)) * rng.lognormal(0, 0.5, shape))
    arrays = [open_, high, low, close, volume]
    for row in np.flatnonzero(rng.random(INSTRUMENTS) < 0.05):
        listed = rng.integers(20, BARS)
        for array in arrays:
            array[row, : BARS - listed] = np.nan
    return Bars(*arrays)


def evaluate(screen: Screen, bars: Bars) -> Result:
    """What the runner does: parse the screen's texts and evaluate them over the universe."""
    evaluation = Evaluation(bars)
    matches = evaluation.matches(parse_condition(screen["condition"]))
    texts = {**screen["columns"], "rank": screen["rank_by"]}
    return matches, {name: evaluation.values(parse_expression(t)) for name, t in texts.items()}


def pandas_loop(screen: Screen, bars: Bars) -> Result:
    """The same screen the way a per-instrument script computes it: a DataFrame per
    instrument of its own bars, pandas rolling windows, TA-Lib's RSI."""
    import pandas as pd

    per_instrument = PANDAS_SCREENS[screen["slug"]]
    rows = []
    for row in range(INSTRUMENTS):
        own = np.isfinite(bars.close[row])
        frame = pd.DataFrame({name: getattr(bars, name)[row, own] for name in FIELDS})
        rows.append(per_instrument(frame))
    matches = np.array([matched for matched, _ in rows])
    names = rows[0][1].keys()
    return matches, {name: np.array([values[name] for _, values in rows]) for name in names}


def _swing(frame) -> tuple[bool, dict[str, float]]:
    import talib

    close, volume = frame["close"], frame["volume"]
    rsi = talib.RSI(close.to_numpy(), 14)[-1]
    change = (close / close.shift(20) - 1).iloc[-1] * 100
    ratio = (volume / volume.rolling(20).mean()).iloc[-1]
    matched = close.iloc[-1] > close.rolling(50).mean().iloc[-1] and 50 < rsi < 75 and change > 0
    columns = {"close": close.iloc[-1], "change_20d_pct": change, "rsi_14": rsi}
    rank = change + (rsi - 50) / 2 + 5 * ratio
    return bool(matched), columns | {"volume_ratio": ratio, "rank": rank}


def _longterm(frame) -> tuple[bool, dict[str, float]]:
    import talib

    close = frame["close"]
    sma50, sma150, sma200 = (close.rolling(n).mean() for n in (50, 150, 200))
    low252, high252 = frame["low"].rolling(252).min(), frame["high"].rolling(252).max()
    now, s50, s150, s200 = close.iloc[-1], sma50.iloc[-1], sma150.iloc[-1], sma200.iloc[-1]
    matched = (now > s150 and now > s200 and s150 > s200 and s200 > sma200.shift(21).iloc[-1]) and (
        s50 > s150 and now > s50 and now >= 1.3 * low252.iloc[-1]
    )
    matched = matched and now >= 0.75 * high252.iloc[-1]
    change = (close / close.shift(126) - 1).iloc[-1] * 100
    return bool(matched), {
        "close": now,
        "from_52w_high_pct": (now / high252.iloc[-1] - 1) * 100,
        "above_52w_low_pct": (now / low252.iloc[-1] - 1) * 100,
        "change_6m_pct": change,
        "rsi_14": talib.RSI(close.to_numpy(), 14)[-1],
        "rank": change,
    }


PANDAS_SCREENS: dict[str, Callable[..., tuple[bool, dict[str, float]]]] = {
    "swing": _swing,
    "longterm": _longterm,
}


def _median_ms(function: Callable[[], Result], runs: int) -> tuple[float, Result]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    assert result is not None
    return statistics.median(times), result


def _peak_mb(function: Callable[[], Result]) -> float:
    """tracemalloc's peak while `function` runs (numpy reports its buffers to it)."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def _check_equal(ours: Result, theirs: Result) -> int:
    assert np.array_equal(ours[0], theirs[0]), "the pandas loop matched other instruments"
    for name, values in ours[1].items():
        assert np.allclose(values, theirs[1][name], equal_nan=True), name
    return int(ours[0].sum())


def bench(screen: Screen, bars: Bars) -> None:
    """One screen's figures: evaluator time against the target, the pandas loop's time and
    the speed-up (after checking both agree), and memory."""
    ours_ms, ours = _median_ms(lambda: evaluate(screen, bars), RUNS)
    theirs_ms, theirs = _median_ms(lambda: pandas_loop(screen, bars), PANDAS_RUNS)
    matched = _check_equal(ours, theirs)
    peak = _peak_mb(lambda: evaluate(screen, bars))
    verdict = "met" if ours_ms <= TARGET_MS else "NOT met"
    print(f"  {screen['slug']}: {matched:,} of {INSTRUMENTS:,} instruments match")
    print(
        f"    parse + evaluate (condition, {len(screen['columns'])} columns, rank):"
        f" median {ours_ms:.1f} ms of {RUNS} (target <= {TARGET_MS:.0f} ms: {verdict})"
    )
    print(
        f"    per-instrument pandas loop, same figures (checked equal):"
        f" median {theirs_ms:,.0f} ms of {PANDAS_RUNS}, {theirs_ms / ours_ms:.0f}x slower"
    )
    total = peak + bars.nbytes / 1e6
    print(
        f"    evaluator's memory: peak {peak:.1f} MB traced during the evaluation"
        f" + {bars.nbytes / 1e6:.1f} MB of bars = {total:.1f} MB"
    )


def main() -> None:
    bars = random_universe()
    print(
        f"screen language over {INSTRUMENTS:,} instruments x {BARS} daily bars"
        f" (bars: {bars.nbytes / 1e6:.1f} MB as five float64 arrays):"
    )
    for screen in (SWING, LONGTERM):
        bench(screen, bars)


if __name__ == "__main__":
    main()
