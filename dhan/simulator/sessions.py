"""A past day's 375 minutes (09:15-15:29 IST) for the simulator's intraday history, drawn
deterministically from the key and the day and bound to that day's bar (`history`): the
first opens at its open, the last closes at its close, one touches its high, one its low,
and their volumes add up to its volume. Called by `charts.ChartServer`."""

from __future__ import annotations

import functools
import itertools
import math
import random
from array import array

from dhan.clock import ist_midnight
from dhan.segments import InstrumentKey
from dhan.simulator.bars import SECONDS_PER_MINUTE, SESSION_MINUTES, SESSION_OPEN_SECONDS, Bar
from dhan.simulator.history import DayBar, units
from dhan.ticks import TickGrid

MINUTE_WICK_FRACTION = 0.08  # a minute's wick: at most this much of the day's range
CACHED_SESSIONS = 512  # about 15 kB each


# A session's volume is heavier at the open and the close: each minute's weight.
_MIDDLE = (SESSION_MINUTES - 1) / 2
_U_SHAPE = [1 + 2 * ((i - _MIDDLE) / _MIDDLE) ** 2 for i in range(SESSION_MINUTES)]
_UNIT_STEP = math.sqrt(12)  # a uniform step of (-0.5, 0.5) times this has variance 1


@functools.lru_cache(maxsize=CACHED_SESSIONS)
def _session_ticks(key: InstrumentKey, bar: DayBar) -> tuple[array, array, array, array, array]:
    """Opens, highs, lows, closes (ticks) and volumes of `bar`'s day's minutes."""
    rng = random.Random(int(units(key, bar.day, "minutes")[0] * (1 << 53)))
    path = _bridge(rng, bar)
    opens, closes = path[:-1], path[1:]
    wick = (bar.high - bar.low) * MINUTE_WICK_FRACTION
    draw = rng.random
    highs = [
        min(bar.high, (o if o > c else c) + int(draw() ** 2 * wick))
        for o, c in zip(opens, closes, strict=True)
    ]
    lows = [
        max(bar.low, (o if o < c else c) - int(draw() ** 2 * wick))
        for o, c in zip(opens, closes, strict=True)
    ]
    # the day's extremes happen in some minute: the highest and the lowest reach them
    highs[highs.index(max(highs))] = bar.high
    lows[lows.index(min(lows))] = bar.low
    columns = (array("q", opens), array("q", highs), array("q", lows), array("q", closes))
    return (*columns, _volumes(rng, bar.volume))


def _bridge(rng: random.Random, bar: DayBar) -> list[int]:
    """SESSION_MINUTES + 1 prices in ticks from the open to the close, a random walk tied
    at both ends and kept within the day's low and high."""
    draw = rng.random
    walk = [0.0, *itertools.accumulate((draw() - 0.5) * _UNIT_STEP for _ in _U_SHAPE)]
    scale = (bar.high - bar.low) / (2.5 * math.sqrt(SESSION_MINUTES))
    n, end, low, high = SESSION_MINUTES, walk[-1], bar.low, bar.high
    drift = (bar.close - bar.open) / n
    path = [
        min(high, max(low, round(bar.open + drift * i + scale * (w - end * i / n))))
        for i, w in enumerate(walk)
    ]
    path[0], path[-1] = bar.open, bar.close
    return path


def _volumes(rng: random.Random, total: int) -> array:
    """`total` shared over the minutes (U-shaped, with noise), adding up to `total`
    exactly: each minute's share is the step between two rounded running totals, the
    last of which is `total` itself."""
    draw = rng.random
    bounds = [0.0, *itertools.accumulate(w * (0.3 + draw()) for w in _U_SHAPE)]
    scale = total / bounds[-1]
    marks = [round(b * scale) for b in bounds[:-1]] + [total]
    return array("q", (marks[i + 1] - marks[i] for i in range(SESSION_MINUTES)))


def session_minutes(key: InstrumentKey, bar: DayBar, grid: TickGrid) -> list[Bar]:
    """The minutes of `bar`'s day for `key` (whose prices are on `grid`), oldest first,
    stamped at each minute's start (Unix seconds; 09:15 IST is 03:45 UTC)."""
    opens, highs, lows, closes, volumes = _session_ticks(key, bar)
    first = ist_midnight(bar.day) + SESSION_OPEN_SECONDS
    units_, scale = grid.units, grid.scale
    return [
        Bar(
            first + i * SECONDS_PER_MINUTE,
            opens[i] * units_ / scale,
            highs[i] * units_ / scale,
            lows[i] * units_ / scale,
            closes[i] * units_ / scale,
            volumes[i],
            bar.oi,
        )
        for i in range(SESSION_MINUTES)
    ]
